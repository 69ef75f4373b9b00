"""The mode-collapse monitor without Qt: real reference, snapshot evaluation, run folders, comparison.

Pieces, bottom up:

* :class:`Classifier` — a classifier bundle opened with onnxruntime: images -> (logits, features).
* :func:`build_fashion_reference` / :func:`load_reference` — the :class:`~explorer.core.diversity.RealReference`
  of a classifier on Fashion-MNIST (test + train), cached as ``real-reference.npz`` inside the
  classifier's bundle folder (or the user cache when that folder is read-only).
* :class:`SnapshotEvaluator` — decode a fixed :class:`~explorer.core.diversity.LatentBank` with a generator
  (any file ``explorer.io.runtime.open_model`` opens), classify, and produce a :class:`ModelEvaluation`:
  the diversity report with floors, sharpness, class histogram and a small sample grid.
* :class:`RunMonitor` — the state of one training RUN_DIR (see ``training/train.py``): snapshots
  seen, per-epoch ``metrics.jsonl`` rows (read tolerantly, incrementally), evaluation results,
  skipped snapshots and the combined alarms. Views subscribe to ``RunMonitor.changed``.
* :class:`BackgroundEvaluator` — one worker thread (BLAS limited to one thread) that evaluates the
  newest pending snapshot first and hands answers to a ``deliver`` callback; stale answers of an
  earlier run carry an older generation number.
* :func:`compare_models` — two models on the same latent-bank seed and N.

numpy + onnxruntime only: no Qt, no torch.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from explorer.io import contract
from explorer.core import diversity as D
from explorer.io.contract import ContractError
from explorer.core.events import Signal
from explorer.io.runtime import LoadedModel, ModelError, open_model, tile
from explorer.core.classifier import (CLASSIFY_BATCH, DEFAULT_N, DEFAULT_SEED, FLOOR_NS, REFERENCE_FILE,  # noqa: F401
                                      Classifier, MonitorError, build_fashion_reference, build_reference,
                                      fashion_real_images, laplacian_variance, load_reference, reference_locations,
                                      save_reference)

STRIP_ROWS = STRIP_COLS = 4  # the film-strip cell: the first 16 latents of the bank
GRID_ROWS = GRID_COLS = 8  # the compare view's sample grid: the first 64 latents of the bank
DECODE_BATCH = 250  # measured: 4 x 250 decodes faster than 1 x 1000 on one busy core
SNAPSHOT_DIR = re.compile(r"^epoch-(\d+)$")
# Diversity metrics drawn on plots and written to reports, with readable names.
METRIC_LABELS = {
    "modes_covered": "modes covered", "kl_to_uniform": "KL(classes ‖ uniform)", "entropy": "class entropy",
    "mean_confidence": "mean confidence", "min_class_share": "smallest class share", "fd": "Fréchet distance",
    "precision": "precision", "recall": "recall", "density": "density", "coverage": "coverage",
    "ndb_fraction": "NDB (bins differing)", "ndb_js": "NDB JS divergence", "near_dup_rate": "near-duplicate rate",
}

# What the monitor plots (view and HTML report alike): (title, metric keys) per diversity plot ...
DIVERSITY_PLOTS = (
    ("Coverage, recall, precision", ("coverage", "recall", "precision")),
    ("Modes covered (classes ≥ 1 %)", ("modes_covered",)),
    ("Fréchet distance (features)", ("fd",)),
    ("Density (1 = matched, > 1 = piling up)", ("density",)),
    ("NDB: share of bins unlike real", ("ndb_fraction",)),
)
# ... and (title, ((metrics.jsonl key, label), ...)) per training-curve plot, by family.
CURVE_PLOTS = {
    "gan": (("Losses", (("d_loss", "D loss"), ("g_loss", "G loss"))),
            ("Discriminator outputs", (("d_x", "D(x)"), ("d_g_z", "D(G(z))")))),
    "vae": (("Loss terms (nats per image)", (("reconstruction", "reconstruction"), ("kl", "KL"),
                                             ("test_neg_elbo", "test −ELBO"))),
            ("Active latent units", (("active_units", "active units"),))),
    "classifier": (("Loss", (("loss", "train loss"), ("test_loss", "test loss"))),
                   ("Accuracy", (("accuracy", "train"), ("test_accuracy", "test")))),
}

# Alarm names (explorer.core.diversity) as a person reads them, for banners and reports.
ALARM_TITLES = {
    "modes_dropped": "Modes dropped",
    "coverage_low": "Coverage below the real floor",
    "density_up_recall_down": "Density up while recall falls (collapse within modes)",
    "ndb_high": "NDB high (sample mass moved between regions)",
    "near_duplicates": "Near-duplicate samples",
    "discriminator_wins": "Discriminator winning outright (vanishing gradients)",
    "oscillation": "Oscillating losses",
    "posterior_collapse": "Posterior collapse",
    "few_active_units": "Few active latent units",
    "active_units_falling": "Active latent units falling",
    "unreadable_curves": "Training curves unreadable",
}


def alarm_title(name: str) -> str:
    return ALARM_TITLES.get(name, name.replace("_", " ").capitalize())


# --------------------------------------------------------------------------------------------
# Evaluating a generator


@dataclass
class ModelEvaluation:
    """One generator on one latent bank.

    report: metrics with floors and alarms (None without a classifier); sharpness: mean Laplacian
    variance of the samples ([0, 1] pixels); sharpness_ratio: that over the real images' (1 = as
    sharp as real data); grid: uint8 [H, W, C] of the first rows x cols bank samples; bad_samples:
    samples with NaN/Inf (set to 0 before classifying); timings in seconds.
    """
    name: str
    path: Path
    family: str
    latent_dim: int
    n: int
    seed: int
    bank_fingerprint: str
    grid: np.ndarray
    report: D.DiversityReport | None = None
    class_names: tuple[str, ...] = ()
    sharpness: float = float("nan")
    sharpness_ratio: float = float("nan")
    bad_samples: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    note: str = ""  # why there is no report, when there is none

    @property
    def verdict(self) -> str | list[str]:
        return self.report.verdict if self.report is not None else f"unknown ({self.note or 'no classifier'})"

    def to_dict(self) -> dict:
        out = {"model": str(self.path), "name": self.name, "family": self.family, "latent_dim": self.latent_dim,
               "n": self.n, "latent_bank": {"seed": self.seed, "fingerprint": self.bank_fingerprint},
               "verdict": self.verdict, "sharpness": _num(self.sharpness),
               "sharpness_vs_real": _num(self.sharpness_ratio), "bad_samples": self.bad_samples,
               "timings_s": {k: round(v, 4) for k, v in self.timings.items()}}
        if self.note:
            out["note"] = self.note
        if self.report is not None:
            rep = self.report.to_dict()
            rep["class_histogram"] = dict(zip(self.class_names, rep["class_histogram"])) \
                if len(self.class_names) == len(rep["class_histogram"]) else rep["class_histogram"]
            out.update({k: rep[k] for k in ("alarms", "metrics", "floors", "floor_spread", "class_histogram")})
        return out


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


class SnapshotEvaluator:
    """Decode the fixed latent bank (n, seed) with a generator and measure it.

    The bank is drawn per latent dimension from the same seed, so every snapshot of a run (and
    every model of a comparison with the same D) sees the very same vectors. Without a classifier
    only the sample grid and sharpness are produced.
    """

    def __init__(self, classifier: Classifier | None = None, reference: D.RealReference | None = None, *,
                 n: int = DEFAULT_N, seed: int = DEFAULT_SEED):
        if n < 16:
            raise MonitorError(f"N must be at least 16 samples, found {n}")
        if reference is not None and classifier is not None and reference.n_features != classifier.card.feature_dim:
            raise MonitorError("the reference was built for another classifier (feature sizes differ)")
        self.classifier, self.reference, self.n, self.seed = classifier, reference, int(n), int(seed)
        self._banks: dict[int, D.LatentBank] = {}

    def bank(self, dim: int) -> D.LatentBank:
        if dim not in self._banks:
            self._banks[dim] = D.LatentBank(self.n, dim, self.seed)
        return self._banks[dim]

    def unsuitable(self, model: LoadedModel) -> str:
        """Why the classifier cannot judge this model ("" when it can): other image size or data set."""
        if self.classifier is None or self.reference is None:
            return "no classifier"
        card = self.classifier.card
        _, h, w = model.image_shape
        if (h, w) != (card.image_height, card.image_width):
            return (f"the classifier takes {card.image_height}x{card.image_width} images, this model makes {h}x{w}; "
                    "diversity metrics need a classifier for that data")
        data = model.card.dataset if model.card is not None else ""
        if data and card.dataset and data != card.dataset:
            return (f"the classifier was trained on {card.dataset}, this model on {data}; "
                    "diversity metrics need a classifier for that data")
        return ""

    def _images(self, model: LoadedModel, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 [N, H, W, C] in [0, 1] (NaN -> 0) and finite flags [N]."""
        labels = np.arange(len(z)) % model.signature.num_classes if model.signature.num_classes else None
        parts, finite = [], []
        for s in range(0, len(z), DECODE_BATCH):
            raw = model.decode_raw(z[s:s + DECODE_BATCH], None if labels is None else labels[s:s + DECODE_BATCH])
            x = np.array(model.to_hwc(raw), dtype=np.float32)
            ok = np.isfinite(x).reshape(len(x), -1).all(axis=1)
            x = contract.to_unit_range(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), model.signature.value_range)
            parts.append(x)
            finite.append(ok)
        return np.concatenate(parts), np.concatenate(finite)

    def strip(self, model: LoadedModel, rows: int = STRIP_ROWS, cols: int = STRIP_COLS) -> np.ndarray:
        """uint8 [H', W', C] grid of the first rows x cols bank samples (no metrics: fast)."""
        z = self.bank(model.latent_dim).z[:rows * cols]
        images, _ = self._images(model, z)
        return _grid_u8(images, rows, cols)

    def evaluate(self, model: LoadedModel, *, grid: tuple[int, int] = (GRID_ROWS, GRID_COLS)) -> ModelEvaluation:
        """Decode the whole bank, classify, and report. MonitorError for unusable combinations."""
        t0 = time.perf_counter()
        bank = self.bank(model.latent_dim)
        images, finite = self._images(model, bank.z)
        t1 = time.perf_counter()
        sharp = float(laplacian_variance(images).mean())
        family = model.card.family if model.card is not None else "unknown"
        ev = ModelEvaluation(name=model.name, path=model.path, family=family, latent_dim=model.latent_dim,
                             n=self.n, seed=self.seed, bank_fingerprint=bank.fingerprint,
                             grid=_grid_u8(images[:grid[0] * grid[1]], *grid), sharpness=sharp,
                             bad_samples=int((~finite).sum()), timings={"decode": t1 - t0})
        ev.note = self.unsuitable(model)
        if self.classifier is not None and self.reference is not None and not ev.note:
            logits, feats = self.classifier.classify(self.classifier.adapt(images))
            t2 = time.perf_counter()
            ev.report = D.diversity_report(logits, feats, self.reference)
            ev.class_names = self.classifier.class_names
            ev.timings.update(classify=t2 - t1, metrics=time.perf_counter() - t2)
            real = self.reference.real_sharpness
            if math.isfinite(real) and real > 0:
                ev.sharpness_ratio = sharp / real
        ev.timings["total"] = time.perf_counter() - t0
        return ev


def _grid_u8(images01: np.ndarray, rows: int, cols: int) -> np.ndarray:
    n = len(images01)
    rows = min(rows, max(1, math.ceil(n / cols)))
    u8 = np.clip(np.asarray(images01) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return tile(np.ascontiguousarray(u8[:rows * cols]), rows, cols, pad=1, fill=40)


# --------------------------------------------------------------------------------------------
# Run folders


@dataclass(frozen=True)
class SnapshotInfo:
    epoch: int
    path: Path


def list_snapshots(run_dir: str | os.PathLike) -> list[SnapshotInfo]:
    """``snapshots/epoch-NNNN`` folders of a run, oldest first (temporary dot-folders ignored)."""
    folder = Path(run_dir) / "snapshots"
    out = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        m = SNAPSHOT_DIR.match(entry.name)
        if m and entry.is_dir():
            out.append(SnapshotInfo(int(m.group(1)), Path(entry.path)))
    return sorted(out, key=lambda s: s.epoch)


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Every complete JSON object line of a metrics.jsonl; a torn or garbled line is skipped."""
    log = MetricsLog(path, final=True)
    log.poll()
    return log.rows


class MetricsLog:
    """Incremental, tolerant reader of a growing ``metrics.jsonl``.

    Only complete lines are consumed (a line still being written is read next time); lines that are
    not JSON objects are skipped. A file that shrank or was replaced (the trainer rewrites it on
    --resume) is read again from the start. Rows are kept one per epoch (the latest wins), sorted.
    ``final=True`` also reads a last line without a newline (a finished file).
    """

    def __init__(self, path: str | os.PathLike, *, final: bool = False):
        self.path = Path(path)
        self.final = final
        self.skipped_lines = 0
        self._rows: dict[int, dict] = {}
        self._extra: list[dict] = []  # rows without an epoch number
        self._offset = 0
        self._ident = None

    @property
    def rows(self) -> list[dict]:
        return [self._rows[k] for k in sorted(self._rows)] + self._extra

    def _reset(self) -> None:
        self._rows, self._extra, self._offset, self.skipped_lines = {}, [], 0, 0

    def poll(self) -> bool:
        """Read what was appended since the last call. True when the rows changed."""
        try:
            st = os.stat(self.path)
        except OSError:
            changed = bool(self._rows or self._extra)
            self._reset()
            self._ident = None
            return changed
        changed = False
        ident = (st.st_ino, st.st_dev)
        if ident != self._ident or st.st_size < self._offset:
            changed = bool(self._rows or self._extra)
            self._reset()
            self._ident = ident
        if st.st_size == self._offset:
            return changed
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read(st.st_size - self._offset)
        except OSError:
            return changed
        end = data.rfind(b"\n") + 1
        body, tail = data[:end], data[end:]
        lines = body.split(b"\n")
        if self.final and tail.strip():
            lines.append(tail)
            end = len(data)
        self._offset += end
        for line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                self.skipped_lines += 1
                continue
            if not isinstance(row, dict):
                self.skipped_lines += 1
                continue
            epoch = row.get("epoch")
            if isinstance(epoch, int) and not isinstance(epoch, bool):
                self._rows[epoch] = row
            else:
                self._extra.append(row)
            changed = True
        return changed


def read_run_config(run_dir: str | os.PathLike) -> dict | None:
    """``config.json`` of a run as a dict, or None when missing or unreadable."""
    try:
        data = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class SnapshotResult:
    """What the monitor knows about one snapshot: the fixed-latent strip, then the full evaluation.

    stage: "strip" (only the film-strip image yet), "full" (evaluation done) or "skipped" (error set).
    appeared: time.time() when the monitor first saw the folder (for latency figures).
    """
    epoch: int
    path: Path
    stage: str
    strip: np.ndarray | None = None
    evaluation: ModelEvaluation | None = None
    error: str | None = None
    appeared: float = 0.0
    finished: float = 0.0

    @property
    def report(self) -> D.DiversityReport | None:
        return self.evaluation.report if self.evaluation is not None else None


class RunMonitor:
    """The state of one training run, as the monitor shows it. No Qt, no threads.

    Call :meth:`poll` (from a file watcher or a timer) to pick up new snapshots and metrics rows; it
    returns the new snapshots, which the caller evaluates and hands back with :meth:`add_result`.
    ``changed`` is emitted (no arguments) whenever something visible changed.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir).expanduser()
        self.config = read_run_config(self.run_dir)
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self.seen: dict[int, SnapshotInfo] = {}
        self.results: dict[int, SnapshotResult] = {}
        self.status = ""  # one line: what the evaluator is doing
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
            self.config = read_run_config(self.run_dir)
            moved = moved or self.config is not None
        new = [s for s in list_snapshots(self.run_dir) if s.epoch not in self.seen or s.path != self.seen[s.epoch].path]
        now = time.time()
        for s in new:
            self.seen[s.epoch] = s
            self.results.pop(s.epoch, None)
            self.results[s.epoch] = SnapshotResult(s.epoch, s.path, "pending", appeared=now)
        if new or moved:
            self.changed.emit()
        return new

    @property
    def rows(self) -> list[dict]:
        return self.metrics.rows

    @property
    def family(self) -> str:
        """"gan", "vae", "classifier" or "unknown"."""
        fam = (self.config or {}).get("family")
        if not fam:
            fam = next((r.get("family") for r in self.rows if r.get("family")), None)
        if not fam:
            for s in self.seen.values():
                if (s.path / "generator.onnx").exists():
                    return "gan"
                if (s.path / "decoder.onnx").exists():
                    return "vae"
        return fam or "unknown"

    @property
    def total_epochs(self) -> int | None:
        e = (self.config or {}).get("epochs")
        return int(e) if isinstance(e, int) else None

    @property
    def finished(self) -> bool:
        return (self.run_dir / "model").is_dir()

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

    def evaluated(self) -> list[SnapshotResult]:
        return [self.results[e] for e in sorted(self.results) if self.results[e].stage == "full"]

    def skipped(self) -> list[SnapshotResult]:
        return [self.results[e] for e in sorted(self.results) if self.results[e].stage == "skipped"]

    def pending(self) -> list[int]:
        return [e for e in sorted(self.results) if self.results[e].stage in ("pending", "strip")]

    def latest(self) -> SnapshotResult | None:
        done = [r for r in self.evaluated() if r.report is not None]
        return done[-1] if done else None

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
        return list(latest.report.alarms) if latest is not None else []

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

    def summary(self) -> dict:
        """JSON-ready summary (what the report and tests read)."""
        latest = self.latest()
        alarms = self.alarms()
        return {
            "run_dir": str(self.run_dir), "family": self.family, "epochs_logged": len(self.rows),
            "total_epochs": self.total_epochs, "finished": self.finished,
            "snapshots": sorted(self.seen), "evaluated": [r.epoch for r in self.evaluated()],
            "skipped": {r.epoch: r.error for r in self.skipped()},
            "latest_epoch": latest.epoch if latest else None,
            "verdict": "ok" if not alarms else [a.name for a in alarms],
            "alarms": [a.to_dict() for a in alarms],
            "latest": latest.evaluation.to_dict() if latest and latest.evaluation else None,
        }


# --------------------------------------------------------------------------------------------
# Background evaluation


@dataclass
class MonitorMessage:
    """What the worker hands to ``deliver``: kind "status" (text), "result" (a SnapshotResult) or
    "ready" (evaluator set up; text says whether diversity metrics are on)."""
    generation: int
    kind: str
    text: str = ""
    result: SnapshotResult | None = None


class _Stopped(Exception):
    """The evaluator was closed or restarted: abandon the current job."""


class BackgroundEvaluator:
    """One worker thread that evaluates snapshots, newest pending first.

    ``deliver(MonitorMessage)`` is called on the worker thread; the Qt layer passes a function
    that forwards to the GUI thread (a queued signal). :meth:`start` (a new run or classifier)
    bumps the generation; the worker drops queued work of older generations, and receivers
    drop messages whose generation is not :attr:`generation`.

    When the classifier has no cached reference yet, snapshots are first evaluated without
    diversity metrics (samples, sharpness); the reference is built when nothing else is queued,
    and then every snapshot is evaluated again with metrics.
    """

    def __init__(self, deliver: Callable[[MonitorMessage], None]):
        self._deliver = deliver
        self._cond = threading.Condition()
        self._generation = 0
        self._setup: tuple | None = None
        self._build: tuple | None = None  # (generation, classifier, n, seed, data_dir): reference to build
        self._pending: dict[int, SnapshotInfo] = {}
        self._known: dict[int, SnapshotInfo] = {}
        self._appeared: dict[int, float] = {}
        self._closed = False
        self._busy = False
        self.evaluator: SnapshotEvaluator | None = None
        self._thread = threading.Thread(target=self._loop, name="latent-monitor", daemon=True)
        self._thread.start()

    @property
    def generation(self) -> int:
        return self._generation

    def is_current(self, msg: MonitorMessage) -> bool:
        return msg.generation == self._generation

    def start(self, *, classifier: str | os.PathLike | None, n: int = DEFAULT_N, seed: int = DEFAULT_SEED,
              data_dir=None, build_reference: bool = True) -> int:
        """Forget all queued work and set up a new evaluator (in the worker). Returns the generation."""
        with self._cond:
            self._generation += 1
            self._pending.clear()
            self._known.clear()
            self._build = None
            self._setup = (self._generation, classifier, n, seed, data_dir, build_reference)
            self._cond.notify()
            return self._generation

    def submit(self, snapshots: Sequence[SnapshotInfo], appeared: float | None = None) -> None:
        with self._cond:
            for s in snapshots:
                self._pending[s.epoch] = s
                self._known[s.epoch] = s
                self._appeared[s.epoch] = appeared or time.time()
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and self._setup is None and self._build is None and not self._busy

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker; waits for the job in hand (it stops at its next progress report)."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._build = None
            self._cond.notify()
        self._thread.join(timeout)

    # ---- worker side

    def _loop(self) -> None:
        from explorer.io.blas import limit_blas_threads

        limit_blas_threads(1)
        while True:
            with self._cond:
                while not (self._closed or self._setup or self._pending or self._build):
                    self._cond.wait()
                if self._closed:
                    return
                self._busy = True
                gen = self._generation
                setup, build, snap = self._setup, None, None
                self._setup = None
                if setup is None and self._pending:
                    snap = self._pending.pop(max(self._pending))
                elif setup is None:
                    build, self._build = self._build, None
            try:
                if setup is not None:
                    self._do_setup(*setup)
                elif snap is not None and self.evaluator is not None:
                    self._evaluate(gen, snap)
                elif build is not None:
                    self._do_build(*build)
            except _Stopped:
                pass
            finally:
                with self._cond:
                    self._busy = False

    def _send(self, msg: MonitorMessage) -> None:
        """Deliver if still current; raises _Stopped when closed or restarted (abandons the job)."""
        if self._closed or msg.generation != self._generation:
            raise _Stopped
        try:
            self._deliver(msg)
        except RuntimeError:  # the receiver is gone (window closed)
            raise _Stopped from None

    def _do_setup(self, gen, classifier, n, seed, data_dir, build) -> None:
        self.evaluator = None
        clf = ref = None
        note = ""
        if classifier is not None:
            try:
                self._send(MonitorMessage(gen, "status", f"opening classifier {classifier}"))
                clf = Classifier(classifier)
                ref = load_reference(clf, build=False)
                ref.floor(n)
            except (MonitorError, ValueError) as exc:
                ref = None
                if clf is not None and build and _fashion_found(data_dir):
                    with self._cond:
                        self._build = (gen, clf, n, seed, data_dir)
                    note = ("building the real-data reference of this classifier (once; it is cached next to "
                            "the classifier) — diversity metrics follow")
                else:
                    clf = None
                    note = f"diversity metrics off: {exc}"
        else:
            note = "diversity metrics off: no classifier (pass --classifier or install the bundled one)"
        self.evaluator = SnapshotEvaluator(clf if ref is not None else None, ref, n=n, seed=seed)
        self._send(MonitorMessage(gen, "ready", note))

    def _do_build(self, gen, clf, n, seed, data_dir) -> None:
        say = lambda m: self._send(MonitorMessage(gen, "status", m))  # noqa: E731
        try:
            ref, _ = build_fashion_reference(clf, data_dir=data_dir, progress=say)
            ref.floor(n)
        except (MonitorError, ValueError, OSError) as exc:
            self._send(MonitorMessage(gen, "ready", f"diversity metrics off: {_one_line(exc)}"))
            return
        self.evaluator = SnapshotEvaluator(clf, ref, n=n, seed=seed)
        self._send(MonitorMessage(gen, "ready", ""))
        with self._cond:  # evaluate every snapshot again, now with metrics
            if gen == self._generation:
                self._pending.update(self._known)
                self._cond.notify()

    def _evaluate(self, gen: int, snap: SnapshotInfo) -> None:
        appeared = self._appeared.get(snap.epoch, time.time())
        ev = self.evaluator
        self._send(MonitorMessage(gen, "status", f"evaluating epoch {snap.epoch}"))
        try:
            model = open_model(snap.path)
            self._send(MonitorMessage(gen, "result", result=SnapshotResult(
                snap.epoch, snap.path, "strip", strip=ev.strip(model), appeared=appeared, finished=time.time())))
            evaluation = ev.evaluate(model)
            result = SnapshotResult(snap.epoch, snap.path, "full", strip=None, evaluation=evaluation,
                                    appeared=appeared, finished=time.time())
        except _Stopped:
            raise
        except (ModelError, ContractError, MonitorError, ValueError, OSError) as exc:
            result = SnapshotResult(snap.epoch, snap.path, "skipped", error=_one_line(exc), appeared=appeared,
                                    finished=time.time())
        except Exception as exc:  # never let one bad snapshot stop the monitor
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            result = SnapshotResult(snap.epoch, snap.path, "skipped", error=f"unexpected error: {detail}",
                                    appeared=appeared, finished=time.time())
        self._send(MonitorMessage(gen, "result", result=result))
        with self._cond:
            left = len(self._pending)
            building = self._build is not None
        self._send(MonitorMessage(gen, "status", f"{left} snapshot(s) queued" if left else
                                  "building the real-data reference" if building else "watching for new snapshots"))


def _fashion_found(data_dir) -> bool:
    from explorer.io.fashion_data import DataNotFound, find_fashion_mnist

    try:
        find_fashion_mnist(data_dir)
        return True
    except DataNotFound:
        return False


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def evaluate_run(run_dir: str | os.PathLike, *, classifier: str | os.PathLike | None, n: int = DEFAULT_N,
                 seed: int = DEFAULT_SEED, data_dir=None, build_reference: bool = True,
                 progress: Callable[[str], None] | None = None) -> tuple[RunMonitor, str]:
    """Evaluate every snapshot of a run in this thread (the headless report). Returns (monitor, note)."""
    mon = RunMonitor(run_dir)
    mon.check()
    say = progress or (lambda m: None)
    clf = ref = None
    note = ""
    if classifier is not None:
        try:
            clf = Classifier(classifier)
            ref = load_reference(clf, build=build_reference, data_dir=data_dir, progress=progress)
        except (MonitorError, ValueError) as exc:
            note = f"diversity metrics off: {exc}"
            clf = ref = None
    else:
        note = "diversity metrics off: no classifier"
    ev = SnapshotEvaluator(clf, ref, n=n, seed=seed)
    for snap in mon.poll():
        say(f"evaluating epoch {snap.epoch}")
        try:
            model = open_model(snap.path)
            evaluation = ev.evaluate(model, grid=(STRIP_ROWS, STRIP_COLS))
            mon.add_result(SnapshotResult(snap.epoch, snap.path, "full", strip=evaluation.grid,
                                          evaluation=evaluation, finished=time.time()))
        except (ModelError, ContractError, MonitorError, ValueError, OSError) as exc:
            mon.add_result(SnapshotResult(snap.epoch, snap.path, "skipped", error=_one_line(exc)))
    return mon, note


# --------------------------------------------------------------------------------------------
# Comparing two models


@dataclass
class Comparison:
    """Two evaluations on the same latent-bank seed and N, and plain-language findings."""
    a: ModelEvaluation
    b: ModelEvaluation

    def findings(self) -> list[str]:
        """Sentences that name the better model for sharpness, Fréchet distance, coverage and modes."""
        a, b = self.a, self.b
        out = []
        if math.isfinite(a.sharpness_ratio) and math.isfinite(b.sharpness_ratio):
            sharper, other = (a, b) if a.sharpness_ratio >= b.sharpness_ratio else (b, a)
            out.append(f"{sharper.name} is sharper: {sharper.sharpness_ratio:.0%} of real-image sharpness "
                       f"vs {other.sharpness_ratio:.0%} for {other.name}")
        else:
            sharper, other = (a, b) if a.sharpness >= b.sharpness else (b, a)
            out.append(f"{sharper.name} is sharper (Laplacian variance {sharper.sharpness:.4f} vs {other.sharpness:.4f})")
        if a.report is not None and b.report is not None:
            ra, rb = a.report.metrics, b.report.metrics
            fa, fb = (a, b) if ra["fd"] <= rb["fd"] else (b, a)
            out.append(f"{fa.name} is closer to real data: Fréchet distance {fa.report.metrics['fd']:.2f} "
                       f"vs {fb.report.metrics['fd']:.2f} (real floor {a.report.floors['fd']:.2f})")
            ca, cb = (a, b) if ra["coverage"] >= rb["coverage"] else (b, a)
            out.append(f"{ca.name} covers more of the real data: coverage {ca.report.metrics['coverage']:.2f} "
                       f"vs {cb.report.metrics['coverage']:.2f} (real floor {a.report.floors['coverage']:.2f})")
            for ev in (a, b):
                if ev.report.alarms:
                    out.append(f"{ev.name}: " + "; ".join(al.detail for al in ev.report.alarms))
                else:
                    out.append(f"{ev.name}: no diversity alarm")
        return out

    def to_dict(self) -> dict:
        return {"n": self.a.n, "seed": self.a.seed, "a": self.a.to_dict(), "b": self.b.to_dict(),
                "findings": self.findings()}


def compare_models(a: LoadedModel | str | os.PathLike, b: LoadedModel | str | os.PathLike,
                   evaluator: SnapshotEvaluator) -> Comparison:
    """Evaluate two generators with one evaluator (same bank seed, same N, same classifier)."""
    ma = a if isinstance(a, LoadedModel) else open_model(a)
    mb = b if isinstance(b, LoadedModel) else open_model(b)
    return Comparison(evaluator.evaluate(ma), evaluator.evaluate(mb))
