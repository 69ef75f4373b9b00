"""The latent map: a scatter of the latent space linked to freshly decoded images.

* VAE: the bundle's atlas (or a user's image set, or all 70k Fashion-MNIST images, encoded in the
  background) laid out by any registered projection (explorer/core/projection_registry.py: PCA,
  UMAP, two chosen dimensions, the 2-d latent plane itself…).
* GAN: generated samples (coloured by predicted class) over real images (grey) in classifier-feature
  space; clicking a sample emits its latent.

Left-drag with the probe tool decodes the map position live (stale answers dropped); rectangle and
lasso select points (class mix + decodings, emitted for the grid); the sweep decodes an n x n
mosaic over the visible region. Right- or middle-drag pans, the wheel zooms.

The state lives in :class:`explorer.core.map_model.MapModel` (``view.map_model``); this widget is
the toolbar and the progress row around two thin views bound to it, :class:`MapCanvas` (the plot,
explorer/qt/map_canvas.py) and :class:`MapSidePanel` (explorer/qt/map_panel.py), and it turns the
model's announcements into Qt signals for the main window.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QProgressBar,
                               QPushButton, QSpinBox, QSplitter, QToolButton, QVBoxLayout, QWidget)

from explorer.core.map_model import GAN_N_DEFAULT, MapModel
from explorer.core.map_sources import MAX_GAN_POINTS
from explorer.core.projection_registry import projection_spec
from explorer.io.runtime import LoadedModel
from explorer.qt.bridge import ToGui, accept_url_drag, dropped_paths
from explorer.qt.map_canvas import MapCanvas
from explorer.qt.map_panel import MapSidePanel
from explorer.qt.refcount_guard import pin_singletons
from explorer.qt import theme

# Short names (the Data control shows them whole); the tooltip of each item says more.
SOURCES = {"atlas": "Atlas · test split", "fashion": "Fashion-MNIST · all 70k",
           "folder": "Image folder…", "idx": "IDX file…", "gan": "GAN samples + real",
           "gan-n": "GAN: N samples…"}
SOURCE_TIPS = {"atlas": "the bundle's atlas: encoder means of the 10,000 test images",
               "fashion": "encode all 70,000 Fashion-MNIST images with the bundle's encoder (cached)",
               "folder": "encode a folder of images (one subfolder per class gives labels)",
               "idx": "encode images from an IDX file",
               "gan": "generated samples over real images, both in the classifier's feature space",
               "gan-n": "up to 1,000,000 generated samples (generated and classified in the background; "
                        "drawn as a density image until you zoom in), like --points gan:N"}
TOOLS = (("probe", "✛ Probe", "click or drag anywhere: decode that position (P)", "P"),
         ("rect", "▭ Box", "drag a rectangle to select points (M)", "M"),
         ("lasso", "◌ Lasso", "draw around points to select them (L)", "L"),
         ("pan", "Pan", "drag to pan (right-drag pans in every tool)", "H"))

MAP_QSS = f"""
QLabel#mapCaption {{ color: {theme.MUTED}; font-size: 12px; }}
QLabel#mapTitle {{ font-weight: 600; color: {theme.TEXT}; }}
QFrame#mapCard {{ background: {theme.CARD}; border: 1px solid {theme.LINE}; border-radius: 6px; }}
QLabel#hoverCard {{ background: {theme.WELL}; border: 1px solid {theme.AXIS}; border-radius: 4px; padding: 3px; color: {theme.TEXT}; }}
QProgressBar {{ background: {theme.FIELD}; border: 1px solid {theme.BORDER}; border-radius: 4px; text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {theme.ACCENT}; border-radius: 3px; }}
"""


class MapView(QWidget):
    """The latent map of one model. ``set_model(model)`` follows the main window's active model.

    Signals: ``latentsForGrid(z float32 [K, D])`` — decodings of a selection, for the sample grid;
    ``latentActivated(z float32 [D])`` — a clicked GAN sample (or the probe, via its button);
    ``latentForPath(z [D])`` — "Add to path"; ``groupsChanged({name: [indices]})`` — the kept
    selections; ``directionMade(Direction)``; ``message(str)`` — one line for the status bar.
    """

    latentsForGrid = Signal(object)
    # "Send to grid" (the probed latent, float32 [D]) and "Show in grid" (a selection's, float32 [K, D]):
    # the user asked to see them in the grid, so the window shows the grid.
    probeToGrid = Signal(object)
    selectionToGrid = Signal(object)
    # The latent -> map projection in use (None when the map is not of latents: GAN feature maps).
    latentProjectionChanged = Signal(object)
    latentActivated = Signal(object)
    latentForPath = Signal(object)
    groupsChanged = Signal(object)
    directionMade = Signal(object)
    message = Signal(str)

    def __init__(self, model: LoadedModel | None = None, *, classifier: str | os.PathLike | None = None,
                 interactive: bool = True, parent=None):
        super().__init__(parent)
        pin_singletons()
        self.setObjectName("MapView")
        self.setStyleSheet(MAP_QSS)
        self.setAcceptDrops(True)
        self.interactive = interactive
        self.to_gui = ToGui(self)
        self.map_model = MapModel(classifier=classifier, dispatch=self.to_gui.wrap)
        self.canvas = MapCanvas(self.map_model)
        self.panel = MapSidePanel(self.map_model)
        self._build()
        self._bind()
        if model is not None:
            self.set_model(model)
        else:
            self.canvas.show_empty("No model open: open a VAE or GAN to see its latent map")

    # ---- construction --------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 6)
        outer.setSpacing(6)
        bar = QHBoxLayout()
        self.source_combo = QComboBox(toolTip="what the map shows")
        self.proj_combo = QComboBox(toolTip="how vectors are laid out on the plane")
        self._fill_projections()
        self.dim_x = QSpinBox(minimum=0, maximum=0, toolTip="latent dimension on the horizontal axis")
        self.dim_y = QSpinBox(minimum=0, maximum=0, toolTip="latent dimension on the vertical axis")
        self.dims_label = self._label("dims")
        self.tool_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        group.setExclusive(True)
        for key, text, tip, shortcut in TOOLS:
            b = QToolButton(text=text, checkable=True, toolTip=tip)
            b.setShortcut(shortcut)
            group.addButton(b)
            b.toggled.connect(lambda on, k=key: on and self.set_tool(k))
            self.tool_buttons[key] = b
        self.tool_buttons["probe"].setChecked(True)
        self.sweep_button = QToolButton(text="▦ Sweep", checkable=True,
                                        toolTip="decode a mosaic over the visible region, n cells on its "
                                                "shorter side (exact projections)")
        self.sweep_n = QSpinBox(minimum=3, maximum=24, value=10, toolTip="mosaic size n")
        for w in (self.dim_x, self.dim_y, self.sweep_n):
            w.setFixedWidth(56)
        for combo in (self.source_combo, self.proj_combo):  # short item names, each shown whole
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
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
        self.progress_label.setWordWrap(True)  # a long line (time left, cache note) must not widen the window
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
        split.addWidget(self.canvas)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 1)
        split.setSizes([900, 380])
        outer.addWidget(split, 1)
        self.caption = QLabel("")
        self.caption.setObjectName("mapCaption")
        outer.addWidget(self.caption)
        for w in (self.dims_label, self.dim_x, self.dim_y):
            w.setVisible(False)

    def _label(self, text: str) -> QLabel:
        lab = QLabel(text)
        lab.setObjectName("controlLabel")
        return lab

    def _bind(self) -> None:
        m, jobs = self.map_model, self.map_model.jobs
        self.source_combo.activated.connect(self._on_source_chosen)
        self.proj_combo.activated.connect(lambda i: m.set_projection(self.proj_combo.itemData(i)))
        self.dim_x.valueChanged.connect(lambda _v: m.set_dims(self.dim_x.value(), self.dim_y.value()))
        self.dim_y.valueChanged.connect(lambda _v: m.set_dims(self.dim_x.value(), self.dim_y.value()))
        self.sweep_button.toggled.connect(self.set_sweep)
        self.sweep_n.valueChanged.connect(self.canvas.set_sweep_cells)
        self.cancel_button.clicked.connect(self.cancel_jobs)
        self.panel.open_image_button.clicked.connect(self._open_image_dialog)
        self.panel.to_grid_button.clicked.connect(lambda: self._send_probe(self.probeToGrid))
        self.panel.to_path_button.clicked.connect(lambda: self._send_probe(self.latentForPath))
        self.panel.selection_to_grid.clicked.connect(self._emit_selection)
        self.canvas.drawn_changed.connect(self.panel.show_drawn)

        m.message.connect(self.message.emit)
        m.latents_for_grid.connect(self.latentsForGrid.emit)
        m.latent_activated.connect(self.latentActivated.emit)
        m.latent_projection_changed.connect(self.latentProjectionChanged.emit)
        m.groups_changed.connect(self.groupsChanged.emit)
        m.direction_made.connect(self.directionMade.emit)
        m.model_changed.connect(self._model_changed)
        m.sources_changed.connect(self._sources_changed)
        m.points_changed.connect(self._points_changed)
        m.dims_changed.connect(self._dims_changed)
        m.projection_chosen.connect(self._projection_chosen)
        m.projection_changed.connect(self._projection_changed)
        m.empty.connect(lambda _text: self.caption.setText(""))
        m.sweep_changed.connect(self._sweep_changed)
        jobs.started.connect(self._job_started)
        jobs.progress.connect(self._job_progress)
        jobs.finished.connect(lambda _name, _answer: self.progress_row.setVisible(jobs.busy))
        jobs.cancelled.connect(lambda _name: self.progress_row.setVisible(jobs.busy))

    # ---- model -> toolbar ----------------------------------------------------------------------

    def _fill_projections(self) -> None:
        """One item per registered projection (data: its key); unavailable ones greyed out with the reason."""
        combo = self.proj_combo
        combo.blockSignals(True)
        combo.clear()
        for spec, reason in self.map_model.offered_projections():
            combo.addItem(spec.label, spec.key)
            item = combo.model().item(combo.count() - 1)
            item.setEnabled(reason is None)
            tip = reason or (f"needs the optional package {spec.needs}" if spec.needs else "")
            if tip:
                item.setToolTip(tip)
        i = combo.findData(self.map_model.projection_key)
        combo.setCurrentIndex(max(i, 0))
        combo.blockSignals(False)

    def _model_changed(self, model) -> None:
        self.sweep_button.setEnabled(model is not None and not self.map_model.is_gan)
        self.progress_row.setVisible(self.map_model.jobs.busy)  # the last model's jobs were cancelled
        self._fill_projections()

    def _sources_changed(self, keys, current) -> None:
        self.source_combo.blockSignals(True)
        if [self.source_combo.itemData(i) for i in range(self.source_combo.count())] != list(keys):
            self.source_combo.clear()
            for key in keys:
                self.source_combo.addItem(SOURCES[key], key)
                self.source_combo.setItemData(self.source_combo.count() - 1, SOURCE_TIPS[key],
                                              Qt.ItemDataRole.ToolTipRole)
        if current is not None and self.source_combo.findData(current) >= 0:
            self.source_combo.setCurrentIndex(self.source_combo.findData(current))
        self.source_combo.blockSignals(False)

    def _points_changed(self) -> None:
        d = self.map_model.points.dim
        for w in (self.dim_x, self.dim_y):
            w.blockSignals(True)
            w.setMaximum(max(d - 1, 0))
            w.blockSignals(False)
        self._fill_projections()

    def _dims_changed(self, dims) -> None:
        for w, v in zip((self.dim_x, self.dim_y), dims):
            w.blockSignals(True)
            w.setValue(int(v))
            w.blockSignals(False)

    def _projection_chosen(self, key) -> None:
        i = self.proj_combo.findData(key)
        self.proj_combo.setCurrentIndex(max(i, 0))
        try:
            uses_dims = key is not None and projection_spec(key).uses_dims
        except KeyError:
            uses_dims = False
        for w in (self.dims_label, self.dim_x, self.dim_y):
            w.setVisible(uses_dims)

    def _projection_changed(self) -> None:
        m = self.map_model
        exact = m.exact
        self.sweep_button.setEnabled(exact)
        spec = m.spec()
        label = spec.label if spec is not None else getattr(m.projection, "name", "")
        n = len(m.points)
        self.caption.setText(f"{m.points.source} · {n:,} points"
                             + (f" over {len(m.background):,} real" if m.background is not None else "")
                             + f" · {label} ({m.projection_seconds * 1000:.0f} ms) · {m.inverse_note()}")
        self.canvas.schedule_sweep()

    def _sweep_changed(self, on: bool) -> None:
        if self.sweep_button.isChecked() != on:
            self.sweep_button.blockSignals(True)
            self.sweep_button.setChecked(on)
            self.sweep_button.blockSignals(False)

    def _job_started(self, name: str) -> None:
        self.progress.setValue(0)
        self.progress_label.setText(self.map_model.jobs.starting_line(name))
        self.progress_row.setVisible(True)

    def _job_progress(self, name: str, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * max(0.0, min(1.0, fraction))))
        self.progress_label.setText(self.map_model.jobs.progress_line(name, fraction, message))

    # ---- what the map shows --------------------------------------------------------------------

    @property
    def model(self) -> LoadedModel | None:
        """The model whose map is shown."""
        return self.map_model.model

    @property
    def is_gan(self) -> bool:
        return self.map_model.is_gan

    @property
    def points(self):
        return self.map_model.points

    @property
    def projection(self):
        return self.map_model.projection

    @property
    def layers(self):
        """The drawn layers (background first, the coloured primary layer last)."""
        return self.canvas.layers

    @property
    def vb(self):
        return self.canvas.vb

    @property
    def plot(self):
        """The pyqtgraph PlotWidget the map is drawn in."""
        return self.canvas.plot

    @property
    def last_message(self) -> str:
        return self.map_model.last_message

    @property
    def groups(self) -> dict:
        """The kept groups {name: point indices int64 [K]} (the model's own, not a copy)."""
        return self.map_model.groups

    # the side panel's group buttons, pressed by sessions' and the tour's tests
    keep_a_button = property(lambda self: self.panel.keep_a_button)
    keep_b_button = property(lambda self: self.panel.keep_b_button)
    direction_button = property(lambda self: self.panel.direction_button)

    def set_model(self, model: LoadedModel | None) -> None:
        """Show the map of ``model`` (the main window's active model)."""
        self.map_model.set_model(model)

    def use_source(self, key: str, path: str | None = None):
        """Switch what the map shows: "atlas", "fashion", "folder" (path), "idx" (path), "gan", "gan-n" (N)."""
        return self.map_model.use_source(key, path)

    def load_points(self, spec: str):
        """Load a big set (``--points``): a folder of images, an IDX file, or ``gan:N``."""
        return self.map_model.load_points(spec)

    def set_projection(self, key: str) -> None:
        """Lay the map out by a registered projection (its key, or its label)."""
        self.map_model.set_projection(key)

    def set_tool(self, tool: str) -> None:
        self.canvas.tool = tool
        b = self.tool_buttons[tool]
        if not b.isChecked():
            b.setChecked(True)

    def set_sweep(self, on: bool) -> None:
        self.map_model.set_sweep(on)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.map_model.set_shown(True)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.map_model.set_shown(False)

    def _on_source_chosen(self, _index: int) -> None:
        key = self.source_combo.currentData()
        path = None
        if key == "gan-n":
            if not self.interactive:
                return
            n, ok = QInputDialog.getInt(self, "Generated samples", "How many samples (up to 1,000,000)?",
                                        GAN_N_DEFAULT, 1, MAX_GAN_POINTS, 10000)
            if not ok:
                return
            path = str(n)
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

    # ---- probing, hovering, selecting (the canvas does the drawing) ----------------------------

    def probe_at(self, x: float, y: float, *, clicked: bool = False) -> int | None:
        """Decode the map position (x, y) into the preview; returns the decode generation (or None)."""
        return self.map_model.decodes.probe_at(x, y, clicked=clicked)

    def hover_at(self, x: float, y: float, widget_pos=None) -> tuple[int, int] | None:
        return self.canvas.hover_at(x, y, widget_pos)

    def select_rect(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return self.canvas.select_rect(x0, y0, x1, y1)

    def select_polygon(self, polygon: np.ndarray) -> np.ndarray:
        return self.canvas.select_polygon(polygon)

    def set_selection(self, indices) -> np.ndarray:
        return self.map_model.set_selection(indices)

    def clear_selection(self) -> None:
        self.map_model.set_selection(np.zeros(0, np.int64))

    def selection_latents(self) -> np.ndarray:
        return self.map_model.selection_latents()

    def _send_probe(self, signal) -> None:
        z = self.map_model.decodes.probe_z
        if z is not None:
            signal.emit(np.array(z, np.float32))

    def _emit_selection(self) -> None:
        z = self.map_model.selection_latents()
        if len(z):
            self.selectionToGrid.emit(z)

    def leaveEvent(self, event) -> None:
        self.canvas.clear_hover()
        super().leaveEvent(event)

    # ---- kept selections and session state (the dock adapter reads these) ----------------------

    def keep_group(self, name: str) -> None:
        self.map_model.keep_group(name)

    def set_groups(self, groups: dict) -> None:
        """Restore kept groups {name: [point indices]} (applied once the map has points)."""
        self.map_model.set_groups(groups)

    def view_state(self) -> dict:
        """JSON-ready: {"projection": key, "dims": [x, y], "range": [[x0, x1], [y0, y1]]}."""
        return self.map_model.view_state()

    def apply_view_state(self, state: dict) -> None:
        self.map_model.apply_view_state(state)

    # ---- images in and jobs --------------------------------------------------------------------

    def _open_image_dialog(self) -> None:
        if not self.interactive:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Encode an image", "", "Images (*.png *.jpg *.jpeg *.bmp);;All (*)")
        if path:
            self.map_model.images_in.probe_file(path)

    def dragEnterEvent(self, event) -> None:
        accept_url_drag(event)

    def dropEvent(self, event) -> None:
        paths = dropped_paths(event)
        if paths:
            p = Path(paths[0])
            if p.is_dir():
                self.use_source("folder", str(p))
            else:
                self.map_model.images_in.probe_file(str(p))

    def probe_file(self, path: str):
        return self.map_model.images_in.probe_file(path)

    def probe_test_image(self, index: int | None = None):
        return self.map_model.images_in.probe_test_image(index)

    def start_job(self, name: str, work, on_done=None) -> int:
        """Run ``work(progress, cancelled)`` as background job ``name`` (see MapModel.start_job)."""
        return self.map_model.start_job(name, work, on_done)

    def cancel_jobs(self) -> None:
        self.map_model.cancel_jobs()
        self.progress_row.setVisible(False)

    def is_busy(self) -> bool:
        return self.map_model.is_busy

    def sizeHint(self) -> QSize:
        return QSize(1300, 820)

    def close_view(self) -> None:
        """Stop workers and jobs (call before deleting the view)."""
        self.progress_row.setVisible(False)
        self.canvas.close_canvas()
        self.map_model.close()

    def closeEvent(self, event) -> None:
        self.close_view()
        super().closeEvent(event)


# ---- helpers for the main window and the command line ---------------------------------------------

def grid_shape_for(k: int, max_side: int = 8) -> tuple[int, int]:
    """Rows x cols (each at most ``max_side``) that hold k cells with the fewest left over, then the squarest."""
    k = max(1, min(int(k), max_side * max_side))
    best = min(((r, c) for r in range(1, max_side + 1) for c in range(r, max_side + 1) if r * c >= k),
               key=lambda rc: (rc[0] * rc[1] - k, rc[1] - rc[0]))
    return best


def show_in_grid(grid, z: np.ndarray) -> str:
    """Put exactly the latents z [K, D] (K <= 64) in a SampleGrid sized to hold them; returns the line that
    says what the grid shows. Cells beyond K (at most a few) repeat the first latents."""
    z = np.asarray(z, np.float32)
    if grid.model is None or len(z) == 0 or z.shape[1] != grid.model.latent_dim:
        return ""
    if getattr(grid, "garment_mode", False):  # the style x garment grid: the selection as its styles (columns)
        from explorer.core.grid import MAX_SIDE

        shown = min(len(z), MAX_SIDE)
        grid.set_size(grid.rows, shown)
        grid.set_all_latents(np.tile(z[:shown], (grid.rows, 1)))
        return (f"{shown} selected latents as the styles of the style × garment grid, one row per garment type"
                + (f" (the first {shown} of {len(z)})" if shown < len(z) else ""))
    rows, cols = grid_shape_for(len(z))
    grid.set_size(rows, cols)
    grid.set_all_latents(z[np.resize(np.arange(len(z)), grid.count)])
    extra = grid.count - len(z)
    return (f"{len(z)} selected latents in the grid ({rows} × {cols})"
            + (f"; the last {extra} cell{'s' if extra > 1 else ''} repeat the first" if extra else ""))


def fill_grid_with(grid, z: np.ndarray) -> None:
    """Put latents z [K, D] into a SampleGrid's cells (repeating them when the grid has more cells)."""
    z = np.asarray(z, np.float32)
    if grid.model is None or len(z) == 0 or z.shape[1] != grid.model.latent_dim:
        return
    reps = np.resize(np.arange(len(z)), grid.count)
    grid.set_all_latents(z[reps])
