"""Class inputs of conditional generators: class indices, one-hot rows and blends (numpy only).

A conditional model takes its class one of two ways (``Signature.class_kind``):

- ``"weights"``: a float ``class_weights [N, K]`` input (our cgan / cvae files). A one-hot row asks
  for one class; a row such as 0.3 / 0.7 asks for a blend of two classes.
- ``"label"``: an integer class input ``[N]`` or ``[N, 1]`` (most foreign conditional GANs). It takes
  one class per image: one-hot rows are accepted, blends are refused with the reason.

Everywhere in the app, "classes" for a batch of N latents is either None (class 0), an int array
``[N]`` of class indices, or a float array ``[N, K]`` of class weights; :func:`as_weights` and
:func:`as_labels` turn any of those into what a model takes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from explorer.io.model_error import ModelError

# A row counts as one-hot when its largest weight is 1 and the others 0, within this tolerance.
ONE_HOT_TOLERANCE = 1e-6

LABELS_ONLY = ("this model takes one class per image (an integer class input), so it cannot blend classes; "
               "blends need a model with a class_weights input (a cgan or cvae)")


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """int [N] -> float32 [N, K] with a 1 in each row's class column."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    check_indices(labels, num_classes)
    out = np.zeros((labels.size, num_classes), np.float32)
    out[np.arange(labels.size), labels] = 1.0
    return out


def check_indices(labels: np.ndarray, num_classes: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels[(labels < 0) | (labels >= num_classes)][0])
        raise ModelError(f"class index {bad} is out of range: this model has classes 0..{num_classes - 1}")


def blend(a: int, b: int, t: float | np.ndarray, num_classes: int) -> np.ndarray:
    """Weights (1 - t) on class a and t on class b: float32 [K] for a scalar t, [len(t), K] for an array."""
    check_indices(np.array([a, b]), num_classes)
    t_arr = np.atleast_1d(np.asarray(t, np.float64))
    if not np.all(np.isfinite(t_arr)) or t_arr.min() < 0 or t_arr.max() > 1:
        raise ModelError("a blend between two classes takes mixes from 0 to 1")
    out = np.zeros((t_arr.size, num_classes), np.float32)
    out[:, a] += (1.0 - t_arr).astype(np.float32)
    out[:, b] += t_arr.astype(np.float32)
    return out[0] if np.ndim(t) == 0 else out


def is_one_hot(weights: np.ndarray) -> np.ndarray:
    """bool [N]: rows with a single 1 and zeros elsewhere."""
    w = np.asarray(weights, np.float64)
    top = w.max(axis=1)
    rest = np.abs(w).sum(axis=1) - np.abs(top)
    return (np.abs(top - 1.0) <= ONE_HOT_TOLERANCE) & (rest <= ONE_HOT_TOLERANCE)


def as_weights(classes, n: int, num_classes: int) -> np.ndarray:
    """None / int [N] / float [N, K] -> float32 [N, K] class weights (finite, checked)."""
    if classes is None:
        return one_hot(np.zeros(n, np.int64), num_classes)
    arr = np.asarray(classes)
    if arr.ndim == 2 and arr.shape[1] == 1 and np.issubdtype(arr.dtype, np.integer):
        arr = arr.reshape(-1)
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise ModelError(f"expected {n} class indices, found {arr.shape[0]}")
        if np.issubdtype(arr.dtype, np.floating) and not np.all(arr == np.round(arr)):
            raise ModelError("class indices must be whole numbers")
        return one_hot(arr.astype(np.int64), num_classes)
    if arr.ndim != 2 or arr.shape != (n, num_classes):
        raise ModelError(f"expected class weights [{n}, {num_classes}], found {list(arr.shape)}")
    w = arr.astype(np.float32)
    if not np.all(np.isfinite(w)):
        raise ModelError("class weights must be finite numbers")
    return w


def as_labels(classes, n: int, num_classes: int) -> np.ndarray:
    """None / int [N] / one-hot float [N, K] -> int64 [N]; a blend row raises ModelError (LABELS_ONLY)."""
    if classes is None:
        return np.zeros(n, np.int64)
    arr = np.asarray(classes)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.reshape(-1)
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise ModelError(f"expected {n} class indices, found {arr.shape[0]}")
        labels = arr.astype(np.int64)
        check_indices(labels, num_classes)
        return labels
    w = as_weights(arr, n, num_classes)
    if not np.all(is_one_hot(w)):
        raise ModelError(LABELS_ONLY)
    return w.argmax(axis=1).astype(np.int64)


def class_index(value: str | int, names: Sequence[str]) -> int:
    """A class given by name (case-insensitive) or index -> its index; unknown ones list the valid names."""
    if not names:
        raise ModelError("this model has no class input: it takes no class")
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        i = int(text)
        if 0 <= i < len(names):
            return i
        raise ModelError(f"class {i} is out of range: this model has classes 0..{len(names) - 1} "
                         f"({', '.join(names)})")
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    raise ModelError(f"unknown class {text!r}; valid classes: {', '.join(names)} (or an index 0..{len(names) - 1})")


def parse_stops(text: str) -> list[float]:
    """'0.1,0.5,0.9' -> [0.1, 0.5, 0.9]; each mix in [0, 1], at least one."""
    try:
        stops = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ModelError(f"--stops takes mixes between 0 and 1 separated by commas (like 0.1,0.5,0.9), "
                         f"found {text!r}") from None
    if not stops or not all(np.isfinite(s) and 0.0 <= s <= 1.0 for s in stops):
        raise ModelError(f"--stops takes mixes between 0 and 1 separated by commas (like 0.1,0.5,0.9), "
                         f"found {text!r}")
    return stops


def describe_weights(weights: np.ndarray, names: Sequence[str], *, limit: int = 3) -> str:
    """One row of weights in words: 'Dress' or '30% Dress + 70% Pullover' (largest first)."""
    w = np.asarray(weights, np.float64).reshape(-1)
    order = [i for i in np.argsort(-w) if w[i] > 1e-3][:limit]
    if len(order) == 1 and abs(w[order[0]] - 1.0) <= 1e-3:
        return names[order[0]]
    return " + ".join(f"{w[i] * 100:.0f}% {names[i]}" for i in order) or "no class"
