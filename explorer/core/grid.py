"""The sample grid's state (latents, labels, decoded pixels) and the controller that decodes it.

Qt-free: the grid announces changes through ``explorer.core.events.Signal``; views subscribe.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from explorer.core.decoding import AsyncDecoder, DecodeAnswer
from explorer.core.events import Signal
from explorer.core.latents import SamplingPolicy, sample_latents
from explorer.io.pixels import tile
from explorer.io.runtime import LoadedModel

MAX_SIDE = 32
MIXED_CLASSES = -1  # class choice: row r shows class r mod K


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
    pixels: np.ndarray
    finite: np.ndarray
    dirty: np.ndarray


class SampleGrid:
    """rows x cols samples of one model. Cell k (row-major) has latent ``latents[k]`` [D].

    ``pixels`` uint8 [N, H, W, C] hold the last decoded images; ``dirty`` marks cells whose pixels
    do not match their latent yet; ``finite`` is False where the model produced NaN/Inf. ``base``
    float32 [N, D] is each cell's latent before slider edits (what "Reset to sample" goes back to).

    Switching to another model keeps this model's cells (latents with their edits, sampling policy,
    class, focus, pixels); switching back restores them. ``forget(model)`` drops them (model closed).
    """

    def __init__(self, rows: int = 8, cols: int = 8, policy: SamplingPolicy = SamplingPolicy()):
        self.latents_changed = Signal()   # () : some latents changed (see ``dirty``)
        self.images_changed = Signal()    # (indices int [K]) : new pixels for these cells
        self.layout_changed = Signal()    # () : model, rows or cols changed
        self.focus_changed = Signal()     # (index or None)
        self.policy_changed = Signal()    # (policy)
        self.model: LoadedModel | None = None
        self.rows, self.cols = self._check(rows, cols)
        self.policy = policy
        self.class_choice = MIXED_CLASSES
        self.focus: int | None = None
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

    def _alloc(self) -> None:
        n = self.count
        if self.model is None:
            d, (c, h, w) = 1, (1, 1, 1)
        else:
            d, (c, h, w) = self.model.latent_dim, self.model.image_shape
        self.latents = sample_latents(n, d, self.policy) if self.model is not None else np.zeros((n, d), np.float32)
        self.base = self.latents.copy()
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
        self.model = model
        self.focus = None
        if kept is not None:
            self.policy, self.class_choice = kept.policy, kept.class_choice
        self._alloc()
        if kept is not None:
            self._copy_cells(kept, kept.rows, kept.cols)
            if kept.focus is not None and kept.focus < kept.rows * kept.cols:
                r, c = divmod(kept.focus, kept.cols)
                if r < self.rows and c < self.cols:
                    self.focus = r * self.cols + c
            self.policy_changed.emit(self.policy)
        self.focus_changed.emit(self.focus)
        self.layout_changed.emit()
        self.latents_changed.emit()

    def forget(self, model: LoadedModel) -> None:
        """Drop what was kept for ``model`` (it was closed)."""
        self._kept.pop(id(model), None)

    def _keep(self) -> None:
        self._kept[id(self.model)] = _KeptCells(self.model, self.rows, self.cols, self.policy, self.class_choice,
                                                self.focus, self.latents, self.base, self.pixels, self.finite,
                                                self.dirty)

    def _copy_cells(self, old, old_rows: int, old_cols: int) -> None:
        """Put ``old``'s cells (latents, base, pixels, finite, dirty) back at the same (row, col)."""
        r, c = min(self.rows, old_rows), min(self.cols, old_cols)
        for i in range(r):
            src = slice(i * old_cols, i * old_cols + c)
            dst = slice(i * self.cols, i * self.cols + c)
            for name in ("latents", "base", "pixels", "finite", "dirty"):
                getattr(self, name)[dst] = getattr(old, name)[src]

    def set_size(self, rows: int, cols: int) -> None:
        rows, cols = self._check(rows, cols)
        if (rows, cols) == (self.rows, self.cols):
            return
        old = _KeptCells(self.model, self.rows, self.cols, self.policy, self.class_choice, self.focus,
                         self.latents, self.base, self.pixels, self.finite, self.dirty)
        self.rows, self.cols = rows, cols
        self._alloc()
        # Keep cells that stay on screen at the same (row, col), edited latents included.
        self._copy_cells(old, old.rows, old.cols)
        self.layout_changed.emit()
        self.latents_changed.emit()

    def set_policy(self, policy: SamplingPolicy) -> None:
        self.policy = policy
        if self.model is not None:
            self.latents = sample_latents(self.count, self.model.latent_dim, policy)
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

    def set_latent(self, index: int, z: np.ndarray, *, edit: bool = False) -> None:
        """A new latent for one cell; ``edit=True`` (Zero, slider-like changes) keeps its "Reset to sample" latent."""
        self.latents[index] = np.asarray(z, np.float32)
        if not edit:
            self.base[index] = self.latents[index]
        self.dirty[index] = True
        self.latents_changed.emit()

    def reset_cell(self, index: int) -> None:
        """Undo the edits of one cell: back to the latent it was drawn (or given) with."""
        self.set_latent(index, self.base[index].copy())

    def set_dimension(self, index: int, dim: int, value: float) -> None:
        self.latents[index, dim] = value
        self.dirty[index] = True
        self.latents_changed.emit()

    def set_all_latents(self, z: np.ndarray) -> None:
        self.latents[:] = z
        self.base[:] = self.latents
        self.dirty[:] = True
        self.latents_changed.emit()

    def set_class_choice(self, choice: int) -> None:
        self.class_choice = int(choice)
        self.dirty[:] = True
        self.latents_changed.emit()

    # ---- reading ---------------------------------------------------------------------------------

    @property
    def labels(self) -> np.ndarray | None:
        """int64 [N] class per cell for class-conditional models, else None."""
        if self.model is None or not self.model.signature.num_classes:
            return None
        k = self.model.signature.num_classes
        if self.class_choice == MIXED_CLASSES:
            return (np.arange(self.count) // self.cols % k).astype(np.int64)
        return np.full(self.count, self.class_choice % k, np.int64)

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
        labels = grid.labels
        return self.decoder.request(grid.model, grid.latents[idx], None if labels is None else labels[idx], idx)

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
        labels = grid.labels
        images = grid.model.decode(grid.latents[idx], None if labels is None else labels[idx])
        self.last_decode_s = images.seconds
        grid.apply(idx, images.pixels, images.finite)
        self.clock.tick()

    def close(self) -> None:
        self.decoder.close()
