"""Closing and switching models, and the grid and card details a designer sees, driven through Qt's
event path (key clicks on the window, mouse clicks at the pixel where a row, cell or handle is drawn,
wheel events on a slider) in an empty temporary home (offscreen Qt)."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QHelpEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (QApplication, QStyle, QStyleOptionButton, QStyleOptionSlider, QStyleOptionSpinBox,
                               QToolTip)

import model_factory as mf
from explorer.qt.app import wait_for_grid

CTRL = Qt.KeyboardModifier.ControlModifier
LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier


@pytest.fixture(autouse=True)
def empty_home(tmp_path, monkeypatch):
    """Every test here runs as a fresh account: an empty home and config folder."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


def _activate(window, qtbot) -> None:
    """Window shortcuts only fire in the active window."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)


def _click_cell(window, index: int) -> None:
    QTest.mouseClick(window.canvas, LEFT, NONE, window.canvas.cell_rect(index).center())


def _click_model_row(window, row: int) -> None:
    lst = window.model_panel.list
    QTest.mouseClick(lst.viewport(), LEFT, NONE, lst.visualItemRect(lst.item(row)).center())


def _handle_center(slider) -> QPoint:
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    return slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                         QStyle.SubControl.SC_SliderHandle, slider).center()


def _drag_handle(slider, dx: int) -> None:
    start = _handle_center(slider)
    QTest.mousePress(slider, LEFT, NONE, start)
    for k in range(1, 11):
        QTest.mouseMove(slider, start + QPoint(dx * k // 10, 0))
    QTest.mouseRelease(slider, LEFT, NONE, start + QPoint(dx, 0))


def _wheel(widget, pos: QPoint, steps: int) -> None:
    """One wheel turn of ``steps`` notches (negative: towards the user, i.e. scroll down)."""
    event = QWheelEvent(QPointF(pos), QPointF(widget.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, NONE, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


# ---- File → Close Model (Ctrl+W) ---------------------------------------------------------------------

def test_ctrl_w_twice_closes_both_models_and_leaves_a_clean_empty_state(window, qtbot):
    gan, vae = window.state.models
    _activate(window, qtbot)
    QTest.keyClick(window, Qt.Key.Key_W, CTRL)
    assert window.state.models == [vae] and window.state.active is vae and window.grid.model is vae
    assert window.windowTitle() == "test vae — Latent Explorer"
    panel = window.model_panel
    assert panel.list.count() == 1 and panel.list.currentRow() == 0
    card = panel.details.toPlainText()
    assert "test vae" in card and "test gan" not in card
    assert window.path_editor.model is vae
    assert wait_for_grid(window)
    QTest.mouseClick(window.controls.reroll, LEFT)  # re-roll decodes the model that is still open
    assert wait_for_grid(window)
    np.testing.assert_array_equal(window.grid.pixels, vae.decode(window.grid.latents).pixels)

    QTest.keyClick(window, Qt.Key.Key_W, CTRL)
    assert window.state.models == [] and window.state.active is None and window.grid.model is None
    assert window.windowTitle() == "Latent Explorer"
    assert window.stack.currentWidget() is window.empty
    assert panel.list.count() == 0 and "No model open" in panel.details.toPlainText()
    assert window.latent_panel.title.text() == "No model open"
    assert window.provider_label.text() == "—" and window.fps_label.text() == "— fps"
    assert window.path_editor.model is None and window.path_editor.waypoints == []
    QTest.mouseClick(window.controls.reroll, LEFT)  # nothing to decode, nothing breaks
    QTest.keyClick(window, Qt.Key.Key_W, CTRL)
    assert window.last_message == "No model open: nothing to close"


def test_after_closing_a_click_on_another_model_switches_to_it(window, qtbot, tmp_path):
    assert window.open_path(mf.make_contract_gan(tmp_path / "other", name="other gan").parent) is None
    gan, vae, other = window.state.models
    assert window.state.active is other
    _click_model_row(window, 0)
    assert window.state.active is gan
    _activate(window, qtbot)
    QTest.keyClick(window, Qt.Key.Key_W, CTRL)  # closes the GAN; its neighbour takes its place
    assert window.state.models == [vae, other] and window.state.active is vae
    _click_model_row(window, 1)
    assert window.state.active is other and window.grid.model is other
    assert window.windowTitle() == "other gan — Latent Explorer"
    assert "other gan" in window.model_panel.details.toPlainText()
    assert wait_for_grid(window)
    np.testing.assert_array_equal(window.grid.pixels, other.decode(window.grid.latents).pixels)


# ---- switching models keeps each model's cells, edits, walk position and path --------------------

def test_switching_away_and_back_finds_cells_edits_focus_walk_and_path_as_they_were(window, qtbot):
    gan, vae = window.state.models
    start = window.grid.latents.copy()
    QTest.mouseClick(window.controls.walk, LEFT)  # walk a little, then stop: the walk position is the latents
    qtbot.waitUntil(lambda: not np.array_equal(window.grid.latents, start), timeout=5000)
    QTest.mouseClick(window.controls.walk, LEFT)
    assert not window.walk_timer.isActive()
    _click_cell(window, 10)
    _drag_handle(window.latent_panel.sliders[0], 60)
    assert window.grid.latents[10, 0] != window.grid.base[10, 0]  # an edit
    window.path_dock.toggleViewAction().trigger()  # View → Interpolation path
    QTest.mouseClick(window.path_view.random_btn, LEFT)
    QTest.mouseClick(window.path_view.random_btn, LEFT)
    assert wait_for_grid(window)
    latents, base, pixels = window.grid.latents.copy(), window.grid.base.copy(), window.grid.pixels.copy()
    path = np.stack([w.z for w in window.path_editor.waypoints])

    _click_model_row(window, 1)
    assert window.grid.model is vae and window.path_editor.waypoints == [] and window.grid.focus is None
    assert wait_for_grid(window)
    _click_model_row(window, 0)
    assert window.grid.model is gan
    np.testing.assert_array_equal(window.grid.latents, latents)
    np.testing.assert_array_equal(window.grid.pixels, pixels)
    assert window.grid.focus == 10 and window.latent_panel.title.text().startswith("Cell 11")
    assert window.latent_panel.sliders[0].value() == int(round(latents[10, 0] * 100))
    np.testing.assert_array_equal(np.stack([w.z for w in window.path_editor.waypoints]), path)
    window.path_editor.decode_now()
    assert window.path_editor.pixels is not None and len(window.path_editor.pixels) == window.path_editor.steps
    QTest.mouseClick(window.latent_panel.reset, LEFT)  # "Reset to sample" still undoes the slider edit
    np.testing.assert_array_equal(window.grid.latents[10], base[10])


def test_a_closed_model_is_forgotten(window, qtbot):
    gan, vae = window.state.models
    _click_cell(window, 3)
    _click_model_row(window, 1)
    window.close_model_action.trigger()  # File → Close Model, while the VAE is shown
    _click_model_row(window, 0)
    window.close_model_action.trigger()  # and the GAN
    assert window.grid._kept == {} and window.path_editor._kept == {}


# ---- the Open models list and the model card ------------------------------------------------------

def test_open_models_list_shows_every_open_model_without_scrolling(window, tmp_path):
    for i in range(4):
        assert window.open_path(mf.make_contract_gan(tmp_path / f"g{i}", name=f"gan {i}").parent) is None
    lst = window.model_panel.list
    QApplication.processEvents()
    assert lst.count() == 6
    view = lst.viewport().rect()
    for row in range(6):
        assert view.contains(lst.visualItemRect(lst.item(row))), row
    _click_model_row(window, 5)
    assert window.state.active.name == "gan 3"


def test_model_card_reads_metrics_in_words_with_the_raw_key_as_tooltip(window, qtbot):
    details = window.model_panel.details
    text = details.toPlainText()
    assert "D(x): real images judged real" in text and "d_x" not in text
    cursor = details.document().find("D(x): real")
    assert not cursor.isNull()
    cursor.setPosition(cursor.selectionStart() + 2)
    pos = details.cursorRect(cursor).center()
    QApplication.sendEvent(details.viewport(), QHelpEvent(QEvent.Type.ToolTip, pos, details.viewport().mapToGlobal(pos)))
    try:
        assert QToolTip.text() == "d_x"
    finally:
        QToolTip.hideText()


# ---- the grid: numbers from 1, saved files, the fps readout ----------------------------------------

def test_cells_are_numbered_from_one_everywhere_a_designer_reads_them(window):
    _click_cell(window, 61)
    assert window.grid.focus == 61
    assert window.latent_panel.title.text() == "Cell 62 (row 8, column 6)"
    QTest.mouseMove(window.canvas, window.canvas.cell_rect(61).center())
    assert window.canvas.toolTip() == "Cell 62 (row 8, column 6)"
    next(a for a in window.cell_menu(61).actions() if a.text() == "Copy latent vector").trigger()
    assert window.last_message.endswith("latent of cell 62")


def test_saving_cells_and_the_grid_names_the_file_and_remembers_the_folder(window, qtbot, tmp_path, monkeypatch):
    from explorer.qt import main_window
    from explorer.qt.grid_view import GAP_GRAY

    out = tmp_path / "my pictures"
    out.mkdir()
    asked = []

    def save_dialog(parent, title, start, filters):
        asked.append(start)
        return str(out / f"file{len(asked)}.png"), ""

    monkeypatch.setattr(main_window.QFileDialog, "getSaveFileName", save_dialog)
    window.interactive = True
    _activate(window, qtbot)
    _click_cell(window, 4)
    for _ in range(2):  # File → Save Focused Cell as PNG… by its shortcut, twice
        QTest.keyClick(window, Qt.Key.Key_E, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert asked[0] == "test-gan-cell-5.png"  # no spaces, numbered as the panel shows it
    assert asked[1] == str(out / "test-gan-cell-5.png")  # the folder of the last save
    assert (out / "file1.png").is_file() and (out / "file2.png").is_file()
    assert "file2.png" in window.last_message and str(out) in window.last_message
    cell = np.asarray(Image.open(out / "file2.png"))
    s = window.canvas.scale
    np.testing.assert_array_equal(cell[::s, ::s], window.grid.pixels[4][..., 0])

    QTest.keyClick(window, Qt.Key.Key_S, CTRL)  # File → Save Grid as PNG…
    assert asked[2] == str(out / "test-gan-grid.png") and "file3.png" in window.last_message
    grid = np.asarray(Image.open(out / "file3.png"))
    h = window.grid.pixels.shape[1]
    assert (grid[:s] == GAP_GRAY).all()  # the separators are kept, as on screen
    assert (grid[(1 + h) * s:(2 + h) * s] == GAP_GRAY).all()
    window.save_settings()
    assert window.settings.value("last_save_dir") == str(out)  # in the app's settings: the next launch too


def test_fps_readout_goes_idle_when_frames_stop(window, qtbot):
    QTest.mouseClick(window.controls.walk, LEFT)
    qtbot.waitUntil(lambda: re.fullmatch(r"[\d.]+ fps", window.fps_label.text()) is not None, timeout=5000)
    QTest.mouseClick(window.controls.walk, LEFT)
    qtbot.waitUntil(lambda: window.fps_label.text() == "— fps", timeout=4000)


# ---- the focused-latent panel ---------------------------------------------------------------------

def test_every_one_of_32_sliders_is_reachable_with_the_wheel_without_changing_a_latent(qtbot, settings_file, tmp_path):
    from explorer.qt.app import build_window
    from explorer.qt.qapp import ensure_app

    ensure_app()
    big = mf.make_contract_gan(tmp_path / "big", latent_dim=32, name="big gan")
    window, errors = build_window([str(big.parent)], interactive=False)
    assert errors == []
    window.resize(1366, 768)
    window.show()
    try:
        assert wait_for_grid(window)
        _click_cell(window, 0)
        panel = window.latent_panel
        assert len(panel.sliders) == 32
        # the layout settles (posted events) before a person can see it
        qtbot.waitUntil(lambda: panel.holder.height() >= panel.holder.minimumSizeHint().height() > 32 * 20,
                        timeout=3000)
        for slider in panel.sliders.values():  # a whole handle in every row
            assert slider.height() >= slider.minimumSizeHint().height()
        rows = [s.mapTo(panel.holder, QPoint(0, 0)).y() for s in panel.sliders.values()]
        assert all(b - a >= panel.sliders[0].height() for a, b in zip(rows, rows[1:]))  # rows do not overlap
        before = window.grid.latents.copy()
        viewport = panel.scroll.viewport()
        first = panel.sliders[0]
        for _ in range(40):  # a person scrolls down with the wheel over the sliders
            _wheel(first, QPoint(20, 8), -1)
        np.testing.assert_array_equal(window.grid.latents, before)  # the wheel moved no latent
        last = panel.sliders[31]
        top = last.mapTo(viewport, QPoint(0, 0)).y()
        assert panel.scroll.verticalScrollBar().value() > 0
        assert 0 <= top and top + last.height() <= viewport.height()  # the last slider is in view
        assert panel.scroll.geometry().bottom() <= panel.rect().bottom()  # and the list is not cut off
        _drag_handle(last, 40)
        assert window.grid.latents[0, 31] != before[0, 31]
    finally:
        window.close()
        window.deleteLater()


# ---- the style sheet ---------------------------------------------------------------------------------

def _light_pixels(image, rect) -> int:
    return sum(image.pixelColor(x, y).lightness() > 150 for x in range(rect.left(), rect.right() + 1)
               for y in range(rect.top(), rect.bottom() + 1))


def test_spin_boxes_have_arrows_and_a_checked_box_has_a_tick(window):
    spin = window.controls.rows
    image = spin.grab().toImage()
    opt = QStyleOptionSpinBox()
    spin.initStyleOption(opt)
    for part in (QStyle.SubControl.SC_SpinBoxUp, QStyle.SubControl.SC_SpinBoxDown):
        rect = spin.style().subControlRect(QStyle.ComplexControl.CC_SpinBox, opt, part, spin)
        assert rect.width() > 4 and _light_pixels(image, rect) >= 6, part

    box = window.controls.trunc_on
    QTest.mouseClick(box, LEFT, NONE, QPoint(8, box.height() // 2))  # on the indicator
    assert box.isChecked() and window.grid.policy.truncation is not None
    image = box.grab().toImage()
    opt = QStyleOptionButton()
    box.initStyleOption(opt)
    indicator = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, opt, box)
    inner = indicator.adjusted(3, 3, -3, -3)
    colours = {image.pixelColor(x, y).name() for x in range(inner.left(), inner.right() + 1)
               for y in range(inner.top(), inner.bottom() + 1)}
    assert _light_pixels(image, inner) >= 4 and len(colours) > 2  # a tick on the fill, not a plain square


# ---- latent-explorer info -----------------------------------------------------------------------------

def _all_nan_generator(path):
    """z [N, 8] -> sqrt(-|zW| - 1): NaN everywhere."""
    w = numpy_helper.from_array(np.ones((8, 64), np.float32), "W")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    shape = numpy_helper.from_array(np.array([-1, 1, 8, 8], np.int64), "shape")
    nodes = [helper.make_node("MatMul", ["z", "W"], ["h"]), helper.make_node("Abs", ["h"], ["a"]),
             helper.make_node("Neg", ["a"], ["n"]), helper.make_node("Sub", ["n", "one"], ["m"]),
             helper.make_node("Sqrt", ["m"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["image"])]
    graph = helper.make_graph(nodes, "nan", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 8])],
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [w, one, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_info_prints_numbers_for_people_and_each_note_once(tmp_path, capsys):
    from explorer.cli.main import main

    unbounded = mf.make_generator(tmp_path / "linear.onnx", activation="linear")
    assert main(["info", str(unbounded)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "value range" in x)
    assert re.search(r"\d{5,}", line) is None and "[" not in line, line  # "-2.414 to 2.981", not float noise
    assert main(["info", str(_all_nan_generator(tmp_path / "nan.onnx"))]) == 0
    notes = [x for x in capsys.readouterr().out.splitlines() if "NaN" in x]
    assert len(notes) == 1, notes


# ---- the Qt-free models behind it ---------------------------------------------------------------------

def test_app_state_close_announces_only_a_settled_state(gan_bundle, vae_bundle):
    from explorer.core.state import AppState

    state = AppState()
    gan, vae = state.open(gan_bundle), state.open(vae_bundle)
    assert state.active is vae
    seen = []
    state.models_changed.connect(lambda: seen.append(("models", state.active in state.models or state.active is None)))
    state.active_changed.connect(lambda m: seen.append(("active", m is state.active and (m is None or m in state.models))))
    state.model_closed.connect(lambda m: seen.append(("closed", m not in state.models)))
    state.close(vae)
    assert state.active is gan and seen == [("models", True), ("active", True), ("closed", True)]
    seen.clear()
    state.close(gan)
    assert state.active is None and seen == [("models", True), ("active", True), ("closed", True)]


def test_grid_and_path_keep_each_models_work_until_it_is_closed(gan_bundle, vae_bundle):
    from explorer.core.grid import SampleGrid
    from explorer.core.latents import SamplingPolicy
    from explorer.core.path_editor import PathEditor
    from explorer.io.runtime import open_model

    gan, vae = open_model(gan_bundle), open_model(vae_bundle)
    grid, editor = SampleGrid(3, 4), PathEditor()
    grid.set_model(gan)
    grid.set_policy(SamplingPolicy(7, 0.8))
    grid.set_dimension(5, 2, 3.25)
    grid.set_focus(5)
    editor.set_model(gan)
    editor.set_waypoints([(grid.latents[0], "cell 1"), (grid.latents[1], "cell 2")])
    editor.set_mode("lerp")
    latents = grid.latents.copy()
    for model in (vae, gan):
        grid.set_model(model)
        editor.set_model(model)
    assert grid.policy == SamplingPolicy(7, 0.8) and grid.focus == 5
    np.testing.assert_array_equal(grid.latents, latents)
    assert [w.name for w in editor.waypoints] == ["cell 1", "cell 2"] and editor.mode == "lerp"
    grid.reset_cell(5)
    assert grid.latents[5, 2] != np.float32(3.25)
    grid.set_model(vae)
    editor.set_model(vae)
    grid.forget(gan)
    editor.forget(gan)
    grid.set_model(gan)
    editor.set_model(gan)
    assert grid.focus is None and editor.waypoints == []  # forgotten: a fresh start
    editor.close()
