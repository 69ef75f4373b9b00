"""The QApplication of Latent Explorer: its style and stylesheet, its one settings file, its icon, and
offscreen grabs of a widget. Views and the window import these from here; ``app.py`` starts the app.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from explorer.core.session import config_dir
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
