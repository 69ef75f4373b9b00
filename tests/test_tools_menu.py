"""Tools menu: the monitor opened from the main window, and film-strip clicks opening snapshots."""

from __future__ import annotations

import shutil

from explorer.paths import bundled_model


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


def test_map_point_becomes_a_path_waypoint_drawn_on_the_map(qtbot):
    """Issue 5 on the map: 'Add to path' turns the probed latent into a waypoint, and the path overlay
    draws the waypoints through the map's latent projection."""
    import numpy as np

    from explorer.qt.main_window import MainWindow

    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    window.open_paths([str(bundled_model("vae"))])
    map_view = window.map_view
    map_view.set_model(window.state.active)
    qtbot.waitUntil(lambda: map_view.projection is not None, timeout=20000)
    assert window.path_overlay.projection is map_view.projection  # latent map: the overlay follows it
    rng = np.random.default_rng(0)
    for _ in range(2):
        map_view._probe_z = rng.standard_normal(window.state.active.latent_dim).astype(np.float32)
        map_view._enable_probe_actions(True)
        map_view.to_path_button.click()
    assert len(window.path_editor.waypoints) == 2
    assert not window.path_dock.isHidden(), "the path dock opens when the first waypoints arrive"
    assert len(window.path_overlay.targets) == 2, "two draggable waypoints on the map"
