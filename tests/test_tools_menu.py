"""Tools menu: the monitor opened from the main window, and film-strip clicks opening snapshots."""

from __future__ import annotations

import shutil

from explorer.io.paths import bundled_model


def test_film_strip_click_opens_the_snapshot_in_the_main_window(qtbot, tmp_path):
    from explorer.qt.main_window import MainWindow
    from explorer.qt.tools_menu import open_monitor

    run = tmp_path / "run"
    snapshot = run / "snapshots" / "epoch-0003"
    shutil.copytree(bundled_model("gan"), snapshot)
    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    assert window.watch_action.text() and window.compare_action.text()
    monitor = open_monitor(window, str(run))
    qtbot.addWidget(monitor)
    assert window.state.active is None
    monitor.snapshot_activated.emit(str(snapshot))  # what a click on the epoch-3 film-strip frame sends
    assert window.state.active is not None
    assert "epoch-0003" in str(window.state.active.path)
    monitor.close_monitor()


def vae_window_with_map(qtbot):
    """A main window on the bundled VAE whose latent map has its points and projection."""
    from explorer.qt.main_window import MainWindow

    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    window.open_paths([str(bundled_model("vae"))])
    window.map_view.set_model(window.state.active)
    qtbot.waitUntil(lambda: window.map_view.projection is not None, timeout=20000)
    return window


def test_map_point_becomes_a_path_waypoint_drawn_on_the_map(qtbot):
    """Issue 5 on the map: 'Add to path' turns the probed latent into a waypoint, and the path overlay
    draws the waypoints through the map's latent projection."""
    import numpy as np

    window = vae_window_with_map(qtbot)
    map_view = window.map_view
    assert window.path_overlay.projection is map_view.projection  # latent map: the overlay follows it
    rng = np.random.default_rng(0)
    for _ in range(2):
        map_view.map_model.decodes.set_probe_latent(rng.standard_normal(window.state.active.latent_dim))
        map_view.panel.to_path_button.click()
    assert len(window.path_editor.waypoints) == 2
    assert not window.path_dock.isHidden(), "the path dock opens when the first waypoints arrive"
    assert len(window.path_overlay.targets) == 2, "two draggable waypoints on the map"


def test_two_kept_selections_make_a_direction_and_survive_a_session(qtbot, tmp_path):
    """Issue 5: named vectors from two lasso selections (group A -> group B), saved in sessions."""
    import numpy as np

    from explorer.qt.session_actions import apply_session, window_session

    window = vae_window_with_map(qtbot)
    map_view = window.map_view
    labels = map_view.map_model.primary.points.labels
    assert not map_view.panel.direction_button.isEnabled()
    map_view.set_selection(np.flatnonzero(labels == 0)[:200])  # T-shirts
    map_view.panel.keep_a_button.click()
    map_view.set_selection(np.flatnonzero(labels == 3)[:200])  # dresses
    map_view.panel.keep_b_button.click()
    assert map_view.panel.direction_button.isEnabled()
    before = len(window.directions_panel.directions)
    map_view.panel.direction_button.click()
    assert len(window.directions_panel.directions) == before + 1
    made = window.directions_panel.directions[-1]
    vectors = map_view.map_model.primary.points.vectors
    expected = vectors[labels == 3][:200].mean(0) - vectors[labels == 0][:200].mean(0)
    assert np.allclose(made.vector, expected / np.linalg.norm(expected), atol=1e-5)  # unit vector A -> B
    groups = map_view.map_model.groups_json()  # the kept groups live in the map's model, nowhere else
    assert sorted(groups) == ["A", "B"] and len(groups["A"]) == 200 and not hasattr(window, "map_selections")

    session = window_session(window)
    map_view.set_groups({})
    assert not map_view.panel.direction_button.isEnabled()
    apply_session(window, session)
    assert map_view.panel.direction_button.isEnabled() and len(map_view.map_model.groups["B"]) == 200
