"""A designer's tasks from launch to an exported file, end to end through real events (mouse clicks
at the pixel where a cell, row or handle is drawn, shortcuts, menu actions), with the bundled models
and an empty home: browse → focus → drag → save cell; build a path → switch model and back → GIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit, QStyle, QStyleOptionSlider

from explorer.io.pixels import upscale
from explorer.qt.app import wait_for_grid

pytestmark = pytest.mark.usefixtures("no_leaked_windows")

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "models"


@pytest.fixture
def launched(qtbot, settings_file, tmp_path, monkeypatch):
    """The app as a new user starts it: no arguments (the bundled models), empty home and config."""
    from explorer.qt.app import build_window
    from explorer.qt.qapp import ensure_app

    if not all((ASSETS / b).is_dir() for b in ("fashion-vae", "fashion-gan", "fashion-cgan")):
        pytest.skip("the bundled models are not in this checkout")
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(ASSETS))
    ensure_app()
    window, errors = build_window([], interactive=True)
    assert errors == [] and [m.name for m in window.state.models] == [
        "fashion-mnist vae", "fashion-mnist gan", "fashion-mnist cgan"]
    window.resize(1440, 900)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    assert wait_for_grid(window)
    yield window
    window.close()
    window.deleteLater()


def _handle_center(slider) -> QPoint:
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    return slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                         QStyle.SubControl.SC_SliderHandle, slider).center()


def _click_model_row(window, row: int) -> None:
    lst = window.model_panel.list
    QTest.mouseClick(lst.viewport(), LEFT, NONE, lst.visualItemRect(lst.item(row)).center())


def test_browse_focus_drag_and_save_the_cell(launched, qtbot, tmp_path, monkeypatch):
    from explorer.qt import main_window

    window, grid, canvas = launched, launched.grid, launched.canvas
    QTest.mouseClick(canvas, LEFT, NONE, canvas.cell_rect(9).center())  # browse: click a garment
    assert grid.focus == 9 and window.latent_panel.title.text() == "Cell 10 (row 2, column 2)"
    before = grid.pixels[9].copy()
    z_before = grid.latents[9].copy()

    slider = window.latent_panel.sliders[0]  # drag the first latent's handle to the right with the mouse
    start = _handle_center(slider)
    QTest.mousePress(slider, LEFT, NONE, start)
    for k in range(1, 13):
        QTest.mouseMove(slider, start + QPoint(10 * k, 0))
    QTest.mouseRelease(slider, LEFT, NONE, start + QPoint(120, 0))
    assert grid.latents[9, 0] > z_before[0] + 0.5
    np.testing.assert_array_equal(grid.latents[9, 1:], z_before[1:])
    assert wait_for_grid(window)
    assert not np.array_equal(grid.pixels[9], before)  # the garment changed with the drag

    out = tmp_path / "saved"
    out.mkdir()
    monkeypatch.setattr(main_window.QFileDialog, "getSaveFileName",
                        lambda parent, title, start, filters: (str(out / Path(start).name), ""))
    QTest.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    saved = out / "fashion-mnist-vae-cell-10.png"
    assert saved.is_file(), window.last_message
    assert window.last_message.startswith("Saved cell 10") and saved.name in window.last_message
    image = np.asarray(Image.open(saved))
    expected = upscale(grid.pixels[9], canvas.scale)[..., 0]
    np.testing.assert_array_equal(image, expected)  # the focused cell, as shown
    assert not np.array_equal(image, upscale(before, canvas.scale)[..., 0])


def test_build_a_path_switch_model_and_back_then_export_a_gif(launched, qtbot, tmp_path, monkeypatch):
    from explorer.qt import path_view as path_view_module

    window, grid = launched, launched.grid
    vae, gan, _cgan = window.state.models
    for index in (3, 20):  # right-click menu → "Use as path endpoint", on two cells
        QTest.mouseClick(window.canvas, LEFT, NONE, window.canvas.cell_rect(index).center())
        next(a for a in window.cell_menu(index).actions() if a.text() == "Use as path endpoint").trigger()
    editor = window.path_editor
    assert editor.model is vae and len(editor.waypoints) == 2
    path = np.stack([w.z for w in editor.waypoints])
    np.testing.assert_array_equal(path, grid.latents[[3, 20]])

    _click_model_row(window, 1)  # the other model, then back
    assert window.state.active is gan and editor.model is gan and editor.waypoints == []
    assert wait_for_grid(window)
    _click_model_row(window, 0)
    assert window.state.active is vae and editor.model is vae
    np.testing.assert_array_equal(np.stack([w.z for w in editor.waypoints]), path)  # the path is still there
    qtbot.waitUntil(lambda: editor.pixels is not None, timeout=10000)
    assert window.path_dock.isVisible()

    gif = tmp_path / "out" / "walk.gif"
    gif.parent.mkdir()
    view = window.path_view
    QTest.mouseClick(view.export_btn, LEFT, NONE, view.export_btn.rect().center())
    dlg = view.export_file_dialog  # the export dialog, as the user sees it: type a name, press Save
    assert isinstance(dlg, path_view_module.QFileDialog) and dlg.isVisible()
    dlg.setDirectory(str(gif.parent))  # where the user browsed to (the folder view is not under test)
    name = dlg.findChild(QLineEdit, "fileNameEdit")
    name.selectAll()
    QTest.keyClicks(name, gif.name)
    save = dlg.findChild(QDialogButtonBox, "buttonBox").button(QDialogButtonBox.StandardButton.Save)
    QTest.mouseClick(save, LEFT, NONE, save.rect().center())
    assert gif.is_file(), window.last_message
    with Image.open(gif) as im:
        assert im.n_frames == len(editor.pixels) == max(editor.steps, 2)
    assert "walk.gif" in window.last_message
