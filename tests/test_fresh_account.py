"""A new account: an empty home, no config folder. Launch, work, quit the way a person does, launch
again and find the work back; a save that cannot happen is said before the window closes; settings
kept by older versions in QSettings' own folder are read once.

No LATENT_EXPLORER_SETTINGS here: the app finds its folders as it does on a user's machine (the
``fresh_home`` fixture in conftest.py points HOME and XDG_CONFIG_HOME into tmp_path).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


@pytest.fixture
def no_bundled(tmp_path, monkeypatch):
    empty = tmp_path / "no-bundled-models"
    empty.mkdir()
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(empty))


def _launch(paths, qtbot):
    from explorer.qt.app import build_window, wait_for_grid
    from explorer.qt.qapp import ensure_app

    ensure_app()
    window, errors = build_window([str(p) for p in paths], interactive=True)
    assert errors == []
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    assert wait_for_grid(window)
    return window


def _dispose(window) -> None:
    window.interactive = False
    window.close()
    window.deleteLater()


def test_every_test_runs_in_an_empty_home_and_config_folder(fresh_home, tmp_path_factory):
    from pathlib import Path

    base = str(tmp_path_factory.getbasetemp())
    assert Path.home() == fresh_home and str(fresh_home).startswith(base) and list(fresh_home.iterdir()) == []
    assert os.environ["XDG_CONFIG_HOME"] == str(fresh_home / ".config")
    assert not (fresh_home / ".config").exists(), "a fresh account has no config folder yet"
    assert QSettings("LatentExplorer", "Latent Explorer").fileName().startswith(str(fresh_home))
    assert QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "x", "y").fileName().startswith(str(fresh_home))
    assert "LATENT_EXPLORER_SETTINGS" not in os.environ


def test_a_new_account_quits_starts_again_and_finds_its_session(fresh_home, no_bundled, gan_bundle, vae_bundle,
                                                               qtbot):
    window = _launch([gan_bundle, vae_bundle], qtbot)
    try:
        window.canvas.setFocus()
        QTest.keyClick(window.canvas, Qt.Key.Key_R)  # re-roll: seed 1
        qtbot.waitUntil(lambda: window.grid.policy.seed == 1, timeout=2000)
        QTest.keyClick(window.canvas, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # Models → the VAE
        assert window.state.active.name == "test vae"
        window.controls.rows.setFocus()
        QTest.keyClick(window.controls.rows, Qt.Key.Key_Down)  # 8 rows -> 7
        assert window.grid.rows == 7
        assert wait_for(window)
        want = window.grid.latents.copy()
        QTest.keyClick(window.canvas, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)  # File → Quit
        assert not window.isVisible(), "Ctrl+Q closes the window"
    finally:
        _dispose(window)
    folder = fresh_home / ".config" / "latent-explorer"
    assert (folder / "last-session.json").is_file(), "the session was kept in the config folder"
    assert json.loads((folder / "last-session.json").read_text())["grid"]["seed"] == 1
    assert (folder / "settings.ini").is_file(), "settings live in the same, one config folder"
    assert not (fresh_home / ".config" / "LatentExplorer").exists(), "no second config folder"

    again = _launch([], qtbot)  # double-clicked again, no models named
    try:
        assert "Reopened the last session" in again.last_message
        assert [m.name for m in again.state.models] == ["test gan", "test vae"]
        assert again.state.active.name == "test vae"
        assert (again.grid.rows, again.grid.policy.seed) == (7, 1)
        np.testing.assert_array_equal(again.grid.latents, want)
    finally:
        _dispose(again)


def wait_for(window) -> bool:
    from explorer.qt.app import wait_for_grid

    return wait_for_grid(window)


def _answer_next_dialog(button_text: str, seen: list) -> QTimer:
    """Click ``button_text`` in the next modal dialog, with the mouse, and note what it said."""

    def tick():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            return
        timer.stop()
        seen.append(box.text() + "\n" + box.informativeText())
        button = next(b for b in box.findChildren(QPushButton) if b.text() == button_text)
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)

    timer = QTimer(interval=30)
    timer.timeout.connect(tick)
    timer.start()
    return timer


def test_a_session_that_cannot_be_kept_is_said_before_the_window_closes(fresh_home, no_bundled, gan_bundle,
                                                                       qtbot):
    window = _launch([gan_bundle], qtbot)
    try:
        folder = fresh_home / ".config" / "latent-explorer"  # made unwritable (root ignores permissions):
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.write_text("a file where the folder should be")
        seen: list[str] = []
        timer = _answer_next_dialog("Cancel", seen)
        window.close()  # the close button: the user is told, and chooses to stay
        timer.stop()
        assert seen and "could not keep this session" in seen[0] and "latent-explorer" in seen[0]
        assert window.isVisible() and window.state.active is not None, "staying keeps everything"
        timer = _answer_next_dialog("Close Without It", [])
        window.close()
        timer.stop()
        assert not window.isVisible()
    finally:
        _dispose(window)


def test_settings_from_the_old_qsettings_folder_are_read_once(fresh_home, no_bundled, qtbot):
    from explorer.qt.qapp import ensure_app, make_settings

    ensure_app()
    old = QSettings("LatentExplorer", "Latent Explorer")  # where earlier versions kept them
    old.setValue("recent", ["/models/old.onnx"])
    old.setValue("tour/seen", True)
    old.sync()
    assert (fresh_home / ".config" / "LatentExplorer").is_dir()
    settings = make_settings()
    assert settings.fileName() == str(fresh_home / ".config" / "latent-explorer" / "settings.ini")
    assert settings.value("recent") == ["/models/old.onnx"]
    settings.setValue("recent", ["/models/new.onnx"])
    settings.sync()
    old.setValue("recent", ["/models/changed-in-the-old-place.onnx"])
    old.sync()
    assert make_settings().value("recent") == ["/models/new.onnx"], "read once, then the new folder is the one"
