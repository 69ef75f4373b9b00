"""The monitor's controller: a RunMonitor and its snapshot evaluator on the one latest-only worker.

Like ``explorer.core.grid.GridController`` for the sample grid, :class:`MonitorController` owns the
Qt-free model (:class:`~explorer.core.monitor.RunMonitor`) and the worker
(:class:`~explorer.core.worker.LatestOnly`, BLAS at one thread), and hands answers back in one
place (:meth:`MonitorController.receive`). The view only watches the folder, calls :meth:`poll` and
draws what ``changed`` announces.

Scheduling. The controller gives the worker one job at a time and picks the next one itself when an
answer arrives: the newest pending snapshot first (its film-strip cell, then its full evaluation),
so a snapshot that arrives while another is evaluated waits and never cancels it. A new run or a
new classifier (:meth:`set_run`, :meth:`set_classifier`) invalidates the worker: the job in hand
stops at its next check and its answer, like every older one, is dropped.

Which classifier judges the run: the one given, except that the bundled Fashion-MNIST classifier
(what the app passes by default) gives way to a classifier trained on the run's own data
(``explorer.core.own_data.choose_classifier``); when no classifier fits, snapshots are measured in
the feature-free space of the run's data. ``MonitorController.judged_by`` says which and why.

When the classifier has no cached real-data reference yet, snapshots are first evaluated without
diversity metrics (film strip, sharpness); the reference is built (from the classifier's own data)
when nothing else waits, and then every snapshot is evaluated again, with metrics.

numpy + onnxruntime only: no Qt, no torch.
"""

from __future__ import annotations

import os
from typing import Callable

from explorer.core import own_data
from explorer.core.classifier import (DEFAULT_N, DEFAULT_SEED, Classifier, MonitorError, build_classifier_reference,
                                      load_reference)
from explorer.core.evaluation import (NO_CLASSIFIER, SnapshotEvaluator, is_bundled_classifier, skipped_snapshot,
                                      snapshot_evaluation, snapshot_strip)
from explorer.core.events import Signal
from explorer.core.monitor import RunMonitor
from explorer.core.worker import Answer, Cancelled, LatestOnly
from explorer.io.run_folder import SnapshotInfo
from explorer.io.runtime import LoadedModel

NO_CLASSIFIER_NOTE = "diversity metrics off: no classifier (pass --classifier or install the bundled one)"
BUILDING_NOTE = ("building the real-data reference of this classifier (once; it is cached next to the classifier) "
                 "— diversity metrics follow")


class MonitorController:
    """Evaluates the snapshots of one run in the background and keeps its RunMonitor up to date.

    ``MonitorController(classifier=None, *, n=DEFAULT_N, seed=DEFAULT_SEED, data_dir=None,
    build_reference=True, dispatch=None)``. classifier: classifier bundle folder or .onnx (None:
    film strip and sharpness only); n, seed: the latent bank; data_dir: Fashion-MNIST, used once to
    build a missing reference. ``dispatch`` turns :meth:`receive` (and the progress handler) into the
    functions the worker calls: the Qt view passes ``ToGui(view).wrap`` so answers are handled on the
    GUI thread; ``None`` handles them on the worker thread (only for callers that leave the
    controller alone meanwhile).

    Attributes: ``monitor`` (the RunMonitor, None before :meth:`set_run`), ``note`` (one line: why
    diversity metrics are off, or that the reference is being built; "" otherwise). Signals:
    ``changed()`` — something visible changed (the run's state, its status or the note);
    ``run_changed(monitor)`` — :meth:`set_run` replaced the monitor.
    """

    def __init__(self, classifier: str | os.PathLike | None = None, *, n: int = DEFAULT_N, seed: int = DEFAULT_SEED,
                 data_dir=None, build_reference: bool = True,
                 dispatch: Callable[[Callable], Callable] | None = None):
        wrap = dispatch or (lambda fn: fn)
        self.classifier, self.n, self.seed, self.data_dir = classifier, int(n), int(seed), data_dir
        self.build_reference = build_reference
        self.worker = LatestOnly(wrap(self.receive), name="snapshot evaluation",
                                 on_progress=wrap(self._on_progress), blas_threads=1)
        self.monitor: RunMonitor | None = None
        self.note = ""
        self.judged_by = ""  # which classifier (or the feature-free space) judges the run, and why
        self.changed = Signal()
        self.run_changed = Signal()
        self.evaluator: SnapshotEvaluator | None = None  # None until the worker has set it up
        self._pending: dict[int, SnapshotInfo] = {}  # epoch -> snapshot waiting for evaluation
        self._job: str | None = None  # "setup", "strip", "full" or "build" while one is with the worker
        self._opened: tuple[SnapshotInfo, LoadedModel] | None = None  # strip shown; full evaluation next
        self._to_build: tuple | None = None  # (classifier, choice) whose reference is built when nothing waits
        self._closed = False

    # ---- what the view calls

    def set_run(self, run_dir: str | os.PathLike) -> RunMonitor:
        """Monitor ``run_dir`` (finished or running; it may even be empty still). Older answers become stale."""
        if self.monitor is not None:
            self.monitor.changed.disconnect(self.changed.emit)
        self.monitor = RunMonitor(run_dir)
        self.monitor.changed.connect(self.changed.emit)
        self._restart()
        self.run_changed.emit(self.monitor)
        self.poll()
        self.changed.emit()
        return self.monitor

    def set_classifier(self, classifier: str | os.PathLike | None) -> None:
        """Judge with another classifier: every snapshot seen so far is evaluated again."""
        self.classifier = classifier
        if self.monitor is not None:
            self._restart()
            self._pending.update(self.monitor.seen)
            self.changed.emit()

    def poll(self) -> list[SnapshotInfo]:
        """Rescan the run (the view's file watcher and timer call this); new snapshots are queued."""
        if self.monitor is None or self._closed:
            return []
        new = self.monitor.poll()
        for snap in new:
            self._pending[snap.epoch] = snap
        self._next()
        return new

    @property
    def building(self) -> bool:
        """True while the classifier's real-data reference is being built (diversity metrics follow)."""
        return self.note == BUILDING_NOTE

    def is_idle(self) -> bool:
        """True when the evaluator is set up and nothing is queued, running or waiting to be built."""
        return (self.evaluator is not None and self._job is None and not self._pending and self._opened is None
                and self._to_build is None)

    def close(self) -> None:
        """Stop the worker: the job in hand is told to stop (a reference build stops at its next progress
        report) and waited for at most ``worker.CLOSE_WAIT_SECONDS``; its answer is dropped."""
        if not self._closed:
            self._closed = True
            self.worker.close()

    # ---- scheduling

    def _restart(self) -> None:
        self.worker.invalidate()
        self._pending.clear()
        self._job, self._opened, self._to_build, self.evaluator = None, None, None, None
        self.note = ""
        if self.monitor is not None:
            self.monitor.set_note("")
        classifier, n, seed, data_dir, build = self.classifier, self.n, self.seed, self.data_dir, self.build_reference
        run = self.monitor.run_dir if self.monitor is not None else None
        self._submit("setup", None, lambda progress, cancelled: _set_up(run, classifier, n, seed, data_dir, build),
                     f"opening classifier {classifier}" if classifier is not None else "")

    def _submit(self, job: str, snap: SnapshotInfo | None, work, status: str) -> None:
        self._job = job
        self.worker.submit(work, tag=(job, snap))
        if status and self.monitor is not None:
            self.monitor.set_status(status)

    def _next(self) -> None:
        """Give the worker its next job, if it has none: finish the opened snapshot, then the newest pending."""
        if self._job is not None or self._closed or self.evaluator is None:
            return
        ev = self.evaluator
        if self._opened is not None:
            snap, model = self._opened
            self._opened = None
            self._submit("full", snap, lambda progress, cancelled: snapshot_evaluation(ev, snap, model),
                         f"evaluating epoch {snap.epoch}")
        elif self._pending:
            snap = self._pending.pop(max(self._pending))
            self._submit("strip", snap, lambda progress, cancelled: snapshot_strip(ev, snap),
                         f"evaluating epoch {snap.epoch}")
        elif self._to_build is not None:
            (clf, choice), self._to_build = self._to_build, None
            n, seed, data_dir = self.n, self.seed, self.data_dir
            self._submit("build", None,
                         lambda progress, cancelled: _build(clf, choice, n, seed, data_dir, progress, cancelled),
                         "building the real-data reference")
        elif self.monitor is not None:
            self.monitor.set_status("watching for new snapshots")

    # ---- answers (on the thread ``dispatch`` chose)

    def receive(self, answer: Answer) -> bool:
        """Apply one worker answer if it is current; then start the next job. Returns whether it was used."""
        if self._closed or self.monitor is None or not self.worker.is_current(answer):
            return False
        job, snap = answer.tag
        self._job = None
        if job == "setup":
            self._set_up_done(answer)
            self._share_note()
        elif job == "build":
            self._build_done(answer)
            self._share_note()
        elif answer.error or answer.cancelled:  # a snapshot broke the evaluator: skip it, keep going
            self.monitor.add_result(skipped_snapshot(snap, answer.error or "evaluation cancelled"))
        elif job == "strip":
            result, model = answer.value
            self.monitor.add_result(result)
            if model is not None:
                self._opened = (snap, model)
        else:
            self.monitor.add_result(answer.value)
        self._next()
        self.changed.emit()
        return True

    def _share_note(self) -> None:
        """The run's verdict says why it is not measured: the note, unless it only says a reference is on its
        way or that the feature-free space measures it."""
        ev = self.evaluator
        if ev is not None:
            self.judged_by = (ev.judged_by_classifier() if ev.classifier is not None and ev.reference is not None
                              else f"the feature-free space ({ev.off_note})" if ev.pixel_data is not None
                              else f"nothing ({self.note or ev.off_note})")
            self.monitor.judged_by = self.judged_by
        pixel = ev is not None and ev.classifier is None and ev.pixel_data is not None and ev.pixel_data.data_id
        self.monitor.set_note("" if self.note == BUILDING_NOTE or pixel else self.note)

    def _set_up_done(self, answer: Answer) -> None:
        if answer.error:
            self.note = f"cannot evaluate snapshots: {answer.error}"
            return
        self.evaluator, self._to_build, self.note = answer.value

    def _build_done(self, answer: Answer) -> None:
        evaluator, self.note = answer.value if not answer.error else (None, f"diversity metrics off: {answer.error}")
        if evaluator is not None:
            self.evaluator = evaluator
            self._pending.update(self.monitor.seen)  # evaluate every snapshot again, now with metrics

    def _on_progress(self, generation: int, fraction: float, message: str) -> None:
        if not self._closed and self.monitor is not None and self.worker.is_current(generation):
            self.monitor.set_status(message)


# ---- work (on the worker thread)

def _choice(run_dir, classifier) -> own_data.ClassifierChoice:
    """The classifier for a run: the one given, or (for the bundled default) the one of the run's own data."""
    if classifier is None:
        data = own_data.trained_on(run_dir) if run_dir is not None else None
        return own_data.ClassifierChoice(None, NO_CLASSIFIER, data)
    if run_dir is None:
        return own_data.ClassifierChoice(str(classifier), "given", None)
    return own_data.choose_classifier(run_dir, None if is_bundled_classifier(classifier) else classifier)


def _set_up(run_dir, classifier, n: int, seed: int, data_dir, build: bool) -> tuple[SnapshotEvaluator, tuple | None, str]:
    """(evaluator, (classifier, choice) whose reference is to be built or None, note) for a run and a classifier path."""
    choice = _choice(run_dir, classifier)
    own = dict(why=choice.why, pixel_data=choice.data)
    if choice.path is None:
        note = (NO_CLASSIFIER_NOTE if classifier is None
                else f"no classifier judges this run ({choice.why}); measured in the feature-free space"
                if choice.data is not None and choice.data.data_id else f"diversity metrics off: {choice.why}")
        return SnapshotEvaluator(None, None, n=n, seed=seed, off_note=note, **own), None, note
    clf = None
    try:
        clf = Classifier(choice.path)
        ref = load_reference(clf, build=False)
        ref.floor(min(n, own_data.max_n(ref)))
    except (MonitorError, ValueError) as exc:
        if clf is not None and build and _can_build(clf, data_dir):  # no pixel space meanwhile: metrics follow
            return SnapshotEvaluator(None, None, n=n, seed=seed, why=choice.why), (clf, choice), BUILDING_NOTE
        note = f"diversity metrics off: {exc}"
        return SnapshotEvaluator(None, None, n=n, seed=seed, off_note=note, **own), None, note
    return SnapshotEvaluator(clf, ref, n=n, seed=seed, **own), None, ""


def _build(clf: Classifier, choice, n: int, seed: int, data_dir, progress,
           cancelled) -> tuple[SnapshotEvaluator | None, str]:
    """Build and save the reference of ``clf`` from its own data: (evaluator with metrics, "") or (None, note)."""
    def say(message: str) -> None:
        if cancelled():  # a new run or classifier: stop building for the old one
            raise Cancelled
        progress(0.0, message)

    try:
        ref, _ = build_classifier_reference(clf, data_dir=data_dir, progress=say)
        ref.floor(min(n, own_data.max_n(ref)))
    except (MonitorError, ValueError, OSError) as exc:
        return None, "diversity metrics off: " + (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return SnapshotEvaluator(clf, ref, n=n, seed=seed, why=choice.why, pixel_data=choice.data), ""


def _can_build(clf: Classifier, data_dir) -> bool:
    """Whether the classifier's own real data can be read to build its reference."""
    data = own_data.classifier_data(clf.folder)
    if data is not None and not data.fashion and data.data is not None:
        return os.path.isdir(data.data)
    return _fashion_found(data_dir)


def _fashion_found(data_dir) -> bool:
    from explorer.io.fashion_data import DataNotFound, find_fashion_mnist

    try:
        find_fashion_mnist(data_dir)
        return True
    except DataNotFound:
        return False
