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
