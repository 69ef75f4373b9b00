"""Decoding off the caller's thread, with stale results dropped (the ndv pattern).

Every request bumps a generation counter and cancels the request still waiting in the queue;
the worker skips requests that are already stale when it gets to them, and the receiver drops
answers whose generation is not the latest. Dragging a slider therefore never queues up work.
No Qt here: ``deliver`` is called on the worker thread, and the Qt layer passes a function that
hands the answer to the GUI thread (a queued signal).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .runtime import DecodedImages, LoadedModel, ModelError


@dataclass
class DecodeAnswer:
    """What came back for one request: images for the cells in ``indices`` (or an error line)."""

    generation: int
    model: LoadedModel
    indices: np.ndarray  # int [K]: which grid cells these images belong to
    images: DecodedImages | None
    error: str | None = None
    requested_at: float = 0.0


class AsyncDecoder:
    def __init__(self, deliver: Callable[[DecodeAnswer], None]):
        self._deliver = deliver
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latent-decode")
        self._lock = threading.Lock()
        self._generation = 0
        self._pending: Future | None = None
        self._closed = False

    @property
    def generation(self) -> int:
        return self._generation

    def is_current(self, answer: DecodeAnswer) -> bool:
        return answer.generation == self._generation

    def invalidate(self) -> int:
        """Make every request so far stale (e.g. when the model changes); returns the new generation."""
        with self._lock:
            self._generation += 1
            if self._pending is not None:
                self._pending.cancel()
            return self._generation

    def request(self, model: LoadedModel, z: np.ndarray, labels: np.ndarray | None,
                indices: np.ndarray) -> int:
        """Queue a decode of z [K, D] for grid cells ``indices`` [K]; older requests become stale."""
        with self._lock:
            if self._closed:
                return self._generation
            self._generation += 1
            gen = self._generation
            if self._pending is not None:
                self._pending.cancel()  # only succeeds while it still waits in the queue
            z = np.array(z, dtype=np.float32, copy=True)
            labels = None if labels is None else np.array(labels, copy=True)
            self._pending = self._pool.submit(self._work, gen, model, z, labels,
                                              np.asarray(indices), time.perf_counter())
            return gen

    def _work(self, gen, model, z, labels, indices, t0) -> None:
        if gen != self._generation:
            return  # stale before it started: skip the decode entirely
        try:
            images = model.decode(z, labels)
            answer = DecodeAnswer(gen, model, indices, images, None, t0)
        except ModelError as exc:
            answer = DecodeAnswer(gen, model, indices, None, str(exc), t0)
        except Exception as exc:  # never let a worker exception vanish silently
            answer = DecodeAnswer(gen, model, indices, None, f"decoding failed ({type(exc).__name__}: {exc})", t0)
        if gen == self._generation:
            self._deliver(answer)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._generation += 1
            if self._pending is not None:
                self._pending.cancel()
        self._pool.shutdown(wait=True)
