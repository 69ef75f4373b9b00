"""Evaluating a generator: decode a fixed latent bank, classify, measure.

* :class:`SnapshotEvaluator` — decode a fixed :class:`~explorer.core.diversity.LatentBank` with a generator
  (any file ``explorer.io.runtime.open_model`` opens), classify, and produce a :class:`ModelEvaluation`:
  the diversity report with floors, sharpness, class histogram and a small sample grid.
* :func:`snapshot_strip`, :func:`snapshot_evaluation` — one snapshot folder of a run to a
  :class:`SnapshotResult` (film strip, full evaluation, or skipped with a one-line reason): what the
  live monitor and the headless report share.

numpy + onnxruntime only: no Qt, no torch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.core import diversity as D
from explorer.core.class_metrics import asked_classes
from explorer.core.classifier import DEFAULT_N, DEFAULT_SEED, Classifier, MonitorError
from explorer.core.metrics import laplacian_variance
from explorer.io import contract
from explorer.io.contract import ContractError
from explorer.io.run_folder import SnapshotInfo
from explorer.io.pixels import tile
from explorer.io.runtime import LoadedModel, ModelError, open_model

STRIP_ROWS = STRIP_COLS = 4  # the film-strip cell: the first 16 latents of the bank
GRID_ROWS = GRID_COLS = 8  # the compare view's sample grid: the first 64 latents of the bank
DECODE_BATCH = 250  # measured: 4 x 250 decodes faster than 1 x 1000 on one busy core
NOT_MEASURED = "not measured"  # the verdict when no metric could be computed (the note says why)
NO_CLASSIFIER = "no classifier"
OUTPUTS_NAN = "outputs_nan"  # the alarm of a generator whose samples are not all finite


def nan_detail(bad: int, n: int) -> str:
    """One line for the ``outputs_nan`` alarm: how many of the n samples were not finite."""
    return f"{bad} of {n} samples are not finite (NaN or Inf); no diversity metric is computed on them"


@dataclass
class ModelEvaluation:
    """One generator on one latent bank.

    report: metrics with floors and alarms (None when nothing was measured: no classifier, one that
    does not fit the images, or outputs that are not finite); sharpness: mean Laplacian variance of
    the finite samples ([0, 1] pixels); sharpness_ratio: that over the real images' (1 = as sharp as
    real data); grid: uint8 [H, W, C] of the first rows x cols bank samples (NaN drawn as 0);
    bad_samples: samples with NaN/Inf (any one of them means no metrics: the ``outputs_nan`` alarm);
    note: one line, why there is no report; timings in seconds.

    The verdict is "ok" (measured, no alarm), the alarm names, or :data:`NOT_MEASURED` (``note`` says why).
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
    def alarms(self) -> list[D.Alarm]:
        """The diversity alarms, or ``outputs_nan`` when samples were not finite (then nothing else is measured)."""
        if self.report is not None:
            return list(self.report.alarms)
        if self.bad_samples:
            return [D.Alarm(OUTPUTS_NAN, nan_detail(self.bad_samples, self.n))]
        return []

    @property
    def judged(self) -> bool:
        """True when there is a verdict other than "not measured" (metrics, or NaN outputs)."""
        return self.report is not None or self.bad_samples > 0

    @property
    def verdict(self) -> str | list[str]:
        """"ok", the alarm names, or "not measured" (then ``note`` says why)."""
        if not self.judged:
            return NOT_MEASURED
        alarms = self.alarms
        return "ok" if not alarms else [a.name for a in alarms]

    def verdict_line(self) -> str:
        """The verdict as one line of text: "ok", the alarm names, or "not measured: <why>"."""
        verdict = self.verdict
        if verdict == NOT_MEASURED:
            return f"{NOT_MEASURED}: {self.note or NO_CLASSIFIER}"
        return verdict if isinstance(verdict, str) else ", ".join(verdict)

    def to_dict(self) -> dict:
        out = {"model": str(self.path), "name": self.name, "family": self.family, "latent_dim": self.latent_dim,
               "n": self.n, "latent_bank": {"seed": self.seed, "fingerprint": self.bank_fingerprint},
               "verdict": self.verdict, "alarms": [a.to_dict() for a in self.alarms], "sharpness": _num(self.sharpness),
               "sharpness_vs_real": _num(self.sharpness_ratio), "bad_samples": self.bad_samples,
               "timings_s": {k: round(v, 4) for k, v in self.timings.items()}}
        if self.note or not self.judged:
            out["note"] = self.note or NO_CLASSIFIER
        if self.report is not None:
            rep = self.report.to_dict()
            rep["class_histogram"] = dict(zip(self.class_names, rep["class_histogram"])) \
                if len(self.class_names) == len(rep["class_histogram"]) else rep["class_histogram"]
            out.update({k: rep[k] for k in ("metrics", "floors", "floor_spread", "class_histogram")})
        return out


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


class SnapshotEvaluator:
    """Decode the fixed latent bank (n, seed) with a generator and measure it.

    The bank is drawn per latent dimension from the same seed, so every snapshot of a run (and
    every model of a comparison with the same D) sees the very same vectors. Without a classifier
    only the sample grid and sharpness are produced, and each evaluation's note is ``off_note``.
    """

    def __init__(self, classifier: Classifier | None = None, reference: D.RealReference | None = None, *,
                 n: int = DEFAULT_N, seed: int = DEFAULT_SEED, off_note: str = NO_CLASSIFIER):
        if n < 16:
            raise MonitorError(f"N must be at least 16 samples, found {n}")
        if reference is not None and classifier is not None and reference.n_features != classifier.card.feature_dim:
            raise MonitorError("the reference was built for another classifier (feature sizes differ)")
        self.classifier, self.reference, self.n, self.seed = classifier, reference, int(n), int(seed)
        self.off_note = off_note  # why there are no metrics without a classifier (what the evaluations' note says)
        self._banks: dict[int, D.LatentBank] = {}

    def bank(self, dim: int) -> D.LatentBank:
        if dim not in self._banks:
            self._banks[dim] = D.LatentBank(self.n, dim, self.seed)
        return self._banks[dim]

    def unsuitable(self, model: LoadedModel) -> str:
        """Why the classifier cannot judge this model ("" when it can): other image size or data set."""
        if self.classifier is None or self.reference is None:
            return self.off_note
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
        sharp = float(laplacian_variance(images[finite]).mean()) if finite.any() else float("nan")
        family = model.card.family if model.card is not None else "unknown"
        ev = ModelEvaluation(name=model.name, path=model.path, family=family, latent_dim=model.latent_dim,
                             n=self.n, seed=self.seed, bank_fingerprint=bank.fingerprint,
                             grid=_grid_u8(images[:grid[0] * grid[1]], *grid), sharpness=sharp,
                             bad_samples=int((~finite).sum()), timings={"decode": t1 - t0})
        # Non-finite samples first: that is a fault of the model, whatever the classifier; metrics on
        # the zeros that stand in for them would read as mode collapse.
        ev.note = f"outputs are NaN: {nan_detail(ev.bad_samples, self.n)}" if ev.bad_samples else self.unsuitable(model)
        if self.classifier is not None and self.reference is not None and not ev.note:
            logits, feats = self.classifier.classify(self.classifier.adapt(images))
            t2 = time.perf_counter()
            asked = asked_classes(model, self.classifier.class_names, len(bank.z))  # None: unconditional
            ev.report = D.diversity_report(logits, feats, self.reference, asked=asked,
                                           class_names=self.classifier.class_names)
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
# One snapshot of a run


@dataclass
class SnapshotResult:
    """What the monitor knows about one snapshot: the fixed-latent strip, then the full evaluation.

    stage: "pending" (seen, not evaluated yet), "strip" (only the film-strip image yet), "full"
    (evaluation done) or "skipped" (error set). appeared: time.time() when the monitor first saw the
    folder — the one appearance time, set by ``RunMonitor.poll`` and kept through later stages;
    finished: time.time() when this stage's result was computed.
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


# What an unreadable or unsuitable snapshot raises: the snapshot is skipped with this one line.
SNAPSHOT_ERRORS = (ModelError, ContractError, MonitorError, ValueError, OSError)


def skipped_snapshot(snap: SnapshotInfo, error: BaseException | str) -> SnapshotResult:
    """The result of a snapshot that cannot be evaluated, with the reason in one line."""
    text = error if isinstance(error, str) else (str(error).strip().splitlines() or [type(error).__name__])[0]
    return SnapshotResult(snap.epoch, snap.path, "skipped", error=text, finished=time.time())


def snapshot_strip(evaluator: SnapshotEvaluator, snap: SnapshotInfo) -> tuple[SnapshotResult, LoadedModel | None]:
    """Open a snapshot and decode its film-strip cell (fast, no metrics).

    Returns (the "strip" result, the opened model for :func:`snapshot_evaluation`), or (a "skipped"
    result, None) when the snapshot cannot be read."""
    try:
        model = open_model(snap.path)
        strip = evaluator.strip(model)
    except SNAPSHOT_ERRORS as exc:
        return skipped_snapshot(snap, exc), None
    return SnapshotResult(snap.epoch, snap.path, "strip", strip=strip, finished=time.time()), model


def snapshot_evaluation(evaluator: SnapshotEvaluator, snap: SnapshotInfo, model: LoadedModel | None = None, *,
                        grid: tuple[int, int] = (GRID_ROWS, GRID_COLS), with_strip: bool = False) -> SnapshotResult:
    """The full evaluation of one snapshot (opened here unless ``model`` is given), or "skipped".

    with_strip: use the evaluation's sample grid as the film-strip image (the headless report,
    which evaluates with ``grid=(STRIP_ROWS, STRIP_COLS)``)."""
    try:
        model = open_model(snap.path) if model is None else model
        evaluation = evaluator.evaluate(model, grid=grid)
    except SNAPSHOT_ERRORS as exc:
        return skipped_snapshot(snap, exc)
    return SnapshotResult(snap.epoch, snap.path, "full", strip=evaluation.grid if with_strip else None,
                          evaluation=evaluation, finished=time.time())
