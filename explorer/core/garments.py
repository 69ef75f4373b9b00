"""Blending garment types on the focused cell: the three-stop mode and its previews (Qt-free).

The cell's class weights live in :class:`explorer.core.grid.SampleGrid` (``weights``, ``pairs``,
``set_cell_blend``); this module holds what the blend controls add to them: the stops of the
three-stop mode (10 / 50 / 90 %), snapping a mix to the nearest stop, and :class:`StopPreviews`,
which decodes the focused cell's latent at the three stops off the GUI thread (latest request only),
so the three mixes can be shown side by side.
"""

from __future__ import annotations

import numpy as np

from explorer.core.decoding import AsyncDecoder, DecodeAnswer
from explorer.core.events import Signal
from explorer.io.classes import blend
from explorer.io.runtime import LoadedModel

BLEND_STOPS = (0.1, 0.5, 0.9)  # the marks of the three-stop mode


def snap_to_stop(t: float) -> float:
    """The stop nearest to mix ``t`` (0..1)."""
    return min(BLEND_STOPS, key=lambda s: abs(s - float(t)))


class StopPreviews:
    """One latent decoded at the three stops of a blend between two classes (async, latest only).

    ``pixels`` uint8 [3, H, W, C] after ``changed`` fires; ``None`` while nothing is shown. ``dispatch``:
    see :class:`explorer.core.grid.GridController` (None: answers handled on the worker thread).
    """

    def __init__(self, dispatch=None):
        self.changed = Signal()  # ()
        self.error = Signal()    # (one line)
        self.pixels: np.ndarray | None = None
        self.key = None  # (model, z bytes, a, b) of what ``pixels`` show or are being decoded
        self.decoder = AsyncDecoder((dispatch or (lambda fn: fn))(self.receive), name="blend stops")

    @staticmethod
    def weights(a: int, b: int, num_classes: int) -> np.ndarray:
        """float32 [3, K]: the three stops' class weights."""
        return blend(int(a), int(b), np.array(BLEND_STOPS), num_classes)

    def request(self, model: LoadedModel, z: np.ndarray, a: int, b: int) -> int | None:
        """Decode latent ``z`` [D] at the three stops between classes ``a`` and ``b`` (nothing when already shown)."""
        z = np.asarray(z, np.float32).reshape(-1)
        key = (id(model), z.tobytes(), int(a), int(b))
        if key == self.key:
            return None
        self.key = key
        w = self.weights(a, b, model.signature.num_classes)
        return self.decoder.request(model, np.repeat(z[None], len(BLEND_STOPS), axis=0), w,
                                    np.arange(len(BLEND_STOPS)))

    def receive(self, answer: DecodeAnswer) -> bool:
        if not self.decoder.is_current(answer):
            return False
        if answer.error:
            self.pixels = None
            self.error.emit(answer.error)
        else:
            self.pixels = answer.images.pixels
        self.changed.emit()
        return True

    def clear(self) -> None:
        self.decoder.invalidate()
        self.key = None
        if self.pixels is not None:
            self.pixels = None
            self.changed.emit()

    def close(self) -> None:
        self.decoder.close()
