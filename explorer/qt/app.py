"""Start the Qt app (or render it offscreen for ``--screenshot``), and the monitor as a window of its own."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from explorer.io.paths import bundled_models
from explorer.qt.qapp import ensure_app, grab_and_close, make_settings

SMALL_SCREEN = (1600, 900)  # below this available area the first window opens maximised


def fit_first_run(window) -> None:
    """No saved layout yet: a window that fits the screen it opens on, docks laid out for its width.

    On a laptop-sized screen (under 1600 x 900 available) the window opens maximised; on a bigger one
    at 90 % of the available area, centred. Either way ``window.arrange_docks`` makes room for the
    grid's columns and the map plot (the right-hand docks join the Model dock where they do not fit).
    """
    from PySide6.QtCore import Qt

    if window.settings is not None and window.settings.value("geometry") is not None:
        return
    screen = window.screen() or ensure_app().primaryScreen()
    if screen is None:
        return
    area = screen.availableGeometry()
    if area.width() < SMALL_SCREEN[0] or area.height() < SMALL_SCREEN[1]:
        window.arrange_docks(area.width())  # first: the docks side by side would hold the window wider
        window.setGeometry(area)
        window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)
        return
    w, h = int(area.width() * 0.9), int(area.height() * 0.9)
    window.arrange_docks(w)
    window.resize(w, h)
    window.move(area.x() + (area.width() - w) // 2, area.y() + (area.height() - h) // 2)


def wait_for_grid(window, timeout: float = 10.0) -> bool:
    """Process events until every cell is decoded and painted (or timeout)."""
    from PySide6.QtWidgets import QApplication

    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        QApplication.processEvents()
        if window.grid.model is None or not window.grid.dirty.any():
            QApplication.processEvents()
            return True
        time.sleep(0.005)
    return False


def build_window(paths, *, interactive: bool = True, size=None):
    from explorer.qt.main_window import MainWindow

    window = MainWindow(settings=make_settings(), interactive=interactive)
    if size is not None:
        window.grid.set_size(*size)
    session_note = ""
    if not paths and interactive:
        from explorer.qt.session_actions import reopen_last_session

        try:
            reopened = reopen_last_session(window)  # the last session's models instead of the bundled ones
        except Exception as exc:  # a bad last session must never stop the app from starting
            lines = str(exc).strip().splitlines()
            window.show_message("last session not reopened: expected a session the app can restore, found "
                                + (lines[0][:160] if lines else "one it could not read"))
            window._undo_open([], None)  # nothing half-restored
            reopened = False
        if reopened:
            return window, []
        if window.last_message.startswith("last session not reopened"):
            session_note = window.last_message
    targets = list(paths) if paths else [str(p) for p in bundled_models()]
    errors = window.open_paths(targets)
    if not targets:
        window.show_message("No bundled models found; open a model with File → Open")
    if session_note:  # said last, so that it stays in the status bar: the bundled models came instead
        window.show_message(f"{session_note}; opened the bundled models instead")
    return window, errors


def run_app(paths, *, screenshot: str | None = None, view: str = "grid", size=None) -> int:
    if screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = ensure_app()
    if screenshot:
        window, errors = build_window(paths, interactive=False, size=size)
        return _screenshot(app, window, errors, screenshot, view)
    from explorer.qt.single_instance import ENV_NEW_INSTANCE, FileOpenEvents, InstanceServer, forward_to_running

    if forward_to_running(paths):  # an app is running: it opens the models (double-click in a file manager)
        print("latent-explorer: already running; " + ("opened the models there" if paths else "brought it to the front")
              + f" (set {ENV_NEW_INSTANCE}=1 for a separate app)")
        return 0
    window, errors = build_window(paths, interactive=True, size=size)
    server = InstanceServer(window)
    server.received.connect(lambda more: _open_forwarded(window, more))
    server.listen()
    file_open = FileOpenEvents(window)
    file_open.received.connect(lambda more: _open_forwarded(window, more))
    app.installEventFilter(file_open)
    fit_first_run(window)
    window.show()
    for err in errors:
        print(f"latent-explorer: error: {err}", file=sys.stderr)
    from explorer.qt.tour import maybe_start_tour

    maybe_start_tour(window)  # first run only; Help → Tour of the Views shows it again
    code = app.exec()
    server.close()
    return code


def _open_forwarded(window, paths) -> None:
    """Paths from a second launch: open them here and bring the window to the front."""
    if paths:
        window.open_paths(paths)
    if window.isMinimized():
        window.showNormal()
    window.raise_()
    window.activateWindow()


def _screenshot(app, window, errors, out: str, view: str) -> int:
    from PySide6.QtWidgets import QApplication

    window.resize(1440, 900)
    window.arrange_docks(1440)
    window.show()
    if view == "latent" and window.grid.model is not None:
        window.grid.set_focus(min(9, window.grid.count - 1))
        window.docks["latent"].dock.raise_()
    elif view == "model":
        window.docks["model"].dock.raise_()
    elif view == "garments" and window.grid.model is not None:  # the style x garment grid, a cell focused
        window.controls.set_garments(True)
        window.grid.set_focus(min(window.grid.cols + 1, window.grid.count - 1))
        window.docks["latent"].dock.raise_()
    wait_for_grid(window)
    for _ in range(5):
        QApplication.processEvents()
    ok = grab_and_close(window, out)
    if not ok:
        print(f"latent-explorer: error: cannot write screenshot {out}", file=sys.stderr)
        return 2
    for err in errors:
        print(f"latent-explorer: error: {err}", file=sys.stderr)
    return 2 if errors else 0


def run_monitor_window(run_dir: str, *, classifier: str | None, n: int | None = None, seed: int | None = None,
                       data_dir=None, screenshot: str | None = None) -> int:
    """Open the monitor as its own window (``latent-explorer monitor RUN_DIR``); 0 when closed.

    ``n`` and ``seed`` default to the classifier's (explorer.core.classifier.DEFAULT_N, DEFAULT_SEED),
    imported here so that starting the main window does not load the monitor's code."""
    from explorer.core.classifier import DEFAULT_N, DEFAULT_SEED

    n = DEFAULT_N if n is None else n
    seed = DEFAULT_SEED if seed is None else seed
    if screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from explorer.qt.monitor_view import MonitorView, wait_until_idle

    app = ensure_app()
    view = MonitorView(classifier=classifier, n=n, seed=seed, data_dir=data_dir)
    view.setWindowTitle(f"Latent Explorer — monitor: {Path(run_dir).name}")
    view.resize(1440, 900)
    view.set_run(run_dir)
    view.show()
    main_window = []  # created on the first film-strip click: that epoch opens in the grid and map

    def open_in_main_window(path: str) -> None:
        from explorer.qt.tools_menu import open_snapshot

        if not main_window:
            window, _errors = build_window([path], interactive=True)  # errors show in its status bar
            main_window.append(window)
            window.show()
            return
        open_snapshot(main_window[0], path)

    view.snapshot_activated.connect(open_in_main_window)
    if screenshot:
        wait_until_idle(view)
        if not grab_and_close(view, screenshot):
            import sys

            print(f"latent-explorer monitor: error: cannot write screenshot {screenshot}", file=sys.stderr)
            return 2
        print(f"wrote {screenshot}")
        return 0
    code = app.exec()
    view.close_monitor()
    return code
