"""Start the Qt app (or render it offscreen for ``--screenshot``)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from explorer.core.session import config_dir
from explorer.io.paths import bundled_models
from explorer.qt import theme

ENV_SETTINGS = "LATENT_EXPLORER_SETTINGS"  # an .ini path: isolates settings (tests, screenshots)
SETTINGS_FILE = "settings.ini"  # in config_dir(), next to last-session.json: the app's one config folder
# Where QSettings kept them before (~/.config/LatentExplorer/Latent Explorer.conf on Linux): read once.
OLD_SETTINGS = ("LatentExplorer", "Latent Explorer")
ADOPTED_KEY = "settings/adopted_from"

QSS = f"""
QMainWindow, QWidget {{ background: {theme.WINDOW}; color: {theme.TEXT}; font-size: 13px; }}
QMenuBar {{ background: {theme.MENU_BAR}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {theme.ACCENT}; }}
QMenu {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; }}
QDockWidget::title {{ background: {theme.PANEL}; padding: 6px 8px; color: {theme.MUTED}; font-weight: 600; }}
QLabel#panelTitle {{ font-weight: 600; font-size: 13px; color: {theme.TEXT}; }}
QLabel#controlLabel {{ color: {theme.MUTED}; }}
QLabel#hint, QLabel#dimLabel, QLabel#dimValue {{ color: {theme.MUTED}; font-size: 12px; }}
QLabel#emptyState {{ color: {theme.FAINT}; font-size: 16px; }}
QLabel#statusField {{ color: {theme.SOFT}; padding: 0 10px; }}
QStatusBar {{ background: {theme.SUNKEN}; color: {theme.SOFT}; }}
QScrollArea#gridScroll {{ background: {theme.GRID_BG}; border: none; }}
QScrollArea#gridScroll > QWidget > QWidget {{ background: {theme.GRID_BG}; }}
QListWidget, QTextBrowser {{ background: {theme.LIST_BG}; border: 1px solid {theme.LINE}; border-radius: 4px; }}
QListWidget::item {{ padding: 4px; }}
QListWidget::item:selected {{ background: {theme.ACCENT}; color: white; }}
QSpinBox, QDoubleSpinBox, QComboBox {{ background: {theme.FIELD}; border: 1px solid {theme.BORDER}; border-radius: 4px;
    padding: 2px 4px; min-height: 20px; }}
QSpinBox, QDoubleSpinBox {{ padding-right: 18px; }}
QSpinBox::up-button, QDoubleSpinBox::up-button, QSpinBox::down-button, QDoubleSpinBox::down-button {{
    subcontrol-origin: border; width: 16px; background: {theme.SPIN_BUTTON}; border-left: 1px solid {theme.BORDER}; }}
QSpinBox::up-button, QDoubleSpinBox::up-button {{ subcontrol-position: top right; border-top-right-radius: 4px; }}
QSpinBox::down-button, QDoubleSpinBox::down-button {{ subcontrol-position: bottom right;
    border-bottom-right-radius: 4px; border-top: 1px solid {theme.BORDER}; }}
QSpinBox::up-arrow, QDoubleSpinBox::up-arrow, QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{ width: 0; height: 0;
    border-left: 4px solid {theme.SPIN_BUTTON}; border-right: 4px solid {theme.SPIN_BUTTON}; }}
QSpinBox::up-arrow, QDoubleSpinBox::up-arrow {{ border-bottom: 5px solid {theme.SOFT}; }}
QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{ border-top: 5px solid {theme.SOFT}; }}
QSpinBox::up-arrow:disabled, QDoubleSpinBox::up-arrow:disabled, QSpinBox::up-arrow:off,
    QDoubleSpinBox::up-arrow:off {{ border-bottom-color: {theme.CHECK_BORDER}; }}
QSpinBox::down-arrow:disabled, QDoubleSpinBox::down-arrow:disabled, QSpinBox::down-arrow:off,
    QDoubleSpinBox::down-arrow:off {{ border-top-color: {theme.CHECK_BORDER}; }}
QPushButton, QToolButton {{ background: {theme.BUTTON}; border: 1px solid {theme.BUTTON_BORDER}; border-radius: 4px; padding: 4px 12px; }}
QPushButton:hover, QToolButton:hover {{ background: {theme.BUTTON_HOVER}; }}
QToolButton:checked {{ background: {theme.ACCENT}; border-color: {theme.ACCENT}; color: white; }}
QSlider::groove:horizontal {{ height: 4px; background: {theme.BORDER}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {theme.ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {theme.TEXT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QCheckBox {{ spacing: 6px; }}
QPushButton:disabled, QToolButton:disabled {{ color: {theme.DISABLED}; }}
"""


_STYLE = None  # the app's style, kept alive here (Qt does not own a style set from Python)


def explorer_style():
    """Fusion, with the check box drawn as the dark theme wants it: a dark box, blue when checked, with
    a white tick (a style sheet can colour the box but cannot draw a tick without an image file)."""
    global _STYLE
    if _STYLE is not None:
        return _STYLE
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
    from PySide6.QtWidgets import QProxyStyle, QStyle

    class ExplorerStyle(QProxyStyle):
        def drawPrimitive(self, element, option, painter, widget=None):
            if element != QStyle.PrimitiveElement.PE_IndicatorCheckBox:
                return super().drawPrimitive(element, option, painter, widget)
            state = option.state
            on = bool(state & QStyle.StateFlag.State_On)
            enabled = bool(state & QStyle.StateFlag.State_Enabled)
            r = option.rect.adjusted(1, 1, -1, -1)
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            fill = QColor(theme.ACCENT) if on else QColor(theme.FIELD)
            if not enabled:
                fill = fill.darker(160)
            painter.setPen(QPen(QColor(theme.ACCENT if on else theme.CHECK_BORDER), 1))
            painter.setBrush(fill)
            painter.drawRoundedRect(r, 3, 3)
            if on:
                w, h = r.width(), r.height()
                tick = QPolygonF([QPointF(r.x() + w * 0.22, r.y() + h * 0.52),
                                  QPointF(r.x() + w * 0.42, r.y() + h * 0.72),
                                  QPointF(r.x() + w * 0.78, r.y() + h * 0.30)])
                pen = QPen(QColor("white" if enabled else theme.MUTED), max(1.6, w / 7))
                pen.setCapStyle(Qt.PenCapStyle.RoundCap)
                pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawPolyline(tick)
            painter.restore()

    _STYLE = ExplorerStyle("Fusion")
    return _STYLE


def settings_path() -> Path:
    """The settings file: ``$LATENT_EXPLORER_SETTINGS`` when set, else settings.ini in the config folder."""
    iso = os.environ.get(ENV_SETTINGS)
    return Path(iso).expanduser() if iso else config_dir() / SETTINGS_FILE


def make_settings():
    """The app's QSettings, an .ini in the one config folder (explorer.core.session.config_dir).

    The first time (no settings.ini yet) the settings QSettings kept in its own folder before are
    copied in, so nobody loses their recent files, layout or tour; the old file is left as it was.
    """
    from PySide6.QtCore import QSettings

    path = settings_path()
    fresh = not path.exists()
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    if fresh and not os.environ.get(ENV_SETTINGS):
        _adopt_old_settings(settings)
    return settings


def _adopt_old_settings(settings) -> None:
    from PySide6.QtCore import QSettings

    old = QSettings(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, *OLD_SETTINGS)
    keys = old.allKeys()
    if not keys:
        return
    for key in keys:
        settings.setValue(key, old.value(key))
    settings.setValue(ADOPTED_KEY, old.fileName())
    settings.sync()


def ensure_app():
    from PySide6.QtWidgets import QApplication

    from explorer.qt.refcount_guard import pin_singletons

    pin_singletons()  # PySide6 6.12 on CPython 3.11 drops references to None: see refcount_guard
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Latent Explorer")
        app.setOrganizationName("LatentExplorer")
        app.setStyle(explorer_style())
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
    window.arrange_docks(1440)
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
