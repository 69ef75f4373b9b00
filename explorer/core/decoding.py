"""Decoding latents off the caller's thread, latest request only (a decode-shaped face of ``worker``).

A request names the model, the latents and which cells they belong to; the answer carries the
same, so a receiver can also drop answers for a model that is no longer shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from explorer.core.worker import Answer, LatestOnly
from explorer.io.runtime import DecodedImages, LoadedModel


@dataclass
class DecodeAnswer:
    """What came back for one request: images for the cells in ``indices`` (or an error line)."""

    generation: int
    model: LoadedModel
    indices: np.ndarray  # int [K]: which cells these images belong to
    images: DecodedImages | None
    error: str | None = None
    requested_at: float = 0.0


class AsyncDecoder:
    """``request`` decodes on a :class:`LatestOnly` worker; ``deliver`` gets current answers only."""

    def __init__(self, deliver: Callable[[DecodeAnswer], None], *, name: str = "decoding"):
        self._deliver = deliver
        self.worker = LatestOnly(self._answered, name=name)

    @property
    def generation(self) -> int:
        return self.worker.generation

    def is_current(self, answer: DecodeAnswer) -> bool:
        return self.worker.is_current(answer.generation)

    def invalidate(self) -> int:
        """Make every request so far stale (e.g. when the model changes); returns the new generation."""
        return self.worker.invalidate()

    def request(self, model: LoadedModel, z: np.ndarray, labels: np.ndarray | None,
                indices: np.ndarray) -> int:
        """Queue a decode of z [K, D] for cells ``indices`` [K]; older requests become stale."""
        z = np.array(z, dtype=np.float32, copy=True)
        labels = None if labels is None else np.array(labels, copy=True)
        return self.worker.submit(lambda progress, cancelled: model.decode(z, labels),
                                  tag=(model, np.asarray(indices)))

    def wait(self, timeout: float | None = None) -> bool:
        return self.worker.wait(timeout)

    def _answered(self, answer: Answer) -> None:
        model, indices = answer.tag
        self._deliver(DecodeAnswer(answer.generation, model, indices, answer.value, answer.error,
                                   answer.requested_at))

    def close(self) -> None:
        self.worker.close()
