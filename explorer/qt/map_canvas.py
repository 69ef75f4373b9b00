"""The latent map's plot: the point cloud and the small moving things over it, bound to a MapModel.

The canvas paints what :class:`explorer.core.map_model.MapModel` holds and turns mouse input into
model calls: left drag/click go to the current tool (probe, box, lasso), right or middle drag pans,
the wheel zooms, hovering shows a thumbnail of the nearest point (decoded on the hover worker).

Performance (style.md): one pixel-mode ScatterPlotItem per layer whose points share one brush per
class, ``useCache=True`` and Qt's device-coordinate cache; the cursor, markers, lasso, rings and
the sweep mosaic are separate small items.

Big layers (more than ``POINT_LIMIT`` points, explorer/core/map_density.py) are a
:class:`DensityLayer`: zoomed out, a class-coloured density image binned with numpy over the view
(plus a margin, so most frames of a drag only move it); zoomed in, once at most ``POINT_LIMIT``
visible points are in view, the real points near the view, each a square marker. Hover, selections and the probe work on
map coordinates through the model, never on drawn items, so they work the same on both sides.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (QApplication, QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem, QLabel, QMenu,
                               QVBoxLayout, QWidget)

from explorer.core.events import Signal
from explorer.core.map_density import POINT_LIMIT, DensitySource, hex_rgb, point_image
from explorer.core.map_model import MapLayer, MapModel
from explorer.core.worker import LatestOnly
from explorer.io.pixels import upscale
from explorer.qt.bridge import ToGui, qimage_copy
from explorer.qt import theme

# Class colours readable on the dark background (Tableau-10 order, lightened a little).
CLASS_COLORS = list(theme.CLASS_COLORS)
GREY = theme.NO_CLASS
BG = theme.SUNKEN
HOVER_PX = 10  # a point counts as hovered within this many screen pixels
RING_MAX = 400  # selections up to this size get a ring per point
DENSITY_BIN_PX = 2  # a density bin is this many screen pixels wide (a lone point: about one marker)
REBIN_RATIO = 1.5  # the density image is binned again once zooming has scaled its bins by this much
MARGIN = 0.25  # the density image reaches this fraction of the view beyond each side (pans only move it)
REMARK_RATIO = 1.12  # the points are drawn again once zooming has scaled their markers by this much


def class_color(label: int) -> str:
    return GREY if label < 0 else CLASS_COLORS[label % len(CLASS_COLORS)]


def _pixmap(image: np.ndarray, size: int) -> QPixmap:
    """uint8 [H, W, C] -> a crisp (nearest-neighbour) pixmap about ``size`` px high."""
    h = image.shape[0]
    return QPixmap.fromImage(qimage_copy(upscale(np.ascontiguousarray(image), max(1, size // max(h, 1)))))


def hover_text(points, i: int) -> str:
    """'#i · class · file name' for point i of MapPoints."""
    lab = points.labels[i]
    name = points.class_names[lab] if 0 <= lab < len(points.class_names) else "unlabelled"
    who = {"gan-real": "real", "gan-samples": "generated, predicted"}.get(points.kind, "")
    extra = f" · {points.names[i]}" if i < len(points.names) else ""
    return f"#{i} · {who + ' ' if who else ''}{name}{extra}"


class MapScatter(pg.ScatterPlotItem):
    """A scatter item that leaves clicks to the view box: a click on a drawn point (or on the hover
    ring over it) probes or picks that point like a click anywhere else, instead of being taken by
    pyqtgraph's point-click handling."""

    def mouseClickEvent(self, ev):
        ev.ignore()


class DrawnLayer:
    """One model layer (:class:`MapLayer`) as one scatter item whose points share one brush per class.

    One item rather than one per class: measured on 70k Fashion-MNIST latents, one item with Qt's
    device-coordinate cache repaints in 12 ms (pan) / 18 ms (zoom) of CPU, ten cached items in 21 / 22.
    """

    def __init__(self, layer: MapLayer, *, size: float, z: float):
        self.layer = layer
        labels = layer.labels
        self.brushes: dict[int, QBrush] = {}
        for lab in np.unique(labels):
            color = QColor(class_color(int(lab)) if layer.coloured else GREY)
            color.setAlpha(200 if layer.coloured else 110)
            self.brushes[int(lab)] = pg.mkBrush(color)
        brush = [self.brushes[int(lab)] for lab in labels] if len(self.brushes) > 1 else \
            next(iter(self.brushes.values()), pg.mkBrush(GREY))
        self.item = MapScatter(pos=layer.xy, size=size, pen=None, brush=brush, pxMode=True, useCache=True,
                                       antialias=False, hoverable=False)
        self.item.setZValue(z)
        # Panning only translates the cloud: Qt reuses the rendered pixels instead of redrawing 70k points.
        self.item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        if not layer.visible_mask.all():
            self.item.setPointsVisible(layer.visible_mask)

    # what the model layer holds, read through
    xy = property(lambda self: self.layer.xy)
    points = property(lambda self: self.layer.points)
    coloured = property(lambda self: self.layer.coloured)

    def class_counts(self) -> dict[int, int]:
        return self.layer.class_counts()

    def nearest(self, x: float, y: float, radius: float) -> int | None:
        return self.layer.nearest(x, y, radius)

    def show_visible(self) -> None:
        self.item.setPointsVisible(self.layer.visible_mask)


def _alpha(coloured: bool) -> int:
    return 200 if coloured else 110


class DensityLayer:
    """A big model layer: a density image zoomed out, the real points near the view zoomed in.

    ``mode``: "density" or "points" (what is drawn now); ``in_view``: the visible points in view
    when the points are drawn (the legend's count). ``item`` draws the points near the view (view
    plus a margin) as ``size``-pixel square markers in their class colours, at screen resolution
    (``point_image``: a pyqtgraph scatter spends ~10 µs of Python per point on every setData, too
    slow to follow a drag); ``density_item`` the density image. Both ignore the view's auto-range
    (the model sets the range).
    """

    def __init__(self, layer: MapLayer, *, size: float, z: float, worker=None):
        self.layer = layer
        self.worker = worker                   # LatestOnly that bins images; None: binned at once
        self._pending = None                   # (box, bin size) of the image on its way
        self.mode: str | None = None
        self.in_view = 0
        self.shown = np.zeros(0, np.int64)   # indices drawn by ``item`` (points mode)
        self.points_box: tuple[float, float, float, float] | None = None
        self.image_box: tuple[float, float, float, float] | None = None
        self.image_bin = 0.0
        self.reference: float | None = None   # bin count drawn brightest (set by the first image)
        self.rebins = 0                        # density images made (tests, the benchmark)
        palette = np.array([hex_rgb(c) for c in CLASS_COLORS] + [hex_rgb(GREY)], np.uint8)
        self.palette = palette
        self._source: DensitySource | None = None
        self.size = int(round(size))
        self.points_px = 0.0  # map units per pixel of the drawn point image
        self.item = pg.ImageItem(axisOrder="row-major")  # the real points near the view, as square markers
        self.item.setZValue(z)
        self.item.setVisible(False)
        self.density_item = pg.ImageItem(axisOrder="row-major")
        self.density_item.setZValue(z - 0.5)
        self.density_item.setVisible(False)

    xy = property(lambda self: self.layer.xy)
    points = property(lambda self: self.layer.points)
    coloured = property(lambda self: self.layer.coloured)

    def items(self) -> list:
        return [self.density_item, self.item]

    def class_counts(self) -> dict[int, int]:
        return self.layer.class_counts()

    def nearest(self, x: float, y: float, radius: float) -> int | None:
        return self.layer.nearest(x, y, radius)

    def source(self) -> DensitySource:
        """The visible points and their colours, for density images (made again when classes are hidden)."""
        if self._source is None:
            lay = self.layer
            vis = np.flatnonzero(lay.visible_mask) if not lay.visible_mask.all() else None
            xy = lay.xy if vis is None else lay.xy[vis]
            if lay.coloured:  # class indices into the palette (the last entry: unlabelled, grey)
                labels = lay.labels if vis is None else lay.labels[vis]
                classes = np.where(labels < 0, len(self.palette) - 1, labels % (len(self.palette) - 1))
                self._source = DensitySource(xy, classes, grid=lay.grid if vis is None else None,
                                             palette=self.palette)
            else:
                self._source = DensitySource(xy, self.palette[-1], grid=lay.grid if vis is None else None)
        return self._source

    def show_visible(self) -> None:
        """Classes were hidden or shown: draw again from the visible points."""
        self._source = None
        self.points_box = self.image_box = None
        self._pending = None
        self.mode = None

    def update(self, view_range, pixel: tuple[float, float]) -> bool:
        """Draw what the view ``[[x0, x1], [y0, y1]]`` needs (``pixel``: map units per screen pixel).
        Returns True when the mode or what is drawn changed."""
        (x0, x1), (y0, y1) = view_range
        lay = self.layer
        n_bound = lay.grid.count_at_most(x0, x1, y0, y1)
        in_view = None
        if n_bound <= 4 * POINT_LIMIT:
            in_view = lay.visible_in(x0, x1, y0, y1)
        if in_view is not None and len(in_view) <= POINT_LIMIT:
            self.in_view = len(in_view)
            return self._draw_points(x0, x1, y0, y1, pixel)
        return self._draw_density(x0, x1, y0, y1, pixel)

    def _draw_points(self, x0, x1, y0, y1, pixel) -> bool:
        changed = self.mode != "points"
        px = max(float(pixel[0]), float(pixel[1]), 1e-12)
        box = self.points_box
        inside = box is not None and box[0] <= x0 and box[1] >= x1 and box[2] <= y0 and box[3] >= y1
        if changed or not inside or not (1 / REMARK_RATIO <= self.points_px / px <= REMARK_RATIO):
            w, h = x1 - x0, y1 - y0
            lay = self.layer
            box = (x0 - MARGIN * w, x1 + MARGIN * w, y0 - MARGIN * h, y1 + MARGIN * h)
            idx = lay.visible_in(*box)
            cols, rows = max(1, int(np.ceil((box[1] - box[0]) / px))), max(1, int(np.ceil((box[3] - box[2]) / px)))
            box = (box[0], box[0] + cols * px, box[2], box[2] + rows * px)  # square pixels
            labels = lay.labels[idx]
            colors = self.palette[np.where(labels < 0, len(self.palette) - 1, labels % (len(self.palette) - 1))] \
                if lay.coloured else self.palette[-1]
            image = point_image(lay.xy[idx], colors, (box[0], box[1]), (box[2], box[3]), cols, rows,
                                size=self.size, alpha=_alpha(self.coloured))
            self.item.setImage(image, autoLevels=False, levels=None)
            self.item.setRect(QRectF(box[0], box[3], box[1] - box[0], -(box[3] - box[2])))
            self.points_box, self.points_px, self.shown = box, px, idx
            changed = True
        self.mode = "points"
        self.item.setVisible(True)
        self.density_item.setVisible(False)
        return changed

    def _suits(self, box, bin_size, src, x0, x1, y0, y1, want) -> bool:
        """An image of ``box`` binned at ``bin_size`` serves the view: it holds the part of the view
        where there are points (an image stops a bin past the points' extent, so the view beyond it
        needs nothing), and its bins are not too stretched."""
        if box is None:
            return False
        full = src.covers_all((box[0], box[1]), (box[2], box[3]))
        ex = src.extent
        nx0, nx1, ny0, ny1 = max(x0, ex[0]), min(x1, ex[1]), max(y0, ex[2]), min(y1, ex[3])
        missed = nx1 < nx0 or ny1 < ny0  # no points in view: any image will do until it moves
        inside = missed or full or (box[0] <= nx0 and box[1] >= nx1 and box[2] <= ny0 and box[3] >= ny1)
        fine = (1 / REBIN_RATIO <= bin_size / want <= REBIN_RATIO) or (full and bin_size <= want)
        return inside and fine

    def _draw_density(self, x0, x1, y0, y1, pixel) -> bool:
        changed = self.mode != "density"
        want = DENSITY_BIN_PX * max(float(pixel[0]), float(pixel[1]), 1e-12)
        src = self.source()
        keep = self._suits(self.image_box, self.image_bin, src, x0, x1, y0, y1, want)
        if not keep and len(src):
            if self.worker is not None and self._pending is not None \
                    and self._suits(self._pending[0], self._pending[1], src, x0, x1, y0, y1, want):
                pass  # the image on its way will do; until then the drawn one is stretched
            else:
                w, h = x1 - x0, y1 - y0
                ex = src.extent
                pad = want  # a bin of room around the points, so none sits on the image's edge
                bx0, bx1 = max(x0 - MARGIN * w, ex[0] - pad), min(x1 + MARGIN * w, ex[1] + pad)
                by0, by1 = max(y0 - MARGIN * h, ex[2] - pad), min(y1 + MARGIN * h, ex[3] + pad)
                if bx1 <= bx0 or by1 <= by0:  # the view misses the points
                    bx0, bx1, by0, by1 = x0, x1, y0, y1
                cols, rows = max(1, int(np.ceil((bx1 - bx0) / want))), max(1, int(np.ceil((by1 - by0) / want)))
                box = (bx0, bx0 + cols * want, by0, by0 + rows * want)  # square bins
                ref, alpha = self.reference, _alpha(self.coloured)

                def make(_progress=None, _cancelled=None, src=src, box=box, cols=cols, rows=rows):
                    image = src.image((box[0], box[1]), (box[2], box[3]), cols, rows, reference=ref,
                                      single_alpha=alpha)
                    return image, src.last_max

                if self.worker is None:
                    self._show_image(*make(), box, want)
                else:  # binning many points takes longer than a frame: on the worker (the async rule),
                    # the first image too; meanwhile the last image drawn (if any) stands in, stretched
                    self._pending = (box, want)
                    self.worker.submit(make, tag=(src, box, want))
                changed = True
        self.mode = "density"
        self.in_view = 0
        self.density_item.setVisible(True)
        self.item.setVisible(False)
        return changed

    def _show_image(self, image: np.ndarray, top: float, box, bin_size: float) -> None:
        """Draw a density image of ``box``; ``top``: the count of its densest bin (the first image's
        sets the brightness scale the later ones keep: no flicker while panning)."""
        bx0, bx1, by0, by1 = box
        if self.reference is None:
            self.reference = max(2.0, float(top))
        self.density_item.setImage(image, autoLevels=False, levels=None)
        self.density_item.setRect(QRectF(bx0, by1, bx1 - bx0, -(by1 - by0)))
        self.image_box, self.image_bin = box, bin_size
        self.rebins += 1

    def image_made(self, answer) -> bool:
        """A density image binned on the worker came back: drawn if still wanted. True when drawn."""
        if self.worker is None or not self.worker.is_current(answer):
            return False  # a newer image is on its way
        self._pending = None
        if answer.error or answer.cancelled:
            return False
        src, box, want = answer.tag
        if src is not self._source or self.mode != "density":
            return False
        image, top = answer.value
        self._show_image(image, top, box, want)
        return True

    @property
    def busy(self) -> bool:
        """An image is being binned on the worker."""
        return self._pending is not None

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close(wait=False)
            self.worker = None


class MapViewBox(pg.ViewBox):
    """Left drag/click go to the canvas's current tool; right or middle drag pans; the wheel zooms."""

    def __init__(self, owner: "MapCanvas"):
        super().__init__(enableMenu=False)
        self.owner = owner

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.MouseButton.LeftButton and self.owner.tool != "pan":
            ev.accept()
            self.owner.tool_drag(self.mapToView(ev.pos()), ev.isStart(), ev.isFinish())
            return
        if ev.button() in (Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton):
            ev.accept()
            d = self.mapToView(ev.pos()) - self.mapToView(ev.lastPos())
            self.translateBy(x=-d.x(), y=-d.y())
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.owner.tool_click(self.mapToView(ev.pos()))
            return
        ev.accept()


class MapCanvas(QWidget):
    """The map plot (``plot``, a pyqtgraph PlotWidget) of a :class:`MapModel`.

    ``tool``: what a left drag does, "probe", "rect", "lasso" or "pan"."""

    def __init__(self, model: MapModel, parent=None):
        super().__init__(parent)
        before = {id(w) for w in QApplication.topLevelWidgets()}
        self.vb = MapViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self.vb, background=BG)
        # pyqtgraph makes context menus as top-level widgets; closing the view deletes them
        self.menus = [w for w in QApplication.topLevelWidgets() if id(w) not in before and isinstance(w, QMenu)]
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self.model = model
        self.decodes = model.decodes
        self.to_gui = ToGui(self)
        self.tool = "probe"
        self.layers: list[DrawnLayer | DensityLayer] = []
        self.drawn_changed = Signal()  # (the legend's line: "density of 1,000,000 points" / "12,345 points")
        self.drawn_line = ""
        self.sweep_cells = 10
        self.hover_latency: list[float] = []
        self.caption_hover = ""
        self._hover_t0 = 0.0
        self._hover_widget_pos = None
        self._lasso: list[tuple[float, float]] = []
        self._drag_start: tuple[float, float] | None = None
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).setTextPen(theme.MUTED)
            self.plot.getAxis(ax).setPen(theme.AXIS)
        self.vb.setAspectLocked(True)
        self.plot.setMouseTracking(True)
        self._build_items()
        self.sweep_timer = QTimer(self, singleShot=True, interval=40)
        self.sweep_timer.timeout.connect(self.request_sweep)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.vb.sigRangeChanged.connect(self._on_range_moved)
        self._bind()

    def _build_items(self) -> None:
        # moving things: separate small items over the static cloud
        self.sweep_item = pg.ImageItem(axisOrder="row-major")
        # Under the point cloud (z 0 and 1), a little dimmed: the points and the ★ stay readable on it.
        self.sweep_item.setZValue(-10)
        self.sweep_item.setOpacity(0.8)
        self.sweep_item.setVisible(False)
        self.vb.addItem(self.sweep_item)
        self.selection_item = MapScatter(size=7, pen=pg.mkPen(theme.WHITE, width=1), brush=None, pxMode=True)
        self.selection_item.setZValue(30)
        self.marker_item = MapScatter(size=22, symbol="star", pen=pg.mkPen(theme.WHITE, width=2),
                                              brush=pg.mkBrush(theme.MARKER), pxMode=True)
        self.marker_item.setZValue(40)
        self.hover_item = MapScatter(size=11, pen=pg.mkPen(theme.WHITE, width=2), brush=None, pxMode=True)
        self.hover_item.setZValue(41)
        self.cursor_item = MapScatter(size=18, symbol="+", pen=pg.mkPen(theme.WARN, width=2),
                                              brush=pg.mkBrush(theme.WARN), pxMode=True)
        self.cursor_item.setZValue(42)
        pen = QPen(QColor(theme.WARN), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.lasso_item = QGraphicsPathItem()
        self.lasso_item.setPen(pen)
        self.lasso_item.setZValue(43)
        self.rect_item = QGraphicsRectItem()
        self.rect_item.setPen(pen)
        self.rect_item.setBrush(QColor(255, 176, 32, 30))
        self.rect_item.setZValue(43)
        for it in (self.selection_item, self.marker_item, self.hover_item, self.cursor_item, self.lasso_item,
                   self.rect_item):
            self.vb.addItem(it, ignoreBounds=True)
        self.lasso_item.setVisible(False)
        self.rect_item.setVisible(False)
        self.hover_card = QLabel(self.plot)
        self.hover_card.setObjectName("hoverCard")
        self.hover_card.setVisible(False)
        self.hover_card.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.empty_label = QLabel(self.plot)
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setVisible(False)

    def _bind(self) -> None:
        m, d = self.model, self.decodes
        m.model_changed.connect(lambda _model: self._clear_layers())
        m.empty.connect(self.show_empty)
        m.projection_changed.connect(self._draw_projection)
        m.hidden_changed.connect(self._hidden_changed)
        m.selection_changed.connect(self._draw_selection)
        m.view_range_changed.connect(self._apply_range)
        m.sweep_changed.connect(self._sweep_toggled)
        m.images_in.probe_changed.connect(lambda _probe: self._draw_marker())
        m.points_changed.connect(self._points_changed)
        d.probe_moved.connect(lambda x, y: self.cursor_item.setData([x], [y]))
        d.hover_ready.connect(self._hover_ready)
        d.sweep_ready.connect(self._draw_sweep)

    # ---- model -> paint ------------------------------------------------------------------------

    def _clear_layers(self) -> None:
        for layer in self.layers:
            for item in (layer.items() if isinstance(layer, DensityLayer) else [layer.item]):
                self.vb.removeItem(item)
            if isinstance(layer, DensityLayer):
                layer.close()
        self.layers = []
        self._say_drawn("")
        self.hover_item.setData([])
        self.selection_item.setData([])
        self.cursor_item.setData([])

    def _points_changed(self) -> None:
        self.rect_item.setVisible(False)
        self.lasso_item.setVisible(False)
        self.marker_item.setData([])
        self.hover_card.setVisible(False)

    def _draw_projection(self) -> None:
        m = self.model
        self._clear_layers()
        n = len(m.points)
        for layer in m.layers:
            size = 3 if not layer.coloured else (5 if m.background is not None else (3 if n > 20000 else 4))
            if len(layer.xy) > POINT_LIMIT:
                drawn = DensityLayer(layer, size=size, z=1 if layer.coloured else 0, worker=self._density_worker())
                drawn.worker.holder.append(drawn)
                self.layers.append(drawn)
                for item in drawn.items():
                    self.vb.addItem(item, ignoreBounds=True)  # the model sets the range, not the items
            else:
                drawn = DrawnLayer(layer, size=size, z=1 if layer.coloured else 0)
                self.layers.append(drawn)
                self.vb.addItem(drawn.item)
        ax_x, ax_y = m.projection.axis_labels
        self.plot.setLabel("bottom", ax_x, color=theme.MUTED)
        self.plot.setLabel("left", ax_y, color=theme.MUTED)
        self.empty_label.setVisible(False)
        # A box or lasso outline was drawn in the old layout's coordinates: it goes; the selected
        # points stay selected and are ringed where they are now.
        self.rect_item.setVisible(False)
        self.lasso_item.setVisible(False)
        self._draw_selection(m.selection)
        self._draw_marker()
        self.update_drawn()

    def _draw_marker(self) -> None:
        xy = self.model.images_in.marker_xy()
        if xy is None:
            self.marker_item.setData([])
        else:
            self.marker_item.setData([xy[0]], [xy[1]])
            self.cursor_item.setData([])

    def _draw_selection(self, selection: np.ndarray) -> None:
        layer = self.primary()
        n = len(selection)
        if layer is None or n == 0:
            self.selection_item.setData([])
            self.rect_item.setVisible(False)
            self.lasso_item.setVisible(False)
            return
        # Ring a few selected points; a big selection is shown by its outline (rings would hide the colours).
        self.selection_item.setData(pos=layer.xy[selection] if n <= RING_MAX else np.zeros((0, 2)))

    def show_empty(self, text: str) -> None:
        self._clear_layers()
        self.empty_label.setText(text)
        self.empty_label.setGeometry(0, 0, self.plot.width(), self.plot.height())
        self.empty_label.setVisible(True)
        self.empty_label.raise_()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.empty_label.setGeometry(0, 0, self.plot.width(), self.plot.height())

    def primary(self) -> DrawnLayer | None:
        return self.layers[-1] if self.layers else None

    # ---- range and sweep -----------------------------------------------------------------------

    def _apply_range(self, rng) -> None:
        if np.allclose(self.vb.viewRange(), rng, rtol=1e-6, atol=1e-9):
            return  # the canvas's own range coming back from the model: drawn already
        self.vb.setRange(xRange=rng[0], yRange=rng[1], padding=0)

    def _on_range_moved(self, *_args) -> None:
        if self.layers:
            self.model.set_view_range(self.vb.viewRange())
            self.update_drawn()
        self.schedule_sweep()

    def _hidden_changed(self, _label, _on) -> None:
        for layer in self.layers:
            layer.show_visible()
        self.update_drawn()

    def pixel_size(self) -> tuple[float, float]:
        """Map units per screen pixel (x, y); a view not laid out yet counts as 640 x 480 pixels."""
        (x0, x1), (y0, y1) = self.vb.viewRange()
        w, h = self.vb.width(), self.vb.height()
        if w < 2 or h < 2:
            w, h = 640.0, 480.0
        return (x1 - x0) / w, (y1 - y0) / h

    def update_drawn(self) -> None:
        """Big layers draw what the view needs (density or points); the legend's line follows."""
        big = [layer for layer in self.layers if isinstance(layer, DensityLayer)]
        if big:
            rng, px = self.vb.viewRange(), self.pixel_size()
            for layer in big:
                layer.update(rng, px)
        layer = self.primary()
        if layer is None:
            self._say_drawn("")
        elif isinstance(layer, DensityLayer) and layer.mode == "density":
            self._say_drawn(f"density of {int(layer.layer.visible_mask.sum()):,} points")
        elif isinstance(layer, DensityLayer):
            self._say_drawn(f"{layer.in_view:,} points")
        else:
            self._say_drawn(f"{int(layer.layer.visible_mask.sum()):,} points")

    def _density_worker(self) -> LatestOnly:
        """A latest-only worker for one big layer's density images, answering on the GUI thread."""
        holder: list[DensityLayer] = []

        def made(answer) -> None:
            if holder and holder[0] in self.layers and holder[0].image_made(answer):
                self.update_drawn()  # the view may have moved on while it was binned

        worker = LatestOnly(self.to_gui.wrap(made), name="density image", blas_threads=1)
        worker.holder = holder
        return worker

    def density_busy(self) -> bool:
        """A big layer's density image is being binned (tests and the benchmark wait for it)."""
        return any(isinstance(layer, DensityLayer) and layer.busy for layer in self.layers)

    def _say_drawn(self, line: str) -> None:
        if line != self.drawn_line:
            self.drawn_line = line
            self.drawn_changed.emit(line)

    def set_sweep_cells(self, n: int) -> None:
        """Mosaic cells along the shorter side of the visible region."""
        self.sweep_cells = int(n)
        self.schedule_sweep()

    def schedule_sweep(self) -> None:
        if self.model.sweep_on:
            self.sweep_timer.start()

    def _sweep_toggled(self, on: bool) -> None:
        self.sweep_item.setVisible(on)
        if on:
            self.request_sweep()

    def request_sweep(self) -> int | None:
        """Decode the mosaic over the visible region: square cells on screen, n on the shorter side."""
        (x0, x1), (y0, y1) = self.vb.viewRange()
        n = self.sweep_cells
        w_px, h_px = max(self.vb.width(), 1.0), max(self.vb.height(), 1.0)
        rows, cols = (n, max(1, round(n * w_px / h_px))) if w_px >= h_px else (max(1, round(n * h_px / w_px)), n)
        return self.decodes.request_sweep(x0, y0, x1, y1, rows, cols)

    def _draw_sweep(self, mosaic: np.ndarray, box) -> None:
        if not self.model.sweep_on:
            return
        x0, y0, x1, y1, _rows, _cols = box
        self.sweep_item.setImage(mosaic[..., 0] if mosaic.shape[2] == 1 else mosaic, levels=(0, 255),
                                 autoLevels=False)
        # row-major image: row 0 is drawn at the rect's top (y1): flip by a negative height
        self.sweep_item.setRect(QRectF(x0, y1, x1 - x0, -(y1 - y0)))
        self.sweep_item.setVisible(True)

    # ---- tools: probe, rectangle, lasso --------------------------------------------------------

    def tool_click(self, pos: QPointF) -> None:
        if self.tool in ("probe", "pan"):
            self.decodes.probe_at(pos.x(), pos.y(), clicked=True)
        else:
            self.model.set_selection(np.zeros(0, np.int64))

    def tool_drag(self, pos: QPointF, start: bool, finish: bool) -> None:
        x, y = pos.x(), pos.y()
        if self.tool == "probe":
            self.decodes.probe_at(x, y, clicked=finish)
        elif self.tool == "rect":
            if start:
                self._drag_start = (x, y)
                self.lasso_item.setVisible(False)
            x0, y0 = self._drag_start or (x, y)
            self.show_rect(x0, y0, x, y)
            if finish:
                self.select_rect(x0, y0, x, y)  # the outline stays until the selection is cleared
        elif self.tool == "lasso":
            if start:
                self._lasso = []
                self.rect_item.setVisible(False)
            self._lasso.append((x, y))
            path = QPainterPath(QPointF(*self._lasso[0]))
            for px, py in self._lasso[1:]:
                path.lineTo(px, py)
            self.lasso_item.setPath(path)
            self.lasso_item.setVisible(True)
            if finish:
                self.select_polygon(np.array(self._lasso, np.float32))

    def show_rect(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.rect_item.setRect(QRectF(QPointF(min(x0, x1), min(y0, y1)), QPointF(max(x0, x1), max(y0, y1))))
        self.rect_item.setVisible(True)

    def select_rect(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Select inside the box and keep its outline drawn."""
        if self.primary() is None:
            return np.zeros(0, np.int64)
        self.lasso_item.setVisible(False)
        sel = self.model.select_rect(x0, y0, x1, y1)
        if len(sel):
            self.show_rect(x0, y0, x1, y1)
        return sel

    def select_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Select inside the closed polygon [M, 2] and keep its outline drawn."""
        if self.primary() is not None and len(polygon) >= 3:
            path = QPainterPath(QPointF(float(polygon[0][0]), float(polygon[0][1])))
            for px, py in polygon[1:]:
                path.lineTo(float(px), float(py))
            path.closeSubpath()
            self.lasso_item.setPath(path)
            self.rect_item.setVisible(False)
        sel = self.model.select_polygon(polygon)
        self.lasso_item.setVisible(len(sel) > 0)
        return sel

    # ---- hover ---------------------------------------------------------------------------------

    def _on_mouse_moved(self, scene_pos) -> None:
        if not self.layers:
            return
        p = self.vb.mapSceneToView(scene_pos)
        self.hover_at(p.x(), p.y(), widget_pos=self.plot.mapFromScene(scene_pos))

    def hover_at(self, x: float, y: float, widget_pos=None) -> tuple[int, int] | None:
        """Hover the map at data position (x, y): a thumbnail of the nearest point within reach."""
        px = self.vb.viewPixelSize()[0] or 1.0
        hit = None
        for li in range(len(self.layers) - 1, -1, -1):  # the coloured layer first
            i = self.layers[li].nearest(x, y, HOVER_PX * px)
            if i is not None:
                hit = (li, i)
                break
        if hit is None:
            self.clear_hover()
            return None
        self._hover_widget_pos = widget_pos
        if hit == self.decodes.hover_index and self.hover_card.isVisible():
            return hit
        self._hover_t0 = time.perf_counter()
        hx, hy = self.layers[hit[0]].xy[hit[1]]
        self.hover_item.setData([hx], [hy])
        self.decodes.hover(hit)
        return hit

    def clear_hover(self) -> None:
        self.decodes.hover(None)
        self.hover_item.setData([])
        self.hover_card.setVisible(False)

    def _hover_ready(self, hit: tuple[int, int], images: list[np.ndarray]) -> None:
        if hit[0] >= len(self.layers):
            return
        text = hover_text(self.layers[hit[0]].points, hit[1]) + (" · original | decoded" if len(images) == 2 else "")
        row = np.concatenate([np.pad(im, ((0, 0), (0, 2), (0, 0)), constant_values=40) for im in images], axis=1)
        self.hover_card.setPixmap(_pixmap(row, 84))
        self.hover_card.setToolTip(text)
        self.hover_card.adjustSize()
        pos = self._hover_widget_pos
        if pos is not None:
            x = int(pos.x()) + 16
            y = int(pos.y()) + 16
            if x + self.hover_card.width() > self.plot.width():
                x = int(pos.x()) - 16 - self.hover_card.width()
            if y + self.hover_card.height() > self.plot.height():
                y = int(pos.y()) - 16 - self.hover_card.height()
            self.hover_card.move(max(0, x), max(0, y))
        self.hover_card.setVisible(True)
        self.hover_card.raise_()
        self.hover_latency.append(time.perf_counter() - self._hover_t0)
        self.caption_hover = text

    def close_canvas(self) -> None:
        self.sweep_timer.stop()
        for layer in self.layers:
            if isinstance(layer, DensityLayer):
                layer.close()
        for menu in self.menus:
            try:
                menu.deleteLater()
            except RuntimeError:
                pass
        self.menus = []
