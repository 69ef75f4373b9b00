"""The latent map: a scatter of the latent space linked to freshly decoded images.

* VAE: the bundle's atlas (or a user's image set, or all 70k Fashion-MNIST images, encoded in the
  background) projected by PCA, UMAP, two chosen dimensions or the 2-d latent plane itself.
* GAN: generated samples (coloured by predicted class) over real images (grey) in classifier-feature
  space; clicking a sample emits its latent.

Left-drag with the probe tool decodes the map position live (stale answers dropped); rectangle and
lasso select points (class mix + decodings, emitted for the grid); the sweep decodes an n x n
mosaic over the visible region. Right- or middle-drag pans, the wheel zooms.

Performance (style.md): one pixel-mode ScatterPlotItem per class with one shared brush and
``useCache=True``; the cursor, markers, lasso and mosaic are separate small items.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (QApplication, QButtonGroup, QCheckBox, QComboBox, QFileDialog, QFrame, QGridLayout,
                               QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem, QHBoxLayout, QLabel, QMenu, QProgressBar,
                               QPushButton, QScrollArea, QSpinBox, QSplitter, QToolButton,
                               QVBoxLayout, QWidget)

from explorer.core import atlas_data as A
from explorer.core.decoding import AsyncDecoder, DecodeAnswer
from explorer.core.projection import (INVERSE_LABELS, DimPair, LatentPlane, NearestIndex, PCAPlane, grid_positions,
                          points_in_polygon)
from explorer.io.pixels import tile, upscale
from explorer.io.runtime import LoadedModel
from explorer.qt.bridge import accept_url_drag, dropped_paths, qimage_copy
from explorer.qt.refcount_guard import pin_singletons

# Class colours readable on the dark background (Tableau-10 order, lightened a little).
CLASS_COLORS = ["#5b9bd5", "#f28e2b", "#59c45a", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7",
                "#a0cbe8", "#c49c7a", "#8cd17d", "#d37295"]
GREY = "#6b717b"
BG = "#17191c"
HOVER_PX = 10  # a point counts as hovered within this many screen pixels
HOVER_SYNC_S = 0.008  # hover thumbnails decode on the GUI thread while one decode takes less than this
PROJECTIONS = ("PCA", "UMAP", "Two dimensions", "Latent plane")
SOURCES = {"atlas": "Atlas (test split)", "fashion": "Fashion-MNIST, all 70k (encode)",
           "folder": "Image folder…", "idx": "IDX file…", "gan": "GAN samples over real (classifier features)"}
JOB_LABELS = {"encode": "Encoding", "umap": "UMAP", "gan-map": "GAN feature map",
              "anomaly": "Scoring the test split (for percentiles)"}
RING_MAX = 400  # selections up to this size get a ring per point
SELECTION_CELLS = 64  # decoded and sent to the grid
SELECTION_SHOWN = 32  # of those, drawn in the side panel

MAP_QSS = """
QLabel#mapCaption { color: #9aa4b2; font-size: 12px; }
QLabel#mapTitle { font-weight: 600; color: #e3e6ea; }
QFrame#mapCard { background: #202329; border: 1px solid #30343b; border-radius: 6px; }
QLabel#hoverCard { background: #101215; border: 1px solid #4a505a; border-radius: 4px; padding: 3px; color: #e3e6ea; }
QProgressBar { background: #2a2e35; border: 1px solid #3a3f47; border-radius: 4px; text-align: center; height: 14px; }
QProgressBar::chunk { background: #2f6fde; border-radius: 3px; }
"""


def class_color(label: int) -> str:
    return GREY if label < 0 else CLASS_COLORS[label % len(CLASS_COLORS)]


def _pixmap(image: np.ndarray, size: int) -> QPixmap:
    """uint8 [H, W, C] -> a crisp (nearest-neighbour) pixmap about ``size`` px high."""
    h = image.shape[0]
    return QPixmap.fromImage(qimage_copy(upscale(np.ascontiguousarray(image), max(1, size // max(h, 1)))))


class _Bridge(QObject):
    """Worker -> GUI thread (queued)."""

    probe = Signal(object)
    hover = Signal(object)
    sweep = Signal(object)
    selection = Signal(object)
    job_progress = Signal(object, float, str)
    job_done = Signal(object, object)


class ImagePane(QLabel):
    """A fixed-size image cell with a caption under it."""

    def __init__(self, size: int, caption: str = "", parent=None):
        super().__init__(parent)
        self.side = size
        self.setFixedSize(size, size)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet(f"background: {BG}; border: 1px solid #30343b; border-radius: 3px; color: #6b727c;")
        self.setText(caption)
        self.image: np.ndarray | None = None

    def set_image(self, image: np.ndarray | None, text: str = "") -> None:
        self.image = image
        if image is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            pix = QPixmap.fromImage(qimage_copy(image))
            side = min(self.width(), self.height()) - 4
            self.setPixmap(pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.FastTransformation))


class ClassMix(QWidget):
    """Horizontal bars: how many selected points per class."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, int, str]] = []
        self.setMinimumHeight(20)

    def set_rows(self, rows: list[tuple[str, int, str]]) -> None:
        self.rows = rows[:10]
        self.setFixedHeight(max(20, 17 * len(self.rows) + 4))
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        total = sum(r[1] for r in self.rows) or 1
        w = self.width()
        for i, (name, count, color) in enumerate(self.rows):
            y = 2 + i * 17
            p.setPen(QColor("#c5cbd3"))
            p.drawText(QRectF(0, y, 96, 15), Qt.AlignmentFlag.AlignVCenter, name[:14])
            bar = (w - 150) * count / total
            p.fillRect(QRectF(100, y + 2, max(bar, 1), 11), QColor(color))
            p.setPen(QColor("#9aa4b2"))
            share = 100 * count / total
            p.drawText(QRectF(104 + bar, y, 60, 15), Qt.AlignmentFlag.AlignVCenter,
                       f"{share:.0f} %" if share >= 1 else "< 1 %")
        p.end()


class MapViewBox(pg.ViewBox):
    """Left drag/click go to the map's current tool; right or middle drag pans; the wheel zooms."""

    def __init__(self, owner: "MapView"):
        super().__init__(enableMenu=False)
        self.owner = owner

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.MouseButton.LeftButton and self.owner.tool != "pan":
            ev.accept()
            self.owner._tool_drag(self.mapToView(ev.pos()), ev.isStart(), ev.isFinish())
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
            self.owner._tool_click(self.mapToView(ev.pos()))
            return
        ev.accept()


class _Layer:
    """Points drawn on the map: one pixel-mode scatter item whose points share one brush per class
    (a handful of brush objects, never one per point), and a nearest-point index.

    One item rather than one per class: measured on 70k Fashion-MNIST latents, one item with Qt's
    device-coordinate cache repaints in 12 ms (pan) / 18 ms (zoom) of CPU, ten cached items in 21 / 22.
    """

    def __init__(self, points: A.MapPoints, xy: np.ndarray, *, coloured: bool, size: float, z: float):
        self.points = points
        self.xy = np.ascontiguousarray(xy, np.float32)
        self.coloured = coloured
        self.visible_mask = np.ones(len(points), bool)
        labels = points.labels if coloured else np.full(len(points), -1)
        self.brushes: dict[int, QBrush] = {}
        for lab in np.unique(labels):
            color = QColor(class_color(int(lab)) if coloured else GREY)
            color.setAlpha(200 if coloured else 110)
            self.brushes[int(lab)] = pg.mkBrush(color)
        brush = [self.brushes[int(lab)] for lab in labels] if len(self.brushes) > 1 else \
            next(iter(self.brushes.values()), pg.mkBrush(GREY))
        self.item = pg.ScatterPlotItem(pos=self.xy, size=size, pen=None, brush=brush, pxMode=True, useCache=True,
                                       antialias=False, hoverable=False)
        self.item.setZValue(z)
        # Panning only translates the cloud: Qt reuses the rendered pixels instead of redrawing 70k points.
        self.item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.index = NearestIndex(self.xy) if len(self.xy) else None

    @property
    def labels(self) -> np.ndarray:
        return self.points.labels if self.coloured else np.full(len(self.points), -1)

    def class_counts(self) -> dict[int, int]:
        """Visible points per class label."""
        labs = self.labels[self.visible_mask]
        return {int(k): int((labs == k).sum()) for k in np.unique(labs)}

    def set_class_visible(self, label: int, on: bool) -> None:
        if self.coloured and label in self.brushes:
            self.visible_mask[self.points.labels == label] = on
            self.item.setPointsVisible(self.visible_mask)

    def nearest(self, x: float, y: float, radius: float) -> int | None:
        if self.index is None:
            return None
        idx, dist = self.index.query_one(x, y, k=12)
        for i, d in zip(idx, dist):
            if d > radius:
                break
            if self.visible_mask[i]:
                return int(i)
        return None


class MapView(QWidget):
    """The latent map of one model. ``set_model(model)`` follows the main window's active model.

    Signals: ``latentsForGrid(z float32 [K, D])`` — decodings of a selection, for the sample grid;
    ``latentActivated(z float32 [D])`` — a clicked GAN sample (or the probe, via its button);
    ``message(str)`` — one line for the status bar.
    """

    latentsForGrid = Signal(object)
    # The latent -> map projection in use (None when the map is not of latents: GAN feature maps).
    latentProjectionChanged = Signal(object)
    latentActivated = Signal(object)
    latentForPath = Signal(object)  # "Add to path": a waypoint for the interpolation path
    groupsChanged = Signal(object)  # {name: [point indices]} of the kept selections
    directionMade = Signal(object)  # a Direction (group A -> group B)
    message = Signal(str)

    def __init__(self, model: LoadedModel | None = None, *, classifier: str | os.PathLike | None = None,
                 interactive: bool = True, parent=None):
        super().__init__(parent)
        pin_singletons()
        self.setObjectName("MapView")
        self.setStyleSheet(MAP_QSS)
        self.setAcceptDrops(True)
        self.interactive = interactive
        self.classifier_path = classifier
        self.model: LoadedModel | None = None
        self.encoder: A.VAEEncoder | None = None
        self.source_key = "atlas"
        self.points: A.MapPoints | None = None  # the primary layer's data (atlas, user set, GAN samples)
        self.background: A.MapPoints | None = None  # GAN map: real images (grey)
        self.gan_map: A.GanFeatureMap | None = None
        self.groups: dict[str, np.ndarray] = {}  # kept selections ("A", "B"): point indices
        self.projection = None
        self.layers: list[_Layer] = []
        self.tool = "probe"
        self.hidden_classes: set[int] = set()
        self.selection: np.ndarray = np.zeros(0, np.int64)
        self.last_message = ""
        self.anomaly: A.AnomalyReference | None = None
        self.probe_result: A.ImageProbe | None = None
        self.real_images: np.ndarray | None = None  # images behind atlas points (Fashion test split), if known
        self.hover_index: tuple[int, int] | None = None  # (layer, point)
        self.hover_latency: list[float] = []
        self._hover_decode_s = 0.0  # last one-image hover decode; above HOVER_SYNC_S hovers decode async
        self.probe_pos: tuple[float, float] | None = None
        self.probe_how = ""
        self.jobs: dict[str, A.Job] = {}
        self._gan_maps: dict[str, A.GanFeatureMap] = {}  # generator file -> its feature map (this session)
        self._deferred: str | None = None  # a costly source to build once the view is first shown
        self._hover_t0 = 0.0
        self._lasso: list[tuple[float, float]] = []
        self._drag_start: tuple[float, float] | None = None
        self._menus: list = []

        self.bridge = _Bridge(self)
        self.probe_decoder = AsyncDecoder(self.bridge.probe.emit)
        self.hover_decoder = AsyncDecoder(self.bridge.hover.emit)
        self.sweep_decoder = AsyncDecoder(self.bridge.sweep.emit)
        self.selection_decoder = AsyncDecoder(self.bridge.selection.emit)
        self.bridge.probe.connect(self._on_probe_decoded)
        self.bridge.hover.connect(self._on_hover_decoded)
        self.bridge.sweep.connect(self._on_sweep_decoded)
        self.bridge.selection.connect(self._on_selection_decoded)
        self.bridge.job_progress.connect(self._on_job_progress)
        self.bridge.job_done.connect(self._on_job_done)
        self._build()
        self.sweep_timer = QTimer(self, singleShot=True, interval=40)
        self.sweep_timer.timeout.connect(self._request_sweep)
        if model is not None:
            self.set_model(model)
        else:
            self._show_empty("No model open: open a VAE or GAN to see its latent map")

    # ---- construction ------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 6)
        outer.setSpacing(6)
        bar = QHBoxLayout()
        self.source_combo = QComboBox(toolTip="what the map shows")
        self.proj_combo = QComboBox(toolTip="how vectors are laid out on the plane")
        for name in PROJECTIONS:
            self.proj_combo.addItem(name)
        self.dim_x = QSpinBox(minimum=0, maximum=0, toolTip="latent dimension on the horizontal axis")
        self.dim_y = QSpinBox(minimum=0, maximum=0, toolTip="latent dimension on the vertical axis")
        self.dims_label = QLabel("dims")
        self.dims_label.setObjectName("controlLabel")
        self.tool_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        group.setExclusive(True)
        for key, text, tip in (("probe", "✛ Probe", "click or drag anywhere: decode that position (P)"),
                               ("rect", "▭ Box", "drag a rectangle to select points (M)"),
                               ("lasso", "◌ Lasso", "draw around points to select them (L)"),
                               ("pan", "Pan", "drag to pan (right-drag pans in every tool)")):
            b = QToolButton(text=text, checkable=True, toolTip=tip)
            b.setShortcut({"probe": "P", "rect": "M", "lasso": "L", "pan": "H"}[key])
            group.addButton(b)
            b.toggled.connect(lambda on, k=key: on and self.set_tool(k))
            self.tool_buttons[key] = b
        self.tool_buttons["probe"].setChecked(True)
        self.sweep_button = QToolButton(text="▦ Sweep", checkable=True,
                                        toolTip="decode a mosaic over the visible region, n cells on its "
                                                "shorter side (exact projections)")
        self.sweep_n = QSpinBox(minimum=3, maximum=24, value=10, toolTip="mosaic size n")
        self.open_image_button = QPushButton("Open image…", toolTip="encode an image file (or drop one on the map)")
        self.test_image_button = QPushButton("Test image", toolTip="encode a Fashion-MNIST test image")
        self.test_index = QSpinBox(minimum=-1, maximum=9999, value=-1, toolTip="which test image (random by default)")
        self.test_index.setSpecialValueText("random")
        self.test_index.setFixedWidth(84)
        for w in (self.dim_x, self.dim_y, self.sweep_n):
            w.setFixedWidth(56)
        self.source_combo.setMinimumWidth(150)
        for combo in (self.source_combo, self.proj_combo):  # long item names must not widen the window
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        for w in (self._label("Data"), self.source_combo, self._label("Projection"), self.proj_combo,
                  self.dims_label, self.dim_x, self.dim_y):
            bar.addWidget(w)
        bar.addStretch(1)
        outer.addLayout(bar)
        tools = QHBoxLayout()  # a second row, so the map fits beside the docks in a 1440 px window
        for b in self.tool_buttons.values():
            tools.addWidget(b)
        tools.addSpacing(10)
        tools.addWidget(self.sweep_button)
        tools.addWidget(self.sweep_n)
        tools.addStretch(1)
        outer.addLayout(tools)

        prog = QHBoxLayout()
        self.progress = QProgressBar(minimum=0, maximum=1000)
        self.progress.setFixedWidth(260)
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("mapCaption")
        self.cancel_button = QPushButton("Cancel")
        prog.addWidget(self.progress)
        prog.addWidget(self.cancel_button)
        prog.addWidget(self.progress_label, 1)
        self.progress_row = QWidget()
        self.progress_row.setLayout(prog)
        prog.setContentsMargins(0, 0, 0, 0)
        self.progress_row.setVisible(False)
        outer.addWidget(self.progress_row)

        split = QSplitter(Qt.Orientation.Horizontal)
        before = {id(w) for w in QApplication.topLevelWidgets()}
        self.vb = MapViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self.vb, background=BG)
        self._menus = [w for w in QApplication.topLevelWidgets() if id(w) not in before and isinstance(w, QMenu)]
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).setTextPen("#9aa4b2")
            self.plot.getAxis(ax).setPen("#4a505a")
        self.vb.setAspectLocked(True)
        self.plot.setMouseTracking(True)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.vb.sigRangeChanged.connect(lambda *_: self._schedule_sweep())
        # moving things: separate small items over the static cloud
        self.sweep_item = pg.ImageItem(axisOrder="row-major")
        self.sweep_item.setZValue(20)
        self.sweep_item.setVisible(False)
        self.vb.addItem(self.sweep_item)
        self.selection_item = pg.ScatterPlotItem(size=7, pen=pg.mkPen("#ffffff", width=1), brush=None, pxMode=True)
        self.selection_item.setZValue(30)
        self.marker_item = pg.ScatterPlotItem(size=22, symbol="star", pen=pg.mkPen("#ffffff", width=2),
                                              brush=pg.mkBrush("#ff3d7f"), pxMode=True)
        self.marker_item.setZValue(40)
        self.hover_item = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#ffffff", width=2), brush=None, pxMode=True)
        self.hover_item.setZValue(41)
        self.cursor_item = pg.ScatterPlotItem(size=18, symbol="+", pen=pg.mkPen("#ffb020", width=2),
                                              brush=pg.mkBrush("#ffb020"), pxMode=True)
        self.cursor_item.setZValue(42)
        pen = QPen(QColor("#ffb020"), 1.5, Qt.PenStyle.DashLine)
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
        split.addWidget(self.plot)
        split.addWidget(self._build_side())
        split.setStretchFactor(0, 1)
        split.setSizes([900, 380])
        outer.addWidget(split, 1)
        self.caption = QLabel("")
        self.caption.setObjectName("mapCaption")
        outer.addWidget(self.caption)

        self.source_combo.activated.connect(self._on_source_chosen)
        self.proj_combo.activated.connect(lambda _i: self.set_projection(self.proj_combo.currentText()))
        self.dim_x.valueChanged.connect(lambda _v: self._on_dims())
        self.dim_y.valueChanged.connect(lambda _v: self._on_dims())
        self.sweep_button.toggled.connect(self.set_sweep)
        self.sweep_n.valueChanged.connect(lambda _v: self._schedule_sweep())
        self.open_image_button.clicked.connect(self._open_image_dialog)
        self.test_image_button.clicked.connect(
            lambda: self.probe_test_image(None if self.test_index.value() < 0 else self.test_index.value()))
        self.cancel_button.clicked.connect(self.cancel_jobs)

    def _label(self, text: str) -> QLabel:
        lab = QLabel(text)
        lab.setObjectName("controlLabel")
        return lab

    def _card(self, title: str) -> tuple[QFrame, QVBoxLayout]:
        frame = QFrame()
        frame.setObjectName("mapCard")
        lay = QVBoxLayout(frame)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(5)
        t = QLabel(title)
        t.setObjectName("mapTitle")
        lay.addWidget(t)
        return frame, lay

    def _build_side(self) -> QWidget:
        side = QWidget()
        col = QVBoxLayout(side)
        col.setContentsMargins(4, 0, 0, 0)
        col.setSpacing(8)
        # legend
        legend, lay = self._card("Classes")
        self.legend_grid = QGridLayout()
        self.legend_grid.setHorizontalSpacing(10)
        self.legend_grid.setVerticalSpacing(2)
        lay.addLayout(self.legend_grid)
        self.legend_boxes: dict[int, QCheckBox] = {}
        col.addWidget(legend)
        # preview: the probed position, with its nearest real images
        prev, lay = self._card("Preview")
        row = QHBoxLayout()
        self.preview = ImagePane(132, "click or drag\non the map")
        row.addWidget(self.preview)
        nn = QVBoxLayout()
        self.nearest_title = QLabel("Nearest real images")
        self.nearest_title.setObjectName("mapCaption")
        self.nearest_title.setWordWrap(True)
        nn.addWidget(self.nearest_title)
        nn_grid = QGridLayout()
        nn_grid.setSpacing(3)
        self.nearest_panes = [ImagePane(42) for _ in range(8)]
        for k, pane in enumerate(self.nearest_panes):
            nn_grid.addWidget(pane, k // 4, k % 4)
        nn.addLayout(nn_grid)
        nn.addStretch(1)
        self.to_grid_button = QPushButton("Send to grid", toolTip="load this latent into the sample grid")
        self.to_grid_button.clicked.connect(self._send_probe_to_grid)
        self.to_path_button = QPushButton("Add to path", toolTip="make this latent a waypoint of the interpolation path")
        self.to_path_button.clicked.connect(self._send_probe_to_path)
        self._enable_probe_actions(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.to_grid_button)
        buttons.addWidget(self.to_path_button)
        nn.addLayout(buttons)
        row.addLayout(nn, 1)
        lay.addLayout(row)
        self.preview_caption = QLabel("")
        self.preview_caption.setObjectName("mapCaption")
        self.preview_caption.setWordWrap(True)
        lay.addWidget(self.preview_caption)
        col.addWidget(prev)
        # image in: original | reconstruction, scores as percentiles of the test split
        self.image_card, lay = self._card("Image in")
        row = QHBoxLayout()
        self.image_in = ImagePane(84, "drop an\nimage")
        self.image_recon = ImagePane(84, "")
        self.image_text = QLabel("Drop an image file on the map, or encode a Fashion-MNIST test image.")
        self.image_text.setObjectName("mapCaption")
        self.image_text.setWordWrap(True)
        row.addWidget(self.image_in)
        row.addWidget(self.image_recon)
        row.addWidget(self.image_text, 1)
        lay.addLayout(row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_image_button)
        buttons.addWidget(self.test_image_button)
        buttons.addWidget(self.test_index)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        col.addWidget(self.image_card)
        # selection
        sel, lay = self._card("Selection")
        self.selection_caption = QLabel("Draw a rectangle or lasso on the map")
        self.selection_caption.setObjectName("mapCaption")
        lay.addWidget(self.selection_caption)
        self.class_mix = ClassMix()
        lay.addWidget(self.class_mix)
        self.selection_pane = ImagePane(8 * 29 + 2)
        self.selection_pane.setFixedSize(8 * 29 + 2, 4 * 29 + 2)
        self.selection_pane.setVisible(False)
        lay.addWidget(self.selection_pane)
        self.selection_to_grid = QPushButton("Show in grid", toolTip="decode the selection in the sample grid")
        self.selection_to_grid.setEnabled(False)
        self.selection_to_grid.clicked.connect(self._emit_selection)
        lay.addWidget(self.selection_to_grid)
        # Two kept selections make a named direction (group A -> group B) for the Directions panel.
        groups = QHBoxLayout()
        self.keep_a_button = QPushButton("Keep as A", toolTip="remember this selection as group A")
        self.keep_b_button = QPushButton("Keep as B", toolTip="remember this selection as group B")
        self.direction_button = QPushButton("Direction A → B",
                                            toolTip="the vector from group A's mean latent to group B's, as a direction")
        self.keep_a_button.clicked.connect(lambda: self.keep_group("A"))
        self.keep_b_button.clicked.connect(lambda: self.keep_group("B"))
        self.direction_button.clicked.connect(self._make_group_direction)
        for b in (self.keep_a_button, self.keep_b_button, self.direction_button):
            b.setEnabled(False)
            groups.addWidget(b)
        lay.addLayout(groups)
        self.groups_caption = QLabel("")
        self.groups_caption.setObjectName("mapCaption")
        lay.addWidget(self.groups_caption)
        col.addWidget(sel)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(360)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return scroll

    # ---- model and data ----------------------------------------------------------------------------

    @property
    def is_gan(self) -> bool:
        return self.model is not None and (self.model.card is None or self.model.card.family != "vae")

    def set_model(self, model: LoadedModel | None) -> None:
        """Show the map of ``model`` (the main window's active model)."""
        if model is self.model and model is not None:
            return
        self.cancel_jobs()
        self._deferred = None
        for dec in (self.probe_decoder, self.hover_decoder, self.sweep_decoder, self.selection_decoder):
            dec.invalidate()
        self.model = model
        self.hidden_classes.clear()
        self.encoder, self.anomaly, self.probe_result = None, None, None
        self.points = self.background = self.gan_map = None
        self.projection = None
        self.latentProjectionChanged.emit(None)
        self._clear_layers()
        self._reset_panels()
        self.marker_item.setData([])
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        if model is None:
            self.source_combo.blockSignals(False)
            self._show_empty("No model open: open a VAE or GAN to see its latent map")
            return
        if self.is_gan:
            self.source_combo.addItem(SOURCES["gan"], "gan")
        else:
            for key in ("atlas", "fashion", "folder", "idx"):
                self.source_combo.addItem(SOURCES[key], key)
        self.source_combo.blockSignals(False)
        vae = not self.is_gan
        self.image_card.setVisible(vae)
        self.sweep_button.setEnabled(vae)
        if vae:
            try:
                self.encoder = A.encoder_for(model)
            except A.MapDataError as exc:
                self.encoder = None
                self.say(str(exc))
            for w in (self.open_image_button, self.test_image_button, self.test_index):
                w.setEnabled(self.encoder is not None)
            self.use_source("atlas")
        else:
            self.use_source("gan")

    def use_source(self, key: str, path: str | None = None) -> None:
        """Switch what the map shows: "atlas", "fashion", "folder" (path), "idx" (path), "gan"."""
        if self.model is None:
            return
        i = self.source_combo.findData(key)
        if i >= 0:
            self.source_combo.setCurrentIndex(i)
        if key == "atlas":
            try:
                pts = A.atlas_points(self.model)
            except A.MapDataError as exc:
                self._show_empty(str(exc) + ("" if self.encoder is None else
                                             "\n\nUse Data → Image folder / Fashion-MNIST to encode a set."))
                self.say(str(exc))
                return
            self._attach_real_images(pts)
            self.set_points(pts)
        elif key in ("fashion", "folder", "idx"):
            self.encode_source(key, path)
        elif key == "gan":
            cached = self._gan_maps.get(str(self.model.path))
            if cached is not None:
                self.gan_map = cached
                self.set_points(cached.samples, cached.real)
            elif not self.isVisible():
                self._deferred = "gan"  # classifying real images costs minutes on a busy CPU: only when seen
                self._show_empty(f"The feature map of {self.model.name} is built when this view is shown")
            else:
                self.build_gan_map()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._deferred is not None and self.model is not None:
            key, self._deferred = self._deferred, None
            self.use_source(key)

    def _attach_real_images(self, pts: A.MapPoints) -> None:
        """When the atlas is the Fashion-MNIST test split, its images serve the nearest-real strip."""
        self.real_images = None
        if len(pts) != 10000 or self.model.image_shape != (1, 28, 28):
            return
        try:
            test = A.fashion_set("test")
        except A.MapDataError:
            return
        if np.array_equal(test.labels, pts.labels):
            self.real_images = test.images

    def _on_source_chosen(self, _index: int) -> None:
        key = self.source_combo.currentData()
        path = None
        if key in ("folder", "idx"):
            if not self.interactive:
                return
            if key == "folder":
                path = QFileDialog.getExistingDirectory(self, "Encode an image folder")
            else:
                path, _ = QFileDialog.getOpenFileName(self, "Encode IDX images", "", "IDX files (*idx3* *.gz);;All (*)")
            if not path:
                return
        self.use_source(key, path)

    def encode_source(self, key: str, path: str | None = None) -> A.Job | None:
        """Encode Fashion-MNIST (all 70k), an image folder or an IDX file in the background."""
        if self.encoder is None:
            self.say(f"{self.model.name}: this VAE bundle has no encoder; only its atlas can be shown")
            return None
        encoder, shape = self.encoder, self.model.image_shape

        def work(progress, cancelled):
            if key == "fashion":
                images = A.fashion_set("all")
            elif key == "folder":
                images = A.load_image_folder(path, shape)
            else:
                lab = str(path).replace("images-idx3", "labels-idx1")
                images = A.load_idx_set(path, lab if lab != str(path) and Path(lab).is_file() else None,
                                        class_names=self.model.class_names or ())
            progress(0.0, f"encoding {images.source}")
            return A.encode_set(encoder, images, progress=progress, cancelled=cancelled)

        return self.start_job("encode", work)

    def build_gan_map(self, *, n_samples: int = 1000, real_split: str = "all") -> A.Job | None:
        """GAN: classify generated samples and real images (background); the map appears when done."""
        from explorer.core.monitor import Classifier, MonitorError
        from explorer.io.paths import bundled_model

        path = self.classifier_path or bundled_model("classifier")
        try:
            clf = Classifier(path)
        except MonitorError as exc:
            self._show_empty(f"The GAN map needs a classifier bundle: {exc}")
            self.say(f"GAN map needs a classifier ({exc})")
            return None
        generator = self.model
        self._show_empty(f"Building the feature map of {generator.name}…")

        def work(progress, cancelled):
            real = A.fashion_set(real_split)
            return A.gan_feature_map(generator, clf, real, n_samples=n_samples, progress=progress,
                                     cancelled=cancelled)

        return self.start_job("gan-map", work)

    def set_points(self, points: A.MapPoints, background: A.MapPoints | None = None) -> None:
        """Show these points (primary, coloured) over optional grey background points; re-project."""
        self.points, self.background = points, background
        self.selection = np.zeros(0, np.int64)
        self._reset_panels()
        d = points.dim
        for w in (self.dim_x, self.dim_y):
            w.blockSignals(True)
            w.setMaximum(max(d - 1, 0))
        order = np.argsort(-points.vectors.var(axis=0), kind="stable")
        self.dim_x.setValue(int(order[0]))
        self.dim_y.setValue(int(order[1 % d]))
        for w in (self.dim_x, self.dim_y):
            w.blockSignals(False)
        self._rebuild_legend()
        item = self.proj_combo.model().item(PROJECTIONS.index("Latent plane"))
        item.setEnabled(d == 2 and not self.is_gan)
        dims_item = self.proj_combo.model().item(PROJECTIONS.index("Two dimensions"))
        dims_item.setEnabled(not self.is_gan)
        default = "Latent plane" if d == 2 and not self.is_gan else "PCA"
        self.set_projection(default)

    def set_projection(self, name: str) -> None:
        """"PCA", "UMAP", "Two dimensions" or "Latent plane"."""
        if self.points is None:
            return
        self.proj_combo.setCurrentIndex(PROJECTIONS.index(name))
        both = self.points.vectors if self.background is None else np.concatenate([self.points.vectors,
                                                                                 self.background.vectors])
        show_dims = name == "Two dimensions"
        for w in (self.dims_label, self.dim_x, self.dim_y):
            w.setVisible(show_dims)
        if name == "UMAP":
            from explorer.core.umap_worker import compute_umap

            fit_on = both

            def work(progress, cancelled):
                return compute_umap(fit_on, progress=progress, cancelled=cancelled)

            self.start_job("umap", work)
            return
        t0 = time.perf_counter()
        try:
            if name == "PCA":
                fit_on = self.background.vectors if self.background is not None else self.points.vectors
                proj = PCAPlane.fit(fit_on)
            elif name == "Latent plane":
                if self.points.dim != 2:
                    self.say(f"the latent plane needs a 2-d latent space, this one has {self.points.dim}; using PCA")
                    return self.set_projection("PCA")
                proj = LatentPlane()
            else:
                proj = DimPair(self.dim_x.value(), self.dim_y.value(), self.points.vectors.mean(axis=0))
        except ValueError as exc:  # e.g. a 1-d latent space or a single point: nothing to lay out on a plane
            self._show_empty(f"{self.points.source}: cannot draw a {name} map ({exc})")
            self.say(f"cannot draw a {name} map: {exc}")
            return
        self._apply_projection(proj, time.perf_counter() - t0)

    def _on_dims(self) -> None:
        if self.points is not None and self.proj_combo.currentText() == "Two dimensions":
            if self.dim_x.value() == self.dim_y.value():
                self.say("pick two different dimensions")
                return
            self.set_projection("Two dimensions")

    def _apply_projection(self, proj, seconds: float = 0.0) -> None:
        self.projection = proj
        self.latentProjectionChanged.emit(None if self.is_gan else proj)
        pending, self._pending_groups = getattr(self, "_pending_groups", None), None
        n = len(self.points)
        if proj.name == "UMAP":
            xy = proj.embedding[:n]
            xy_bg = proj.embedding[n:] if self.background is not None else None
        else:
            xy = proj.forward(self.points.vectors)
            xy_bg = proj.forward(self.background.vectors) if self.background is not None else None
        self._clear_layers()
        if self.background is not None:
            self.layers.append(_Layer(self.background, xy_bg, coloured=False, size=3, z=0))
        self.layers.append(_Layer(self.points, xy, coloured=True,
                                  size=5 if self.background is not None else (3 if n > 20000 else 4), z=1))
        for layer in self.layers:
            self.vb.addItem(layer.item)
            for lab in self.hidden_classes:
                layer.set_class_visible(lab, False)
        ax_x, ax_y = proj.axis_labels
        self.plot.setLabel("bottom", ax_x, color="#9aa4b2")
        self.plot.setLabel("left", ax_y, color="#9aa4b2")
        self.empty_label.setVisible(False)
        allxy = xy if xy_bg is None else np.concatenate([xy, xy_bg])
        lo, hi = np.percentile(allxy, 0.5, axis=0), np.percentile(allxy, 99.5, axis=0)
        pad = (hi - lo) * 0.06 + 1e-6
        self.vb.setRange(xRange=(float(lo[0] - pad[0]), float(hi[0] + pad[0])),
                         yRange=(float(lo[1] - pad[1]), float(hi[1] + pad[1])), padding=0)
        exact = getattr(proj, "exact", False) and not self.is_gan
        self.sweep_button.setEnabled(exact)
        if not exact and self.sweep_button.isChecked():
            self.sweep_button.setChecked(False)
        if self.probe_result is not None:
            self._place_marker(self.probe_result.mu)
        how = ("exact inverse: every position decodes" if exact else
               "UMAP: positions decode through its inverse transform where computed, else the nearest point"
               if proj.name == "UMAP" and not self.is_gan else "feature space: no inverse, clicks pick the nearest sample")
        self.caption.setText(f"{self.points.source} · {n:,} points"
                             + (f" over {len(self.background):,} real" if self.background is not None else "")
                             + f" · {proj.name} ({seconds * 1000:.0f} ms) · {how}")
        if pending:
            self.set_groups(pending)
        self._schedule_sweep()

    def _clear_layers(self) -> None:
        for layer in self.layers:
            self.vb.removeItem(layer.item)
        self.layers = []
        self.hover_item.setData([])
        self.selection_item.setData([])
        self.cursor_item.setData([])

    def _rebuild_legend(self) -> None:
        while self.legend_grid.count():
            w = self.legend_grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.legend_boxes = {}
        labels = np.unique(self.points.labels)
        counts = np.bincount(self.points.labels[self.points.labels >= 0], minlength=1)
        names = self.points.class_names
        entries = [(int(l), names[l] if 0 <= l < len(names) else ("unlabelled" if l < 0 else f"class {l}"))
                   for l in labels]
        for i, (lab, name) in enumerate(entries):
            n = int(counts[lab]) if lab >= 0 and lab < len(counts) else int((self.points.labels == lab).sum())
            box = QCheckBox(f"{name}  ({n:,})")
            box.setChecked(lab not in self.hidden_classes)
            color = class_color(lab)
            box.setStyleSheet(f"QCheckBox::indicator:checked {{ background: {color}; border-color: {color}; }}"
                              f"QCheckBox {{ color: #e3e6ea; }}")
            box.toggled.connect(lambda on, lab=lab: self.set_class_visible(lab, on))
            self.legend_grid.addWidget(box, i // 2, i % 2)
            self.legend_boxes[lab] = box
        if self.background is not None:
            grey = QLabel(f"● real images ({len(self.background):,}, grey)")
            grey.setStyleSheet(f"color: {GREY};")
            self.legend_grid.addWidget(grey, (len(entries) + 1) // 2, 0, 1, 2)

    def set_class_visible(self, label: int, on: bool) -> None:
        """Legend toggle: hide or show one class (hidden points are neither hovered nor selected)."""
        if on:
            self.hidden_classes.discard(label)
        else:
            self.hidden_classes.add(label)
        for layer in self.layers:
            layer.set_class_visible(label, on)
        box = self.legend_boxes.get(label)
        if box is not None and box.isChecked() != on:
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)

    # ---- background jobs --------------------------------------------------------------------------

    def start_job(self, name: str, work) -> A.Job:
        """Run ``work(progress, cancelled)`` in the background; a job of the same name is cancelled first."""
        old = self.jobs.pop(name, None)
        if old is not None:
            old.cancel()
        holder: dict[str, A.Job] = {}

        def emit(signal, *args):
            try:
                signal.emit(holder["job"], *args)
            except RuntimeError:  # the view was deleted while the job ran
                pass

        job = A.Job(name, work, deliver=lambda r: emit(self.bridge.job_done, r),
                    on_progress=lambda f, m: emit(self.bridge.job_progress, f, m))
        holder["job"] = job
        self.jobs[name] = job
        self.progress.setValue(0)
        self.progress_label.setText(f"{JOB_LABELS.get(name, name)}: starting…")
        self.progress_row.setVisible(True)
        job.start()
        return job

    def cancel_jobs(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel()
        self.jobs.clear()
        self.progress_row.setVisible(False)

    def is_busy(self) -> bool:
        return bool(self.jobs)

    def _on_job_progress(self, job, fraction: float, message: str) -> None:
        if self.jobs.get(job.name) is job:
            self.progress.setValue(int(1000 * max(0.0, min(1.0, fraction))))
            self.progress_label.setText(message)

    def _on_job_done(self, job, result: A.JobResult) -> None:
        if self.jobs.get(job.name) is not job:
            return  # superseded or cancelled
        del self.jobs[job.name]
        self.progress_row.setVisible(bool(self.jobs))
        if result.cancelled:
            self.say(f"{JOB_LABELS.get(job.name, job.name)} cancelled")
            return
        if result.error:
            self.say(result.error)
            if job.name == "umap":
                self.proj_combo.setCurrentIndex(PROJECTIONS.index(self.projection.name)
                                                if self.projection is not None and self.projection.name in PROJECTIONS
                                                else 0)
            if job.name == "gan-map" or (job.name == "encode" and self.points is None):
                self._show_empty(result.error)
            return
        value = result.value
        if job.name == "encode":
            self.set_points(value)
            self.say(f"{value.source}: {len(value):,} images encoded in {result.seconds:.1f} s")
        elif job.name == "umap":
            self._apply_projection(value, result.seconds)
            lat = "with an inverse lattice" if value.lattice is not None else "decoding through nearest points"
            self.say(f"UMAP of {len(value.embedding):,} points ready in {result.seconds:.1f} s ({lat})")
        elif job.name == "gan-map":
            self.gan_map = value
            self._gan_maps[str(value.generator_path)] = value
            self.set_points(value.samples, value.real)
            self.say(f"GAN map: {len(value.samples):,} samples over {len(value.real):,} real images")
        elif job.name == "anomaly":
            self.anomaly = value
            if self.probe_result is not None:
                p = self.probe_result
                p.neg_elbo_pct, p.recon_error_pct = value.rank(p.neg_elbo, p.recon_error)
                self._show_probe_result(p)

    # ---- tools: probe, rectangle, lasso -------------------------------------------------------------

    def set_tool(self, tool: str) -> None:
        self.tool = tool
        b = self.tool_buttons[tool]
        if not b.isChecked():
            b.setChecked(True)

    def _tool_click(self, pos: QPointF) -> None:
        x, y = pos.x(), pos.y()
        if self.tool in ("probe", "pan"):
            self.probe_at(x, y, clicked=True)
        else:
            self.clear_selection()

    def _tool_drag(self, pos: QPointF, start: bool, finish: bool) -> None:
        x, y = pos.x(), pos.y()
        if self.tool == "probe":
            self.probe_at(x, y, clicked=finish)
        elif self.tool == "rect":
            if start:
                self._drag_start = (x, y)
                self.lasso_item.setVisible(False)
            x0, y0 = self._drag_start or (x, y)
            self.rect_item.setRect(QRectF(QPointF(min(x0, x), min(y0, y)), QPointF(max(x0, x), max(y0, y))))
            self.rect_item.setVisible(True)
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
                path.closeSubpath()
                self.lasso_item.setPath(path)
                self.select_polygon(np.array(self._lasso, np.float32))

    def probe_at(self, x: float, y: float, *, clicked: bool = False) -> int | None:
        """Decode the map position (x, y) into the large preview (asynchronously; stale answers dropped).

        GAN map (no inverse): shows the nearest generated sample; a click emits its latent. Returns the
        decode generation, or None when nothing was requested.
        """
        if self.projection is None or self.model is None:
            return None
        self.cursor_item.setData([x], [y])
        self.probe_pos = (x, y)
        if self.is_gan:
            layer = self.layers[-1]
            i = layer.nearest(x, y, radius=np.inf)
            if i is None:
                return None
            pts = layer.points
            self._show_gan_sample(i)
            if clicked:
                self.latentActivated.emit(pts.latents[i].copy())
                self.say(f"sample {i} ({pts.class_names[pts.labels[i]]}) loaded into the grid")
            return None
        inv = self.projection.inverse(np.array([[x, y]], np.float32))
        self.probe_how = INVERSE_LABELS[inv.how[0]]
        z = inv.z
        self._probe_z = z[0].copy()
        self._enable_probe_actions(True)
        return self.probe_decoder.request(self.model, z, None, np.array([0]))

    def _on_probe_decoded(self, answer: DecodeAnswer) -> None:
        if not self.probe_decoder.is_current(answer) or answer.model is not self.model:
            return
        if answer.error:
            self.say(answer.error)
            return
        img = answer.images.pixels[0]
        self.preview.set_image(img)
        x, y = self.probe_pos or (0, 0)
        bad = "" if answer.images.finite[0] else " · the decoder output NaN/Inf here"
        self.preview_caption.setText(f"map ({x:.2f}, {y:.2f}) · decoded via {self.probe_how} · "
                                     f"{answer.images.seconds * 1000:.1f} ms{bad}")
        self._show_nearest(self._probe_z, "Nearest real images to this latent")

    def _enable_probe_actions(self, enabled: bool) -> None:
        self.to_grid_button.setEnabled(enabled)
        self.to_path_button.setEnabled(enabled)

    def _probe_latent(self) -> np.ndarray | None:
        z = getattr(self, "_probe_z", None)
        if self.probe_result is not None and z is None:
            z = self.probe_result.mu
        return None if z is None else np.array(z, np.float32)

    def _send_probe_to_grid(self) -> None:
        z = self._probe_latent()
        if z is not None:
            self.latentActivated.emit(z)

    def _send_probe_to_path(self) -> None:
        z = self._probe_latent()
        if z is not None:
            self.latentForPath.emit(z)

    def _show_gan_sample(self, i: int) -> None:
        pts = self.layers[-1].points
        self._probe_z = np.array(pts.latents[i], np.float32)
        self._enable_probe_actions(True)
        self.preview.set_image(pts.images[i])
        self.preview_caption.setText(f"generated sample {i} · classified as {pts.class_names[pts.labels[i]]} · "
                                     "click it (or Send to grid) to load its latent into the grid")
        if self.gan_map is not None:
            idx, dist = self.gan_map.nearest_real(i, len(self.nearest_panes))
            which = "training images" if self.gan_map.searches_training_images else "images"
            self.nearest_title.setText(f"Nearest real {which} in classifier features (memorisation check; "
                                       f"closest {dist[0]:.2f})")
            for pane, j in zip(self.nearest_panes, idx):
                pane.set_image(self.gan_map.real.images[j])

    def _show_nearest(self, z: np.ndarray, title: str) -> None:
        if self.points is None:
            return
        idx, dist = self.points.nearest(z, len(self.nearest_panes))
        images = self.points.images if self.points.images is not None else self.real_images
        if images is not None and len(images) == len(self.points):
            self.nearest_title.setText(f"{title} (closest {dist[0]:.2f})")
            for pane, j in zip(self.nearest_panes, idx):
                pane.set_image(images[j])
        else:  # no originals known: decode the neighbours' latents (said so)
            self.nearest_title.setText(f"{title}, decoded (originals not available)")
            dec = self.model.decode(self.points.vectors[idx])
            for pane, im in zip(self.nearest_panes, dec.pixels):
                pane.set_image(im)

    # ---- hover --------------------------------------------------------------------------------------

    def _on_mouse_moved(self, scene_pos) -> None:
        if not self.layers:
            return
        p = self.vb.mapSceneToView(scene_pos)
        self.hover_at(p.x(), p.y(), widget_pos=self.plot.mapFromScene(scene_pos))

    def hover_at(self, x: float, y: float, widget_pos=None) -> tuple[int, int] | None:
        """Hover the map at data position (x, y): show a thumbnail of the nearest point within reach."""
        px = self.vb.viewPixelSize()[0] or 1.0
        hit = None
        for li in range(len(self.layers) - 1, -1, -1):  # the coloured layer first
            i = self.layers[li].nearest(x, y, HOVER_PX * px)
            if i is not None:
                hit = (li, i)
                break
        if hit is None:
            self.hover_index = None
            self.hover_item.setData([])
            self.hover_card.setVisible(False)
            return None
        self._hover_widget_pos = widget_pos
        if hit == self.hover_index and self.hover_card.isVisible():
            return hit
        self.hover_index = hit
        self._hover_t0 = time.perf_counter()
        layer = self.layers[hit[0]]
        hx, hy = layer.xy[hit[1]]
        self.hover_item.setData([hx], [hy])
        pts = layer.points
        if pts.kind in ("gan-real", "gan-samples"):
            self._show_hover([pts.images[hit[1]]], self._hover_text(pts, hit[1]))
            return hit
        z = pts.vectors[hit[1]:hit[1] + 1]
        if self._hover_decode_s < HOVER_SYNC_S:
            # A one-image decode this fast costs less than the hop to the worker thread and back.
            try:
                images = self.model.decode(z)
            except Exception as exc:  # shown like an async error would be
                self.say(f"decoding failed ({type(exc).__name__})")
                return hit
            self._hover_decode_s = images.seconds
            self.hover_decoder.invalidate()
            self._on_hover_decoded(DecodeAnswer(self.hover_decoder.generation, self.model, np.array([hit[1]]),
                                                images))
        else:
            self.hover_decoder.request(self.model, z, None, np.array([hit[1]]))
        return hit

    def _hover_text(self, pts: A.MapPoints, i: int) -> str:
        lab = pts.labels[i]
        name = pts.class_names[lab] if 0 <= lab < len(pts.class_names) else "unlabelled"
        who = {"gan-real": "real", "gan-samples": "generated, predicted"}.get(pts.kind, "")
        extra = f" · {pts.names[i]}" if i < len(pts.names) else ""
        return f"#{i} · {who + ' ' if who else ''}{name}{extra}"

    def _on_hover_decoded(self, answer: DecodeAnswer) -> None:
        if not self.hover_decoder.is_current(answer) or answer.model is not self.model or self.hover_index is None:
            return
        if answer.error:
            self.say(answer.error)
            return
        i = int(answer.indices[0])
        pts = self.layers[self.hover_index[0]].points
        if i != self.hover_index[1]:
            return
        self._hover_decode_s = answer.images.seconds
        images = [answer.images.pixels[0]]
        if pts.images is not None:  # a user's set: original | reconstruction
            images = [pts.images[i], answer.images.pixels[0]]
        self._show_hover(images, self._hover_text(pts, i) + (" · original | decoded" if len(images) == 2 else ""))

    def _show_hover(self, images: list[np.ndarray], text: str) -> None:
        row = np.concatenate([np.pad(im, ((0, 0), (0, 2), (0, 0)), constant_values=40) for im in images], axis=1)
        pix = _pixmap(row, 84)
        self.hover_card.setPixmap(pix)
        self.hover_card.setToolTip(text)
        self.hover_card.adjustSize()
        pos = getattr(self, "_hover_widget_pos", None)
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

    def leaveEvent(self, event) -> None:
        self.hover_card.setVisible(False)
        self.hover_item.setData([])
        self.hover_index = None
        super().leaveEvent(event)

    # ---- selection ------------------------------------------------------------------------------------

    def _primary(self) -> _Layer | None:
        return self.layers[-1] if self.layers else None

    def select_rect(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        layer = self._primary()
        if layer is None:
            return np.zeros(0, np.int64)
        self.lasso_item.setVisible(False)
        self.rect_item.setRect(QRectF(QPointF(min(x0, x1), min(y0, y1)), QPointF(max(x0, x1), max(y0, y1))))
        self.rect_item.setVisible(True)
        xy = layer.xy
        inside = ((xy[:, 0] >= min(x0, x1)) & (xy[:, 0] <= max(x0, x1)) & (xy[:, 1] >= min(y0, y1))
                  & (xy[:, 1] <= max(y0, y1)) & layer.visible_mask)
        return self.set_selection(np.flatnonzero(inside))

    def select_polygon(self, polygon: np.ndarray) -> np.ndarray:
        layer = self._primary()
        if layer is None or len(polygon) < 3:
            return self.set_selection(np.zeros(0, np.int64))
        path = QPainterPath(QPointF(float(polygon[0][0]), float(polygon[0][1])))
        for px, py in polygon[1:]:
            path.lineTo(float(px), float(py))
        path.closeSubpath()
        self.lasso_item.setPath(path)
        self.rect_item.setVisible(False)
        self.lasso_item.setVisible(True)
        inside = points_in_polygon(layer.xy, polygon) & layer.visible_mask
        return self.set_selection(np.flatnonzero(inside))

    def clear_selection(self) -> None:
        self.set_selection(np.zeros(0, np.int64))

    def set_selection(self, indices: np.ndarray) -> np.ndarray:
        """Select points of the primary layer: ring them, show the class mix, decode a sample of them."""
        self.selection = np.asarray(indices, np.int64)
        layer = self._primary()
        n = len(self.selection)
        self.selection_to_grid.setEnabled(n > 0)
        self.keep_a_button.setEnabled(n > 0)
        self.keep_b_button.setEnabled(n > 0)
        if layer is None or n == 0:
            self.selection_item.setData([])
            self.rect_item.setVisible(False)
            self.lasso_item.setVisible(False)
            self.class_mix.set_rows([])
            self.selection_pane.setVisible(False)
            self.selection_caption.setText("Draw a rectangle or lasso on the map")
            return self.selection
        shown = self._selection_sample()
        # Ring a few selected points; a big selection is shown by its outline (rings would hide the colours).
        self.selection_item.setData(pos=layer.xy[self.selection] if n <= RING_MAX else np.zeros((0, 2)))
        pts = layer.points
        mix = pts.class_mix(self.selection)
        names = list(pts.class_names)
        self.class_mix.set_rows([(name, count, class_color(names.index(name)) if name in names else GREY)
                                 for name, count in mix])
        self.selection_caption.setText(f"{n:,} points selected · decodings of "
                                       + (f"{min(len(shown), SELECTION_SHOWN)} of them" if n > SELECTION_SHOWN else "all"))
        if pts.kind == "gan-samples":
            self._show_selection_images(pts.images[shown])
        else:
            self.selection_decoder.request(self.model, pts.vectors[shown], None, shown)
        self.latentsForGrid.emit(self.selection_latents())
        return self.selection

    # ---- kept selections (groups), directions and session state ------------------------------------

    def keep_group(self, name: str) -> None:
        """Remember the current selection as group ``name`` ("A" or "B")."""
        self.groups[name] = np.array(self.selection, np.int64)
        self._groups_updated()

    def set_groups(self, groups: dict) -> None:
        """Restore kept groups (name -> point indices), e.g. from a session; out-of-range indices are dropped."""
        layer = self._primary()
        if layer is None:  # the map has no points yet (computed later): apply when they arrive
            self._pending_groups = dict(groups)
            return
        n = len(layer.points.vectors)
        self.groups = {str(k): np.array([i for i in v if 0 <= int(i) < n], np.int64) for k, v in groups.items()}
        self._groups_updated()

    def _groups_updated(self) -> None:
        sizes = ", ".join(f"{k}: {len(v):,} points" for k, v in sorted(self.groups.items()))
        self.groups_caption.setText(f"kept {sizes}" if sizes else "")
        self.direction_button.setEnabled(all(len(self.groups.get(k, ())) for k in ("A", "B")))
        self.groupsChanged.emit({k: v.tolist() for k, v in self.groups.items()})

    def _make_group_direction(self) -> None:
        from explorer.core.directions import DirectionError, selection_direction

        layer = self._primary()
        if layer is None:
            return
        pts = layer.points
        vectors = pts.latents if pts.latents is not None else pts.vectors
        try:
            direction = selection_direction(vectors, self.groups.get("A", ()), self.groups.get("B", ()),
                                            model=self.model.name if self.model else "")
        except DirectionError as exc:
            self.say(str(exc))
            return
        self.directionMade.emit(direction)
        self.say(f"direction '{direction.name}' added to the Directions panel")

    def view_state(self) -> dict:
        """JSON-ready view of the map for sessions: projection, chosen dimensions and visible range."""
        (x0, x1), (y0, y1) = self.vb.viewRange()
        return {"projection": self.proj_combo.currentText(), "dims": [self.dim_x.value(), self.dim_y.value()],
                "range": [[float(x0), float(x1)], [float(y0), float(y1)]]}

    def apply_view_state(self, state: dict) -> None:
        dims = state.get("dims") or []
        if len(dims) == 2:
            self.dim_x.setValue(int(dims[0]))
            self.dim_y.setValue(int(dims[1]))
        if state.get("projection") and self.proj_combo.findText(state["projection"]) >= 0:
            self.proj_combo.setCurrentText(state["projection"])
        rng = state.get("range")
        if rng and len(rng) == 2:
            self.vb.setRange(xRange=rng[0], yRange=rng[1], padding=0)

    def _selection_sample(self) -> np.ndarray:
        sel = self.selection
        if len(sel) <= SELECTION_CELLS:
            return sel
        return np.sort(np.random.default_rng(0).choice(sel, SELECTION_CELLS, replace=False))

    def selection_latents(self) -> np.ndarray:
        """Latents of (up to 64 of) the selected points, for the sample grid: float32 [K, D]."""
        layer = self._primary()
        if layer is None or len(self.selection) == 0:
            return np.zeros((0, self.model.latent_dim if self.model else 0), np.float32)
        shown = self._selection_sample()
        pts = layer.points
        z = pts.latents[shown] if pts.latents is not None else pts.vectors[shown]
        return np.asarray(z, np.float32)

    def _emit_selection(self) -> None:
        z = self.selection_latents()
        if len(z):
            self.latentsForGrid.emit(z)
            self.say(f"{len(z)} selected latents sent to the grid")

    def _on_selection_decoded(self, answer: DecodeAnswer) -> None:
        if not self.selection_decoder.is_current(answer) or answer.model is not self.model or answer.error:
            if answer.error:
                self.say(answer.error)
            return
        self._show_selection_images(answer.images.pixels)

    def _show_selection_images(self, pixels: np.ndarray) -> None:
        pixels = pixels[:SELECTION_SHOWN]
        k = len(pixels)
        cols = 8
        rows = max(1, -(-k // cols))
        mosaic = tile(pixels, rows, cols, pad=1, fill=30)
        scale = max(1, 28 // max(pixels.shape[1], 1))
        img = upscale(mosaic, scale)
        self.selection_pane.setFixedSize(img.shape[1] + 2, img.shape[0] + 2)
        self.selection_pane.setPixmap(QPixmap.fromImage(qimage_copy(img)))
        self.selection_pane.image = img
        self.selection_pane.setVisible(True)

    # ---- manifold sweep -------------------------------------------------------------------------------

    def set_sweep(self, on: bool) -> None:
        if on and not (self.projection is not None and getattr(self.projection, "exact", False) and not self.is_gan):
            self.say("the sweep needs an exact projection (PCA, two dimensions or the 2-d plane)")
            self.sweep_button.setChecked(False)
            return
        if self.sweep_button.isChecked() != on:
            self.sweep_button.setChecked(on)
        self.sweep_item.setVisible(on)
        if on:
            self._request_sweep()
        else:
            self.sweep_decoder.invalidate()

    def _schedule_sweep(self) -> None:
        if self.sweep_button.isChecked():
            self.sweep_timer.start()

    def _request_sweep(self) -> int | None:
        if not self.sweep_button.isChecked() or self.projection is None or self.model is None:
            return None
        (x0, x1), (y0, y1) = self.vb.viewRange()
        n = self.sweep_n.value()  # cells along the shorter side; square cells on screen
        w_px, h_px = max(self.vb.width(), 1.0), max(self.vb.height(), 1.0)
        rows, cols = (n, max(1, round(n * w_px / h_px))) if w_px >= h_px else (max(1, round(n * h_px / w_px)), n)
        pos = grid_positions(x0, y0, x1, y1, rows, cols)
        z = self.projection.inverse(pos).z
        self._sweep_box = (x0, y0, x1, y1, rows, cols)
        return self.sweep_decoder.request(self.model, z, None, np.arange(rows * cols))

    def _on_sweep_decoded(self, answer: DecodeAnswer) -> None:
        if not self.sweep_decoder.is_current(answer) or answer.model is not self.model or answer.error:
            return
        x0, y0, x1, y1, rows, cols = self._sweep_box
        mosaic = tile(answer.images.pixels, rows, cols, pad=0)
        self.sweep_item.setImage(mosaic[..., 0] if mosaic.shape[2] == 1 else mosaic, levels=(0, 255),
                                 autoLevels=False)
        # row-major image: row 0 is drawn at the rect's top (y1): flip by a negative height
        self.sweep_item.setRect(QRectF(x0, y1, x1 - x0, -(y1 - y0)))
        self.sweep_item.setVisible(True)
        self.sweep_seconds = answer.images.seconds

    # ---- images in -----------------------------------------------------------------------------------

    def _open_image_dialog(self) -> None:
        if not self.interactive:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Encode an image", "", "Images (*.png *.jpg *.jpeg *.bmp);;All (*)")
        if path:
            self.probe_file(path)

    def dragEnterEvent(self, event) -> None:
        accept_url_drag(event)

    def dropEvent(self, event) -> None:
        paths = dropped_paths(event)
        if paths:
            p = Path(paths[0])
            if p.is_dir():
                self.use_source("folder", str(p))
            else:
                self.probe_file(str(p))

    def probe_file(self, path: str) -> A.ImageProbe | None:
        if self.encoder is None:
            self.say(f"{self.model.name if self.model else 'no model'}: images can be encoded only with a VAE "
                     "bundle that has an encoder")
            return None
        try:
            image = A.read_image_for(self.encoder, path)
        except A.MapDataError as exc:
            self.say(str(exc))
            return None
        return self.probe_image(image, name=Path(path).name)

    def probe_test_image(self, index: int | None = None) -> A.ImageProbe | None:
        """Encode Fashion-MNIST test image ``index`` (random when None)."""
        try:
            test = self._test_set()
        except A.MapDataError as exc:
            self.say(str(exc))
            return None
        if index is None:
            index = int(np.random.default_rng().integers(len(test.images)))
        name = f"test image {index} ({test.class_names[test.labels[index]]})"
        return self.probe_image(test.images[index], name=name)

    def _test_set(self) -> A.ImageSet:
        if getattr(self, "_test_cache", None) is None:
            self._test_cache = A.fashion_set("test")
        return self._test_cache

    def probe_image(self, image: np.ndarray, *, name: str = "") -> A.ImageProbe | None:
        """Encode one uint8 [H, W, C] image: reconstruction, −ELBO, percentiles, marker on the map."""
        if self.encoder is None:
            self.say("images can be encoded only with a VAE bundle that has an encoder")
            return None
        try:
            probe = A.probe_image(self.model, self.encoder, image, reference=self.anomaly, name=name)
        except A.MapDataError as exc:
            self.say(str(exc))
            return None
        self.probe_result = probe
        self.probe_decoder.invalidate()  # an earlier probe's answer must not overwrite this preview
        self._probe_z = probe.mu.copy()
        self._enable_probe_actions(True)
        self._show_probe_result(probe)
        self._place_marker(probe.mu)
        self.cursor_item.setData([])
        self.preview.set_image(probe.recon)
        self.preview_caption.setText(f"{probe.name or 'encoded image'}: decoded from its encoder mean (★ on the map)")
        self._show_nearest(probe.mu, "Nearest real images to the encoded image")
        if self.anomaly is None and "anomaly" not in self.jobs:
            self._start_anomaly_job()
        return probe

    def _start_anomaly_job(self) -> None:
        model, encoder = self.model, self.encoder

        def work(progress, cancelled):
            return A.anomaly_reference(model, encoder, self._test_set(), progress=progress, cancelled=cancelled)

        if model.image_shape == (1, 28, 28):
            self.start_job("anomaly", work)

    def _show_probe_result(self, p: A.ImageProbe) -> None:
        self.image_in.set_image(p.image)
        self.image_recon.set_image(p.recon)

        def pct(v):
            return "percentile: computing…" if v is None else f"{v:.0f}th percentile of the test split"

        self.image_text.setText(
            f"<b>{p.name or 'image'}</b><br>original | reconstruction<br>"
            f"−ELBO <b>{p.neg_elbo:.1f}</b> nats: {pct(p.neg_elbo_pct)}<br>"
            f"reconstruction error <b>{p.recon_error:.4f}</b>: {pct(p.recon_error_pct)}")

    def _place_marker(self, mu: np.ndarray) -> None:
        if self.projection is None:
            return
        xy = self.projection.forward(mu[None])[0]
        self.marker_item.setData([xy[0]], [xy[1]])

    # ---- misc ------------------------------------------------------------------------------------------

    def _reset_panels(self) -> None:
        self.preview.set_image(None, "click or drag\non the map")
        self.preview_caption.setText("")
        self.nearest_title.setText("Nearest real images")
        for pane in self.nearest_panes:
            pane.set_image(None)
        self.selection = np.zeros(0, np.int64)
        self.groups = {}  # kept selections belong to the points they index
        self._groups_updated()
        self.class_mix.set_rows([])
        self.selection_pane.setVisible(False)
        self.selection_caption.setText("Draw a rectangle or lasso on the map")
        self.selection_to_grid.setEnabled(False)
        self.rect_item.setVisible(False)
        self.lasso_item.setVisible(False)
        self.marker_item.setData([])
        self.hover_card.setVisible(False)
        self._enable_probe_actions(False)
        self._probe_z = None

    def _show_empty(self, text: str) -> None:
        self._clear_layers()
        self.empty_label.setText(text)
        self.empty_label.setGeometry(0, 0, self.plot.width(), self.plot.height())
        self.empty_label.setVisible(True)
        self.empty_label.raise_()
        self.caption.setText("")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.empty_label.setGeometry(0, 0, self.plot.width(), self.plot.height())

    def say(self, text: str) -> None:
        self.last_message = text
        self.message.emit(text)

    def sizeHint(self) -> QSize:
        return QSize(1300, 820)

    def close_view(self) -> None:
        """Stop workers and jobs (call before deleting the view)."""
        running = list(self.jobs.values())
        self.cancel_jobs()
        for job in running:  # they stop at their next batch; leaving them mid-run can abort the process at exit
            job.wait(5.0)
        self.sweep_timer.stop()
        for dec in (self.probe_decoder, self.hover_decoder, self.sweep_decoder, self.selection_decoder):
            dec.close()
        for m in self._menus:
            try:
                m.deleteLater()
            except RuntimeError:
                pass
        self._menus = []

    def closeEvent(self, event) -> None:
        self.close_view()
        super().closeEvent(event)


# ---- helpers for the main window and the command line ---------------------------------------------

def fill_grid_with(grid, z: np.ndarray) -> None:
    """Put latents z [K, D] into a SampleGrid's cells (repeating them when the grid has more cells)."""
    z = np.asarray(z, np.float32)
    if grid.model is None or len(z) == 0 or z.shape[1] != grid.model.latent_dim:
        return
    reps = np.resize(np.arange(len(z)), grid.count)
    grid.set_all_latents(z[reps])


def wait_until_ready(view: MapView, timeout: float = 600.0, *, ignore: tuple[str, ...] = ()) -> bool:
    """Process events until no background job (other than ``ignore``) runs and decodes answered (or timeout)."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        QApplication.processEvents()
        if not set(view.jobs) - set(ignore):
            for _ in range(20):
                QApplication.processEvents()
                time.sleep(0.01)
            return True
        time.sleep(0.02)
    return False


def render_map_screenshot(models, path: str, *, size=(1440, 900), classifier=None, timeout: float = 600.0) -> int:
    """Render the map of the first VAE among ``models`` (else the first model) to ``path``; 0 on success.

    ``models``: LoadedModel objects or paths. Shows a probe decode, a rectangle selection and the
    marker of a test image, like a person exploring it would. Returns 2 (one line on stderr) on failure.
    """
    import sys

    from explorer.io.runtime import ModelError, open_model
    from explorer.qt.app import ensure_app, grab_and_close

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = ensure_app()
    loaded = []
    for m in models:
        try:
            loaded.append(m if isinstance(m, LoadedModel) else open_model(m))
        except ModelError as exc:
            print(f"latent-explorer: error: {exc}", file=sys.stderr)
    if not loaded:
        print("latent-explorer: error: no model to draw a map of", file=sys.stderr)
        return 2
    vae = [m for m in loaded if m.card is not None and m.card.family == "vae"]
    model = (vae or loaded)[0]
    view = MapView(model, classifier=classifier, interactive=False)
    view.resize(*size)
    view.show()
    wait_until_ready(view, timeout)
    if view.layers and not view.is_gan:
        (x0, x1), (y0, y1) = view.vb.viewRange()
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        w, h = (x1 - x0), (y1 - y0)
        view.select_rect(cx + 0.05 * w, cy + 0.05 * h, cx + 0.22 * w, cy + 0.25 * h)
        view.probe_at(cx - 0.15 * w, cy + 0.1 * h)
        if view.encoder is not None:
            view.probe_test_image(0)
        wait_until_ready(view, 30, ignore=("anomaly",))
        wait_until_ready(view, 90)  # the percentiles need the test split scored once (cached afterwards)
        layer = view._primary()
        view.hover_at(*layer.xy[int(np.argmin(np.hypot(*(layer.xy - [cx - 0.2 * w, cy - 0.15 * h]).T)))],
                      widget_pos=view.plot.mapFromScene(view.vb.mapViewToScene(
                          QPointF(cx - 0.2 * w, cy - 0.15 * h))))
    elif view.layers:
        layer = view._primary()
        view.probe_at(*layer.xy[0])
        (x0, x1), (y0, y1) = view.vb.viewRange()
        view.select_rect(x0 + 0.55 * (x1 - x0), y0 + 0.5 * (y1 - y0), x0 + 0.7 * (x1 - x0), y0 + 0.65 * (y1 - y0))
        hx, hy = (float(v) for v in layer.xy[len(layer.xy) // 2])
        view.hover_at(hx, hy, widget_pos=view.plot.mapFromScene(view.vb.mapViewToScene(QPointF(hx, hy))))
    end = time.perf_counter() + 5
    while time.perf_counter() < end:
        app.processEvents()
        if view.hover_card.isVisible() or view.is_gan:
            break
        time.sleep(0.01)
    for _ in range(10):
        app.processEvents()
        time.sleep(0.01)
    message, layers = view.last_message, bool(view.layers)
    if not grab_and_close(view, path):
        print(f"latent-explorer: error: cannot write screenshot {path}", file=sys.stderr)
        return 2
    if not layers and message:
        print(f"latent-explorer: error: {message}", file=sys.stderr)
        return 2
    return 0
