"""Class-conditional models in the mode-collapse monitor: per asked class, is the class kept and does it stay diverse?

A conditional generator is asked for its classes evenly (sample i asks for class ``i % K``, see
``explorer.core.evaluation``); :func:`asked_classes` says which classifier class each sample was asked
for. Per asked class c (a class the classifier knows):

* **coverage** (``class_accuracy[c]``): the share of samples asked for c that the classifier labels c;
* **spread** (``class_spread[c]``): mean pairwise distance of those samples' classifier features over
  the same for real images of class c (the reference's held-out real images the classifier labels c),
  so 1 = as varied as real images of that garment, 0 = one image;
* **near-duplicate pairs** (``class_near_dups[c]``): the share of pairs within the class closer than
  the closest pair of real images (the reference's ``dup_threshold``): a class collapsed onto a few
  images scores about one over their number, even when those few are as different as real ones.

The registered metrics are the summaries over classes (mean and worst), each with its per-class
values as parts (``key[class]`` in reports and JSON); two alarms name the classes that collapse
(``class_collapse``) or lose their class (``class_off_target``). They are measured only when the
samples were asked for classes: unconditional models are unchanged.

Floors: the reference's held-out real images are "asked for" the class the classifier gives them,
so the floor of the coverage is 1 by construction (the classifier's own labels stand for the real
classes: the reference holds no other labels), and the floor of the spread is the real-vs-real spread
at the same number of images per class.

numpy only: no Qt, no torch.
"""

from __future__ import annotations

import re
import weakref
from typing import Mapping, Sequence

import numpy as np

from explorer.core import diversity_metrics as DM
from explorer.core.diversity_metrics import (ALARMS, HIGHER_IS_BETTER, LOWER_IS_BETTER, METRICS, PLOTS, AlarmSpec,
                                             Judgement, MetricSpec, PlotSpec, SnapshotOutputs)

# A class whose samples spread less than this share of real images of the class (in classifier
# features) is collapsing onto near-copies: real-vs-real sits at 1 ± ~0.05 at 50 images per class, and
# the bar for the bundled cgan is 0.6 (in pixels); a third is far below any honest generator.
CLASS_SPREAD_MIN = 0.3
# Near-duplicate pairs within one class: real images have essentially none (the threshold is the
# closest real pair); 2 % of the pairs means the class repeats a few dozen images at most.
CLASS_NEAR_DUP_MAX = 0.02
# A class is lost when samples asked for it are labelled as it hardly more often than chance (at
# most CLASS_LOST_CHANCE times 1 / K) while the other classes are kept (their median at least
# CLASS_ACCURACY_GAP higher). Both, because the reference has no real labels: how well the
# classifier itself knows a class is not known here, and real images of hard classes score low too
# (real Shirts: ~0.7 under a good CNN, 0.18 under the tests' PCA classifier, against 0.78 for its other
# classes); chance level is what a generator that ignores the asked class gets for every classifier.
CLASS_LOST_CHANCE = 1.5
CLASS_ACCURACY_GAP = 0.4
# Fewer than this many samples of a class: no spread is measured for it (pairs are too few).
MIN_PER_CLASS = 2
# Real images per class the real spread is measured on (a seeded subset of the held-out pool).
REAL_PER_CLASS = 1000


# --------------------------------------------------------------------------------------------
# Which classifier class each sample was asked for


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def class_map(model_names: Sequence[str], classifier_names: Sequence[str], *, named: bool = True) -> np.ndarray:
    """int64 [K_model]: the classifier class of each model class (by name, ignoring case and
    punctuation: 'T-shirt/top' = 't shirt top'), -1 where the classifier has no such class.

    named=False (a model without class names, e.g. a foreign label input): by index when both have
    the same number of classes, else none."""
    k = len(model_names)
    if not named:
        return np.arange(k, dtype=np.int64) if k == len(classifier_names) else np.full(k, -1, np.int64)
    lookup = {_norm(n): i for i, n in enumerate(classifier_names)}
    return np.array([lookup.get(_norm(n), -1) for n in model_names], np.int64)


def asked_classes(model, classifier_names: Sequence[str], n: int) -> np.ndarray | None:
    """The classifier class each of n evenly spread samples (sample i: model class i % K) was asked
    for, int64 [n] (-1: a class the classifier does not know); None for an unconditional model or
    one whose classes the classifier knows none of."""
    k = model.signature.num_classes
    if not k:
        return None
    named = model.card is not None and len(model.card.class_names) == k
    mapping = class_map(model.class_names, classifier_names, named=named)
    if not (mapping >= 0).any():
        return None
    return mapping[np.arange(n) % k]


# --------------------------------------------------------------------------------------------
# Per-class values


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over the pairs of rows of x [n, F] (NaN for n < 2)."""
    x = np.asarray(x, np.float64)
    n = len(x)
    if n < 2:
        return float("nan")
    return float(_pair_distances(x).mean())


def _pair_distances(x: np.ndarray) -> np.ndarray:
    """Distances of the n (n - 1) / 2 pairs of rows of x [n, F]."""
    x = np.asarray(x, np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    iu = np.triu_indices(len(x), k=1)
    return np.sqrt(np.maximum(d2[iu], 0.0))


_real_spreads: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def real_spreads(reference) -> np.ndarray:
    """float64 [K]: mean pairwise feature distance of real held-out images per predicted class
    (NaN for a class with fewer than MIN_PER_CLASS); cached per reference."""
    if reference not in _real_spreads:
        feats = np.asarray(reference.holdout_features, np.float64)
        labels = np.asarray(reference.holdout_logits).argmax(axis=1)
        rng = np.random.default_rng(reference.seed)
        out = np.full(reference.n_classes, np.nan)
        for c in range(reference.n_classes):
            idx = np.flatnonzero(labels == c)
            if len(idx) > REAL_PER_CLASS:
                idx = np.sort(rng.choice(idx, REAL_PER_CLASS, replace=False))
            out[c] = mean_pairwise_distance(feats[idx])
        _real_spreads[reference] = out
    return _real_spreads[reference]


def _class_names(out: SnapshotOutputs) -> list[str]:
    k = out.logits.shape[1]
    names = out.class_names
    return list(names) if len(names) == k else [str(c) for c in range(k)]


def per_class(out: SnapshotOutputs) -> dict[str, dict[str, float]]:
    """{"accuracy" | "spread" | "near_dups": {class index as str: value}} over the asked classes
    (computed once per SnapshotOutputs)."""
    cached = getattr(out, "_per_class", None)
    if cached is not None:
        return cached
    asked = np.asarray(out.asked)
    predicted = out.logits.argmax(axis=1)
    real = real_spreads(out.reference)
    dup = float(out.reference.dup_threshold)
    acc, spread, dups = {}, {}, {}
    for c in np.unique(asked[asked >= 0]):
        rows = np.flatnonzero(asked == c)
        key = str(int(c))
        acc[key] = float((predicted[rows] == c).mean())
        if len(rows) >= MIN_PER_CLASS:
            d = _pair_distances(out.features[rows])
            dups[key] = float((d < dup).mean())
            if np.isfinite(real[c]) and real[c] > 0:
                spread[key] = float(d.mean() / real[c])
    cached = {"accuracy": acc, "spread": spread, "near_dups": dups}
    out._per_class = cached
    return cached


def _named(out: SnapshotOutputs, values: Mapping[str, float]) -> dict[str, float]:
    """Per-class values keyed by the classifier's class names, for reports."""
    names = _class_names(out)
    return {names[int(k)]: v for k, v in values.items()}


def _summary(out: SnapshotOutputs, which: str, how) -> float:
    values = list(per_class(out)[which].values())
    return float(how(values)) if values else float("nan")


def conditional(out: SnapshotOutputs) -> bool:
    """The samples were asked for classes the classifier knows (a conditional model)."""
    return out.asked is not None and out.logits.shape[1] > 0 and bool((np.asarray(out.asked) >= 0).any())


# --------------------------------------------------------------------------------------------
# Alarms: each names the classes concerned


def _parts(metrics: Mapping[str, float], key: str) -> dict[str, float]:
    return DM.parts_of(metrics, key)


def _class_collapse(j: Judgement) -> str | None:
    if "class_spread_min" not in j.metrics:
        return None
    spread, dups = _parts(j.metrics, "class_spread"), _parts(j.metrics, "class_near_dups")
    bad = []
    for name in dict.fromkeys(list(spread) + list(dups)):
        s, d = spread.get(name, float("nan")), dups.get(name, float("nan"))
        if s < CLASS_SPREAD_MIN or d > CLASS_NEAR_DUP_MAX:
            bad.append(f"{name} (spread {s:.2f} of real, {d:.0%} near-duplicate pairs)")
    if not bad:
        return None
    return (f"{len(bad)} class{'es' if len(bad) > 1 else ''} collapsed onto near-copies: {'; '.join(bad)} "
            f"(limits: spread >= {CLASS_SPREAD_MIN:g}, near-duplicate pairs <= {CLASS_NEAR_DUP_MAX:.0%})")


def _class_off_target(j: Judgement) -> str | None:
    acc = _parts(j.metrics, "class_accuracy")
    if "class_accuracy_min" not in j.metrics or len(acc) < 2:
        return None
    chance = 1.0 / max(j.n_classes, 1)
    bad = []
    for name, a in acc.items():
        others = float(np.median([v for k, v in acc.items() if k != name]))
        if a <= CLASS_LOST_CHANCE * chance and a < others - CLASS_ACCURACY_GAP:
            bad.append(f"{name} {a:.0%} (the others' median {others:.0%})")
    if not bad:
        return None
    return (f"samples asked for {'; '.join(bad)} are labelled as asked hardly more often than chance "
            f"({chance:.0%}) while the other classes are kept")


# --------------------------------------------------------------------------------------------
# Registry entries


def _acc_mean(out):
    return _summary(out, "accuracy", np.mean)


SPECS = (
    MetricSpec("class_accuracy", "class coverage (asked class kept, mean)", HIGHER_IS_BETTER, _acc_mean,
               plot="classes", plot_slot=0, alarm="class_off_target", applies=conditional,
               parts=lambda out: _named(out, per_class(out)["accuracy"])),
    MetricSpec("class_accuracy_min", "class coverage, worst class", HIGHER_IS_BETTER,
               lambda out: _summary(out, "accuracy", np.min), plot="classes", plot_slot=1,
               alarm="class_off_target", applies=conditional),
    MetricSpec("class_spread", "class spread vs real (mean)", HIGHER_IS_BETTER,
               lambda out: _summary(out, "spread", np.mean), alarm="class_collapse", applies=conditional,
               parts=lambda out: _named(out, per_class(out)["spread"])),
    MetricSpec("class_spread_min", "class spread vs real, least diverse class", HIGHER_IS_BETTER,
               lambda out: _summary(out, "spread", np.min), plot="classes", plot_slot=2,
               alarm="class_collapse", applies=conditional),
    MetricSpec("class_near_dups", "near-duplicate pairs, worst class", LOWER_IS_BETTER,
               lambda out: _summary(out, "near_dups", np.max), alarm="class_collapse", applies=conditional,
               parts=lambda out: _named(out, per_class(out)["near_dups"])),
)
PLOT = PlotSpec("classes", "Per asked class: coverage and spread (conditional models)", (0.0, None))
ALARM_SPECS = (
    AlarmSpec("class_collapse", "A class collapsed (its samples are near-copies)", _class_collapse),
    AlarmSpec("class_off_target", "A class is lost (samples asked for it look like other classes)",
              _class_off_target),
)


def register() -> None:
    """Add the class metrics, their plot and alarms to the registries (once)."""
    if SPECS[0].key in METRICS:
        return
    for spec in SPECS:
        METRICS.add(spec)
    PLOTS.add(PLOT)
    for spec in ALARM_SPECS:
        ALARMS.add(spec)


register()
