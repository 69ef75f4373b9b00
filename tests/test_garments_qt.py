"""Garment control in the window, driven as a person does (clicks, keys, menu actions) and checked on the
painted pixels: the style x garment grid, keep the style / change the garment, blends and the three-stop
mode, a label-only foreign model, a path whose GIF blends the garment types, and sessions.

Expected images are decoded with the model itself (the factory cgan: image = sigmoid(z W + w E), so
each class and each blend has its own image) and compared with what the canvas paints."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QStyle, QStyleOptionSlider

import model_factory as mf
from explorer.io.classes import LABELS_ONLY, blend, one_hot
from explorer.io.pixels import upscale

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


@pytest.fixture
def garment_window(qtbot, tmp_path, settings_file):
    """A window with the factory cgan (28 px, 4 garment types) active and a foreign label model open."""
    from explorer.qt.app import build_window, wait_for_grid
    from explorer.qt.qapp import ensure_app

    mf.make_contract_cgan(tmp_path / "cgan", size=28)
    labels = mf.make_generator(tmp_path / "labels.onnx", label_classes=3, height=28, width=28)
    ensure_app()
    win, errors = build_window([str(tmp_path / "cgan"), str(labels)], interactive=False)
    assert errors == []
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    assert wait_for_grid(win)
    yield win
    win.close()
    win.deleteLater()


def _settle(win, qtbot) -> None:
    from explorer.qt.app import wait_for_grid

    assert wait_for_grid(win)
    qtbot.wait(20)


EDGE = 2  # px at each cell's edge left out of comparisons: the focus and hover frames are drawn there


def _painted(canvas, index: int) -> np.ndarray:
    """The gray pixels the canvas paints for cell ``index`` (what the screen shows; its edge left out)."""
    rect = canvas.cell_rect(index)
    img = canvas.grab(rect).toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    rgb = rows[:, :img.width() * 3].reshape(img.height(), img.width(), 3)[EDGE:-EDGE, EDGE:-EDGE]
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    return rgb[..., 0].copy()


def _expected(win, z, classes) -> np.ndarray:
    """What the model makes of latents ``z`` [N, D] with ``classes``, enlarged as the canvas shows it."""
    pixels = win.grid.model.decode(np.asarray(z, np.float32), classes).pixels
    return np.stack([upscale(p, win.canvas.scale)[EDGE:-EDGE, EDGE:-EDGE, 0] for p in pixels])


def _click_cell(win, index: int, button=Qt.MouseButton.LeftButton) -> None:
    QTest.mouseClick(win.canvas, button, Qt.KeyboardModifier.NoModifier, win.canvas.cell_rect(index).center())


def _garment_mode(win, qtbot) -> None:
    button = win.controls.garments
    assert button.isEnabled()
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    assert win.grid.garment_mode
    _settle(win, qtbot)


def test_one_click_shows_a_row_per_garment_type_painted_as_the_model_predicts(garment_window, qtbot):
    win = garment_window
    _garment_mode(win, qtbot)
    grid = win.grid
    assert (grid.rows, grid.cols) == (4, 8) and win.controls.garments.isChecked()
    assert grid.row_names() == list(mf.GARMENTS)
    styles = grid.latents[:grid.cols]
    rows = []
    for r in range(grid.rows):
        expected = _expected(win, styles, one_hot(np.full(grid.cols, r), 4))
        painted = np.stack([_painted(win.canvas, r * grid.cols + c) for c in range(grid.cols)])
        assert np.array_equal(painted, expected), f"row {r} ({mf.GARMENTS[r]}) is not that class's images"
        rows.append(painted)
    for r in range(1, grid.rows):  # the rows really change garment type
        assert np.abs(rows[r].astype(int) - rows[0]).mean() > 10
    # the row labels are painted left of each row
    label = win.canvas.grab(win.canvas.row_rect(1)).toImage()
    bright = [label.pixelColor(x, y).lightness() for x in range(label.width()) for y in range(label.height())]
    assert max(bright) > 150, "no row label painted"
    QTest.mouseMove(win.canvas, win.canvas.cell_rect(2 * grid.cols + 1).center())  # the hover names the garment
    assert win.canvas.toolTip() == "Cell 18 (row 3, column 2) · Coat"
    # G turns it off again
    win.canvas.setFocus()
    QTest.keyClick(win.canvas, Qt.Key.Key_G)
    assert not grid.garment_mode and grid.rows == 8


def test_reroll_keeps_the_rows_and_draws_new_styles(garment_window, qtbot):
    win = garment_window
    _garment_mode(win, qtbot)
    before = [_painted(win.canvas, i) for i in range(win.grid.count)]
    QTest.mouseClick(win.controls.reroll, Qt.MouseButton.LeftButton)
    _settle(win, qtbot)
    grid = win.grid
    assert grid.rows == 4 and np.array_equal(grid.labels.reshape(4, -1)[:, 0], np.arange(4))
    styles = grid.latents[:grid.cols]
    for r in range(grid.rows):
        expected = _expected(win, styles, one_hot(np.full(grid.cols, r), 4))
        for c in range(grid.cols):
            i = r * grid.cols + c
            assert np.array_equal(_painted(win.canvas, i), expected[c])
            assert not np.array_equal(_painted(win.canvas, i), before[i])


def _handle_centre(slider) -> QPoint:
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    return slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                         QStyle.SubControl.SC_SliderHandle, slider).center()


def test_dragging_a_latent_slider_changes_that_style_in_every_row(garment_window, qtbot):
    win = garment_window
    _garment_mode(win, qtbot)
    win.latent_dock.raise_()
    cell = win.grid.cols + 3  # the Dress of style 4
    _click_cell(win, cell)
    assert win.grid.focus == cell
    qtbot.waitUntil(lambda: win.latent_panel.sliders and win.latent_panel.sliders[0].isVisible(), timeout=3000)
    before = win.grid.latents.copy()
    painted_before = [_painted(win.canvas, i) for i in range(win.grid.count)]
    slider = win.latent_panel.sliders[0]
    start = _handle_centre(slider)
    end = QPoint(min(slider.width() - 4, start.x() + slider.width() // 3), start.y())
    QTest.mousePress(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for x in np.linspace(start.x(), end.x(), 6)[1:]:
        QTest.mouseMove(slider, QPoint(int(x), start.y()))
    QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    _settle(win, qtbot)
    grid = win.grid
    column = np.arange(3, grid.count, grid.cols)
    assert grid.latents[cell, 0] > before[cell, 0] + 0.5, "the drag did not move the slider"
    assert np.all(grid.latents[column, 0] == grid.latents[cell, 0])
    others = np.setdiff1d(np.arange(grid.count), column)
    assert np.array_equal(grid.latents[others], before[others])
    expected = _expected(win, grid.latents[column], one_hot(np.arange(4), 4))
    for k, i in enumerate(column):
        assert np.array_equal(_painted(win.canvas, int(i)), expected[k])
        assert not np.array_equal(_painted(win.canvas, int(i)), painted_before[i])
    for i in others[:5]:
        assert np.array_equal(_painted(win.canvas, int(i)), painted_before[i])


def _garment_action(win, index: int, name: str):
    menu = win.cell_menu(index)
    sub = next(a.menu() for a in menu.actions() if a.menu() is not None and a.text().startswith("Garment"))
    return menu, {a.text(): a for a in sub.actions()}[name]


def test_the_cell_menu_keeps_the_style_and_changes_the_garment(garment_window, qtbot):
    win = garment_window
    cell = 10
    z = win.grid.latents[cell].copy()
    old_class = int(win.grid.labels[cell])
    menu, coat = _garment_action(win, cell, "Coat")
    assert {a.text() for a in coat.parent().actions()} == set(mf.GARMENTS)
    assert old_class != 2
    coat.trigger()
    menu.deleteLater()
    _settle(win, qtbot)
    assert np.array_equal(win.grid.latents[cell], z) and int(win.grid.labels[cell]) == 2
    assert np.array_equal(_painted(win.canvas, cell), _expected(win, z[None], np.array([2]))[0])
    assert not np.array_equal(_painted(win.canvas, cell), _expected(win, z[None], np.array([old_class]))[0])
    assert "Coat" in win.last_message
    menu, coat = _garment_action(win, cell, "Coat")
    assert coat.isChecked()  # the menu shows the cell's garment
    menu.deleteLater()


def _drive_slider_to(slider, percent: int) -> None:
    """Keys as a person would press them: Home, then Page Up in steps of 10 %."""
    QTest.keyClick(slider, Qt.Key.Key_Home)
    for _ in range(percent // slider.pageStep()):
        QTest.keyClick(slider, Qt.Key.Key_PageUp)


def test_the_blend_slider_at_70_percent_paints_the_blend(garment_window, qtbot):
    win = garment_window
    _garment_mode(win, qtbot)
    win.latent_dock.raise_()
    cell = 2  # a Tee
    _click_cell(win, cell)
    panel = win.garment_panel
    qtbot.waitUntil(panel.isVisible, timeout=3000)
    assert panel.a.currentText() == "Tee" and panel.mix.isEnabled()
    QTest.keyClick(panel.b, Qt.Key.Key_Down)  # Dress -> Coat
    assert panel.b.currentText() == "Coat"
    _drive_slider_to(panel.mix, 70)
    assert panel.mix.value() == 70
    _settle(win, qtbot)
    z = win.grid.latents[cell]
    assert np.allclose(win.grid.weights[cell], [0.3, 0, 0.7, 0])
    expected = _expected(win, z[None], blend(0, 2, 0.7, 4)[None])[0]
    assert np.array_equal(_painted(win.canvas, cell), expected)
    for pure in (0, 2):
        assert not np.array_equal(expected, _expected(win, z[None], np.array([pure]))[0])
    assert "30% Tee" in panel.mix_label.text() and "70% Coat" in panel.mix_label.text()
    assert panel.klass.currentText() == "a blend (see below)"
    QTest.keyClick(panel.klass, Qt.Key.Key_Up)  # picking one garment type again: all Boot, the same style
    assert panel.klass.currentText() == "Boot"
    _settle(win, qtbot)
    assert np.array_equal(_painted(win.canvas, cell), _expected(win, z[None], np.array([3]))[0])
    # the other cells of the row keep their Tee
    assert np.array_equal(_painted(win.canvas, 3), _expected(win, win.grid.latents[3:4], np.array([0]))[0])


def test_three_stops_snap_the_slider_and_show_the_three_mixes(garment_window, qtbot):
    win = garment_window
    win.latent_dock.raise_()
    cell = 5
    _click_cell(win, cell)
    panel = win.garment_panel
    qtbot.waitUntil(panel.isVisible, timeout=3000)
    QTest.mouseClick(panel.stops, Qt.MouseButton.LeftButton, pos=QPoint(8, panel.stops.height() // 2))
    assert win.grid.blend_stops and panel.stop_row.isVisible()
    a, b, _ = win.grid.cell_blend(cell)
    qtbot.waitUntil(lambda: panel.previews.pixels is not None, timeout=5000)
    z = win.grid.latents[cell]
    expected = win.grid.model.decode(np.repeat(z[None], 3, 0), blend(a, b, np.array([0.1, 0.5, 0.9]), 4)).pixels
    assert np.array_equal(panel.previews.pixels, expected)
    _drive_slider_to(panel.mix, 30)  # 30 % snaps to the 10 % stop
    assert panel.mix.value() == 10 and np.isclose(win.grid.cell_blend(cell)[2], 0.1)
    QTest.mouseClick(panel.stop_views[2], Qt.MouseButton.LeftButton)  # the 90 % mix
    _settle(win, qtbot)
    assert panel.mix.value() == 90
    assert np.array_equal(_painted(win.canvas, cell), _expected(win, z[None], blend(a, b, 0.9, 4)[None])[0])


def test_a_label_model_picks_garments_but_its_blend_controls_say_why_not(garment_window, qtbot):
    win = garment_window
    win.grid.set_blend_stops(True)  # ticked for the cgan: the label model's panel must not offer it
    labels_model = win.state.models[1]
    win.state.set_active(labels_model)
    _settle(win, qtbot)
    assert win.controls.garments.isEnabled()
    _garment_mode(win, qtbot)
    assert win.grid.rows == 3 and win.grid.row_names() == ["class 0", "class 1", "class 2"]
    win.latent_dock.raise_()
    cell = 1
    _click_cell(win, cell)
    panel = win.garment_panel
    qtbot.waitUntil(panel.isVisible, timeout=3000)
    assert panel.klass.isEnabled()
    for w in (panel.a, panel.b, panel.mix, panel.stops):
        assert not w.isEnabled() and LABELS_ONLY in w.toolTip()
    assert not panel.stops.isChecked() and not panel.stop_row.isVisible()
    assert panel.note.isVisible() and LABELS_ONLY in panel.note.text()
    assert LABELS_ONLY in win.model_panel.details.toPlainText()
    # the change-garment menu works within the signature: one class per image
    z = win.grid.latents[cell].copy()
    menu, third = _garment_action(win, cell, "class 2")
    third.trigger()
    menu.deleteLater()
    _settle(win, qtbot)
    assert np.array_equal(_painted(win.canvas, cell), _expected(win, z[None], np.array([2]))[0])


def test_a_model_without_classes_has_the_toggle_disabled_with_the_reason(garment_window, qtbot, gan_bundle):
    win = garment_window
    assert win.open_path(str(gan_bundle)) is None
    _settle(win, qtbot)
    button = win.controls.garments
    assert not button.isEnabled() and "not class-conditional" in button.toolTip()
    win.canvas.setFocus()
    QTest.keyClick(win.canvas, Qt.Key.Key_G)  # the key says why, and the grid stays as it is
    assert not win.grid.garment_mode and "not class-conditional" in win.last_message
    assert "Garment" not in [a.text() for a in win.cell_menu(0).actions()]


def test_a_path_between_two_garment_types_exports_a_gif_whose_middle_frame_is_the_blend(garment_window, qtbot,
                                                                                          tmp_path):
    from PIL import Image

    win = garment_window
    _garment_mode(win, qtbot)
    start, end = 0, win.grid.cols + 1  # a Tee of style 1, a Dress of style 2
    for cell in (start, end):
        menu = win.cell_menu(cell)
        next(a for a in menu.actions() if a.text() == "Use as path endpoint").trigger()
        menu.deleteLater()
    editor, view = win.path_editor, win.path_view
    view.steps.setValue(5)
    qtbot.waitUntil(lambda: editor.pixels is not None and len(editor.pixels) == 5, timeout=5000)
    assert np.allclose(editor.weights[2], [0.5, 0.5, 0, 0])
    out = tmp_path / "path.gif"
    assert "5 frames" in view.export(str(out))
    gif = Image.open(out)
    frames = []
    for k in range(gif.n_frames):
        gif.seek(k)
        frames.append(np.asarray(gif.convert("L")))
    s = editor.export_scale
    middle = frames[2][::s, ::s]
    model = win.grid.model
    z = editor.latents[2:3]
    assert np.array_equal(middle, model.decode(z, blend(0, 1, 0.5, 4)[None]).pixels[0, ..., 0])
    for pure in (0, 1):
        assert not np.array_equal(middle, model.decode(z, np.array([pure])).pixels[0, ..., 0])
    assert np.array_equal(frames[0][::s, ::s], win.grid.pixels[start, ..., 0])
    assert np.array_equal(frames[-1][::s, ::s], win.grid.pixels[end, ..., 0])
    assert "classes Tee → Dress" in view.readout.text()
    import json

    view.export(str(tmp_path / "path.json"))  # the latents and the class weights of every frame
    saved = json.loads((tmp_path / "path.json").read_text())
    assert np.allclose(saved["class_weights"], editor.weights) and np.allclose(saved["latents"], editor.latents)


def test_a_session_brings_back_the_mode_the_classes_and_the_blends(garment_window, qtbot, tmp_path):
    from explorer.core.session import load_session, save_session
    from explorer.qt.app import build_window
    from explorer.qt.session_actions import apply_session, window_session

    win = garment_window
    _garment_mode(win, qtbot)
    grid = win.grid
    grid.set_cell_blend(3, 0, 3, 0.7)
    grid.set_cell_class(9, 2)
    grid.set_blend_stops(True)
    _settle(win, qtbot)
    path = save_session(window_session(win), tmp_path / "s.json")
    other, errors = build_window([], interactive=False)
    try:
        other.show()
        summary = apply_session(other, load_session(path))
        assert "not restored" not in summary, summary
        _settle(other, qtbot)
        g = other.grid
        assert g.garment_mode and other.controls.garments.isChecked() and g.blend_stops
        assert (g.rows, g.cols) == (grid.rows, grid.cols)
        assert np.array_equal(g.weights, grid.weights) and np.array_equal(g.latents, grid.latents)
        for cell in (3, 9, 12):
            assert np.array_equal(_painted(other.canvas, cell), _painted(win.canvas, cell))
        assert other.canvas.row_rect(0).width() > 0  # the row labels are back
    finally:
        other.close()
        other.deleteLater()
