"""The monitor's and the compare view's look: style sheet, colours, value format and the metric plot.

:class:`MetricPlot` is one pyqtgraph plot of the monitor with named series (solid = measured,
dashed = the real floor, a band = floor ± 3 sd) and a one-line legend in its title.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QMenu
from explorer.qt import theme

PLOT_BG = theme.PLOT_BG
COLORS = theme.SERIES
TEXT = theme.SOFT

STYLE = f"""
QLabel#monitorTitle {{ font-size: 16px; font-weight: 600; color: {theme.TEXT}; }}
QLabel#monitorMeta {{ color: {theme.MUTED}; }}
QLabel#monitorStatus {{ color: {theme.MUTED}; }}
QLabel#alarmBanner {{ border-radius: 6px; padding: 8px 12px; font-size: 13px; }}
QLabel#alarmBanner[state="alarm"] {{ background: {theme.ALARM_BG}; border: 1px solid {theme.ALARM}; color: {theme.ALARM_TEXT}; }}
QLabel#alarmBanner[state="ok"] {{ background: {theme.GOOD_BG}; border: 1px solid {theme.GOOD}; color: {theme.GOOD_TEXT}; }}
QLabel#alarmBanner[state="unmeasured"] {{ background: {theme.NOTE_BG}; border: 1px solid {theme.NOTE}; color: {theme.NOTE_TEXT}; }}
QLabel#alarmBanner[state="wait"] {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; color: {theme.MUTED}; }}
QLabel#monitorNotes {{ color: {theme.NOTE}; }}
QListWidget#filmStrip {{ background: {theme.SUNKEN}; border: 1px solid {theme.LINE}; }}
QListWidget#filmStrip::item {{ color: {theme.SOFT}; border-radius: 4px; padding: 2px; }}
QListWidget#filmStrip::item:selected {{ background: {theme.ACCENT}; color: white; }}
QTableWidget#metricTable {{ background: {theme.LIST_BG}; gridline-color: {theme.LINE}; border: 1px solid {theme.LINE}; }}
QHeaderView::section {{ background: {theme.PANEL}; color: {theme.MUTED}; border: none; padding: 4px; }}
QTabWidget::pane {{ border: 1px solid {theme.LINE}; }}
QTabBar::tab {{ background: {theme.PANEL}; color: {theme.MUTED}; padding: 6px 14px; }}
QTabBar::tab:selected {{ background: {theme.BUTTON}; color: {theme.TEXT}; }}
"""


def new_top_level_menus(make):
    """Call ``make()``; return (its result, the parentless QMenus it created).

    pyqtgraph gives every plot context menus without a parent; the views never show them (menus
    are disabled) and delete them on close, so closed views leave no top-level widgets behind."""
    before = {id(w) for w in QApplication.topLevelWidgets()}
    result = make()
    return result, [w for w in QApplication.topLevelWidgets() if id(w) not in before and isinstance(w, QMenu)]


def delete_menus(menus) -> None:
    for m in menus:
        try:
            m.deleteLater()
        except RuntimeError:  # already gone
            pass
    menus.clear()


def pen(color, width=2.0, dashed=False):
    return pg.mkPen(color, width=width, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)


def fmt_value(v) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    v = float(v) + 0.0  # no "-0"
    if v != 0 and (abs(v) < 0.01 or abs(v) >= 1000):
        return f"{v:.2g}"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.1f}"


class MetricPlot:
    """One pyqtgraph plot with named series (solid = measured, dashed = real floor, band = floor ± 3 sd)."""

    def __init__(self, layout: pg.GraphicsLayoutWidget, row: int, col: int, title: str, *, ylim=None, colspan=1):
        self.item, self.menus = new_top_level_menus(lambda: layout.addPlot(row=row, col=col, colspan=colspan))
        self.title = title
        self.keys: list[tuple[str, str, bool]] = []  # (label, colour, dashed): the legend, drawn in the title
        self.set_title(title)
        self.item.showGrid(x=True, y=True, alpha=0.12)
        self.item.setLabel("bottom", "epoch", color=theme.MUTED)
        self.item.setMenuEnabled(False)
        self.item.getAxis("left").setWidth(46)
        for ax in ("left", "bottom"):
            self.item.getAxis(ax).setTextPen(theme.MUTED)
            self.item.getAxis(ax).setPen(theme.AXIS)
        self.ylim = ylim
        self.x_hint = 10  # epochs shown while there is no data (the run's planned epochs when known)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.bands: dict[str, tuple] = {}
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.TEXT, width=1, style=Qt.PenStyle.DotLine))
        self.marker.setVisible(False)
        self.item.addItem(self.marker, ignoreBounds=True)

    def set_title(self, title: str) -> None:
        """Title plus a one-line legend under it (a legend box inside the plot would hide data)."""
        self.title = title
        keys = "&nbsp;&nbsp;&nbsp;".join(
            f"<span style='color:{c}'>{'╍╍' if dashed else '━━'}</span>&nbsp;{label}" for label, c, dashed in self.keys)
        self.item.setTitle(f"<span style='color:{theme.TEXT};font-size:10pt'>{title}</span>"
                           + (f"<br><span style='color:{TEXT};font-size:8pt'>{keys}</span>" if keys else ""))

    def series(self, key: str, label: str, color, *, dashed=False, symbols=True) -> pg.PlotDataItem:
        if key not in self.curves:
            kw = {"symbol": "o", "symbolSize": 5, "symbolBrush": color, "symbolPen": None} if symbols and not dashed else {}
            self.curves[key] = self.item.plot([], [], pen=pen(color, 1.6 if dashed else 2.0, dashed), **kw)
            if label:
                self.keys.append((label, theme.MUTED if dashed and label.startswith("real floor") and
                                  label.endswith("s") else color, dashed))
                self.set_title(self.title)
        return self.curves[key]

    def band(self, key: str, color) -> tuple:
        if key not in self.bands:
            lo, hi = pg.PlotDataItem([], []), pg.PlotDataItem([], [])
            c = QColor(color)
            c.setAlpha(45)
            fill = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(c))
            self.item.addItem(fill)
            self.bands[key] = (lo, hi, fill)
        return self.bands[key]

    def finish(self, xs: np.ndarray) -> None:
        if self.ylim is not None:
            lo, hi = self.ylim
            if hi is None:
                self.item.enableAutoRange(axis="y")
                self.item.setLimits(yMin=lo)
            else:
                self.item.setYRange(lo, hi, padding=0.02)
        if not len(xs):
            xs = np.array([1.0, float(self.x_hint)])  # nothing yet: show the epochs to come
        if len(xs):
            x0, x1 = float(np.min(xs)), float(np.max(xs))
            self.item.setXRange(x0 - 0.5, x1 + 0.5, padding=0.02)
            span = x1 - x0
            step = next((k for k in (1, 2, 5, 10, 20, 50, 100) if span / k <= 10), 200)
            self.item.getAxis("bottom").setTickSpacing(step, step)  # whole epochs only
