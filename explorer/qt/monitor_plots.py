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

PLOT_BG = "#1b1d21"
COLORS = ("#4f8ff7", "#f0883e", "#3fb950", "#bc8cff", "#d29922", "#39c5cf")
TEXT = "#c5cbd3"

STYLE = """
QLabel#monitorTitle { font-size: 16px; font-weight: 600; color: #e3e6ea; }
QLabel#monitorMeta { color: #9aa4b2; }
QLabel#monitorStatus { color: #9aa4b2; }
QLabel#alarmBanner { border-radius: 6px; padding: 8px 12px; font-size: 13px; }
QLabel#alarmBanner[state="alarm"] { background: #4a1f1d; border: 1px solid #d9534f; color: #ffd9d6; }
QLabel#alarmBanner[state="ok"] { background: #173524; border: 1px solid #3fb950; color: #c9f2d4; }
QLabel#alarmBanner[state="unmeasured"] { background: #3a2f12; border: 1px solid #e3b341; color: #f5dfa5; }
QLabel#alarmBanner[state="wait"] { background: #24272d; border: 1px solid #3a3f47; color: #9aa4b2; }
QLabel#monitorNotes { color: #e3b341; }
QListWidget#filmStrip { background: #17191c; border: 1px solid #30343b; }
QListWidget#filmStrip::item { color: #c5cbd3; border-radius: 4px; padding: 2px; }
QListWidget#filmStrip::item:selected { background: #2f6fde; color: white; }
QTableWidget#metricTable { background: #191b1f; gridline-color: #30343b; border: 1px solid #30343b; }
QHeaderView::section { background: #24272d; color: #9aa4b2; border: none; padding: 4px; }
QTabWidget::pane { border: 1px solid #30343b; }
QTabBar::tab { background: #24272d; color: #9aa4b2; padding: 6px 14px; }
QTabBar::tab:selected { background: #2f343c; color: #e3e6ea; }
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
        self.item.setLabel("bottom", "epoch", color="#9aa4b2")
        self.item.setMenuEnabled(False)
        self.item.getAxis("left").setWidth(46)
        for ax in ("left", "bottom"):
            self.item.getAxis(ax).setTextPen("#9aa4b2")
            self.item.getAxis(ax).setPen("#4a505a")
        self.ylim = ylim
        self.x_hint = 10  # epochs shown while there is no data (the run's planned epochs when known)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.bands: dict[str, tuple] = {}
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#e3e6ea", width=1, style=Qt.PenStyle.DotLine))
        self.marker.setVisible(False)
        self.item.addItem(self.marker, ignoreBounds=True)

    def set_title(self, title: str) -> None:
        """Title plus a one-line legend under it (a legend box inside the plot would hide data)."""
        self.title = title
        keys = "&nbsp;&nbsp;&nbsp;".join(
            f"<span style='color:{c}'>{'╍╍' if dashed else '━━'}</span>&nbsp;{label}" for label, c, dashed in self.keys)
        self.item.setTitle(f"<span style='color:#e3e6ea;font-size:10pt'>{title}</span>"
                           + (f"<br><span style='color:{TEXT};font-size:8pt'>{keys}</span>" if keys else ""))

    def series(self, key: str, label: str, color, *, dashed=False, symbols=True) -> pg.PlotDataItem:
        if key not in self.curves:
            kw = {"symbol": "o", "symbolSize": 5, "symbolBrush": color, "symbolPen": None} if symbols and not dashed else {}
            self.curves[key] = self.item.plot([], [], pen=pen(color, 1.6 if dashed else 2.0, dashed), **kw)
            if label:
                self.keys.append((label, "#9aa4b2" if dashed and label.startswith("real floor") and
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
