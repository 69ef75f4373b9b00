"""A time limit on one onnxruntime run, for files not yet known to be good.

A hostile graph can hold a ``Loop`` of 10^12 trips: without a limit the probe decode at open (or the
first decode in a worker) never returns. onnxruntime checks ``RunOptions.terminate`` between kernels
and inside loop bodies, so a timer that sets it stops such a run within milliseconds of the limit
(measured: a 10^12-trip Loop stops 1.0 s after a 1 s limit). The timer is a thread that sleeps;
the run itself stays on the caller's thread. onnxruntime is imported when a run starts.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from explorer.io.model_error import ModelError, first_line

# Seconds a probe run of a file not yet known to be good may take. The bundled models decode one
# sample in milliseconds on two CPU cores; a large foreign generator on a slow CPU takes about a
# second, so ten leaves room without making a hostile file hold the app for long.
# LATENT_EXPLORER_PROBE_SECONDS overrides it (the fuzzer runs with 2 s).
ENV_PROBE_SECONDS = "LATENT_EXPLORER_PROBE_SECONDS"


def _probe_seconds(default: float = 10.0) -> float:
    try:
        value = float(os.environ.get(ENV_PROBE_SECONDS, default))
    except ValueError:
        return default
    return value if 0 < value < 3600 else default


PROBE_SECONDS = _probe_seconds()


class TimeLimitExceeded(ModelError):
    """A run took longer than its limit and was stopped."""


class StopScope:
    """A "stop now" that runs hooks registered by the work in hand (the worker sets one per request).

    A run registers ``terminate_run`` for its RunOptions while it runs; ``stop()`` (a closing view)
    sets ``terminate`` on it, so a decode that hangs inside onnxruntime returns within milliseconds.
    A hook registered after ``stop()`` runs at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._hooks: list = []
        self.stopped = False

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:  # a hook that fails must not keep the others (or close()) from running
                pass

    def add(self, hook) -> None:
        with self._lock:
            if not self.stopped:
                self._hooks.append(hook)
                return
        hook()

    def remove(self, hook) -> None:
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)


_local = threading.local()


@contextmanager
def stop_scope(scope: StopScope | None):
    """Runs on this thread inside the block are stopped by ``scope.stop()``."""
    previous = getattr(_local, "scope", None)
    _local.scope = scope
    try:
        yield scope
    finally:
        _local.scope = previous


@contextmanager
def terminate_on_stop(options):
    """While the block runs, the current thread's StopScope (if any) terminates ``options``' run."""
    scope = getattr(_local, "scope", None)
    if scope is None:
        yield
        return

    def hook():
        options.terminate = True

    scope.add(hook)
    try:
        yield
    finally:
        scope.remove(hook)


def stopped() -> bool:
    """True when the current thread's StopScope was stopped (the run's answer will be dropped)."""
    scope = getattr(_local, "scope", None)
    return scope is not None and scope.stopped


def run_options():
    """RunOptions that keep onnxruntime's own coloured log lines off stderr (we report in one line)."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.log_severity_level = 4  # fatal only
    return options


def run_with_limit(session, outputs, feed: dict, *, seconds: float, source: str, what: str = "a probe decode"):
    """``session.run(outputs, feed)``, stopped after ``seconds``. Raises TimeLimitExceeded (one line
    naming the limit) when stopped, ModelError for any other failure of the run."""
    options = run_options()
    timer = threading.Timer(seconds, setattr, (options, "terminate", True))
    timer.daemon = True
    timer.start()
    try:
        with terminate_on_stop(options):
            return session.run(outputs, feed, options)
    except Exception as exc:
        if stopped():
            raise ModelError(f"{source}: {what} stopped (its view was closed)") from None
        if options.terminate:
            raise TimeLimitExceeded(
                f"{source}: expected {what} to finish within {seconds:g} s, found it still running "
                "(a graph that loops for ever?); refused") from None
        raise ModelError(f"{source}: {what} failed ({first_line(exc)})") from None
    finally:
        timer.cancel()
