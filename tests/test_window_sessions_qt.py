"""Sessions through the window as a person uses them: edit through the widgets, File → Save Session…,
File → Open Session… in a new window, closing keeps the last session; every part (explorer/qt/docks.py)
brings its model back, and a part that cannot is one line while the rest comes back (offscreen Qt)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def _menu_action(window, menu: str, text: str):
    """The action a click on ``menu`` → ``text`` triggers (offscreen menus cannot be opened)."""
    for top in window.menuBar().actions():
        if top.menu() is not None and top.text().replace("&", "") == menu:
            for action in top.menu().actions():
                if action.text().replace("&", "") == text:
                    return action
    raise AssertionError(f"no {menu} → {text} in the menu bar")


def _click(widget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=widget.rect().center())


def _edit_through_the_widgets(window):
    """VAE from the Models menu, a 3-row grid, a two-waypoint lerp path at 22 fps, a class direction,
    kept map groups A and B. Returns what a new window should show."""
    _menu_action(window, "Models", next(a.text() for a in window.models_menu.actions()
                                        if a.text().startswith("test vae"))).trigger()
    assert window.state.active.name == "test vae"
    for _ in range(5):
        QTest.keyClick(window.controls.rows, Qt.Key.Key_Down)
    assert window.grid.rows == 3
    window.path_dock.toggleViewAction().trigger()  # View → Interpolation path
    path = window.path_view
    _click(path.random_btn)
    _click(path.random_btn)
    QTest.keyClick(path.mode, Qt.Key.Key_Down)  # slerp -> lerp
    QTest.keyClick(path.speed, Qt.Key.Key_PageUp)  # 12 -> 22 fps
    assert (window.path_editor.mode, window.path_editor.fps, len(window.path_editor.waypoints)) == ("lerp", 22, 2)
    window.directions_dock.raise_()
    panel = window.directions_panel
    QTest.keyClick(panel.class_b, Qt.Key.Key_Down)  # class a -> class b
    _click(panel.class_btn)
    assert [d.source for d in panel.directions] == ["class"]
    _menu_action(window, "View", "Latent Map").trigger()
    map_view = window.map_view
    map_view.set_selection(np.arange(3))  # what a lasso around three points selects
    _click(map_view.keep_a_button)
    map_view.set_selection(np.arange(3, 5))
    _click(map_view.keep_b_button)
    return {"size": (3, window.grid.cols), "latents": window.grid.latents.copy(), "path": np.stack([w.z for w in window.path_editor.waypoints]),
            "direction": panel.directions[0].vector.copy(), "groups": {"A": [0, 1, 2], "B": [3, 4]}}


def _save_from_the_menu(window, monkeypatch, path) -> None:
    from explorer.qt import session_actions

    monkeypatch.setattr(session_actions.QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    window.interactive = True  # dialogs are only opened by interactive windows
    try:
        _menu_action(window, "File", "Save Session…").trigger()
    finally:
        window.interactive = False
    assert window.last_message == f"Saved session {path.name}"


def _open_from_the_menu(window, monkeypatch, path) -> None:
    from explorer.qt import session_actions

    monkeypatch.setattr(session_actions.QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    window.interactive = True
    try:
        _menu_action(window, "File", "Open Session…").trigger()
    finally:
        window.interactive = False


def _assert_every_part_came_back(other, want) -> None:
    assert other.state.active is not None and other.state.active.name == "test vae"
    assert (other.grid.rows, other.grid.cols) == want["size"]
    assert np.array_equal(other.grid.latents, want["latents"])
    editor = other.path_editor
    assert (editor.mode, editor.fps) == ("lerp", 22)
    assert np.array_equal(np.stack([w.z for w in editor.waypoints]), want["path"])
    assert other.path_view.speed.value() == 22 and other.path_view.mode.currentText() == "lerp"  # views follow
    assert [d.source for d in other.directions_panel.directions] == ["class"]
    assert np.array_equal(other.directions_panel.directions[0].vector, want["direction"])
    assert other.directions_panel.list.count() == 1
    assert {k: v.tolist() for k, v in other.map_view.groups.items()} == want["groups"]
    assert other.map_view.direction_button.isEnabled()


def _new_window():
    from explorer.qt.app import build_window

    other, _ = build_window([], interactive=False)  # no bundled models in tests: an empty window
    assert other.state.active is None
    return other


def test_every_part_comes_back_through_file_save_and_open_session(window, monkeypatch, tmp_path):
    want = _edit_through_the_widgets(window)
    _save_from_the_menu(window, monkeypatch, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert set(data["docks"]) == {"path", "directions", "map"}  # the model and latent docks keep nothing
    assert data["docks"]["map"]["groups"] == want["groups"] and data["docks"]["path"]["fps"] == 22

    other = _new_window()
    try:
        _open_from_the_menu(other, monkeypatch, tmp_path / "s.json")
        assert other.last_message == "Session s.json: 2 model(s) reopened"
        _assert_every_part_came_back(other, want)
    finally:
        other.close()
        other.deleteLater()


def test_closing_keeps_the_last_session_and_the_next_start_brings_every_part_back(window):
    from explorer.qt.app import build_window
    from explorer.qt.session_actions import last_session_file

    want = _edit_through_the_widgets(window)
    window.interactive = True  # closing an interactive window keeps the session
    window.close()
    window.interactive = False
    assert json.loads(last_session_file().read_text())["docks"]["path"]["fps"] == 22
    again, errors = build_window([], interactive=True)
    try:
        assert errors == [] and "Reopened the last session" in again.last_message
        _assert_every_part_came_back(again, want)
    finally:
        again.interactive = False
        again.close()
        again.deleteLater()


def test_a_part_that_cannot_be_restored_is_one_line_and_the_rest_comes_back(window, monkeypatch, tmp_path):
    want = _edit_through_the_widgets(window)
    _save_from_the_menu(window, monkeypatch, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    data["docks"]["path"]["paths"][0]["waypoints"] = data["docks"]["path"]["paths"][0]["waypoints"][:1]
    data["docks"]["map"]["view"]["dims"] = ["x", "y"]  # the map cannot take these dimensions
    (tmp_path / "broken.json").write_text(json.dumps(data))

    other = _new_window()
    try:
        _open_from_the_menu(other, monkeypatch, tmp_path / "broken.json")
        message = other.last_message
        assert message.startswith("Session broken.json: 2 model(s) reopened; "
                                  "path 'current' not restored: a path needs at least 2 waypoints")
        assert "map" not in message and "\n" not in message
        # everything else came back: grid, directions, the path's speed
        assert np.array_equal(other.grid.latents, want["latents"]) and other.path_editor.fps == 22
        assert [d.source for d in other.directions_panel.directions] == ["class"]
        # the map's section waits for the map: shown (one click on its tab), it says what it could not take
        assert not other.docks["map"].built
        bar = other.view_tabs
        QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
        assert other.docks["map"].built
        assert other.last_message == ("Session: map view not restored "
                                      "(ValueError: invalid literal for int() with base 10: 'x')")
        assert {k: v.tolist() for k, v in other.map_view.groups.items()} == want["groups"]
        _click(other.path_view.random_btn)  # and the path dock still works
        assert len(other.path_editor.waypoints) == 1
    finally:
        other.close()
        other.deleteLater()


def test_a_session_saved_before_the_parts_had_sections_still_opens(window, monkeypatch, tmp_path, gan_bundle,
                                                                   vae_bundle):
    """Version 1, as the app wrote it until now: paths, directions and selections at the top level,
    the map's view and the path speed in ``view``."""
    rng = np.random.default_rng(3)
    waypoints = rng.standard_normal((3, 6)).round(3)
    v1 = {"format": "latent-explorer-session", "version": 1,
          "models": [{"path": str(gan_bundle / "generator.onnx"), "name": "test gan"},
                     {"path": str(vae_bundle / "decoder.onnx"), "name": "test vae"}],
          "active": str(vae_bundle / "decoder.onnx"),
          "grid": {"rows": 2, "cols": 3, "seed": 5, "temperature": 1.0, "truncation": None, "class_choice": None,
                   "focus": None},
          "endpoints": [],
          "paths": [{"model": "test vae", "name": "current", "waypoints": waypoints.tolist(), "mode": "lerp",
                     "steps": 9, "easing": "ease-in", "names": ["a", "b", "c"]}],
          "directions": [{"name": "mine", "source": "user", "detail": "", "model": "test vae",
                          "vector": [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]}],
          "selections": {"A": [0, 1], "B": [2]},
          "view": {"cell_px": 56, "path_fps": 30, "map": {"projection": "PCA", "dims": [0, 1]}}}
    (tmp_path / "old.json").write_text(json.dumps(v1, indent=2))

    other = _new_window()
    try:
        _open_from_the_menu(other, monkeypatch, tmp_path / "old.json")
        assert other.last_message == "Session old.json: 2 model(s) reopened"
        assert other.state.active.name == "test vae" and (other.grid.rows, other.grid.cols) == (2, 3)
        editor = other.path_editor
        assert (editor.mode, editor.steps, editor.easing, editor.fps) == ("lerp", 9, "ease-in", 30)
        assert [w.name for w in editor.waypoints] == ["a", "b", "c"]
        assert np.allclose(np.stack([w.z for w in editor.waypoints]), waypoints)
        assert other.path_view.speed.value() == 30
        assert [d.name for d in other.directions_panel.directions] == ["mine"]
        assert {k: v.tolist() for k, v in other.map_view.groups.items()} == {"A": [0, 1], "B": [2]}
        assert other.controls.cell.value() == 56
    finally:
        other.close()
        other.deleteLater()


def test_the_window_names_its_parts_and_the_tour_finds_every_step(window):
    from explorer.qt.tour import STEPS, Tour

    assert list(window.docks) == ["model", "latent", "path", "directions", "map"]
    assert [p.dock.objectName() for p in window.docks.values() if p.dock is not None] == \
        ["modelDock", "latentDock", "pathDock", "directionsDock"]
    assert window.docks["map"].dock is None and window.docks["map"].frame is window.map_view  # a tab, not a dock
    tour = Tour(window)
    try:
        assert tour.steps == STEPS, "every step of the tour points at a part this window has"
        assert tour.landmarks["path"] is window.path_dock
    finally:
        tour.close()
