"""The one way to run work off the caller's thread: the latest request wins (the ndv pattern).

Every ``submit`` bumps a generation counter, cancels the request still waiting in the queue and asks
the running one to stop at its next check. The worker skips requests that are already stale when it
gets to them and never delivers a stale answer; receivers check ``is_current`` again on their own
thread, because a newer request can come in between delivery and handling. Dragging a slider or
switching a projection therefore never queues up work, and an old answer never overwrites a newer one.

No Qt here: ``deliver`` and ``on_progress`` are called on the worker thread, and the Qt layer passes
functions that hand them to the GUI thread (``explorer.qt.bridge.ToGui``). Grid decodes, path
decodes, map jobs and hovers, the monitor's snapshot evaluator and the compare view all use it.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Callable

from explorer.io.model_error import first_line
from explorer.io.time_limit import StopScope, stop_scope

Progress = Callable[[float, str], None]      # (fraction 0..1, message)
IsCancelled = Callable[[], bool]
Work = Callable[[Progress, IsCancelled], Any]


class Cancelled(Exception):
    """Raised by work that saw ``cancelled()`` turn true (the answer then says ``cancelled``)."""


@dataclass
class Answer:
    """What came back for one request."""

    generation: int
    value: Any = None
    error: str | None = None        # one line for the user
    cancelled: bool = False
    seconds: float = 0.0            # time the work itself took
    tag: Any = None                 # what the caller attached to the request (cell indices, a job name…)
    requested_at: float = 0.0       # perf_counter() at submit


def one_line_error(name: str, exc: BaseException) -> str:
    """The line a user sees for a failed piece of work.

    Our own errors (ModelError, ContractError, MapDataError, MonitorError… all ValueErrors) already
    say what went wrong; anything else gets the work's name and the exception's type."""
    said = str(exc).strip()
    if isinstance(exc, ValueError) and said:
        return first_line(exc, limit=len(said) + 1)  # our own message, whole (first line)
    if os.environ.get("LATENT_EXPLORER_DEBUG"):
        traceback.print_exception(exc)
    return f"{name} failed ({type(exc).__name__}: {first_line(exc)})" if said else f"{name} failed ({type(exc).__name__})"


# Seconds close() waits for the work in hand after telling it to stop. A decode inside onnxruntime
# stops within milliseconds (its run is terminated); work that does not listen is left to finish on
# its own daemon thread, its answer dropped, so closing a window never waits on a hung model.
CLOSE_WAIT_SECONDS = 0.5


class LatestOnly:
    """One worker thread; only the newest request's answer is ever delivered.

    The thread is a daemon ``threading.Thread`` (not a ``ThreadPoolExecutor``, whose threads are
    joined at interpreter exit): ``close()`` stops the work in hand (cancel flag, and a running
    onnxruntime decode is terminated through its ``RunOptions``), waits at most
    ``CLOSE_WAIT_SECONDS`` and returns; a request that still runs then finishes on its own.

    ``deliver(answer)`` gets every current answer, including failures (``error``) and explicit
    cancels (``cancelled``); answers made stale by a newer ``submit`` or by ``invalidate`` are
    dropped. ``on_progress(generation, fraction, message)`` reports progress of the current request.
    """

    def __init__(self, deliver: Callable[[Answer], None], *, name: str = "work",
                 on_progress: Callable[[int, float, str], None] | None = None,
                 blas_threads: int | None = None):
        self.name = name
        self._deliver = deliver
        self._on_progress = on_progress
        self._blas_threads = blas_threads
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque = deque()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._pending: Future | None = None
        self._cancel: threading.Event | None = None
        self._scope: StopScope | None = None
        self._closed = False

    @property
    def generation(self) -> int:
        return self._generation

    def is_current(self, answer: Answer | int) -> bool:
        gen = answer if isinstance(answer, int) else answer.generation
        return gen == self._generation and not self._closed

    @property
    def busy(self) -> bool:
        """True while a request is queued or running."""
        pending = self._pending
        return pending is not None and not pending.done()

    def submit(self, work: Work, *, tag: Any = None) -> int:
        """Run ``work(progress, cancelled)`` on the worker; every earlier request becomes stale."""
        with self._lock:
            if self._closed:
                return self._generation
            self._stop_locked()
            self._generation += 1
            gen = self._generation
            cancel = self._cancel = threading.Event()
            scope = self._scope = StopScope()
            future = self._pending = Future()
            self._queue.append((future, gen, work, tag, cancel, scope, time.perf_counter()))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"latent-{self.name}", daemon=True)
                self._thread.start()
            self._wake.notify()
            return gen

    def invalidate(self) -> int:
        """Make every request so far stale (e.g. the model changed); returns the new generation."""
        with self._lock:
            self._stop_locked()
            self._generation += 1
            return self._generation

    def cancel(self) -> None:
        """Ask the current request to stop; its answer (``cancelled=True``) is still delivered."""
        with self._lock:
            if self._cancel is not None:
                self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current request has finished (tests, headless use); False on timeout."""
        pending = self._pending
        if pending is None:
            return True
        try:
            pending.result(timeout)
        except FutureTimeout:
            return False
        except Exception:  # cancelled futures, or a deliver that raised: finished all the same
            pass
        return True

    def close(self, wait: bool = True) -> None:
        """Stop for good: queued requests are dropped, the running one is told to stop (a running
        onnxruntime decode is terminated) and its answer is dropped. With ``wait``, waits at most
        ``CLOSE_WAIT_SECONDS`` for it; never longer, so a hung model cannot keep a window open."""
        with self._lock:
            self._closed = True
            self._stop_locked()
            if self._scope is not None:
                self._scope.stop()
            for item in self._queue:
                item[0].cancel()
            self._queue.clear()
            self._generation += 1
            self._wake.notify_all()
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(CLOSE_WAIT_SECONDS)

    # ---- worker thread -------------------------------------------------------------------------

    def _stop_locked(self) -> None:
        if self._pending is not None:
            self._pending.cancel()  # only succeeds while it still waits in the queue
        if self._cancel is not None:
            self._cancel.set()

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if not self._queue:  # closed and nothing left
                    return
                future, gen, work, tag, cancel, scope, t0 = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # made stale while it waited
            try:
                with stop_scope(scope):
                    self._run(gen, work, tag, cancel, t0)
            except BaseException as exc:  # a deliver that raised: the future says so, the thread goes on
                future.set_exception(exc)
            else:
                future.set_result(None)

    def _run(self, gen: int, work: Work, tag: Any, cancel: threading.Event, t0: float) -> None:
        if gen != self._generation:
            return  # stale before it started: skip the work entirely
        if self._blas_threads:
            from explorer.io.blas import limit_blas_threads

            limit_blas_threads(self._blas_threads)

        def progress(fraction: float, message: str) -> None:
            if self._on_progress is not None and gen == self._generation:
                self._safe(self._on_progress, gen, float(fraction), str(message))

        start = time.perf_counter()
        try:
            value = work(progress, cancel.is_set)
            answer = Answer(gen, value, tag=tag, requested_at=t0)
        except Cancelled:
            answer = Answer(gen, cancelled=True, tag=tag, requested_at=t0)
        except Exception as exc:  # never let a worker exception vanish silently
            answer = Answer(gen, error=one_line_error(self.name, exc), tag=tag, requested_at=t0)
        answer.seconds = time.perf_counter() - start
        if cancel.is_set() and answer.error is None:
            answer.cancelled = True
        if gen == self._generation:
            self._safe(self._deliver, answer)

    def _safe(self, fn: Callable, *args) -> None:
        try:
            fn(*args)
        except RuntimeError:
            if not self._closed:  # a receiver deleted under us after close() is expected; else say so
                raise
