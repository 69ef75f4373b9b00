"""The Interpolation path dock as a designer uses it: every control driven through Qt's event path
(mouse clicks, key presses, the export dialog's own widgets), in the main window (offscreen Qt)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QDialogButtonBox, QFileDialog, QLineEdit

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def _click(widget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=widget.rect().center())


def _show_path_dock(window):
    window.path_dock.toggleViewAction().trigger()  # View → Interpolation path
    assert window.path_dock.isVisible()
    return window.path_view


def _decoded(qtbot, editor, steps=None) -> None:
    qtbot.waitUntil(lambda: editor.pixels is not None and (steps is None or len(editor.pixels) == steps),
                    timeout=5000)


def _close_modal_dialogs_later(ms: int = 3000) -> None:
    """A blocking dialog (what the app opened before) would hang the test: close it, so the test fails instead."""
    def close():
        w = QApplication.activeModalWidget()
        if w is not None:
            w.reject()
    QTimer.singleShot(ms, close)


def test_the_empty_path_dock_says_what_to_do(qtbot, window):
    view = _show_path_dock(window)
    assert view.empty.isVisibleTo(view) and not view.player.isVisibleTo(view)
    text = view.empty.text()
    assert "right-click" in text and "Use as path endpoint" in text and "+ Random" in text
    assert "found 0" not in text and "waypoints" not in text  # no error wording, no jargon
    assert not view.export_btn.isEnabled() and "two or more" in view.export_btn.toolTip()
    _click(view.random_btn)
    assert view.empty.isVisibleTo(view) and "second garment" in view.empty.text()
    assert view.empty.text().startswith("Start: seed")
    QApplication.processEvents()
    height = window.path_dock.height()
    _click(view.random_btn)
    _decoded(qtbot, window.path_editor)
    assert not view.empty.isVisibleTo(view) and view.player.isVisibleTo(view) and view.strip.isVisibleTo(view)
    QApplication.processEvents()
    assert abs(window.path_dock.height() - height) <= 2  # the path appearing does not push the grid about
    _click(view.clear_btn)
    assert view.empty.isVisibleTo(view) and not window.path_editor.waypoints


def test_steps_mode_easing_play_and_export_size_through_their_widgets(qtbot, window):
    editor = window.path_editor
    view = _show_path_dock(window)
    _click(view.random_btn)
    _click(view.random_btn)
    _decoded(qtbot, editor, 16)
    view.steps.setFocus()
    QTest.keyClick(view.steps, Qt.Key.Key_Up)
    QTest.keyClick(view.steps, Qt.Key.Key_Up)
    assert editor.steps == 18
    _decoded(qtbot, editor, 18)
    QTest.keyClick(view.mode, Qt.Key.Key_Down)
    assert editor.mode == "lerp"
    QTest.keyClick(view.easing, Qt.Key.Key_Down)
    assert editor.easing == "ease-in-out"
    _decoded(qtbot, editor, 18)
    _click(view.play_btn)
    assert view.timer.isActive() and view.play_btn.text() == "■ Pause"
    qtbot.waitUntil(lambda: view.frame > 0, timeout=3000)
    _click(view.play_btn)
    assert not view.timer.isActive() and view.play_btn.text() == "▶ Play"
    assert editor.export_scale == 8 and view.export_size.currentText() == "8× · 64×64 px"  # 8 px frames
    QTest.keyClick(view.export_size, Qt.Key.Key_Down)
    assert editor.export_scale == 16 and editor.save_state()["export_scale"] == 16  # remembered by the session
    QTest.keyClick(view.export_size, Qt.Key.Key_Up)
    QTest.keyClick(view.export_size, Qt.Key.Key_Up)
    assert editor.export_scale == 4


def _export_dialog(view) -> QFileDialog:
    view.interactive = True  # dialogs are only opened by interactive views
    _close_modal_dialogs_later()
    _click(view.export_btn)
    dlg = view.export_file_dialog
    assert isinstance(dlg, QFileDialog) and dlg.isVisible()
    return dlg


def test_the_export_dialog_suggests_a_name_without_spaces_that_follows_the_chosen_format(qtbot, window, tmp_path):
    from PIL import Image

    editor = window.path_editor
    view = _show_path_dock(window)
    _click(view.random_btn)
    _click(view.random_btn)
    _decoded(qtbot, editor)
    QTest.keyClick(view.export_size, Qt.Key.Key_Up)  # 8× -> 4×: 8 px frames become 32 px
    assert editor.export_scale == 4
    dlg = _export_dialog(view)
    try:
        name = dlg.findChild(QLineEdit, "fileNameEdit")
        types = dlg.findChild(QComboBox, "fileTypeCombo")
        assert name.text() == "test-gan-path.gif" and types.currentText() == "Animated GIF (*.gif)"
        QTest.keyClick(types, Qt.Key.Key_Down)
        QTest.keyClick(types, Qt.Key.Key_Down)
        assert types.currentText() == "PNG strip (*.png)" and name.text() == "test-gan-path.png"
        QTest.keyClick(types, Qt.Key.Key_Up)
        assert name.text() == "test-gan-path.mp4"
        QTest.keyClick(types, Qt.Key.Key_Up)
        assert name.text() == "test-gan-path.gif"
        dlg.setDirectory(str(tmp_path))  # where the user browsed to (the folder view is not under test)
        name.selectAll()
        QTest.keyClicks(name, "walk.gif")
        save = dlg.findChild(QDialogButtonBox, "buttonBox").button(QDialogButtonBox.StandardButton.Save)
        assert save.isEnabled()
        _click(save)
    finally:
        view.interactive = False
    assert (tmp_path / "walk.gif").is_file() and "Saved walk.gif" in window.last_message
    with Image.open(tmp_path / "walk.gif") as im:
        assert im.size == (32, 32) and im.n_frames == editor.steps  # the export size, not the cell size
    dlg = _export_dialog(view)  # the format picked last is offered first next time
    try:
        assert dlg.findChild(QLineEdit, "fileNameEdit").text() == "test-gan-path.gif"
        dlg.reject()
    finally:
        view.interactive = False


def test_the_smoothness_readout_marks_the_smoother_mode_by_the_numbers(qtbot, window):
    editor = window.path_editor
    editor.features = lambda px: px.reshape(len(px), -1).astype(np.float32) / 255.0  # pixels as features
    view = _show_path_dock(window)
    _click(view.random_btn)
    _click(view.random_btn)
    _decoded(qtbot, editor)
    lengths = editor.lengths()
    smoother = min(lengths, key=lengths.get)
    rougher = max(lengths, key=lengths.get)
    assert lengths[smoother] < lengths[rougher]
    if editor.mode != rougher:  # show the rougher one: the mark must not follow what is shown
        QTest.keyClick(view.mode, Qt.Key.Key_Down if rougher == "lerp" else Qt.Key.Key_Up)
    assert editor.mode == rougher
    qtbot.waitUntil(lambda: f"showing {rougher}" in view.readout.text(), timeout=5000)
    text = view.readout.text()
    assert f"{smoother} {lengths[smoother]:.4g} ◀ smoother" in text
    assert f"{rougher} {lengths[rougher]:.4g} ◀" not in text
