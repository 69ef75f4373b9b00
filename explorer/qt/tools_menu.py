"""The Tools menu: the live training monitor and the two-model comparison, opened from the main window.

The monitor's film strip emits ``snapshot_activated(path)``; here it opens that epoch's snapshot in the
main window (grid and map), which is how a user goes from a curve to the images behind it.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog


def add_tools_menu(window) -> None:
    """Add Tools → Watch Training Run… / Compare Models… to ``window`` (a MainWindow)."""
    tools = window.menuBar().addMenu("&Tools")
    watch = QAction("&Watch Training Run…", window)
    watch.setStatusTip("Live diversity monitor of a training run folder (mode collapse, curves, film strip)")
    watch.triggered.connect(lambda: _pick_run(window))
    compare = QAction("&Compare Two Models…", window)
    compare.setStatusTip("Two models side by side on the same latents: grids, sharpness, diversity, Frechet distance")
    compare.triggered.connect(lambda: _pick_models(window))
    tools.addAction(watch)
    tools.addAction(compare)
    window.tools_menu, window.watch_action, window.compare_action = tools, watch, compare
    window.monitor_windows = []


def open_monitor(window, run_dir: str):
    """A monitor window on ``run_dir`` whose film-strip clicks open snapshots in ``window``."""
    from explorer.qt.monitor_view import MonitorView

    view = MonitorView()
    view.setWindowTitle(f"Latent Explorer — monitor: {run_dir}")
    view.resize(1440, 900)
    view.snapshot_activated.connect(lambda path: open_snapshot(window, path))
    view.set_run(run_dir)
    view.show()
    window.monitor_windows.append(view)
    view.destroyed.connect(lambda *_: window.monitor_windows.remove(view) if view in window.monitor_windows else None)
    return view


def open_snapshot(window, path: str) -> list[str]:
    """Open a snapshot folder in the main window and bring it to the front; returns the errors."""
    errors = window.open_paths([path])
    window.show()
    window.raise_()
    window.activateWindow()
    return errors


def open_compare(window, a: str, b: str):
    from explorer.qt.compare_view import CompareView

    view = CompareView()
    view.setWindowTitle("Latent Explorer — compare")
    view.resize(1440, 900)
    view.set_models(a, b)
    view.show()
    window.monitor_windows.append(view)
    return view


def _pick_run(window) -> None:
    from explorer.io.run_folder import METRICS_FILE, SNAPSHOTS_DIR

    folder = QFileDialog.getExistingDirectory(window, f"Training run folder (holds {SNAPSHOTS_DIR}/ and {METRICS_FILE})")
    if folder:
        open_monitor(window, folder)


def _pick_models(window) -> None:
    files, _ = QFileDialog.getOpenFileNames(window, "Pick two models", "", "ONNX models (*.onnx)")
    if len(files) != 2:
        if files:
            window.statusBar().showMessage(f"Compare needs exactly two models, {len(files)} picked", 8000)
        return
    open_compare(window, *files)
