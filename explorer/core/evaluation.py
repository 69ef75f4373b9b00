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

from typing import Callable

from explorer.core import diversity as D
from explorer.core import own_data
from explorer.core.class_metrics import asked_classes
from explorer.core.classifier import DEFAULT_N, DEFAULT_SEED, Classifier, MonitorError
from explorer.core.diversity_metrics import (ALARM, INCONCLUSIVE, NEAR_DUP_RATE_MAX, PLAUSIBLE_SHARPNESS,
                                             STRONG_NEAR_DUP_RATE, Evidence, Judgement)
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
    note: one line, why there is no report; timings in seconds. judged_by: which classifier (or
    feature-free space) and reference measured it, and why (one line); classifier_note: why no
    classifier judged it when the feature-free space did; pixel_near_dup / pixel_near_dup_floor:
    near-duplicate pairs in pixels and the real floor (feature-free space only); n_note: why N is
    smaller than asked (the real holdout of the data is smaller).

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
    judged_by: str = ""
    classifier_note: str = ""
    pixel_near_dup: float = float("nan")
    pixel_near_dup_floor: float = float("nan")
    pixel_alarms: list[D.Alarm] = field(default_factory=list)
    n_note: str = ""

    @property
    def alarms(self) -> list[D.Alarm]:
        """The diversity alarms, or ``outputs_nan`` when samples were not finite (then nothing else is measured)."""
        if self.report is not None:
            return list(self.report.alarms) + list(self.pixel_alarms)
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
        hard = [a.name for a in self.alarms if a.hard]
        if hard:
            return hard
        return INCONCLUSIVE if self.inconclusive else "ok"

    @property
    def inconclusive(self) -> list[str]:
        """Why the evidence is too thin for a verdict ([] when it is not)."""
        return list(self.report.inconclusive) if self.report is not None else []

    def verdict_line(self) -> str:
        """The verdict as one line of text: "ok", the alarm names, "inconclusive: <why>" or "not measured: <why>"."""
        verdict = self.verdict
        if verdict == NOT_MEASURED:
            return f"{NOT_MEASURED}: {self.note or NO_CLASSIFIER}"
        if verdict == INCONCLUSIVE:
            doubt = [a.name for a in self.alarms if not a.hard]
            return (f"{INCONCLUSIVE}: " + "; ".join(self.inconclusive)
                    + (f" (alarms not judged: {', '.join(doubt)})" if doubt else ""))
        return verdict if isinstance(verdict, str) else ", ".join(verdict)

    def to_dict(self) -> dict:
        out = {"model": str(self.path), "name": self.name, "family": self.family, "latent_dim": self.latent_dim,
               "n": self.n, "latent_bank": {"seed": self.seed, "fingerprint": self.bank_fingerprint},
               "verdict": self.verdict, "alarms": [a.to_dict() for a in self.alarms], "sharpness": _num(self.sharpness),
               "sharpness_vs_real": _num(self.sharpness_ratio), "bad_samples": self.bad_samples,
               "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
               "judged_by": self.judged_by, "sharpness_space": "pixels (Laplacian variance)"}
        if self.note or not self.judged:
            out["note"] = self.note or NO_CLASSIFIER
        if self.classifier_note:
            out["classifier_note"] = self.classifier_note
        if self.n_note:
            out["n_note"] = self.n_note
        if self.report is not None:
            rep = self.report.to_dict()
            rep["class_histogram"] = dict(zip(self.class_names, rep["class_histogram"])) \
                if len(self.class_names) == len(rep["class_histogram"]) else rep["class_histogram"]
            out.update({k: rep[k] for k in ("metrics", "floors", "floor_spread", "class_histogram", "space",
                                            "spaces", "inconclusive")})
            if math.isfinite(self.pixel_near_dup):
                out["metrics"]["pixel_near_dup_rate"] = self.pixel_near_dup
                out["floors"]["pixel_near_dup_rate"] = _num(self.pixel_near_dup_floor)
                out["spaces"]["pixel_near_dup_rate"] = own_data.PIXELS
        return out


def _ratio(value: float, real: float) -> float | None:
    return value / real if math.isfinite(value) and math.isfinite(real) and real > 0 else None


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


class SnapshotEvaluator:
    """Decode the fixed latent bank (n, seed) with a generator and measure it.

    The bank is drawn per latent dimension from the same seed, so every snapshot of a run (and
    every model of a comparison with the same D) sees the very same vectors. Without a classifier
    only the sample grid and sharpness are produced, and each evaluation's note is ``off_note``.
    """

    def __init__(self, classifier: Classifier | None = None, reference: D.RealReference | None = None, *,
                 n: int = DEFAULT_N, seed: int = DEFAULT_SEED, off_note: str = NO_CLASSIFIER, why: str = "",
                 pixel_data: "own_data.TrainedOn | None" = None, train_images: int | None = None,
                 progress: Callable[[str], None] | None = None):
        if n < 16:
            raise MonitorError(f"N must be at least 16 samples, found {n}")
        if reference is not None and classifier is not None and reference.n_features != classifier.card.feature_dim:
            raise MonitorError("the reference was built for another classifier (feature sizes differ)")
        self.classifier, self.reference, self.n, self.seed = classifier, reference, int(n), int(seed)
        self.off_note = off_note  # why there are no metrics without a classifier (what the evaluations' note says)
        self.why = why  # why this classifier (one line, for reports)
        # The feature-free space: the real images of this data (None: not known) are its reference.
        self.pixel_data = pixel_data
        self.train_images = train_images if train_images else (pixel_data.train_images if pixel_data else None) or None
        self.progress = progress
        self._pixel_refs: dict[tuple, D.RealReference | str] = {}
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

    def pixel_reference(self, image_shape: tuple[int, int, int]) -> D.RealReference | str:
        """The feature-free space's reference for this image shape, or why there is none (one line)."""
        shape = tuple(int(v) for v in image_shape)
        if shape not in self._pixel_refs:
            if self.pixel_data is None:
                self._pixel_refs[shape] = "the model's training data is not known (no run folder records it)"
            elif not self.pixel_data.data_id:
                self._pixel_refs[shape] = "its run does not record a data id (trained before runs recorded one)"
            else:
                try:
                    self._pixel_refs[shape] = own_data.pixel_reference(self.pixel_data, shape, n=self.n,
                                                                       progress=self.progress)
                except (OSError, ValueError) as exc:
                    self._pixel_refs[shape] = f"no pixel-space reference: {str(exc).splitlines()[0]}"
        return self._pixel_refs[shape]

    def judged_by_classifier(self) -> str:
        clf, ref = self.classifier, self.reference
        data = ref.dataset_id if ref is not None else "?"
        return f"classifier {clf.path} ({self.why or 'given'}); real reference: {data}, {ref.n_real} images"

    def _capped(self, ref: D.RealReference) -> tuple[int, str]:
        n = min(self.n, own_data.max_n(ref))
        note = (f"N = {n}, not {self.n}: the real holdout of {ref.dataset_id} has {own_data.max_n(ref)} images"
                if n < self.n else "")
        return n, note

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
        epoch = model.card.epoch if model.card is not None and model.card.epoch else None
        if self.classifier is not None and self.reference is not None and not ev.note:
            n, ev.n_note = self._capped(self.reference)
            logits, feats = self.classifier.classify(self.classifier.adapt(images[:n]))
            t2 = time.perf_counter()
            asked = asked_classes(model, self.classifier.class_names, n)  # None: unconditional
            space = self.reference.space or (f"classifier features ({self.classifier.path.name}, "
                                             f"{self.classifier.card.feature_dim}-d)")
            ev.report = D.diversity_report(logits, feats, self.reference, asked=asked,
                                           class_names=self.classifier.class_names, space=space,
                                           evidence=Evidence(n, epoch, self.train_images,
                                                             _ratio(sharp, self.reference.real_sharpness)))
            ev.class_names = self.classifier.class_names
            ev.judged_by = self.judged_by_classifier()
            ev.timings.update(classify=t2 - t1, metrics=time.perf_counter() - t2)
            real = self.reference.real_sharpness
            if math.isfinite(real) and real > 0:
                ev.sharpness_ratio = sharp / real
        elif not ev.bad_samples:
            self._pixel_space(ev, model, images, epoch, t1)
        ev.n = ev.report.n if ev.report is not None else ev.n
        ev.timings["total"] = time.perf_counter() - t0
        return ev

    def _pixel_space(self, ev: ModelEvaluation, model: LoadedModel, images: np.ndarray, epoch, t1: float) -> None:
        """No classifier fits: measure in the feature-free space when the model's real data is known."""
        ref = self.pixel_reference(model.image_shape)
        if isinstance(ref, str):
            ev.judged_by = f"nothing: {ev.note}; {ref}"
            ev.note = f"{ev.note}; {ref}"
            return
        n, ev.n_note = self._capped(ref)
        x = images[:n]
        evidence = Evidence(n, epoch, self.train_images, _ratio(ev.sharpness, ref.real_sharpness))
        ev.report = D.diversity_report(np.zeros((n, 0), np.float32), own_data.project(x), ref, evidence=evidence)
        ev.pixel_near_dup, ev.pixel_near_dup_floor = own_data.pixel_near_duplicates(x, ref)
        floor = ev.pixel_near_dup_floor if math.isfinite(ev.pixel_near_dup_floor) else 0.0
        limit = floor + NEAR_DUP_RATE_MAX
        if ev.pixel_near_dup > limit:
            judged = Judgement(ev.report.metrics, ev.report.floors, ev.report.floor_spread, 0)
            thin = D.thin_evidence(judged, evidence)
            strong = ev.pixel_near_dup >= STRONG_NEAR_DUP_RATE and (
                evidence.sharpness_ratio is None or evidence.sharpness_ratio >= PLAUSIBLE_SHARPNESS) and (
                not D.barely_trained(evidence))
            ev.pixel_alarms = [D.Alarm("pixel_near_duplicates",
                                       f"{ev.pixel_near_dup:.2%} of sample pairs are closer in pixels than the "
                                       f"closest real pair (limit {limit:.2%})",
                                       ALARM if strong or not thin else INCONCLUSIVE)]
            if strong:  # collapse beyond doubt: the other alarms are judged too
                ev.report.alarms = [D.Alarm(a.name, a.detail) for a in ev.report.alarms]
                ev.report.inconclusive = []
            elif thin and not ev.report.inconclusive:
                ev.report.inconclusive = thin
        ev.classifier_note, ev.note = ev.note, ""
        ev.judged_by = (f"the feature-free space ({own_data.PIXEL_SPACE}; near duplicates in pixels), "
                        f"real reference: {ref.dataset_id}, {ref.n_real} images of {self.pixel_data.label} "
                        f"(no classifier: {ev.classifier_note})")
        real = ref.real_sharpness
        if math.isfinite(real) and real > 0:
            ev.sharpness_ratio = ev.sharpness / real
        ev.timings["metrics"] = time.perf_counter() - t1


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


# --------------------------------------------------------------------------------------------
# Which classifier and reference judge a model


def is_bundled_classifier(path: str | Path | None) -> bool:
    """True for the bundled Fashion-MNIST classifier (folder or its .onnx): the default, never forced
    onto a model of other data."""
    from explorer.core.classifier import default_classifier

    bundled = default_classifier()
    if path is None or bundled is None:
        return False
    p = Path(path).expanduser().resolve()
    return p == bundled.resolve() or p.parent == bundled.resolve()


def evaluator_for(model: str | Path | None, classifier: str | Path | None = None, *, auto: bool = True,
                  n: int = DEFAULT_N, seed: int = DEFAULT_SEED, data_dir=None, build: bool = True,
                  progress: Callable[[str], None] | None = None, strict: bool = False) -> tuple[SnapshotEvaluator, str]:
    """The evaluator that judges ``model`` (a model file, bundle or run folder), and a note ("" when a
    classifier judges it; otherwise why not: its evaluations are then measured in the feature-free
    space when the model's data is known).

    auto: pick the classifier with ``own_data.choose_classifier`` (``classifier`` is then the explicit
    choice, unless it is the bundled default); without auto, ``classifier`` or none.
    build: build a missing real reference from the classifier's own data. strict: a classifier asked
    for explicitly that cannot be used raises MonitorError (otherwise it is the note)."""
    from explorer.core.classifier import load_reference

    if auto:
        choice = own_data.choose_classifier(model, None if is_bundled_classifier(classifier) else classifier)
    else:
        data = own_data.trained_on(model) if model is not None else None
        choice = own_data.ClassifierChoice(None if classifier is None else str(classifier),
                                           "given" if classifier is not None else NO_CLASSIFIER, data)
    clf = ref = None
    note = "" if choice.path else choice.why
    if choice.path:
        try:
            clf = Classifier(choice.path)
            ref = load_reference(clf, build=build, data_dir=data_dir, progress=progress)
        except (MonitorError, ValueError, OSError) as exc:
            explicit = classifier is not None and (not auto or not is_bundled_classifier(classifier))
            if strict and explicit:
                raise MonitorError((str(exc).strip().splitlines() or [type(exc).__name__])[0]) from None
            note = f"the classifier cannot be used: {(str(exc).strip().splitlines() or ['?'])[0]}"
            clf = ref = None
    ev = SnapshotEvaluator(clf, ref, n=n, seed=seed, off_note=note or NO_CLASSIFIER, why=choice.why,
                           pixel_data=choice.data, progress=progress)
    return ev, note
