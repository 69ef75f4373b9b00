"""The latent map's background jobs (encode a set, UMAP, the GAN feature map, anomaly scores).

Each job name has its own :class:`explorer.core.worker.LatestOnly` worker: a new job of a name
supersedes the running one of that name (its answer is dropped), jobs of different names run side
by side (scoring the test split while UMAP runs). Qt-free: ``dispatch`` turns a receiver into what
the worker calls (``ToGui.wrap`` in the app, ``None`` = on the worker thread, for tests).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from explorer.core.events import Signal
from explorer.core.worker import Answer, LatestOnly, Work

# Seconds close() waits, for all running jobs together, for them to reach their next check.
CLOSE_WAIT_SECONDS = 2.0

JOB_LABELS = {"encode": "Encoding", "umap": "UMAP", "gan-map": "GAN feature map",
              "anomaly": "Scoring the test split (for percentiles)", "place": "Placing points"}


# Every map job's result is cached on disk (explorer.core.map_cache): the user is told it is slow only once.
JOB_CACHED = {"encode": "the result is cached: next time this opens at once",
              "umap": "the result is cached: next time this opens at once",
              "gan-map": "real-image features are cached: the next feature map takes seconds",
              "anomaly": "scored once, then cached"}


def job_label(name: str) -> str:
    return JOB_LABELS.get(name, name)


def duration_words(seconds: float) -> str:
    """'about 40 s', 'about 2 min' (rounded the way a person says it)."""
    if seconds < 60:
        return f"about {max(5, int(round(seconds / 5.0)) * 5)} s"
    return f"about {int(round(seconds / 60.0))} min"


def remaining_seconds(elapsed: float, fraction: float) -> float | None:
    """Time left from the time spent and the fraction done, once there is enough to go on (else None)."""
    if fraction < 0.05 or fraction >= 1.0 or elapsed < 1.0:
        return None
    return elapsed * (1.0 - fraction) / fraction


class MapJobs:
    """Named background jobs with progress and cancel.

    Signals: ``started(name)``, ``progress(name, fraction 0..1, message)``, ``finished(name, answer)``
    (an :class:`explorer.core.worker.Answer`: value, one-line error or cancelled, seconds),
    ``cancelled(name)`` (stopped by ``cancel(name)``: no answer comes). Only the
    newest job of a name reports; ``cancel_all`` drops every running job's answer.
    """

    def __init__(self, dispatch: Callable | None = None):
        self._dispatch = dispatch or (lambda fn: fn)
        self._workers: dict[str, LatestOnly] = {}
        self._handlers: dict[str, Callable[[Answer], None]] = {}
        self._running: dict[str, int] = {}  # name -> generation of the job still to answer
        self.labels: dict[str, str] = {}     # name -> what the progress row calls it
        self.estimates: dict[str, float | None] = {}  # name -> expected seconds (None: unknown)
        self._started_at: dict[str, float] = {}
        # With dispatch=None a fast job answers on its worker before submit() has returned: the
        # bookkeeping of running jobs is shared between threads then.
        self._lock = threading.Lock()
        self.started = Signal()
        self.progress = Signal()
        self.finished = Signal()
        self.cancelled = Signal()  # (name): stopped by cancel(name), no answer comes

    @property
    def running(self) -> list[str]:
        """Names of the jobs started and not yet answered (on the dispatch thread)."""
        return list(self._running)

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def _worker(self, name: str) -> LatestOnly:
        worker = self._workers.get(name)
        if worker is None:
            worker = LatestOnly(self._dispatch(lambda answer: self._answered(name, answer)), name=job_label(name),
                                on_progress=self._dispatch(lambda gen, f, m: self._progressed(name, gen, f, m)),
                                blas_threads=1)  # a job must not take the cores the GUI thread draws with
            self._workers[name] = worker
        return worker

    def start(self, name: str, work: Work, on_done: Callable[[Answer], None], *, label: str | None = None,
              estimate_s: float | None = None) -> int:
        """Run ``work(progress, cancelled)`` as job ``name``; ``on_done(answer)`` when it answers.

        estimate_s: how long it usually takes when nothing is cached (the starting line says it).
        A running job of the same name is superseded (asked to stop, its answer dropped). Returns
        the job's generation."""
        worker = self._worker(name)
        self._handlers[name] = on_done
        self.labels[name] = label or job_label(name)
        self.estimates[name] = estimate_s
        self._started_at[name] = time.monotonic()
        with self._lock:
            generation = worker.submit(work, tag=name)
            self._running[name] = generation
        self.started.emit(name)
        return generation

    def starting_line(self, name: str) -> str:
        """What the progress row says when job ``name`` starts: how long it may take, and that it is cached."""
        est = self.estimates.get(name)
        how_long = f"{duration_words(est)} the first time; " if est else ""
        return f"{self.labels.get(name, job_label(name))}: starting… ({how_long}{JOB_CACHED.get(name, 'one moment')})"

    def progress_line(self, name: str, fraction: float, message: str) -> str:
        """A progress message with the time left (from the time spent so far) and the cache note."""
        left = remaining_seconds(time.monotonic() - self._started_at.get(name, time.monotonic()), fraction)
        parts = [message] + ([f"{duration_words(left)} left"] if left is not None else [])
        note = JOB_CACHED.get(name)
        return " · ".join(parts + ([note] if note and fraction < 1.0 else []))

    def cancel(self, name: str) -> None:
        """Stop job ``name`` at its next check; it does not answer (nothing when it is not running)."""
        with self._lock:
            worker = self._workers.get(name)
            stopped = worker is not None and name in self._running
            if stopped:
                worker.invalidate()
                del self._running[name]
        if stopped:
            self.cancelled.emit(name)

    def cancel_all(self) -> None:
        """Stop every job at its next check; none of them answers."""
        with self._lock:
            for worker in self._workers.values():
                worker.invalidate()
            self._running.clear()

    def wait(self, timeout: float = 5.0) -> bool:
        """Block until the workers have finished what they run (tests, closing); False on timeout."""
        return all(worker.wait(timeout) for worker in self._workers.values())

    def close(self) -> None:
        running = list(self._workers.values())
        self.cancel_all()
        for worker in running:  # told to stop: a decode inside onnxruntime is terminated at once
            worker.close(wait=False)
        # Most stop at their next batch (leaving them mid-run can abort the process at exit), but a
        # hung model must not keep the window open: one bounded wait for all of them together.
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS
        for worker in running:
            worker.wait(max(0.0, deadline - time.monotonic()))
        self._workers.clear()

    def _progressed(self, name: str, generation: int, fraction: float, message: str) -> None:
        with self._lock:  # with dispatch=None a job reports before start() has recorded its generation
            current = self._running.get(name) == generation
        if current:
            self.progress.emit(name, fraction, message)

    def _answered(self, name: str, answer: Answer) -> None:
        with self._lock:
            if self._running.get(name) != answer.generation:
                return  # superseded or cancelled since
            del self._running[name]
        self._handlers[name](answer)
        self.finished.emit(name, answer)
