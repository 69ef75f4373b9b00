"""Start the Qt app (or render it offscreen for ``--screenshot``)."""

from __future__ import annotations

import os
import sys
import time

from explorer.io.paths import bundled_models

ENV_SETTINGS = "LATENT_EXPLORER_SETTINGS"  # an .ini path: isolates settings (tests, screenshots)

QSS = """
QMainWindow, QWidget { background: #1e2126; color: #e3e6ea; font-size: 13px; }
QMenuBar { background: #1a1c20; }
QMenuBar::item:selected, QMenu::item:selected { background: #2f6fde; }
QMenu { background: #24272d; border: 1px solid #3a3f47; }
QDockWidget::title { background: #24272d; padding: 6px 8px; color: #9aa4b2; font-weight: 600; }
QLabel#panelTitle { font-weight: 600; font-size: 13px; color: #e3e6ea; }
QLabel#controlLabel { color: #9aa4b2; }
QLabel#hint, QLabel#dimLabel, QLabel#dimValue { color: #9aa4b2; font-size: 12px; }
QLabel#emptyState { color: #7d8795; font-size: 16px; }
QLabel#statusField { color: #c5cbd3; padding: 0 10px; }
QStatusBar { background: #17191c; color: #c5cbd3; }
QScrollArea#gridScroll { background: #18191c; border: none; }
QScrollArea#gridScroll > QWidget > QWidget { background: #18191c; }
QListWidget, QTextBrowser { background: #191b1f; border: 1px solid #30343b; border-radius: 4px; }
QListWidget::item { padding: 4px; }
QListWidget::item:selected { background: #2f6fde; color: white; }
QSpinBox, QDoubleSpinBox, QComboBox { background: #2a2e35; border: 1px solid #3a3f47; border-radius: 4px;
    padding: 2px 4px; min-height: 20px; }
QPushButton, QToolButton { background: #2f343c; border: 1px solid #434953; border-radius: 4px; padding: 4px 12px; }
QPushButton:hover, QToolButton:hover { background: #3a404a; }
QToolButton:checked { background: #2f6fde; border-color: #2f6fde; color: white; }
QSlider::groove:horizontal { height: 4px; background: #3a3f47; border-radius: 2px; }
QSlider::sub-page:horizontal { background: #2f6fde; border-radius: 2px; }
QSlider::handle:horizontal { background: #e3e6ea; width: 12px; margin: -5px 0; border-radius: 6px; }
QCheckBox { spacing: 6px; }
QCheckBox::indicator { width: 14px; height: 14px; border: 1px solid #5a616c; border-radius: 3px; background: #2a2e35; }
QCheckBox::indicator:checked { background: #2f6fde; border-color: #2f6fde; }
QPushButton:disabled, QToolButton:disabled { color: #6b727c; }
"""


def make_settings():
    from PySide6.QtCore import QSettings

    path = os.environ.get(ENV_SETTINGS)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("LatentExplorer", "Latent Explorer")


def ensure_app():
    from PySide6.QtWidgets import QApplication

    from explorer.qt.refcount_guard import pin_singletons

    pin_singletons()  # PySide6 6.12 on CPython 3.11 drops references to None: see refcount_guard
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Latent Explorer")
        app.setOrganizationName("LatentExplorer")
        app.setStyle("Fusion")
        app.setDesktopFileName("latent-explorer")  # matches packaging/linux/latent-explorer.desktop
        _set_app_icon(app)
    app.setStyleSheet(QSS)
    return app


def _set_app_icon(app) -> None:
    from PySide6.QtGui import QIcon

    from explorer.io.paths import app_icon_files

    icon = QIcon()
    for f in app_icon_files():
        icon.addFile(str(f))
    if not icon.isNull():
        app.setWindowIcon(icon)


def fit_first_run(window) -> None:
    """No saved layout yet: a window that fits the screen (at most 1400 x 900), centred."""
    if window.settings is not None and window.settings.value("geometry") is not None:
        return
    screen = window.screen() or ensure_app().primaryScreen()
    if screen is None:
        return
    area = screen.availableGeometry()
    w, h = min(1400, int(area.width() * 0.9)), min(900, int(area.height() * 0.9))
    window.resize(w, h)
    window.move(area.x() + (area.width() - w) // 2, area.y() + (area.height() - h) // 2)


def grab_and_close(widget, out) -> bool:
    """Save ``widget`` as a PNG at ``out``, then close and delete it. True when the file was written."""
    from PySide6.QtWidgets import QApplication

    from explorer.io.exports import atomic_path

    pixmap = widget.grab()
    try:
        with atomic_path(out, ".png") as tmp:
            if not pixmap.save(str(tmp), "PNG"):
                raise OSError("Qt could not encode the PNG")
        ok = True
    except OSError:
        ok = False
    widget.close()
    widget.deleteLater()
    QApplication.processEvents()
    return ok


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
    window.show()
    if view == "latent" and window.grid.model is not None:
        window.grid.set_focus(min(9, window.grid.count - 1))
        window.docks["latent"].dock.raise_()
    elif view == "model":
        window.docks["model"].dock.raise_()
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
