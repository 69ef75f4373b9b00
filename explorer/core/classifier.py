"""The classifier that judges generated images, and its real-data reference.

* :class:`Classifier` — a classifier bundle opened with onnxruntime: images -> (logits, features).
* :func:`build_classifier_reference` / :func:`load_reference` — the :class:`~explorer.core.diversity.RealReference`
  of a classifier on the real images of its own data: Fashion-MNIST (test + train) for the bundled
  one, the image folder it was trained on for one from ``latent-train classifier --data DIR``
  (explorer/core/own_data.py finds that folder). Cached as ``real-reference.npz`` inside the
  classifier's bundle folder (or the user cache when that folder is read-only).

numpy + onnxruntime only: no Qt, no torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from explorer.io import contract
from explorer.core import diversity as D
from explorer.core.metrics import laplacian_variance
from explorer.io.contract import ContractError
from explorer.io.model_error import ModelError
from explorer.io.onnx_file import open_onnx, resolve_onnx_file
from explorer.io.providers import ProviderPlan

DEFAULT_N = 1000  # samples per snapshot: >= 10x the 64 classifier features (metrics.md)
DEFAULT_SEED = 0
REFERENCE_FILE = "real-reference.npz"
FLOOR_NS = (500, 1000, 2000)  # floors computed when a reference is built (others on demand)
CLASSIFY_BATCH = 500


class MonitorError(ValueError):
    """Something the monitor cannot use; ``str()`` is one line: what was expected, what was found."""


# --------------------------------------------------------------------------------------------
# Classifier and real reference


def _classifier_file(path: str | os.PathLike) -> Path:
    """The classifier .onnx file for ``path`` (a file, or a bundle folder holding one); MonitorError otherwise."""
    try:
        return resolve_onnx_file(path, ("classifier",))
    except ModelError as exc:
        raise MonitorError(str(exc)) from None


class Classifier:
    """A contract classifier (role "classifier") run with onnxruntime: images -> logits, features.

    Opened through the one ONNX opener (explorer/io/onnx_file.py): card and role checked, external
    data kept inside its folder, the provider policy ``plan`` applied; MonitorError (one line) otherwise.
    """

    def __init__(self, path: str | os.PathLike, *, plan: ProviderPlan | None = None):
        self.path = _classifier_file(path)
        try:
            opened = open_onnx(self.path, ("classifier",), plan=plan)
        except ModelError as exc:
            raise MonitorError(str(exc)) from None
        self.card, self.session, self.notes = opened.card, opened.session, opened.notes
        self.id = D.file_fingerprint(self.path)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.card.class_names

    def classify(self, images: np.ndarray, batch: int = CLASSIFY_BATCH) -> tuple[np.ndarray, np.ndarray]:
        """images float [N, C, H, W] in [0, 1] -> (logits float32 [N, K], features float32 [N, F])."""
        x = np.asarray(images, np.float32)
        want = self.card.image_shape
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise MonitorError(f"classifier expects images {list(want)} (C, H, W), found {list(x.shape[1:])}")
        logits, feats = [], []
        for s in range(0, len(x), batch):
            lo, fe = self.session.run(None, {"image": contract.from_unit_range(x[s:s + batch], self.card.value_range)})
            logits.append(lo)
            feats.append(fe)
        if not logits:
            return (np.zeros((0, len(self.class_names)), np.float32), np.zeros((0, self.card.feature_dim), np.float32))
        return np.concatenate(logits).astype(np.float32), np.concatenate(feats).astype(np.float32)

    def adapt(self, images_hwc: np.ndarray) -> np.ndarray:
        """float [N, H, W, C] in [0, 1] -> float32 [N, C', H, W] as this classifier takes it (gray <-> RGB)."""
        x = np.asarray(images_hwc, np.float32)
        c, h, w = self.card.image_shape
        if x.shape[1:3] != (h, w):
            raise MonitorError(f"classifier expects {h}x{w} images, the generator makes "
                               f"{x.shape[1]}x{x.shape[2]}; use a classifier trained at that size")
        if x.shape[3] == 3 and c == 1:
            x = x[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
        elif x.shape[3] == 1 and c == 3:
            x = np.repeat(x, 3, axis=3)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def default_classifier() -> Path | None:
    """The bundled classifier's folder when it holds an .onnx file (what every tool judges with by
    default), else None."""
    from explorer.io.paths import bundled_model

    folder = bundled_model("classifier")
    return folder if folder.is_dir() and any(folder.glob("*.onnx")) else None


def reference_locations(classifier: Classifier) -> list[Path]:
    """Where a classifier's reference cache is read from, in order: inside the bundle, then the user cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "latent-explorer" / "references"
    return [classifier.folder / REFERENCE_FILE, cache / f"{classifier.id}.npz"]


def fashion_real_images(data_dir: str | os.PathLike | None = None, *, limit: int | None = None,
                        seed: int = 0) -> tuple[np.ndarray, str]:
    """Fashion-MNIST test + train images uint8 [T, 28, 28] and a dataset id naming what was taken.

    ``limit`` keeps a seeded random subset of that size (tests, quick looks)."""
    from explorer.io.fashion_data import load_split

    test, _ = load_split("test", data_dir)
    train, _ = load_split("train", data_dir)
    images = np.concatenate([test, train])
    dataset_id = f"fashion-mnist/test+train/{len(images)}"
    if limit is not None and limit < len(images):
        images = images[np.sort(np.random.default_rng(seed).permutation(len(images))[:limit])]
        dataset_id = f"fashion-mnist/test+train/subset-{limit}-seed-{seed}"
    return images, dataset_id


def build_reference(classifier: Classifier, images_u8: np.ndarray, *, dataset_id: str, n: int = DEFAULT_N,
                    floor_ns: Sequence[int] = FLOOR_NS, seed: int = 0,
                    progress: Callable[[str], None] | None = None, **build_kwargs) -> D.RealReference:
    """RealReference of ``classifier`` on real images uint8 [T, H, W] or [T, H, W, C].

    n: the k-NN subset size (the monitor's N). Floors for ``floor_ns`` (those the holdout allows)
    are computed now. Also records the real images' sharpness.
    """
    x = np.asarray(images_u8)
    if x.ndim == 3:
        x = x[..., None]
    say = progress or (lambda msg: None)
    logits, feats, sharp = [], [], []
    for s in range(0, len(x), 2000):
        chunk = x[s:s + 2000].astype(np.float32) / 255.0
        lo, fe = classifier.classify(classifier.adapt(chunk))
        logits.append(lo)
        feats.append(fe)
        sharp.append(laplacian_variance(chunk))
        say(f"real-data reference (once per classifier): classified {min(s + 2000, len(x))} of {len(x)} images")
    logits, feats = np.concatenate(logits), np.concatenate(feats)
    hold = build_kwargs.pop("n_holdout", None)
    hold = min(5000, len(x) // 2) if hold is None else hold
    ns = tuple(k for k in floor_ns if k <= hold)
    say("fitting the reference (k-means bins, k-NN radii, real-vs-real floors)")
    ref = D.RealReference.build(logits, feats, classifier_id=classifier.id, dataset_id=dataset_id,
                                n_knn=min(n, len(x) - hold), n_holdout=hold, seed=seed, floor_ns=ns, **build_kwargs)
    ref.real_sharpness = float(np.concatenate(sharp).mean())
    return ref


def save_reference(ref: D.RealReference, classifier: Classifier) -> Path:
    """Save into the classifier's bundle folder, else into the user cache; returns where it went."""
    last = None
    for path in reference_locations(classifier):
        try:
            ref.save(path)
            return path
        except OSError as exc:
            last = exc
    raise MonitorError(f"cannot save the reference anywhere ({last})")


def build_fashion_reference(classifier: Classifier | str | os.PathLike, *, data_dir=None, limit: int | None = None,
                            n: int = DEFAULT_N, save: bool = True,
                            progress: Callable[[str], None] | None = None, **build_kwargs) -> tuple[D.RealReference, Path | None]:
    """Build (and by default save) the Fashion-MNIST reference of a classifier bundle.

    Returns (reference, path written or None). This is what ``latent-explorer reference`` runs.
    """
    clf = classifier if isinstance(classifier, Classifier) else Classifier(classifier)
    if clf.card.image_shape[1:] != (28, 28):
        raise MonitorError(f"{clf.path.name}: takes {clf.card.image_shape} images, Fashion-MNIST is 28x28, and its "
                           "own training data is not recorded (no run folder or registry entry)")
    images, dataset_id = fashion_real_images(data_dir, limit=limit)
    ref = build_reference(clf, images, dataset_id=dataset_id, n=n, progress=progress, **build_kwargs)
    return ref, (save_reference(ref, clf) if save else None)


def build_classifier_reference(classifier: Classifier | str | os.PathLike, *, data_dir=None, limit: int | None = None,
                               n: int = DEFAULT_N, save: bool = True,
                               progress: Callable[[str], None] | None = None,
                               **build_kwargs) -> tuple[D.RealReference, Path | None]:
    """Build (and by default save) the reference of a classifier on its own data: the image folder
    its run or registry entry records (explorer/core/own_data.py), else Fashion-MNIST (``data_dir``)."""
    from explorer.core import own_data

    clf = classifier if isinstance(classifier, Classifier) else Classifier(classifier)
    data = own_data.classifier_data(clf.folder)
    if data is None or data.fashion or (data.data is None and not data.data_id):
        return build_fashion_reference(clf, data_dir=data_dir, limit=limit, n=n, save=save, progress=progress,
                                       **build_kwargs)
    say = progress or (lambda msg: None)
    say(f"reading the real images of {data.label} (the classifier's own data)")
    images = own_data.real_images(data.data, clf.card.image_shape, background=data.background)
    dataset_id = data.data_id or f"folder:{data.data}"
    if limit is not None and limit < len(images):
        images = images[np.sort(np.random.default_rng(0).permutation(len(images))[:limit])]
        dataset_id += f"/subset-{limit}"
    if len(images) < 16:
        raise MonitorError(f"{data.label}: {len(images)} real images are too few for a reference (at least 16)")
    ref = build_reference(clf, images, dataset_id=dataset_id, n=n, progress=progress, **build_kwargs)
    return ref, (save_reference(ref, clf) if save else None)


def load_reference(classifier: Classifier, *, build: bool = True, data_dir=None,
                   progress: Callable[[str], None] | None = None) -> D.RealReference:
    """The cached reference of ``classifier``; when there is none (or it belongs to another file)
    and ``build`` is true, build it from the classifier's own data (:func:`build_classifier_reference`)
    and save it. MonitorError says what to do."""
    stale = None
    for path in reference_locations(classifier):
        if path.is_file():
            try:
                return D.RealReference.load(path, classifier_id=classifier.id)
            except D.StaleReference as exc:
                stale = str(exc)
            except (OSError, ValueError, KeyError) as exc:
                stale = f"{path}: unreadable reference ({type(exc).__name__})"
    if not build:
        raise MonitorError(stale or f"no real-data reference for {classifier.path}; build it with "
                           f"'latent-explorer reference {classifier.folder}'")
    say = progress or (lambda msg: None)
    say("building the real-data reference for this classifier (once; cached next to it)")
    try:
        ref, _ = build_classifier_reference(classifier, data_dir=data_dir, progress=progress)
    except FileNotFoundError as exc:
        raise MonitorError(f"no real-data reference for {classifier.path.name} and {exc}") from None
    return ref
