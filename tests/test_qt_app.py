"""The main window, driven with pytest-qt offscreen: assert on model state and painted pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication

import model_factory as mf
from explorer.core.grid import GridController, SampleGrid
from explorer.qt.app import wait_for_grid

pytestmark = pytest.mark.usefixtures("no_leaked_windows")  # every test here checks for leaked windows


def _painted(widget):
    return widget.grab().toImage()


def _cell_center(canvas, index):
    return canvas.cell_rect(index).center()


def test_opens_models_and_paints_decoded_pixels(window):
    assert [m.name for m in window.state.models] == ["test gan", "test vae"]
    assert window.state.active.name == "test gan"
    grid, canvas = window.grid, window.canvas
    assert grid.count == 64 and not grid.dirty.any()
    img = _painted(canvas)
    s = canvas.scale
    for index in (0, 9, 63):
        rect = canvas.cell_rect(index)
        for (y, x) in ((0, 0), (3, 5), (7, 7)):
            c = img.pixelColor(rect.x() + x * s + s // 2, rect.y() + y * s + s // 2)
            assert c.red() == grid.pixels[index][y, x, 0], (index, y, x)
    assert "CPU" in window.provider_label.text()
    assert "ms" in window.decode_label.text()


def test_model_panel_shows_card_signature_and_provider(window):
    text = window.model_panel.details.toPlainText()
    for needle in ("test gan", "Latent Explorer contract", "CPU", "float32 [N, 8]", "[-1, 1]", "synthetic"):
        assert needle in text
    window.model_panel.list.setCurrentRow(1)
    assert window.state.active.name == "test vae" and window.grid.model is window.state.active
    assert wait_for_grid(window)
    assert "test vae" in window.model_panel.details.toPlainText()


def test_grid_controls_bind_both_ways(window, qtbot):
    c = window.controls
    c.rows.setValue(3)
    c.cols.setValue(5)
    assert (window.grid.rows, window.grid.cols) == (3, 5)
    assert wait_for_grid(window)
    assert window.canvas.width() == (5 * 9 + 1) * window.canvas.scale
    z = window.grid.latents.copy()
    qtbot.mouseClick(c.reroll, Qt.MouseButton.LeftButton)
    assert window.grid.policy.seed == 1 and c.seed.value() == 1  # model -> view
    assert not np.allclose(z, window.grid.latents)
    c.trunc_on.setChecked(True)
    c.truncation.setValue(0.5)
    assert window.grid.policy.truncation == 0.5 and np.abs(window.grid.latents).max() <= 0.5 + 1e-6
    c.temperature.setValue(0.5)
    assert window.grid.policy.temperature == 0.5
    c.cell.setValue(32)
    assert window.canvas.scale == 4


def test_click_focus_and_drag_slider_updates_the_cell(window, qtbot):
    canvas, grid = window.canvas, window.grid
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=_cell_center(canvas, 10))
    assert grid.focus == 10
    panel = window.latent_panel
    assert len(panel.sliders) == 8 and panel.preview.isVisible()
    before = grid.pixels[10].copy()
    slider = panel.sliders[0]
    for v in range(-300, 301, 20):  # a drag: many values quickly; stale answers are dropped
        slider.setValue(v)
    assert grid.latents[10, 0] == pytest.approx(3.0)
    assert wait_for_grid(window)
    expected = grid.model.decode(grid.latents[10:11]).pixels[0]
    np.testing.assert_array_equal(grid.pixels[10], expected)
    assert not np.array_equal(before, grid.pixels[10])
    img = _painted(canvas)
    rect, s = canvas.cell_rect(10), canvas.scale
    assert img.pixelColor(rect.x() + 4 * s + 1, rect.y() + 4 * s + 1).red() == expected[4, 4, 0]
    # focus is drawn: the frame just outside the cell is the accent colour
    frame = img.pixelColor(rect.x() - 1, rect.center().y())
    assert frame.red() > 200 and frame.blue() < 100
    panel.reset.click()
    assert wait_for_grid(window)
    assert grid.latents[10, 0] != pytest.approx(3.0)


def test_large_latent_shows_64_sliders_ordered(qtbot, settings_file, tmp_path):
    from explorer.qt.main_window import MainWindow

    path = mf.make_generator(tmp_path / "big.onnx", latent_dim=100)
    win = MainWindow(interactive=False)
    qtbot.addWidget(win)
    assert win.open_path(str(path)) is None
    win.grid.set_focus(0)
    assert len(win.latent_panel.sliders) == 64
    assert "64 of 100" in win.latent_panel.note.text()
    win.close()


def test_stale_results_are_dropped():
    """No GUI: many requests while the worker is busy; only the latest answer is applied."""
    import threading
    import time

    from explorer.io import runtime

    class Slow:
        def __init__(self, m):
            self.m = m

        def __getattr__(self, k):
            return getattr(self.m, k)

        def decode(self, z, labels=None):
            time.sleep(0.02)
            return self.m.decode(z, labels)

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        model = Slow(runtime.open_model(mf.make_generator(Path(d) / "g.onnx")))
        grid = SampleGrid(2, 2)
        applied = []
        ctrl = GridController(grid)
        ctrl.decoded.connect(lambda a: applied.append(a.generation))
        grid.set_model(model)
        for i in range(30):
            grid.set_dimension(0, 0, i / 10)
        deadline = time.time() + 5
        while grid.dirty.any() and time.time() < deadline:
            time.sleep(0.01)
        ctrl.close()
        assert not grid.dirty.any()
        assert len(applied) < 10  # most of the 31 requests never ran or were dropped
        np.testing.assert_array_equal(grid.pixels[0], model.m.decode(grid.latents[:1]).pixels[0])
        assert threading.active_count() >= 1


def test_walk_animates_and_counts_fps(window, qtbot):
    z0 = window.grid.latents.copy()
    window.controls.walk.click()
    assert window.walk_timer.isActive()
    qtbot.waitUntil(lambda: window.controller.clock.fps > 0, timeout=5000)
    qtbot.wait(300)
    window.controls.walk.click()
    assert not window.walk_timer.isActive()
    assert not np.allclose(z0, window.grid.latents)
    norms = np.linalg.norm(window.grid.latents, axis=1)
    np.testing.assert_allclose(norms, np.sqrt(window.grid.model.latent_dim), rtol=1e-3)
    assert "fps" in window.fps_label.text()


def test_cell_menu_actions(window, tmp_path):
    menu = window.cell_menu(5)
    labels = [a.text() for a in menu.actions() if a.text()]
    assert labels == ["Save cell as PNG…", "Copy latent vector", "Copy image", "Use as path endpoint"]
    menu.deleteLater()
    text = window.copy_latent(5)
    assert QGuiApplication.clipboard().text() == text
    np.testing.assert_allclose(json.loads(text), window.grid.latents[5], atol=1e-5)
    window.add_endpoint(5)
    window.add_endpoint(7)
    assert len(window.state.path_endpoints) == 2
    np.testing.assert_array_equal(window.state.path_endpoints[1].z, window.grid.latents[7])
    window.save_cell(5, str(tmp_path / "cell.png"))
    from PIL import Image

    assert Image.open(tmp_path / "cell.png").size == (8 * window.canvas.scale,) * 2


def test_save_grid_png(window, tmp_path):
    from PIL import Image

    out = tmp_path / "grid.png"
    window.save_grid(str(out))
    img = np.asarray(Image.open(out))
    s = window.canvas.scale
    assert img.shape[:2] == ((8 * 9 + 1) * s, (8 * 9 + 1) * s)
    assert img[s * 1, s * 1] == window.grid.pixels[0][0, 0, 0]


def test_bad_inputs_keep_the_app_usable(window, tmp_path):
    text = tmp_path / "x.onnx"
    text.write_text("nope")
    n = len(window.state.models)
    err = window.open_path(str(text))
    assert "expected an ONNX model" in err and window.last_message == err
    assert window.open_path(str(tmp_path / "missing.onnx")).endswith("no such file or folder")
    assert len(window.state.models) == n and window.state.active is not None
    window.controls.reroll.click()
    assert wait_for_grid(window)


def test_nan_cells_are_marked(window, tmp_path):
    path = mf.make_generator(tmp_path / "nan.onnx", nan_when_z0_negative=True)
    assert window.open_path(str(path)) is None
    assert wait_for_grid(window)
    bad = np.flatnonzero(~window.grid.finite)
    assert len(bad) > 0
    assert "NaN/Inf" in window.last_message and "marked" in window.last_message
    img = _painted(window.canvas)
    c = img.pixelColor(window.canvas.cell_rect(int(bad[0])).topLeft() + QPoint(2, 2))
    assert c.red() > 180 and c.green() < 100


def test_class_picker_for_conditional_models(window, tmp_path):
    path = mf.make_generator(tmp_path / "cond.onnx", label_classes=4)
    window.open_path(str(path))
    assert wait_for_grid(window)
    c = window.controls
    assert not c.klass.isHidden() and c.klass.count() == 5
    assert list(window.grid.labels[:16]) == [0] * 8 + [1] * 8  # mixed: one class per row
    c.klass.setCurrentIndex(3)  # "class 2"
    assert (window.grid.labels == 2).all()
    assert wait_for_grid(window)
    np.testing.assert_array_equal(window.grid.pixels[0], window.grid.model.decode(
        window.grid.latents[:1], np.array([2])).pixels[0])


def test_drop_and_recent_files(window, tmp_path):
    path = mf.make_generator(tmp_path / "dropped.onnx")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.state.active.name == "dropped"
    assert window.recent()[0] == str(path.resolve())
    assert window.recent_menu.actions()[0].text() == str(path.resolve())


def test_deleted_model_is_reported(window, tmp_path, qtbot):
    path = mf.make_generator(tmp_path / "soon-gone.onnx")
    window.open_path(str(path))
    path.unlink()
    qtbot.waitUntil(lambda: "deleted" in window.last_message, timeout=5000)
    assert "soon-gone" in window.model_panel.list.currentItem().text()
    window.controls.reroll.click()  # still decodes from memory
    assert wait_for_grid(window)


def test_window_state_is_remembered(qtbot, settings_file, gan_bundle):
    from explorer.qt.app import build_window

    win, _ = build_window([str(gan_bundle)], interactive=False)
    win.grid.set_size(4, 6)
    win.resize(711, 533)  # the offscreen screen is 800x600: restoreGeometry clamps to it
    win.close()
    win.deleteLater()
    win2, _ = build_window([str(gan_bundle)], interactive=False)
    assert (win2.grid.rows, win2.grid.cols) == (4, 6)
    assert win2.size().width() == 711
    win2.close()
    win2.deleteLater()


def test_empty_state_without_models(qtbot, settings_file):
    from explorer.qt.app import build_window

    win, errors = build_window([], interactive=False)
    assert errors == [] and win.state.active is None
    assert win.stack.currentIndex() == 0 and "No model open" in win.empty.text()
    win.close()
    win.deleteLater()


def test_flat_output_without_a_square_shape_is_explained(window, tmp_path):
    path = mf.make_generator(tmp_path / "odd.onnx", out="flat", flat_values=250)
    err = window.open_path(str(path))
    assert "250 values" in err and "H x W x C" in err
    assert window.open_path(str(path), image_shape=(1, 10, 25)) is None
    assert window.grid.model.image_shape == (1, 10, 25)
    assert wait_for_grid(window)


def test_keyboard_moves_focus_and_ctrl_wheel_zooms(window, qtbot):
    canvas = window.canvas
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Right)
    assert window.grid.focus == 0
    qtbot.keyClick(canvas, Qt.Key.Key_Right)
    qtbot.keyClick(canvas, Qt.Key.Key_Down)
    assert window.grid.focus == 9
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert window.grid.focus is None
    scale = canvas.scale
    canvas.zoomRequested.emit(1)
    assert canvas.scale == scale + 1 and window.controls.cell.value() == (scale + 1) * 8


def test_rgb32_canvas_buffer_keeps_channels_in_place(qapp):
    from explorer.qt.bridge import fill_rgb32, rgb32_image

    rng = np.random.default_rng(3)
    for channels in (1, 3):
        src = rng.integers(0, 256, (5, 7, channels), dtype=np.uint8)
        buf, img = rgb32_image((5, 7))
        fill_rgb32(buf, src)
        for y, x in ((0, 0), (2, 3), (4, 6)):
            c = img.pixelColor(x, y)
            r, g, b = src[y, x] if channels == 3 else src[y, x].repeat(3)
            assert (c.red(), c.green(), c.blue(), c.alpha()) == (r, g, b, 255), (channels, y, x)


def test_view_menu_toggles_every_dock(window):
    docks = [window.model_dock, window.latent_dock, window.path_dock, window.directions_dock]
    toggles = [a for a in window.view_menu.actions() if a in {d.toggleViewAction() for d in docks}]
    assert toggles == [d.toggleViewAction() for d in docks]
    assert [d.objectName() for d in docks] == ["modelDock", "latentDock", "pathDock", "directionsDock"]
