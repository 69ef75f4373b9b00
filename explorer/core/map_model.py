"""The latent map's state, Qt-free: what it shows, how it is laid out, what is selected and kept.

:class:`MapModel` owns the points (a VAE's atlas or an encoded image set, or a GAN's samples over
real images), the projection (chosen by registry key, ``explorer.core.projection_registry``), the
dimensions of a two-dimension map, the selection, the kept groups (A / B and named lasso groups),
the hidden classes, the visible range, and the background jobs that make points and projections
(``explorer.core.map_jobs``). Setters validate, then announce the change through
``explorer.core.events.Signal``s; views (explorer/qt/map_*.py) only subscribe and call setters.

Decodes for the probe, hovers, the sweep mosaic and selections are requested by
:class:`explorer.core.map_decodes.MapDecodes` (``model.decodes``), on the same latest-only path.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from explorer.core import atlas_data as A
from explorer.core.events import Signal
from explorer.core.gan_feature_map import GanFeatureMap
from explorer.core.map_jobs import MapJobs, job_label
from explorer.core.map_density import POINT_LIMIT
from explorer.core.map_layer import MapLayer
from explorer.core.map_sources import (PointsSpecError, encode_work, fashion_images_behind, gan_map_work,
                                       gan_points_work, parse_points_spec)
from explorer.core.projection import points_in_polygon
from explorer.core.projection_registry import (ProjectionInput, ProjectionSpec, default_spec, projection_spec,
                                               projection_specs)
from explorer.core.worker import Answer, Cancelled
from explorer.io.runtime import LoadedModel

VAE_SOURCES = ("atlas", "fashion", "folder", "idx")
GAN_SOURCES = ("gan", "gan-n")
GAN_N_DEFAULT = 100_000  # samples of "GAN: N samples" when no N is given
SELECTION_CELLS = 64  # latents of a selection decoded and sent to the grid
LASSO_BUDGET = 20_000_000  # point-in-polygon tests a lasso may cost (points in its box x vertices)
NO_MODEL = "No model open: open a VAE or GAN to see its latent map"
PLACE_JOB = "place"  # the job that lays out more than POINT_LIMIT points (projection, indices, range)


def default_dims(vectors: np.ndarray) -> tuple[int, int]:
    """The two dimensions of largest variance (a two-dimension map's first choice)."""
    order = np.argsort(-np.asarray(vectors).var(axis=0), kind="stable")
    return int(order[0]), int(order[1 % len(order)])


def fitted_range(layers: list[MapLayer]) -> list[list[float]]:
    """[[x0, x1], [y0, y1]] around 99 % of the layers' points (a few outliers must not shrink the cloud)."""
    allxy = np.concatenate([layer.xy for layer in layers])
    lo, hi = np.percentile(allxy, 0.5, axis=0), np.percentile(allxy, 99.5, axis=0)
    pad = (hi - lo) * 0.06 + 1e-6
    return [[float(lo[0] - pad[0]), float(hi[0] + pad[0])], [float(lo[1] - pad[1]), float(hi[1] + pad[1])]]


@dataclass
class Placement:
    """The points laid out by one projection, ready to draw: made on a job's thread for big sets.

    ``points``/``background``: the sets it was made for (an answer for other points is stale);
    ``dims``: the dimensions it used (chosen on the job for a new big set)."""

    spec: ProjectionSpec
    proj: object
    seconds: float
    layers: list[MapLayer]
    fitted: list[list[float]]
    dims: tuple[int, int]
    points: A.MapPoints
    background: A.MapPoints | None


def place(spec: ProjectionSpec, proj, data: ProjectionInput, points: A.MapPoints,
          background: A.MapPoints | None, seconds: float, progress=None) -> Placement:
    """Lay ``points`` (and ``background``) out by ``proj``: the layers with their nearest-point
    indices, the spatial grids of big layers, the fitted range. Qt-free and thread-safe (it reads
    its arguments only), so big sets are placed on a job's thread."""
    say = progress or (lambda f, m: None)
    say(0.5, "placing the points")
    xy, xy_bg = spec.place(proj, data)
    layers = []
    if background is not None:
        layers.append(MapLayer(background, xy_bg, coloured=False))
    layers.append(MapLayer(points, xy, coloured=True))
    say(0.75, "indexing the points")
    for layer in layers:
        if len(layer.xy) > POINT_LIMIT:
            layer.grid  # what a big layer's drawing asks for first: made here, not on the GUI thread
    return Placement(spec, proj, seconds, layers, fitted_range(layers), data.dims, points, background)


class MapModel:
    """State of the latent map of one model (``set_model``), with its background jobs (``jobs``),
    its decodes (``decodes``) and the images put through its VAE (``images_in``). Signals are listed,
    with what they carry, in ``__init__``."""

    def __init__(self, *, classifier: str | os.PathLike | None = None, dispatch=None):
        from explorer.core.map_decodes import MapDecodes
        from explorer.core.map_images_in import MapImagesIn

        self.classifier_path = classifier
        self.model: LoadedModel | None = None
        self.encoder: A.VAEEncoder | None = None
        self.source_key = "atlas"
        self.points: A.MapPoints | None = None      # the primary (coloured) points
        self.background: A.MapPoints | None = None  # GAN map: real images (grey)
        self.gan_map: GanFeatureMap | None = None
        self.real_images: np.ndarray | None = None  # images behind atlas points (Fashion test split), if known
        self.layers: list[MapLayer] = []            # background first, the primary layer last
        self.projection_key: str | None = None      # the chosen projection (a job may still be making it)
        self.projection = None                      # the projection drawn
        self.drawn_key: str | None = None           # its registry key
        self.projection_seconds = 0.0
        self.dims: tuple[int, int] = (0, 0)
        self.hidden_classes: set[int] = set()
        self.selection = np.zeros(0, np.int64)
        self.groups: dict[str, np.ndarray] = {}     # kept selections: name -> point indices
        self.view_range: list[list[float]] | None = None
        self.sweep_on = False
        self.shown = False                          # a view shows the map (costly sources wait for it)
        self.last_message = ""
        self._deferred: str | None = None
        self._pending_groups: dict | None = None
        self._wanted_range = None   # a session's range, restored once a placement in progress is drawn
        self._auto_dims = False     # the placement in progress chooses the dimensions
        self._gan_maps: dict[str, GanFeatureMap] = {}  # generator file -> its feature map (this session)

        self.model_changed = Signal()              # (LoadedModel | None)
        self.sources_changed = Signal()            # (source keys offered, the current key | None)
        self.empty = Signal()                      # (why there is nothing to draw)
        self.points_changed = Signal()             # ()
        self.projection_chosen = Signal()          # (registry key | None): the control shows it
        self.projection_changed = Signal()         # (): the layers were placed by a new projection
        self.latent_projection_changed = Signal()  # (projection | None): None when the map is not of latents
        self.dims_changed = Signal()               # ((dim_x, dim_y))
        self.hidden_changed = Signal()             # (label, on)
        self.selection_changed = Signal()          # (indices int64 [K])
        self.groups_changed = Signal()             # ({name: [point indices]})
        self.view_range_changed = Signal()         # ([[x0, x1], [y0, y1]])
        self.sweep_changed = Signal()              # (on)
        self.latents_for_grid = Signal()           # (z float32 [K, D])
        self.latent_activated = Signal()           # (z float32 [D])
        self.direction_made = Signal()             # (Direction)
        self.message = Signal()                    # (one line)
        self.jobs = MapJobs(dispatch)
        self.decodes = MapDecodes(self, dispatch)
        self.images_in = MapImagesIn(self)

    # ---- what is shown ---------------------------------------------------------------------------

    @property
    def is_gan(self) -> bool:
        return self.model is not None and (self.model.card is None or self.model.card.family != "vae")

    @property
    def primary(self) -> MapLayer | None:
        return self.layers[-1] if self.layers else None

    def say(self, text: str) -> None:
        self.last_message = text
        self.message.emit(text)

    def _empty(self, text: str) -> None:
        """Nothing to draw (yet): the layers go, ``empty`` says why."""
        self.layers = []
        self.empty.emit(text)

    def set_model(self, model: LoadedModel | None) -> None:
        """Show the map of ``model`` (the main window's active model); None shows nothing."""
        if model is self.model and model is not None:
            return
        self.jobs.cancel_all()
        self.decodes.invalidate()
        self._deferred = None
        self.model = model
        self.hidden_classes.clear()
        self.encoder = None
        self.images_in.reset()
        self.points = self.background = self.gan_map = None
        self.projection = None
        self.projection_key = None
        self.drawn_key = None
        self.layers = []
        self.latent_projection_changed.emit(None)
        self.projection_chosen.emit(None)  # the last model's choice is not this one's
        self._clear_selection_state()
        if model is not None and not self.is_gan:
            try:
                self.encoder = A.encoder_for(model)
            except A.MapDataError as exc:
                self.encoder = None
                self.say(str(exc))
        self.model_changed.emit(model)
        if model is None:
            self.sources_changed.emit((), None)
            self._empty(NO_MODEL)
            return
        self.sources_changed.emit(GAN_SOURCES if self.is_gan else VAE_SOURCES, None)
        self.use_source("gan" if self.is_gan else "atlas")

    def set_shown(self, shown: bool) -> None:
        """A view shows (or hides) the map; a source that waited for it is built now."""
        self.shown = bool(shown)
        if self.shown and self._deferred is not None and self.model is not None:
            key, self._deferred = self._deferred, None
            self.use_source(key)

    def use_source(self, key: str, path: str | None = None) -> int | None:
        """Switch what the map shows: "atlas", "fashion", "folder" (path), "idx" (path), "gan",
        "gan-n" (path: the number of samples, up to a million; see ``load_points``).

        Returns the generation of the job started for it (encoding, the GAN map), else None."""
        if self.model is None:
            return None
        self.source_key = key
        self.sources_changed.emit(GAN_SOURCES if self.is_gan else VAE_SOURCES, key)
        if key == "gan-n":
            return self.load_points(f"gan:{path or GAN_N_DEFAULT}")
        if key == "atlas":
            try:
                pts = A.atlas_points(self.model)
            except A.MapDataError as exc:
                self._empty(str(exc) + ("" if self.encoder is None else
                                            "\n\nUse Data → Image folder / Fashion-MNIST to encode a set."))
                self.say(str(exc))
                return None
            self.real_images = fashion_images_behind(pts, self.model)
            self.set_points(pts)
        elif key in ("fashion", "folder", "idx"):
            return self.encode_source(key, path)
        elif key == "gan":
            cached = self._gan_maps.get(str(self.model.path))
            if cached is not None:
                self.gan_map = cached
                self.set_points(cached.samples, cached.real)
            elif not self.shown:
                self._deferred = "gan"  # classifying real images costs minutes on a busy CPU: only when seen
                self._empty(f"The feature map of {self.model.name} is built when this view is shown")
            else:
                return self.build_gan_map()
        return None

    def set_points(self, points: A.MapPoints, background: A.MapPoints | None = None) -> None:
        """Show these points (primary, coloured) over optional grey background points; re-project.

        More than ``POINT_LIMIT`` points in all are placed on a job (``PLACE_JOB``: the dimensions,
        the projection, the indices and the range), so the window stays responsive; the map says
        "Placing…" until they are drawn, and newer points or a newer projection make it stale."""
        self.points, self.background = points, background
        self._clear_selection_state()  # kept selections belong to the points they index
        self.decodes.set_probe_latent(None)
        self.decodes.hover_index = None
        self._wanted_range = None
        self._auto_dims = False
        if not self.is_big:
            self.dims = default_dims(points.vectors)
            self.points_changed.emit()
            self.dims_changed.emit(self.dims)
            self.set_projection(default_spec(self.projection_input()).key)
            return
        # The old layers index other points: nothing is drawn (or hovered, or selected) until placed.
        self.layers, self.projection, self.drawn_key = [], None, None
        self.latent_projection_changed.emit(None)
        self.dims = (0, 1 % points.dim)  # until the job has chosen them (the largest variances)
        self._auto_dims = True
        self.points_changed.emit()
        self.dims_changed.emit(self.dims)
        self._empty(f"Placing {self.point_count:,} points…")
        self.set_projection(default_spec(self.projection_input()).key)

    @property
    def point_count(self) -> int:
        """Points shown: the primary ones and the background ones (0 before any)."""
        if self.points is None:
            return 0
        return len(self.points) + (len(self.background) if self.background is not None else 0)

    @property
    def is_big(self) -> bool:
        """More points than the GUI thread may lay out within a frame: placing them is a job."""
        return self.point_count > POINT_LIMIT

    def _clear_selection_state(self) -> None:
        self.selection = np.zeros(0, np.int64)
        self.selection_changed.emit(self.selection)
        self.groups = {}
        self._groups_updated()

    # ---- projection ------------------------------------------------------------------------------

    def projection_input(self) -> ProjectionInput:
        return ProjectionInput(self.points.vectors, None if self.background is None else self.background.vectors,
                               self.dims, self.is_gan, folder=self.model.path.parent if self.model else None)

    def offered_projections(self) -> list[tuple[ProjectionSpec, str | None]]:
        """Every registered projection with the reason it is unavailable for these points (None: offered)."""
        data = self.projection_input() if self.points is not None else None
        return [(s, None if data is None else s.unavailable(data)) for s in projection_specs()]

    def set_projection(self, key: str) -> None:
        """Lay the points out by the registered projection ``key`` (a label is accepted too).

        Instant projections are made at once; background ones run as a job and are drawn when done
        (the previous projection stays until then, and when the job fails)."""
        if self.points is None:
            return
        try:
            spec = projection_spec(key)
        except KeyError as exc:
            self.say(str(exc.args[0]))
            return
        data = self.projection_input()
        reason = spec.unavailable(data)
        if reason is not None:
            self.say(f"{reason}; using PCA")
            return self.set_projection("pca")
        self.projection_key = spec.key
        self.projection_chosen.emit(spec.key)
        for other in projection_specs():  # a projection still being made for an earlier choice is stale
            if other.background and other.key != spec.key:
                self.jobs.cancel(other.key)
        if spec.background or self.is_big:
            self._place_on_job(spec, data)
            return
        self.jobs.cancel(PLACE_JOB)  # a placement still running is older than this choice
        t0 = time.perf_counter()
        try:
            proj = spec.make(data, lambda f, m: None, lambda: False)
        except ValueError as exc:  # e.g. a 1-d latent space or a single point: nothing to lay out on a plane
            self._empty(f"{self.points.source}: cannot draw a {spec.label} map ({exc})")
            self.say(f"cannot draw a {spec.label} map: {exc}")
            return
        self._install(place(spec, proj, data, self.points, self.background, time.perf_counter() - t0))

    def _place_on_job(self, spec: ProjectionSpec, data: ProjectionInput) -> None:
        """Make the projection and place the points on a job: ``spec.key`` for background projections
        (UMAP), ``PLACE_JOB`` for an instant projection of a big set. The answer is drawn only if it
        is still wanted (same points, the projection still chosen)."""
        points, background, auto_dims = self.points, self.background, self._auto_dims

        def work(progress, cancelled):
            t0 = time.perf_counter()
            use = data
            if auto_dims:  # a new big set: its dimensions are chosen here, off the GUI thread
                progress(0.05, "choosing dimensions")
                use = ProjectionInput(data.vectors, data.background, default_dims(data.vectors), data.is_gan,
                                      folder=data.folder)
            if not spec.background:
                progress(0.1, f"{spec.label}: fitting")
            proj = spec.make(use, progress, cancelled)
            if cancelled():
                raise Cancelled()
            seconds = time.perf_counter() - t0
            return place(spec, proj, use, points, background, seconds,
                         None if spec.background else progress)

        n = len(data.both)
        if spec.background:
            self.jobs.cancel(PLACE_JOB)  # stale: the background projection places its own points
            self.jobs.start(spec.key, work, lambda answer: self._projection_made(spec, answer, n),
                            label=f"{spec.label} of {n:,} points", estimate_s=spec.estimate(data))
        else:
            self.jobs.start(PLACE_JOB, work, lambda answer: self._projection_made(spec, answer, n),
                            label=f"Placing {n:,} points ({spec.label})")

    def _projection_made(self, spec: ProjectionSpec, answer: Answer, n: int) -> None:
        placement = answer.value
        if answer.cancelled:
            self.say(f"{spec.label} cancelled")
        elif answer.error:
            self.say(answer.error)
            if not self.layers:  # nothing drawn yet (a new big set): the map says why
                self._empty(answer.error)
        elif placement.points is not self.points or placement.background is not self.background:
            return  # made for points shown before these
        elif self.projection_key != spec.key:
            return  # another projection was chosen meanwhile (a UMAP child still cached its layout)
        else:
            self._install(placement)
            if spec.background:
                note = spec.describe(placement.proj)
                self.say(f"{spec.label} of {n:,} points ready in {answer.seconds:.1f} s" + (f" ({note})" if note else ""))
            else:
                self.say(f"{n:,} points placed ({spec.label}) in {answer.seconds:.1f} s")
            return
        # the drawn projection stays: the control goes back to it
        self.projection_key = self.drawn_key
        self.projection_chosen.emit(self.projection_key)

    def spec(self) -> ProjectionSpec | None:
        """The spec of the drawn projection (None before the first, or once it left the registry)."""
        try:
            return projection_spec(self.drawn_key) if self.drawn_key else None
        except KeyError:
            return None

    def _install(self, p: Placement) -> None:
        """Draw a placement: its layers replace the drawn ones, the view fits them (or a session's range)."""
        self.projection, self.drawn_key, self.projection_seconds = p.proj, p.spec.key, p.seconds
        self.projection_key = p.spec.key
        if self._auto_dims:
            self._auto_dims = False
            if p.dims != self.dims:
                self.dims = p.dims
                self.dims_changed.emit(self.dims)
            self.projection_chosen.emit(p.spec.key)
        for layer in p.layers:
            for lab in self.hidden_classes:
                layer.set_class_visible(lab, False)
        self.layers = p.layers
        self.latent_projection_changed.emit(None if self.is_gan else p.proj)
        if self.sweep_on and not self.exact:
            self.set_sweep(False)
        self.projection_changed.emit()
        wanted, self._wanted_range = self._wanted_range, None
        self.set_view_range(wanted or p.fitted)
        pending, self._pending_groups = self._pending_groups, None
        if pending:
            self.set_groups(pending)

    @property
    def exact(self) -> bool:
        """The drawn projection has an exact inverse, and it is of latents (every position decodes)."""
        return bool(getattr(self.projection, "exact", False)) and not self.is_gan

    def inverse_note(self) -> str:
        """What a click on the map decodes, in words (the caption)."""
        if self.is_gan:
            return "feature space: no inverse, clicks pick the nearest sample"
        spec = self.spec()
        return spec.inverse if spec is not None else ""

    def fitted_range(self) -> list[list[float]]:
        """[[x0, x1], [y0, y1]] around 99 % of the drawn points (a few outliers must not shrink the cloud)."""
        return fitted_range(self.layers)

    def set_dims(self, dim_x: int, dim_y: int) -> None:
        """The latent dimensions of a two-dimension map; re-projects when that map is shown."""
        dims = (int(dim_x), int(dim_y))
        if dims == self.dims:
            return
        self.dims = dims
        self._auto_dims = False  # chosen: a placement in progress keeps them
        self.dims_changed.emit(dims)
        if self.points is None or self.projection_key is None or not projection_spec(self.projection_key).uses_dims:
            return
        if dims[0] == dims[1]:
            self.say("pick two different dimensions")
            return
        self.set_projection(self.projection_key)

    def set_view_range(self, view_range) -> None:
        """The visible region [[x0, x1], [y0, y1]] in map units (the canvas follows and reports it)."""
        rng = [[float(view_range[0][0]), float(view_range[0][1])], [float(view_range[1][0]), float(view_range[1][1])]]
        if not np.isfinite(rng).all() or rng == self.view_range:
            return
        self.view_range = rng
        self.view_range_changed.emit(rng)

    # ---- classes, selection and groups -----------------------------------------------------------

    def set_class_visible(self, label: int, on: bool) -> None:
        """Legend toggle: hide or show one class (hidden points are neither hovered nor selected)."""
        label = int(label)
        if on:
            self.hidden_classes.discard(label)
        else:
            self.hidden_classes.add(label)
        for layer in self.layers:
            layer.set_class_visible(label, on)
        self.hidden_changed.emit(label, bool(on))
        if not on and len(self.selection):  # hidden points leave the selection (its counts, mix and latents)
            self.set_selection(self.selection)

    def select_rect(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Select the visible primary points inside the box (map units, corners in any order)."""
        layer = self.primary
        if layer is None:
            return np.zeros(0, np.int64)
        xy = layer.xy
        inside = ((xy[:, 0] >= min(x0, x1)) & (xy[:, 0] <= max(x0, x1)) & (xy[:, 1] >= min(y0, y1))
                  & (xy[:, 1] <= max(y0, y1)) & layer.visible_mask)
        return self.set_selection(np.flatnonzero(inside))

    def select_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Select the visible primary points inside the closed polygon float [M, 2] (a lasso)."""
        layer = self.primary
        if layer is None or len(polygon) < 3:
            return self.set_selection(np.zeros(0, np.int64))
        polygon = np.asarray(polygon, np.float32)
        # The test costs (points in the lasso's box) x (vertices): a lasso around most of a million
        # points keeps every k-th vertex, so it stays well under a second.
        lo, hi = polygon.min(axis=0), polygon.max(axis=0)
        in_box = layer.grid.count_at_most(float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        most = max(32, LASSO_BUDGET // max(in_box, 1))
        if len(polygon) > most:
            polygon = polygon[np.linspace(0, len(polygon) - 1, most).astype(np.int64)]
        inside = points_in_polygon(layer.xy, polygon) & layer.visible_mask
        return self.set_selection(np.flatnonzero(inside))

    def set_selection(self, indices) -> np.ndarray:
        """Select points of the primary layer (indices int [K]; out-of-range and hidden ones are dropped).

        A selection's decodings are requested and its latents sent to the grid."""
        layer = self.primary
        sel = np.asarray(indices, np.int64).reshape(-1)
        if layer is None:
            sel = np.zeros(0, np.int64)
        else:
            sel = sel[(sel >= 0) & (sel < len(layer.points))]
            sel = sel[layer.visible_mask[sel]]
        self.selection = sel
        self.selection_changed.emit(sel)
        if len(sel):
            self.decodes.request_selection()
            self.latents_for_grid.emit(self.selection_latents())
        return sel

    def selection_sample(self) -> np.ndarray:
        """Up to 64 of the selected indices (a seeded sample of a big selection), sorted."""
        sel = self.selection
        if len(sel) <= SELECTION_CELLS:
            return sel
        return np.sort(np.random.default_rng(0).choice(sel, SELECTION_CELLS, replace=False))

    def selection_latents(self) -> np.ndarray:
        """Latents of (up to 64 of) the selected points, for the sample grid: float32 [K, D]."""
        layer = self.primary
        if layer is None or len(self.selection) == 0:
            return np.zeros((0, self.model.latent_dim if self.model else 0), np.float32)
        shown = self.selection_sample()
        pts = layer.points
        z = pts.latents[shown] if pts.latents is not None else pts.vectors[shown]
        return np.asarray(z, np.float32)

    def keep_group(self, name: str) -> None:
        """Remember the current selection as group ``name`` ("A", "B" or any lasso group's name)."""
        if not str(name).strip():
            self.say("a kept selection needs a name")
            return
        self.groups[str(name)] = np.array(self.selection, np.int64)
        self._groups_updated()

    def set_groups(self, groups: dict) -> None:
        """Restore kept groups (name -> point indices), e.g. from a session; out-of-range indices are dropped.

        Before the map has points (they are computed later) the groups wait for them, and
        ``groups_json`` reports them meanwhile. TypeError/ValueError for what is not {name: [int]}."""
        groups = {str(k): [int(i) for i in v] for k, v in dict(groups).items()}
        layer = self.primary
        if layer is None:
            self._pending_groups = groups
            return
        n = len(layer.points.vectors)
        self.groups = {k: np.array([i for i in v if 0 <= i < n], np.int64) for k, v in groups.items()}
        self._groups_updated()

    def groups_json(self) -> dict[str, list[int]]:
        """The kept groups, JSON-ready: {name: [point indices]} (restored ones still waiting for points too)."""
        if self._pending_groups is not None:
            return {k: list(v) for k, v in self._pending_groups.items()}
        return {k: v.tolist() for k, v in self.groups.items()}

    def _groups_updated(self) -> None:
        self.groups_changed.emit(self.groups_json())

    @property
    def can_make_direction(self) -> bool:
        return all(len(self.groups.get(k, ())) for k in ("A", "B"))

    def make_group_direction(self):
        """The direction from group A's mean latent to group B's (announced by ``direction_made``)."""
        from explorer.core.directions import DirectionError, selection_direction

        layer = self.primary
        if layer is None:
            return None
        pts = layer.points
        vectors = pts.latents if pts.latents is not None else pts.vectors
        try:
            direction = selection_direction(vectors, self.groups.get("A", ()), self.groups.get("B", ()),
                                            model=self.model.name if self.model else "")
        except DirectionError as exc:
            self.say(str(exc))
            return None
        self.direction_made.emit(direction)
        self.say(f"direction '{direction.name}' added to the Directions panel")
        return direction

    # ---- session state ---------------------------------------------------------------------------

    def view_state(self) -> dict:
        """JSON-ready: {"projection": registry key, "dims": [x, y], "range": [[x0, x1], [y0, y1]]}."""
        rng = self.view_range or [[0.0, 1.0], [0.0, 1.0]]
        return {"projection": self.projection_key or "", "dims": [int(self.dims[0]), int(self.dims[1])],
                "range": [list(rng[0]), list(rng[1])]}

    def apply_view_state(self, state: dict) -> None:
        """Restore ``view_state()`` output (older sessions stored the projection's label: accepted)."""
        dims = [int(v) for v in state.get("dims") or []]  # ValueError/TypeError for what is not a dimension
        if len(dims) == 2 and self.points is not None:
            d = self.points.dim
            self.set_dims(min(max(dims[0], 0), d - 1), min(max(dims[1], 0), d - 1))
        name = state.get("projection")
        if name and self.points is not None:
            try:
                key = projection_spec(str(name)).key
            except KeyError:
                key = None
            if key is not None and key != self.projection_key:
                self.set_projection(key)
        rng = state.get("range")
        if rng and len(rng) == 2:
            self.set_view_range(rng)
            if self.placing:  # the placement's fitted range must not replace the session's
                self._wanted_range = self.view_range

    # ---- sweep -----------------------------------------------------------------------------------

    def set_sweep(self, on: bool) -> bool:
        """Turn the mosaic sweep on or off; it needs an exact projection of latents. Returns the state."""
        if on and not (self.projection is not None and self.exact):
            self.say("the sweep needs an exact projection (PCA, two dimensions or the 2-d plane)")
            on = False
        changed = bool(on) != self.sweep_on
        self.sweep_on = bool(on)
        if not on:
            self.decodes.sweep_decoder.invalidate()
        if changed or not on:
            self.sweep_changed.emit(self.sweep_on)
        return self.sweep_on

    # ---- background jobs -------------------------------------------------------------------------

    def start_job(self, name: str, work, on_done=None) -> int:
        """Run ``work(progress, cancelled)`` as job ``name`` (a running one of that name is superseded)."""
        return self.jobs.start(name, work, lambda answer: self._job_done(name, answer, on_done))

    def _job_done(self, name: str, answer: Answer, on_done) -> None:
        if answer.cancelled:
            self.say(f"{job_label(name)} cancelled")
        elif answer.error:
            self.say(answer.error)
            if name == "gan-map" or (name == "encode" and self.points is None):
                self._empty(answer.error)
        elif on_done is not None:
            on_done(answer)

    def cancel_jobs(self) -> None:
        """The Cancel button: every job stops and none answers. A projection being made is not drawn
        (the control goes back to the drawn one); a big set that was being placed says how to place it."""
        unplaced = self.placing and not self.layers and self.points is not None
        self.jobs.cancel_all()
        if self.projection_key != self.drawn_key:
            self.projection_key = self.drawn_key
            self.projection_chosen.emit(self.projection_key)
        if unplaced:
            n = self.point_count
            self._empty(f"Placing {n:,} points cancelled: choose a projection to place them")
            self.say(f"placing {n:,} points cancelled")

    @property
    def is_busy(self) -> bool:
        return self.jobs.busy

    @property
    def placing(self) -> bool:
        """A projection or placement is being made on a job (the drawn layers will be replaced)."""
        keys = {PLACE_JOB} | {s.key for s in projection_specs() if s.background}
        return any(name in keys for name in self.jobs.running)

    def encode_source(self, key: str, path: str | None = None) -> int | None:
        """Encode Fashion-MNIST (all 70k), an image folder or an IDX file in the background."""
        if self.encoder is None:
            self.say(f"{self.model.name}: this VAE bundle has no encoder; only its atlas can be shown")
            return None
        work = encode_work(self.encoder, key, path, self.model.image_shape, self.model.class_names or ())

        def done(answer: Answer) -> None:
            self.set_points(answer.value)
            self.say(f"{answer.value.source}: {len(answer.value):,} images encoded in {answer.seconds:.1f} s")

        return self.start_job("encode", work, done)

    def build_gan_map(self, *, n_samples: int = 1000, real_split: str = "all", keep_images: bool = True) -> int | None:
        """GAN: classify generated samples and real images (background); the map appears when done.

        keep_images=False (big sets, ``load_points("gan:N")``): the samples keep only their latents
        and are decoded when hovered or selected."""
        from explorer.core.classifier import MonitorError

        try:
            work = (gan_map_work(self.model, self.classifier_path, n_samples=n_samples, real_split=real_split)
                    if keep_images else
                    gan_points_work(self.model, self.classifier_path, n_samples, real_split=real_split))
        except MonitorError as exc:
            self._empty(f"The GAN map needs a classifier bundle: {exc}")
            self.say(f"GAN map needs a classifier ({exc})")
            return None
        self._empty(f"Building the feature map of {self.model.name}…")

        def done(answer: Answer) -> None:
            value = answer.value
            self.gan_map = value
            if keep_images:  # the source's own map; a big gan:N set is not what "GAN samples" brings back
                self._gan_maps[str(value.generator_path)] = value
            self.set_points(value.samples, value.real)
            self.say(f"GAN map: {len(value.samples):,} samples over {len(value.real):,} real images")

        return self.start_job("gan-map", work, done)

    def load_points(self, spec: str) -> int | None:
        """Load a big set named like ``--points``: a folder of images or an IDX file (VAE: encoded),
        or ``gan:N`` (GAN: N generated samples in the classifier's features, N up to a million).

        The work runs as a background job with progress; returns its generation. A spec that names
        nothing usable, or does not fit the model, is said in one line (``message``) and returns None."""
        if self.model is None:
            self.say("open a model first: --points loads points onto its map")
            return None
        try:
            kind, arg = parse_points_spec(spec)
        except PointsSpecError as exc:
            self.say(str(exc))
            return None
        if kind == "gan" and not self.is_gan:
            self.say(f"{self.model.name} is a VAE: gan:N needs a GAN (give a VAE a folder of images or an IDX file)")
            return None
        if kind != "gan" and self.is_gan:
            self.say(f"{self.model.name} is a GAN: its map takes gan:N (generated samples), not images to encode")
            return None
        if kind == "gan":
            self.source_key = "gan-n"
            self.sources_changed.emit(GAN_SOURCES, "gan-n")
            return self.build_gan_map(n_samples=int(arg), keep_images=False)
        self.source_key = kind
        self.sources_changed.emit(VAE_SOURCES, kind)
        return self.encode_source(kind, str(arg))

    def close(self) -> None:
        """Stop jobs and decode workers (call before dropping the model)."""
        self.jobs.close()
        self.decodes.close()
