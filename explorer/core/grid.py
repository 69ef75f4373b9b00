"""The sample grid's state (latents, class weights, decoded pixels) and the controller that decodes it.

Qt-free: the grid announces changes through ``explorer.core.events.Signal``; views subscribe.

For a class-conditional model every cell also has class weights [K] (explorer/io/classes.py): a
one-hot row is one garment type, a row like 0.3 / 0.7 a blend of two. The cell's latent is its
style, its weights its garment; either changes without the other. In the style × garment mode
(``set_garment_mode``) row r shows class r and the cells of a column share one latent (a style):
re-roll draws new styles and keeps the rows, a slider edit moves the style of its whole column.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from explorer.core.decoding import AsyncDecoder, DecodeAnswer
from explorer.core.events import Signal
from explorer.core.latents import SamplingPolicy, sample_latents
from explorer.io.classes import blend, one_hot
from explorer.io.model_error import ModelError
from explorer.io.pixels import tile
from explorer.io.runtime import LoadedModel

MAX_SIDE = 32
MIXED_CLASSES = -1  # class choice: row r shows class r mod K
NO_CLASSES = ("this model takes no class (it is not class-conditional), so its grid cannot show one "
              "garment type per row")
CELL_ARRAYS = ("latents", "base", "weights", "pairs", "pixels", "finite", "dirty")


def cell_number(index: int) -> int:
    """The number a person sees for cell ``index`` (row-major from 0): cells, rows and columns count from 1."""
    return int(index) + 1


def cell_label(index: int, cols: int) -> str:
    """"Cell 62 (row 8, column 6)" for index 61 of an 8-column grid: one numbering, from 1, everywhere."""
    r, c = divmod(int(index), int(cols))
    return f"Cell {cell_number(index)} (row {r + 1}, column {c + 1})"


@dataclass
class _KeptCells:
    """What the grid showed for a model it switched away from, so coming back finds it as it was."""

    model: LoadedModel  # held so that id(model), the key, stays this model's while kept
    rows: int
    cols: int
    policy: SamplingPolicy
    class_choice: int
    focus: int | None
    latents: np.ndarray
    base: np.ndarray
    weights: np.ndarray
    pairs: np.ndarray
    pixels: np.ndarray
    finite: np.ndarray
    dirty: np.ndarray
    garment_mode: bool = False
    plain: "_KeptCells | None" = None  # the ordinary grid, while the style x garment grid is shown


class SampleGrid:
    """rows x cols samples of one model. Cell k (row-major) has latent ``latents[k]`` [D].

    ``pixels`` uint8 [N, H, W, C] hold the last decoded images; ``dirty`` marks cells whose pixels
    do not match their latent yet; ``finite`` is False where the model produced NaN/Inf. ``base``
    float32 [N, D] is each cell's latent before slider edits (what "Reset to sample" goes back to).
    ``weights`` float32 [N, K] are the cells' class weights (K = 0 for a model without classes) and
    ``pairs`` int [N, 2] the two classes each cell's blend slider runs between.

    Switching to another model keeps this model's cells (latents with their edits, sampling policy,
    class, focus, pixels); switching back restores them. ``forget(model)`` drops them (model closed).
    """

    def __init__(self, rows: int = 8, cols: int = 8, policy: SamplingPolicy = SamplingPolicy()):
        self.latents_changed = Signal()   # () : some latents changed (see ``dirty``)
        self.images_changed = Signal()    # (indices int [K]) : new pixels for these cells
        self.layout_changed = Signal()    # () : model, rows or cols changed
        self.focus_changed = Signal()     # (index or None)
        self.policy_changed = Signal()    # (policy)
        self.mode_changed = Signal()      # (garment_mode bool): the style x garment grid or the 3-stop mode changed
        self.model: LoadedModel | None = None
        self.rows, self.cols = self._check(rows, cols)
        self.policy = policy
        self.class_choice = MIXED_CLASSES
        self.focus: int | None = None
        self.garment_mode = False
        self.blend_stops = False  # the blend slider snaps to BLEND_STOPS (10 / 50 / 90 %)
        self._plain: _KeptCells | None = None
        self._kept: dict[int, _KeptCells] = {}
        self._alloc()

    @staticmethod
    def _check(rows: int, cols: int) -> tuple[int, int]:
        rows, cols = int(rows), int(cols)
        if not (1 <= rows <= MAX_SIDE and 1 <= cols <= MAX_SIDE):
            raise ValueError(f"grid must be 1..{MAX_SIDE} x 1..{MAX_SIDE}, got {rows}x{cols}")
        return rows, cols

    @property
    def count(self) -> int:
        return self.rows * self.cols

    @property
    def num_classes(self) -> int:
        return int(self.model.signature.num_classes or 0) if self.model is not None else 0

    def _sampled(self) -> np.ndarray:
        """Latents [N, D] drawn with the policy; in the style x garment mode one per column, the same in every row."""
        d = self.model.latent_dim
        if self.garment_mode:
            return np.tile(sample_latents(self.cols, d, self.policy), (self.rows, 1))
        return sample_latents(self.count, d, self.policy)

    def _default_classes(self) -> np.ndarray:
        """int [N]: each cell's class before any is changed (row r is class r in the style x garment mode)."""
        k = self.num_classes
        rows = np.arange(self.count) // self.cols
        if self.garment_mode or self.class_choice == MIXED_CLASSES:
            return (rows % k).astype(np.int64)
        return np.full(self.count, self.class_choice % k, np.int64)

    def _reset_classes(self, cells: np.ndarray | slice = slice(None)) -> None:
        k = self.num_classes
        if not k:
            return
        labels = self._default_classes()[cells]
        self.weights[cells] = one_hot(labels, k)
        self.pairs[cells] = np.stack([labels, (labels + 1) % k], axis=1)

    def _alloc(self) -> None:
        n = self.count
        if self.model is None:
            d, (c, h, w) = 1, (1, 1, 1)
        else:
            d, (c, h, w) = self.model.latent_dim, self.model.image_shape
        self.latents = self._sampled() if self.model is not None else np.zeros((n, d), np.float32)
        self.base = self.latents.copy()
        self.weights = np.zeros((n, self.num_classes), np.float32)
        self.pairs = np.zeros((n, 2), np.int64)
        self._reset_classes()
        self.pixels = np.zeros((n, h, w, c), np.uint8)
        self.finite = np.ones(n, bool)
        self.dirty = np.full(n, self.model is not None)
        if self.focus is not None and self.focus >= n:
            self.focus = None
            self.focus_changed.emit(None)

    # ---- setters: validate, change, announce --------------------------------------------------

    def set_model(self, model: LoadedModel | None) -> None:
        """Show ``model``'s cells: the ones it had when the grid last showed it, else fresh samples."""
        if self.model is not None:
            self._keep()
        kept = self._kept.pop(id(model), None) if model is not None else None
        was_garments = self.garment_mode
        if self.garment_mode and self._plain is not None:
            self.rows = self._plain.rows  # the next model's grid has the rows of the ordinary grid
        self.model = model
        self.focus = None
        self.garment_mode, self._plain = False, None
        if kept is not None:
            self.policy, self.class_choice = kept.policy, kept.class_choice
            self.garment_mode, self._plain = kept.garment_mode, kept.plain
            if kept.garment_mode:
                self.rows, self.cols = kept.rows, kept.cols
        self._alloc()
        if kept is not None:
            self._copy_cells(kept, kept.rows, kept.cols)
            if kept.focus is not None and kept.focus < kept.rows * kept.cols:
                r, c = divmod(kept.focus, kept.cols)
                if r < self.rows and c < self.cols:
                    self.focus = r * self.cols + c
            self.policy_changed.emit(self.policy)
        if self.garment_mode != was_garments:
            self.mode_changed.emit(self.garment_mode)
        self.focus_changed.emit(self.focus)
        self.layout_changed.emit()
        self.latents_changed.emit()

    def forget(self, model: LoadedModel) -> None:
        """Drop what was kept for ``model`` (it was closed)."""
        self._kept.pop(id(model), None)

    def _snapshot(self) -> _KeptCells:
        return _KeptCells(self.model, self.rows, self.cols, self.policy, self.class_choice, self.focus,
                          *(getattr(self, name) for name in CELL_ARRAYS), self.garment_mode, self._plain)

    def _keep(self) -> None:
        self._kept[id(self.model)] = self._snapshot()

    def _copy_cells(self, old, old_rows: int, old_cols: int) -> None:
        """Put ``old``'s cells (latents, base, class weights, pixels, finite, dirty) back at the same (row, col)."""
        r, c = min(self.rows, old_rows), min(self.cols, old_cols)
        for i in range(r):
            src = slice(i * old_cols, i * old_cols + c)
            dst = slice(i * self.cols, i * self.cols + c)
            for name in CELL_ARRAYS:
                if getattr(old, name).shape[1:] == getattr(self, name).shape[1:]:
                    getattr(self, name)[dst] = getattr(old, name)[src]

    def set_size(self, rows: int, cols: int) -> None:
        """Rows and columns; in the style x garment mode the rows are the classes and only the columns change."""
        rows, cols = self._check(rows, cols)
        if self.garment_mode:
            rows = self.rows
        if (rows, cols) == (self.rows, self.cols):
            return
        old = self._snapshot()
        self.rows, self.cols = rows, cols
        self._alloc()
        # Keep cells that stay on screen at the same (row, col), edited latents included.
        self._copy_cells(old, old.rows, old.cols)
        self.layout_changed.emit()
        self.latents_changed.emit()

    def set_policy(self, policy: SamplingPolicy) -> None:
        """New latents drawn with ``policy``; every cell keeps its class (the rows of the style x garment grid stay)."""
        self.policy = policy
        if self.model is not None:
            self.latents = self._sampled()
            self.base = self.latents.copy()
            self.dirty[:] = True
        self.policy_changed.emit(policy)
        self.latents_changed.emit()

    def reroll(self) -> None:
        """Next seed, same temperature and truncation."""
        p = self.policy
        self.set_policy(SamplingPolicy(p.seed + 1, p.temperature, p.truncation))

    def set_focus(self, index: int | None) -> None:
        if index is not None and not (0 <= index < self.count):
            raise IndexError(f"cell {index} is outside the {self.rows}x{self.cols} grid")
        if index != self.focus:
            self.focus = index
            self.focus_changed.emit(index)

    def style_cells(self, index: int) -> np.ndarray:
        """int [M]: the cells that share cell ``index``'s latent: its column in the style x garment mode, else itself."""
        if self.garment_mode:
            return np.arange(index % self.cols, self.count, self.cols)
        return np.array([index])

    def set_latent(self, index: int, z: np.ndarray, *, edit: bool = False) -> None:
        """A new latent for one cell (its whole column in the style x garment mode); ``edit=True`` (Zero,
        slider-like changes) keeps its "Reset to sample" latent."""
        cells = self.style_cells(index)
        self.latents[cells] = np.asarray(z, np.float32)
        if not edit:
            self.base[cells] = self.latents[index]
        self.dirty[cells] = True
        self.latents_changed.emit()

    def reset_cell(self, index: int) -> None:
        """Undo the edits of one cell: back to the latent it was drawn (or given) with."""
        self.set_latent(index, self.base[index].copy())

    def set_dimension(self, index: int, dim: int, value: float) -> None:
        """One latent coordinate of a cell: in the style x garment mode, of that style in every row."""
        cells = self.style_cells(index)
        self.latents[cells, dim] = value
        self.dirty[cells] = True
        self.latents_changed.emit()

    def set_all_latents(self, z: np.ndarray) -> None:
        """Every cell's latent; in the style x garment mode the first row's give the styles of the columns."""
        z = np.asarray(z, np.float32)
        if self.garment_mode:
            z = np.tile(np.broadcast_to(z, self.latents.shape)[:self.cols], (self.rows, 1))
        self.latents[:] = z
        self.base[:] = self.latents
        self.dirty[:] = True
        self.latents_changed.emit()

    def set_class_choice(self, choice: int) -> None:
        """The class of every cell (MIXED_CLASSES: row r shows class r mod K); cells changed one by one follow."""
        self.class_choice = int(choice)
        self._reset_classes()
        self.dirty[:] = True
        self.latents_changed.emit()

    # ---- garments: the style x garment grid, a cell's class, blends -----------------------------

    def _need_classes(self) -> int:
        k = self.num_classes
        if not k:
            raise ModelError(NO_CLASSES if self.model is not None else "open a model first")
        return k

    def set_garment_mode(self, on: bool) -> None:
        """The style x garment grid: rows are the classes, columns the styles (one latent per column).

        Turning it on keeps the ordinary grid aside (cells, classes, pixels) and brings it back when it
        is turned off, unless the styles were re-rolled meanwhile (then fresh samples of the new seed).
        ModelError (one line) for a model without classes.
        """
        on = bool(on)
        if on == self.garment_mode:
            return
        if on:
            k = self._need_classes()
            self._plain = self._snapshot()
            self.garment_mode = True
            self.rows = min(k, MAX_SIDE)
            self._alloc()
            if self.focus is not None:
                self.focus = None
                self.focus_changed.emit(None)
        else:
            plain, self._plain = self._plain, None
            self.garment_mode = False
            if plain is not None:
                self.rows = plain.rows
                self.class_choice = plain.class_choice
            self._alloc()
            if plain is not None and plain.policy == self.policy:
                self._copy_cells(plain, plain.rows, plain.cols)
            if self.focus is not None:
                self.focus = None
                self.focus_changed.emit(None)
        self.mode_changed.emit(self.garment_mode)
        self.layout_changed.emit()
        self.latents_changed.emit()

    @property
    def plain_rows(self) -> int:
        """The rows of the ordinary grid (kept aside while the style x garment grid shows one row per class)."""
        return self._plain.rows if self.garment_mode and self._plain is not None else self.rows

    def row_names(self) -> list[str] | None:
        """The class name of each row in the style x garment mode (what the row labels say), else None."""
        if not self.garment_mode or self.model is None:
            return None
        names = list(self.model.class_names) or [f"class {i}" for i in range(self.num_classes)]
        return [names[r % len(names)] for r in range(self.rows)]

    def set_cell_class(self, index: int, klass: int) -> None:
        """Keep the style, change the garment: cell ``index`` shows class ``klass``, its latent unchanged."""
        k = self._need_classes()
        w = one_hot(np.array([klass]), k)[0]
        b = int(self.pairs[index, 1])
        self.weights[index] = w
        self.pairs[index] = (int(klass), b if b != klass else (int(klass) + 1) % k)
        self.dirty[index] = True
        self.latents_changed.emit()

    def set_cell_blend(self, index: int, a: int, b: int, t: float) -> None:
        """Cell ``index`` shows (1 - t) of class ``a`` and t of class ``b`` (t in 0..1), its latent unchanged.

        ModelError (one line) for a model that takes one class per image (``model.blend_note``)."""
        k = self._need_classes()
        if not self.model.can_blend:
            raise ModelError(self.model.blend_note or "this model cannot blend classes")
        self.weights[index] = blend(int(a), int(b), float(t), k)
        self.pairs[index] = (int(a), int(b))
        self.dirty[index] = True
        self.latents_changed.emit()

    def cell_blend(self, index: int) -> tuple[int, int, float]:
        """(a, b, t): the two classes of cell ``index``'s blend slider and how far it is towards ``b``."""
        a, b = (int(v) for v in self.pairs[index])
        w = self.weights[index]
        t = 0.0 if a == b else float(np.clip(w[b] / max(float(w[a] + w[b]), 1e-12), 0.0, 1.0))
        return a, b, t

    def set_blend_stops(self, on: bool) -> None:
        """The three-stop mode of the blend slider (10 / 50 / 90 %)."""
        if bool(on) != self.blend_stops:
            self.blend_stops = bool(on)
            self.mode_changed.emit(self.garment_mode)

    def set_all_weights(self, weights: np.ndarray, pairs: np.ndarray | None = None) -> None:
        """Every cell's class weights [N, K] (a session's); blends refused for a model that cannot blend."""
        k = self._need_classes()
        w = np.asarray(weights, np.float32)
        if w.shape != (self.count, k) or not np.isfinite(w).all():
            raise ModelError(f"class weights have shape {list(w.shape)}, expected finite numbers [{self.count}, {k}]")
        if not self.model.can_blend:
            from explorer.io.classes import is_one_hot

            if not is_one_hot(w).all():
                raise ModelError(self.model.blend_note or "this model cannot blend classes")
        self.weights[:] = w
        if pairs is not None:
            p = np.asarray(pairs, np.int64)
            if p.shape == (self.count, 2) and p.min() >= 0 and p.max() < k:
                self.pairs[:] = p
        self.dirty[:] = True
        self.latents_changed.emit()

    # ---- reading ---------------------------------------------------------------------------------

    @property
    def classes(self) -> np.ndarray | None:
        """float32 [N, K] class weights per cell for class-conditional models (what they decode with), else None."""
        return self.weights if self.num_classes else None

    @property
    def labels(self) -> np.ndarray | None:
        """int64 [N] the main class of each cell (its largest weight) for class-conditional models, else None."""
        return self.weights.argmax(axis=1).astype(np.int64) if self.num_classes else None

    def apply(self, indices: np.ndarray, pixels: np.ndarray, finite: np.ndarray) -> None:
        self.pixels[indices] = pixels
        self.finite[indices] = finite
        self.dirty[indices] = False
        self.images_changed.emit(indices)

    def cell_image(self, index: int) -> np.ndarray:
        return self.pixels[index]

    def tiled(self, *, pad: int = 1, fill: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """The cells as one uint8 image [rows*(H+pad)+pad, cols*(W+pad)+pad, C], separators ``fill``."""
        return tile(self.pixels, self.rows, self.cols, pad=pad, fill=fill, out=out)


class FrameClock:
    """Frames per second over the last second of frames (or from the last interval when frames are slow)."""

    def __init__(self, window: float = 1.0):
        self.window = window
        self._times: deque[float] = deque()
        self._last_interval = 0.0

    def tick(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        if self._times:
            self._last_interval = now - self._times[-1]
        self._times.append(now)
        while len(self._times) > 2 and now - self._times[0] > self.window:
            self._times.popleft()

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        if span > self.window and self._last_interval > 0:
            return 1.0 / self._last_interval
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def fps_at(self, now: float | None = None) -> float:
        """``fps`` as of ``now`` (perf_counter seconds): 0 once no frame came for a while (idle), so a
        readout does not keep showing the speed of a walk that stopped long ago."""
        now = time.perf_counter() if now is None else now
        if not self._times or now - self._times[-1] > max(self.window, 2 * self._last_interval):
            return 0.0
        return self.fps


class GridController:
    """Binds a SampleGrid to an AsyncDecoder: changed latents -> decode request -> pixels (latest only).

    ``dispatch`` decides on which thread answers are handled: it turns ``receive`` into the
    function the worker calls. ``None`` handles them right on the worker thread (tests, headless);
    the Qt views pass ``ToGui.wrap``, which queues them onto the GUI thread.
    """

    def __init__(self, grid: SampleGrid, dispatch=None):
        self.grid = grid
        self.decoder = AsyncDecoder((dispatch or (lambda fn: fn))(self.receive), name="grid decoding")
        self.error = Signal()      # (message)
        self.decoded = Signal()    # (answer) after it was applied
        self.clock = FrameClock()
        self.last_decode_s = 0.0
        grid.latents_changed.connect(self.request)
        grid.layout_changed.connect(self.decoder.invalidate)

    def request(self) -> int | None:
        grid = self.grid
        if grid.model is None or not grid.dirty.any():
            return None
        idx = np.flatnonzero(grid.dirty)
        classes = grid.classes
        return self.decoder.request(grid.model, grid.latents[idx], None if classes is None else classes[idx], idx)

    def receive(self, answer: DecodeAnswer) -> bool:
        """Apply an answer if it is the latest for the current model; returns whether it was used."""
        if not self.decoder.is_current(answer) or answer.model is not self.grid.model:
            return False
        if answer.error:
            self.error.emit(answer.error)
            return False
        images = answer.images
        self.last_decode_s = images.seconds
        self.grid.apply(answer.indices, images.pixels, images.finite)
        self.clock.tick()
        self.decoded.emit(answer)
        return True

    def decode_now(self) -> None:
        """Decode every dirty cell synchronously (headless rendering, benchmarks)."""
        grid = self.grid
        if grid.model is None:
            return
        self.decoder.invalidate()
        idx = np.flatnonzero(grid.dirty)  # read once: an async answer may have just cleaned some cells
        if not len(idx):
            return
        classes = grid.classes
        images = grid.model.decode(grid.latents[idx], None if classes is None else classes[idx])
        self.last_decode_s = images.seconds
        grid.apply(idx, images.pixels, images.finite)
        self.clock.tick()

    def close(self) -> None:
        self.decoder.close()
