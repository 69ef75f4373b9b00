"""Every shortcut works the way a person presses it, and again the second time.

Keys go through Qt's own event path (``QTest.keyClick`` on the active window: shortcut override,
then the shortcut map), never through the handlers. A raise in any slot fails the test
(pytest-qt captures exceptions from Qt's event loop).
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def _activate(window, qtbot) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)


def _press(window, sequence: QKeySequence) -> None:
    """Press ``sequence`` (one chord) as a keyboard would, on the window that has the focus."""
    combo = sequence[0]
    target = QApplication.focusWidget() or window
    QTest.keyClick(target, combo.key(), combo.keyboardModifiers())


class _DismissDialogs:
    """Answers every modal dialog a shortcut opens (a file dialog for Ctrl+O) with Escape, as a person
    changing their mind would, and counts them."""

    def __init__(self):
        self.seen: list[str] = []
        self.timer = QTimer(interval=30)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        modal = QApplication.activeModalWidget()
        if modal is not None:
            self.seen.append(type(modal).__name__)
            QTest.keyClick(modal, Qt.Key.Key_Escape)

    def stop(self) -> None:
        self.timer.stop()
        self.timer.deleteLater()


def _menu_actions(menu: QMenu):
    for action in menu.actions():
        if action.menu() is not None:
            yield from _menu_actions(action.menu())
        elif not action.isSeparator():
            yield action


def menu_shortcuts(window) -> list[tuple[str, str]]:
    """(shortcut, action text) of every action in the window's menus that has a shortcut."""
    out = []
    for top in window.menuBar().actions():
        if top.menu() is not None:
            for action in _menu_actions(top.menu()):
                if not action.shortcut().isEmpty():
                    out.append((action.shortcut().toString(), action.text()))
    return out


def _action_for(window, shortcut: str) -> QAction | None:
    for top in window.menuBar().actions():
        if top.menu() is not None:
            for action in _menu_actions(top.menu()):
                if action.shortcut().toString() == shortcut:
                    return action
    return None


def _effects(window):
    """What pressing a known shortcut twice must leave behind (checked after the second press)."""
    models = list(window.state.models)
    return {
        "Ctrl+G": lambda: window.views.currentIndex() == 0,
        "Ctrl+M": lambda: window.views.currentWidget() is window.map_view,
        "Ctrl+1": lambda: window.state.active is models[0],
        "Ctrl+2": lambda: window.state.active is models[1],
    }


def test_every_menu_shortcut_triggers_its_action_twice_in_a_row(window, qtbot):
    window.interactive = True  # dialogs open as for a person (and are dismissed with Escape)
    shortcuts = menu_shortcuts(window)
    keys = [k for k, _ in shortcuts]
    for expected in ("Ctrl+O", "Ctrl+S", "Ctrl+W", "Ctrl+Q", "Ctrl+G", "Ctrl+M", "Ctrl+1", "Ctrl+2"):
        assert expected in keys, f"{expected} is no longer in the menus: {shortcuts}"
    assert len(set(keys)) == len(keys), f"two menu actions share a shortcut (neither fires): {shortcuts}"
    # Closing shortcuts last: Ctrl+W closes both models, then Ctrl+Q the window.
    order = sorted(keys, key=lambda k: {"Ctrl+W": 1, "Ctrl+Q": 2}.get(k, 0))
    effects = _effects(window)
    dialogs = _DismissDialogs()
    _activate(window, qtbot)
    try:
        for key in order:
            action = _action_for(window, key)
            assert action is not None, key
            fired = []
            action.triggered.connect(lambda *_a, k=key: fired.append(k))
            for _ in range(2):
                if window.isVisible():
                    _activate(window, qtbot)  # back to the window after a dialog, as on a desktop
                _press(window, QKeySequence(key))
                qtbot.wait(60)
            if key == "Ctrl+Q":  # the second press reaches no window: the first closed it
                assert len(fired) >= 1 and not window.isVisible()
                continue
            assert len(fired) == 2, f"{key} ({action.text()}) fired {len(fired)} times for two presses"
            if key in effects:
                assert effects[key](), f"{key} ({action.text()}) did not do its job"
            if key == "Ctrl+W":
                assert window.state.models == [] and window.state.active is None
                assert window.windowTitle() == "Latent Explorer"
    finally:
        dialogs.stop()
        window.interactive = False
    assert "QFileDialog" in dialogs.seen  # Ctrl+O and Ctrl+S asked for a file each time


def test_walk_w_starts_and_stops_every_time(window, qtbot):
    _activate(window, qtbot)
    window.canvas.setFocus()
    for attempt in range(2):  # W, W, W, W: start, stop, start, stop
        z0 = window.grid.latents.copy()
        _press(window, QKeySequence("W"))
        qtbot.waitUntil(lambda: window.walk_timer.isActive(), timeout=2000)
        assert window.controls.walk.isChecked() and "Stop" in window.controls.walk.text()
        qtbot.waitUntil(lambda: not np.allclose(z0, window.grid.latents), timeout=5000)  # it walks
        _press(window, QKeySequence("W"))
        qtbot.waitUntil(lambda: not window.walk_timer.isActive(), timeout=2000)
        assert not window.controls.walk.isChecked() and "Walk" in window.controls.walk.text()
        stopped = window.grid.latents.copy()
        qtbot.wait(100)
        np.testing.assert_array_equal(stopped, window.grid.latents)  # and it stopped, attempt {attempt}


def test_r_rerolls_every_time(window, qtbot):
    _activate(window, qtbot)
    window.canvas.setFocus()
    seeds = [window.grid.policy.seed]
    for _ in range(3):
        _press(window, QKeySequence("R"))
        qtbot.waitUntil(lambda: window.grid.policy.seed != seeds[-1], timeout=2000)
        seeds.append(window.grid.policy.seed)
    assert len(set(seeds)) == 4


def test_every_one_key_shortcut_of_the_grid_tab_fires_twice(window, qtbot):
    """Actions the grid's widgets own (not in a menu): each key press fires once, also the second time."""
    _activate(window, qtbot)
    window.canvas.setFocus()
    owned = [a for a in window.controls.actions() if not a.shortcut().isEmpty()]
    assert {a.shortcut().toString() for a in owned} >= {"R", "W"}
    for action in owned:
        fired = []
        action.triggered.connect(lambda *_a: fired.append(1))
        for _ in range(2):
            _press(window, action.shortcut())
            qtbot.wait(30)
        assert len(fired) == 2, action.text()
    window.set_walking(False)

