"""The Tools menu: the live training monitor and the two-model comparison, opened from the main window.

Both judge with the bundled classifier (``explorer.core.classifier.default_classifier``), as the
command line does. The monitor's film strip emits ``snapshot_activated(path)``; here it opens that
epoch's snapshot in the main window (grid and map), which is how a user goes from a curve to the
images behind it. Compare asks for both models at once (``ComparePicker``): the open models, the
bundled ones, or any file or folder.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
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
    from explorer.core.classifier import default_classifier
    from explorer.qt.monitor_view import MonitorView

    view = MonitorView(classifier=default_classifier())
    view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # a closed monitor window is freed, worker and all
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
    from explorer.core.classifier import default_classifier
    from explorer.qt.compare_view import CompareView

    view = CompareView(default_classifier())
    view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    view.setWindowTitle("Latent Explorer — compare")
    view.resize(1440, 900)
    view.set_models(a, b)
    view.show()
    window.monitor_windows.append(view)
    view.destroyed.connect(lambda *_: window.monitor_windows.remove(view) if view in window.monitor_windows else None)
    return view


def compare_choices(window) -> list[tuple[str, str]]:
    """(label, path) of the models the compare picker offers: the open ones, then the bundled ones."""
    from explorer.io.paths import bundled_models
    from explorer.qt.compare_view import model_choice_path

    out, seen = [], set()
    for model in getattr(window.state, "models", []):
        path = model_choice_path(model.path)
        if path not in seen:
            seen.add(path)
            out.append((f"{model.name} — open ({path.name})", str(path)))
    for folder in bundled_models():
        path = model_choice_path(folder)
        if path not in seen:
            seen.add(path)
            out.append((f"{path.name} — bundled", str(path)))
    return out


def _pick_run(window) -> None:
    from explorer.io.run_folder import METRICS_FILE, SNAPSHOTS_DIR

    folder = QFileDialog.getExistingDirectory(window, f"Training run folder (holds {SNAPSHOTS_DIR}/ and {METRICS_FILE})")
    if folder:
        open_monitor(window, folder)


def _pick_models(window):
    """Open the two-model picker (window-modal, not blocking); "Compare" opens the comparison."""
    from explorer.qt.compare_view import ComparePicker

    picker = ComparePicker(compare_choices(window), window)
    picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    picker.accepted.connect(lambda: picker.pair() and open_compare(window, *picker.pair()))
    window.compare_picker = picker
    picker.open()
    return picker
