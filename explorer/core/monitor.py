"""One training run as the monitor shows it: snapshots, metrics rows, evaluation results, alarms.

* :class:`RunMonitor` — the state of one training RUN_DIR, read through ``explorer.io.run_folder``
  (the run-folder contract): snapshots seen, per-epoch ``metrics.jsonl`` rows (read tolerantly,
  incrementally), evaluation results, skipped snapshots and the combined alarms. No Qt, no threads;
  views subscribe to ``RunMonitor.changed``. ``explorer.core.monitor_controller.MonitorController``
  owns one and evaluates its snapshots in the background.
* :func:`evaluate_run` — every snapshot of a run evaluated in the calling thread (the headless report).

The pieces below it: ``explorer.core.classifier`` (the classifier and its real-data reference),
``explorer.core.evaluation`` (a generator on the fixed latent bank), ``explorer.core.comparison``
(two models side by side) and ``explorer.core.diversity_metrics`` (the metric and alarm registries).

numpy + onnxruntime only: no Qt, no torch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.core import diversity as D
from explorer.core.classifier import DEFAULT_N, DEFAULT_SEED, Classifier, MonitorError, load_reference
from explorer.core.diversity_metrics import INCONCLUSIVE
from explorer.core.evaluation import (NO_CLASSIFIER, NOT_MEASURED, STRIP_COLS, STRIP_ROWS, SnapshotEvaluator,
                                      SnapshotResult, evaluator_for, snapshot_evaluation)
from explorer.core.events import Signal
from explorer.io.run_folder import MetricsLog, RunFolder, SnapshotInfo, bundle_family, list_snapshots, read_config

__all__ = ["CURVE_PLOTS", "DEFAULT_N", "DEFAULT_SEED", "Classifier", "MonitorError", "RunMonitor", "SnapshotInfo",
           "SnapshotResult", "evaluate_run", "list_snapshots"]

# The training-curve plots (view and HTML report alike): (title, ((metrics.jsonl key, label), ...)) per family.
CURVE_PLOTS = {
    "gan": (("Losses", (("d_loss", "D loss"), ("g_loss", "G loss"))),
            ("Discriminator outputs", (("d_x", "D(x)"), ("d_g_z", "D(G(z))")))),
    "vae": (("Loss terms (nats per image)", (("reconstruction", "reconstruction"), ("kl", "KL"),
                                             ("test_neg_elbo", "test −ELBO"))),
            ("Active latent units", (("active_units", "active units"),))),
    "classifier": (("Loss", (("loss", "train loss"), ("test_loss", "test loss"))),
                   ("Accuracy", (("accuracy", "train"), ("test_accuracy", "test")))),
}


class RunMonitor:
    """The state of one training run, as the monitor shows it. No Qt, no threads.

    Call :meth:`poll` (from a file watcher or a timer) to pick up new snapshots and metrics rows; it
    returns the new snapshots, which the caller evaluates and hands back with :meth:`add_result`.
    ``changed`` is emitted (no arguments) whenever something visible changed.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir).expanduser()
        self.folder = RunFolder(self.run_dir)
        self.config = read_config(self.run_dir)
        self.metrics = MetricsLog(self.folder.metrics)
        self.seen: dict[int, SnapshotInfo] = {}
        self.results: dict[int, SnapshotResult] = {}
        self._prints: dict[int, tuple] = {}  # epoch -> the snapshot's files (name, size, mtime) when queued
        self.status = ""  # one line: what the evaluator is doing
        self.note = ""  # one line: why no snapshot of this run gets diversity metrics (no classifier, ...)
        self.judged_by = ""  # one line: which classifier (or feature-free space) and reference judge it, and why
        self.changed = Signal()

    # ---- reading the folder

    def check(self) -> None:
        """MonitorError unless the folder looks like a training run (or could become one)."""
        if not self.run_dir.is_dir():
            raise MonitorError(f"{self.run_dir}: expected a training run folder (RUN_DIR), found "
                               f"{'a file' if self.run_dir.exists() else 'nothing'}")

    def poll(self) -> list[SnapshotInfo]:
        """Rescan the run. Returns snapshots not seen before (oldest first); emits ``changed`` if anything moved."""
        moved = self.metrics.poll()
        if self.config is None:
            self.config = read_config(self.run_dir)
            moved = moved or self.config is not None
        new = [s for s in list_snapshots(self.run_dir) if s.epoch not in self.seen or s.path != self.seen[s.epoch].path
               or self._changed_since_skipped(s)]  # a half-written snapshot, complete now: evaluate it again
        now = time.time()
        for s in new:
            self.seen[s.epoch] = s
            self._prints[s.epoch] = _fingerprint(s.path)
            self.results.pop(s.epoch, None)
            self.results[s.epoch] = SnapshotResult(s.epoch, s.path, "pending", appeared=now)
        if new or moved:
            self.changed.emit()
        return new

    def _changed_since_skipped(self, snap: SnapshotInfo) -> bool:
        result = self.results.get(snap.epoch)
        return (result is not None and result.stage == "skipped"
                and _fingerprint(snap.path) != self._prints.get(snap.epoch))

    @property
    def rows(self) -> list[dict]:
        return self.metrics.rows

    @property
    def family(self) -> str:
        """"gan", "vae", "classifier" or "unknown"."""
        fam = (self.config or {}).get("family")
        if not fam:
            fam = next((r.get("family") for r in self.rows if r.get("family")), None)
        if not fam:  # no config.json or rows yet: the bundles' ONNX files say it
            fam = next((f for f in map(bundle_family, (s.path for s in self.seen.values())) if f), None)
        return fam or "unknown"

    @property
    def total_epochs(self) -> int | None:
        e = (self.config or {}).get("epochs")
        return int(e) if isinstance(e, int) else None

    @property
    def finished(self) -> bool:
        return self.folder.finished

    # ---- results

    def add_result(self, result: SnapshotResult) -> None:
        known = self.seen.get(result.epoch)
        if known is None or known.path != result.path:
            return  # a snapshot that was replaced meanwhile: its answer is stale
        old = self.results.get(result.epoch)
        if result.stage == "strip" and old is not None and old.stage in ("full", "skipped"):
            return
        if old is not None and old.strip is not None and result.strip is None:
            result.strip = old.strip
        if old is not None:
            result.appeared = old.appeared or result.appeared
        self.results[result.epoch] = result
        self.changed.emit()

    def set_status(self, text: str) -> None:
        if text != self.status:
            self.status = text
            self.changed.emit()

    def set_note(self, text: str) -> None:
        """Why diversity metrics are off for the whole run ("" when they are on); see :meth:`not_measured`."""
        if text != self.note:
            self.note = text
            self.changed.emit()

    def evaluated(self) -> list[SnapshotResult]:
        return [self.results[e] for e in sorted(self.results) if self.results[e].stage == "full"]

    def skipped(self) -> list[SnapshotResult]:
        return [self.results[e] for e in sorted(self.results) if self.results[e].stage == "skipped"]

    def pending(self) -> list[int]:
        return [e for e in sorted(self.results) if self.results[e].stage in ("pending", "strip")]

    def latest(self) -> SnapshotResult | None:
        """The newest evaluated snapshot with a verdict of its own: metrics, or outputs that are NaN."""
        done = [r for r in self.evaluated() if r.evaluation is not None and r.evaluation.judged]
        return done[-1] if done else None

    def not_measured(self) -> str:
        """Why the run's verdict rests on no diversity measurement, in one line.

        "" when the latest snapshot was measured (:meth:`latest`), and also while nothing is known
        yet (snapshots still waiting for their evaluation). Otherwise, first that applies: the run's
        note (no classifier, no reference), why the newest evaluated snapshot has no metrics (a
        classifier that does not fit its images), that every snapshot was skipped, that there is none.
        """
        if self.latest() is not None:
            return ""
        if self.note:
            return self.note
        last = next((r for r in reversed(self.evaluated()) if r.evaluation is not None), None)
        if last is not None:
            return last.evaluation.note or NO_CLASSIFIER
        if self.pending():
            return ""
        skipped = self.skipped()
        if skipped:
            return f"no snapshot could be evaluated (epoch {skipped[-1].epoch}: {skipped[-1].error})"
        if self.family == "classifier":
            return "a classifier run: diversity is measured on the snapshots of generators"
        return f"no snapshot in {self.folder.snapshots.name}/ yet: diversity is measured on snapshots"

    def series(self, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(epochs, values, floors, floor spreads) of one diversity metric over evaluated snapshots."""
        rs = [r for r in self.evaluated() if r.report is not None and metric in r.report.metrics]
        return (np.array([r.epoch for r in rs], np.float64),
                np.array([r.report.metrics[metric] for r in rs], np.float64),
                np.array([r.report.floors.get(metric, np.nan) for r in rs], np.float64),
                np.array([r.report.floor_spread.get(metric, 0.0) for r in rs], np.float64))

    def sharpness_series(self) -> tuple[np.ndarray, np.ndarray]:
        rs = [r for r in self.evaluated() if r.evaluation is not None]
        return (np.array([r.epoch for r in rs], np.float64),
                np.array([r.evaluation.sharpness_ratio for r in rs], np.float64))

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of a scalar metrics.jsonl column (rows without it are left out)."""
        pts = [(r["epoch"], r[key]) for r in self.rows
               if isinstance(r.get("epoch"), int) and isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
        if not pts:
            return np.zeros(0), np.zeros(0)
        e, v = zip(*pts)
        return np.asarray(e, np.float64), np.asarray(v, np.float64)

    def kl_per_dim(self) -> tuple[int | None, np.ndarray]:
        """(epoch, KL per latent dimension [D]) of the latest VAE row that has it."""
        for r in reversed(self.rows):
            if isinstance(r.get("kl_per_dim"), list) and r["kl_per_dim"]:
                try:
                    return r.get("epoch"), np.asarray(r["kl_per_dim"], np.float64)
                except (TypeError, ValueError):
                    continue
        return None, np.zeros(0)

    # ---- verdict

    def snapshot_alarms(self) -> list[D.Alarm]:
        latest = self.latest()
        return latest.evaluation.alarms if latest is not None else []

    def curve_alarms(self) -> list[D.Alarm]:
        fam = self.family
        rows = self.rows
        try:
            if fam == "gan":
                return D.gan_curve_alarms(rows)
            if fam == "vae":
                return D.vae_curve_alarms(rows)
        except (TypeError, ValueError, KeyError):
            return [D.Alarm("unreadable_curves", "metrics.jsonl rows have unexpected values")]
        return []

    def alarms(self) -> list[D.Alarm]:
        """Alarms of the latest evaluated snapshot and of the training curves."""
        return self.snapshot_alarms() + self.curve_alarms()

    def hard_alarms(self) -> list[D.Alarm]:
        """The alarms that count for the verdict (not those graded inconclusive)."""
        return [a for a in self.alarms() if a.hard]

    def inconclusive(self) -> list[str]:
        """Why the latest snapshot's evidence is too thin for a verdict ([] when it is not)."""
        latest = self.latest()
        return latest.evaluation.inconclusive if latest is not None else []

    def verdict(self) -> str | list[str]:
        """The names of the (hard) alarms; "not measured"; "inconclusive" (the evidence is too thin,
        :meth:`inconclusive` says why); or "ok" (the latest snapshot measured, no alarm)."""
        hard = self.hard_alarms()
        if hard:
            return [a.name for a in hard]
        if self.latest() is None:
            return NOT_MEASURED
        return INCONCLUSIVE if self.inconclusive() else "ok"

    def verdict_line(self) -> str:
        """The verdict as one line: "ok", the alarm names, "inconclusive: <why>" or "not measured: <why>"."""
        verdict = self.verdict()
        if verdict == NOT_MEASURED:
            return f"{NOT_MEASURED}: {self.not_measured() or 'no snapshot evaluated yet'}"
        if verdict == INCONCLUSIVE:
            return self.latest().evaluation.verdict_line()
        return verdict if isinstance(verdict, str) else ", ".join(verdict)

    def summary(self) -> dict:
        """JSON-ready summary (what the report and tests read).

        "verdict" is "ok", the alarm names or "not measured"; "note" says why diversity was not
        measured whenever the latest verdict has no metrics behind it (also next to curve alarms)."""
        latest = self.latest()
        alarms = self.alarms()
        reason = "" if latest is not None else (self.not_measured() or "no snapshot evaluated yet")
        return {
            "run_dir": str(self.run_dir), "family": self.family, "epochs_logged": len(self.rows),
            "total_epochs": self.total_epochs, "finished": self.finished,
            "snapshots": sorted(self.seen), "evaluated": [r.epoch for r in self.evaluated()],
            "skipped": {r.epoch: r.error for r in self.skipped()},
            "latest_epoch": latest.epoch if latest else None,
            "verdict": self.verdict(),
            "inconclusive": self.inconclusive(),
            "judged_by": self.judged_by,
            "note": reason,
            "alarms": [a.to_dict() for a in alarms],
            "latest": latest.evaluation.to_dict() if latest and latest.evaluation else None,
        }


def _fingerprint(folder: Path) -> tuple:
    """(name, size, mtime_ns, inode) of every file in a snapshot folder: changes when a file is
    rewritten in place or swapped in by rename."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
        return tuple((e.name, st.st_size, st.st_mtime_ns, st.st_ino)
                     for e in entries for st in (e.stat(),))
    except OSError:
        return ()


def evaluate_run(run_dir: str | os.PathLike, *, classifier: str | os.PathLike | None, n: int = DEFAULT_N,
                 seed: int = DEFAULT_SEED, data_dir=None, build_reference: bool = True,
                 progress: Callable[[str], None] | None = None, auto: bool = False) -> tuple[RunMonitor, str]:
    """Evaluate every snapshot of a run in this thread (the headless report). Returns (monitor, note).

    auto: the classifier trained on the run's data when there is one (``classifier``: an explicit
    choice unless it is the bundled default; see ``evaluation.evaluator_for``); without auto,
    ``classifier`` or none. Without a classifier that fits, snapshots are measured in the
    feature-free space of the run's data; the note says why no classifier judges them."""
    mon = RunMonitor(run_dir)
    mon.check()
    say = progress or (lambda m: None)
    ev, why_not = evaluator_for(mon.run_dir, classifier, auto=auto, n=n, seed=seed, data_dir=data_dir,
                                build=build_reference, progress=progress)
    note = f"no classifier judges this run ({why_not}); measured in the feature-free space" if why_not else ""
    if why_not and ev.pixel_data is None:
        note = f"diversity metrics off: {why_not}"
        mon.set_note(note)
    mon.judged_by = ev.judged_by_classifier() if ev.classifier is not None else (
        f"the feature-free space ({why_not})" if ev.pixel_data is not None else f"nothing ({why_not})")
    for snap in mon.poll():
        say(f"evaluating epoch {snap.epoch}")
        mon.add_result(snapshot_evaluation(ev, snap, grid=(STRIP_ROWS, STRIP_COLS), with_strip=True))
    return mon, note
