"""Metrics for any data set: which classifier judges a model, and what is measured when none can.

* The classifier registry — ``classifiers.json`` in the config folder (``~/.config/latent-explorer``):
  ``latent-train classifier --data DIR`` adds its bundle under DIR's dataset id
  (explorer/io/dataset_id.py) when it finishes, with the bundle's real reference built from DIR.
* :func:`choose_classifier` — for a model (or a run folder): an explicit ``--classifier``; else a
  classifier trained on the same data (the run's config.json records ``data_id``), from the registry
  or a run beside this one; else the bundled Fashion-MNIST classifier when the model was trained on
  Fashion-MNIST or its data is unknown; else none. The choice says which and why, in one line.
* The feature-free space — a fixed random projection of the pixels (:data:`PROJECTION_DIM` dimensions,
  seeded) with its own real reference built from the model's data folder (:func:`pixel_reference`),
  plus near duplicates measured in pixels: what the monitor, ``diversity`` and ``compare`` report
  when no classifier fits the model.

numpy + onnxruntime only: no Qt, no torch.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.core import diversity as D
from explorer.core.metrics import closest_pair_distance, laplacian_variance, near_duplicate_rate
from explorer.io.dataset_id import FASHION_ID
from explorer.io.files import write_bytes_atomic
from explorer.io.run_folder import CONFIG_FILE, MODEL_DIR, read_config

REGISTRY_FILE = "classifiers.json"
PROJECTION_DIM = 64  # as many features as the classifier's penultimate layer
PROJECTION_SEED = 2014  # fixed: every model and every real set is projected by the same matrix
PIXEL_SPACE = f"random projection of pixels ({PROJECTION_DIM}-d, seed {PROJECTION_SEED})"
PIXELS = "pixels"
PIXEL_REFERENCE_MAX = 20_000  # real images a pixel reference is built from (a seeded subset beyond)
PIXEL_HOLDOUT = 2000  # real images kept (uint8) for the pixel near-duplicate floor


# ---- the registry ------------------------------------------------------------------------------

def registry_path() -> Path:
    """``classifiers.json`` in the app's config folder (explorer.core.session.config_dir)."""
    from explorer.core.session import config_dir

    return config_dir() / REGISTRY_FILE


def _read_registry() -> list[dict]:
    try:
        data = json.loads(registry_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = data.get("classifiers") if isinstance(data, dict) else None
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("bundle"), str)] if isinstance(entries, list) else []


def register_classifier(bundle: str | os.PathLike, *, dataset_id: str, data: str | None,
                        image_shape: tuple[int, int, int], background: str = "black") -> Path:
    """Record a classifier bundle trained on ``dataset_id`` (newest last); returns the registry file."""
    bundle = str(Path(bundle).expanduser().resolve())
    entries = [e for e in _read_registry() if e.get("bundle") != bundle]
    entries.append({"bundle": bundle, "dataset_id": dataset_id, "data": data, "image_shape": list(image_shape),
                    "background": background, "registered": time.strftime("%Y-%m-%dT%H:%M:%S")})
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, (json.dumps({"classifiers": entries}, indent=1) + "\n").encode("utf-8"))


def registered_classifiers(dataset_id: str) -> list[dict]:
    """Registry entries for ``dataset_id`` whose bundle still holds a classifier, newest first."""
    return [e for e in reversed(_read_registry())
            if e.get("dataset_id") == dataset_id and (Path(e["bundle"]) / "classifier.onnx").is_file()]


# ---- where a model comes from ------------------------------------------------------------------

def run_dir_of(path: str | os.PathLike) -> Path | None:
    """The run folder a model belongs to: RUN for RUN, RUN/model, RUN/snapshots/epoch-N or a file in
    them (the nearest folder up to three levels holding a config.json with a family), else None."""
    p = Path(path).expanduser().resolve()
    if p.is_file():
        p = p.parent
    for cand in (p, p.parent, p.parent.parent):
        cfg = read_config(cand) if (cand / CONFIG_FILE).is_file() else None
        if cfg is not None and cfg.get("family"):
            return cand
    return None


@dataclass(frozen=True)
class TrainedOn:
    """What a run's config.json says of its data: the folder (None: Fashion-MNIST from the default
    places), its dataset id ("" for runs older than the id), images trained on (0: unknown), image shape."""

    data: str | None
    data_id: str
    train_images: int
    image_shape: tuple[int, int, int] | None
    dataset: str = ""  # the dataset name training recorded ("fashion-mnist" for any folder of its IDX files)
    background: str = "black"  # what transparent pixels were laid onto in training (latent-train --background)

    @property
    def label(self) -> str:
        return self.data or "Fashion-MNIST"

    @property
    def fashion(self) -> bool:
        return self.data_id == FASHION_ID or self.dataset == FASHION_ID or (not self.data_id and self.data is None)


def trained_on(path: str | os.PathLike) -> TrainedOn | None:
    """The data of the run ``path`` belongs to (see :func:`run_dir_of`), or None when it is not from a run."""
    run = run_dir_of(path)
    cfg = read_config(run) if run is not None else None
    if cfg is None:
        return None
    data = cfg.get("data_path") or cfg.get("data")
    shape = None
    if all(isinstance(cfg.get(k), int) for k in ("channels", "image_size")):
        shape = (cfg["channels"], cfg["image_size"], cfg["image_size"])
    count = cfg.get("train_images")
    return TrainedOn(data=str(data) if data else None, data_id=str(cfg.get("data_id") or ""),
                     train_images=count if isinstance(count, int) else 0, image_shape=shape,
                     dataset=str(cfg.get("dataset") or ""), background=str(cfg.get("background") or "black"))


@dataclass(frozen=True)
class ClassifierChoice:
    """The classifier that judges a model (path None: none) and why, in one line; ``data``: what the
    model was trained on, when known (its real images are the pixel space's reference)."""

    path: str | None
    why: str
    data: TrainedOn | None = None


def _beside(run: Path, data_id: str) -> list[Path]:
    """Classifier bundles of runs beside ``run`` (same parent folder) trained on ``data_id``."""
    out = []
    try:
        siblings = sorted(run.parent.iterdir())
    except OSError:
        return out
    for other in siblings:
        bundle = other / MODEL_DIR
        cfg = read_config(other) if other != run and (bundle / "classifier.onnx").is_file() else None
        if cfg is not None and cfg.get("family") == "classifier" and cfg.get("data_id") == data_id:
            out.append(bundle)
    return out


def choose_classifier(model: str | os.PathLike | None, explicit: str | os.PathLike | None = None) -> ClassifierChoice:
    """Which classifier judges ``model`` (a model file, bundle or run folder) and why."""
    from explorer.core.classifier import default_classifier

    data = trained_on(model) if model is not None else None
    if explicit is not None:
        return ClassifierChoice(str(explicit), "given with --classifier", data)
    if data is not None and data.data_id and data.data_id != FASHION_ID:  # the official files: the bundled one
        shape = data.image_shape
        entries = registered_classifiers(data.data_id)
        fits = [e for e in entries if shape is None or tuple(e.get("image_shape") or ()) == shape] or entries
        fits = [e for e in fits if (e.get("background") or "black") == data.background] or fits  # same compositing
        if fits:
            return ClassifierChoice(fits[0]["bundle"], f"trained on the model's data {data.label} "
                                    f"(registered in {registry_path()})", data)
        run = run_dir_of(model)
        beside = _beside(run, data.data_id) if run is not None else []
        if beside:
            return ClassifierChoice(str(beside[0]), f"trained on the model's data {data.label} "
                                    f"(a classifier run beside {run.name})", data)
    if data is not None and not data.fashion:
        return ClassifierChoice(None, f"no classifier trained on {data.label}; train one with "
                                f"'latent-train classifier --data {data.label} --out RUN'", data)
    bundled = default_classifier()
    if bundled is None:
        return ClassifierChoice(None, "no classifier: none given, none bundled", data)
    why = ("the bundled Fashion-MNIST classifier: the model was trained on Fashion-MNIST" if data is not None
           else "the bundled Fashion-MNIST classifier (the default: the model's training data is not recorded)")
    return ClassifierChoice(str(bundled), why, data)


def classifier_data(classifier_folder: str | os.PathLike) -> TrainedOn | None:
    """What a classifier bundle was trained on: its run's config.json, else its registry entry."""
    found = trained_on(classifier_folder)
    if found is not None:
        return found
    folder = str(Path(classifier_folder).expanduser().resolve())
    for e in reversed(_read_registry()):
        if e.get("bundle") == folder:
            shape = tuple(e["image_shape"]) if isinstance(e.get("image_shape"), list) else None
            return TrainedOn(e.get("data"), str(e.get("dataset_id") or ""), 0, shape,
                             background=str(e.get("background") or "black"))
    return None


# ---- real images of a data folder --------------------------------------------------------------

def real_images(data: str | None, image_shape: tuple[int, int, int], *, limit: int | None = None,
                seed: int = 0, background: str = "black") -> np.ndarray:
    """Every real image of ``data`` (None: Fashion-MNIST test + train) as uint8 [T, H, W, C] at ``image_shape``
    (C, H, W): a Fashion-MNIST folder of IDX files, or an image folder read as training reads it.
    limit: a seeded random subset of Fashion-MNIST of that size (taken before resizing); background:
    what transparent pixels are laid onto, as in the training run (``latent-train --background``)."""
    from explorer.io import images as images_io
    from explorer.io.fashion_data import DataNotFound, find_fashion_mnist, load_split

    c, h, w = image_shape
    folder = None if data is None else Path(data).expanduser()
    idx = folder is None
    if folder is not None:
        try:
            find_fashion_mnist(folder)
            idx = True
        except DataNotFound:
            idx = False
    if idx:
        test, _ = load_split("test", folder)
        train, _ = load_split("train", folder)
        x = np.concatenate([test, train])
        if limit is not None and limit < len(x):
            x = x[np.sort(np.random.default_rng(seed).permutation(len(x))[:limit])]
        if (h, w) != x.shape[1:]:
            from PIL import Image

            x = np.stack([np.asarray(Image.fromarray(im).resize((w, h), Image.BILINEAR)) for im in x])
        x = x[..., None]
        return np.repeat(x, 3, axis=3) if c == 3 else x
    try:
        found = images_io.load_image_folder(folder, image_shape, resize=True, convert_colour=True,
                                            skip_unreadable=True, background=images_io.parse_background(background))
    except images_io.ImageFolderError as exc:
        raise FileNotFoundError(f"the model's data: {exc}") from None
    return found.images


# ---- the feature-free space ----------------------------------------------------------------------

def projection_matrix(pixels: int) -> np.ndarray:
    """float32 [pixels, PROJECTION_DIM]: the fixed Gaussian random projection (distances kept on average)."""
    rng = np.random.default_rng([PROJECTION_SEED, int(pixels)])
    return (rng.standard_normal((pixels, PROJECTION_DIM)) / np.sqrt(PROJECTION_DIM)).astype(np.float32)


def project(images01: np.ndarray) -> np.ndarray:
    """float images [N, H, W, C] in [0, 1] -> float32 features [N, PROJECTION_DIM]."""
    x = np.asarray(images01, np.float32).reshape(len(images01), -1)
    return x @ projection_matrix(x.shape[1])


def pixel_space_id(image_shape: tuple[int, int, int]) -> str:
    c, h, w = image_shape
    return f"pixel-projection-{c}x{h}x{w}-d{PROJECTION_DIM}-s{PROJECTION_SEED}"


def build_pixel_reference(images_u8: np.ndarray, *, dataset_id: str, n: int, seed: int = 0,
                          progress: Callable[[str], None] | None = None) -> D.RealReference:
    """The reference of the feature-free space: real images uint8 [T, H, W, C] projected, with floors,
    real sharpness and the pixel near-duplicate threshold (closest real-real pair of the k-NN subset)."""
    x = np.asarray(images_u8)
    if len(x) < 2 * 8:
        raise ValueError(f"{len(x)} real images are too few for a reference (at least 16)")
    say = progress or (lambda msg: None)
    if len(x) > PIXEL_REFERENCE_MAX:
        x = x[np.sort(np.random.default_rng(seed).permutation(len(x))[:PIXEL_REFERENCE_MAX])]
    shape = (x.shape[3], x.shape[1], x.shape[2])
    say(f"pixel-space reference: projecting {len(x)} real images")
    feats = np.concatenate([project(x[s:s + 2000].astype(np.float32) / 255.0) for s in range(0, len(x), 2000)])
    hold = min(5000, len(x) // 2)
    ref = D.RealReference.build(np.zeros((len(x), 0), np.float32), feats, classifier_id=pixel_space_id(shape),
                                dataset_id=dataset_id, n_knn=min(n, len(x) - hold), n_holdout=hold, seed=seed,
                                floor_ns=())
    ref.space = PIXEL_SPACE
    ref.real_sharpness = float(laplacian_variance(x[:5000].astype(np.float32) / 255.0).mean())
    # Near duplicates in pixels: the closest pair of a real set of the k-NN subset's size sets the threshold;
    # a disjoint real set (kept as uint8) gives the floor at any N up to its size.
    order = np.random.default_rng([seed, 1]).permutation(len(x))
    m = min(n, len(x) // 2, PIXEL_HOLDOUT)
    ref.pixel_dup_threshold = closest_pair_distance(x[order[:m]].reshape(m, -1).astype(np.float32) / 255.0)
    ref.pixel_holdout = np.ascontiguousarray(x[order[m:m + PIXEL_HOLDOUT]].reshape(-1, int(np.prod(shape))))
    return ref


def pixel_near_duplicates(images01: np.ndarray, ref: D.RealReference) -> tuple[float, float]:
    """(share of sample pairs closer in pixels than the closest real pair, the same share for real images
    at this N: the floor). images float [N, H, W, C] in [0, 1]."""
    x = np.asarray(images01, np.float32).reshape(len(images01), -1)
    rate = near_duplicate_rate(x, ref.pixel_dup_threshold)
    hold = ref.pixel_holdout
    floor = float("nan")
    if hold is not None and len(hold) >= len(x):
        floor = near_duplicate_rate(hold[:len(x)].astype(np.float32) / 255.0, ref.pixel_dup_threshold)
    return float(rate), float(floor)


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "latent-explorer" / "references"


def pixel_reference(data: TrainedOn, image_shape: tuple[int, int, int], *, n: int,
                    progress: Callable[[str], None] | None = None) -> D.RealReference:
    """The pixel-space reference of ``data`` at ``image_shape``, from the user cache or built now
    (and cached). FileNotFoundError / ValueError (one line) when the data cannot be read."""
    data_id = data.data_id or (FASHION_ID if data.data is None else "")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{data_id or 'unknown'}-{data.background}")
    path = _cache_dir() / f"{safe}-{pixel_space_id(image_shape)}.npz"
    if data_id and path.is_file():
        try:
            ref = D.RealReference.load(path, classifier_id=pixel_space_id(image_shape), dataset_id=data_id)
            if len(ref.knn_features) >= min(n, ref.n_real):
                return ref
        except (D.StaleReference, OSError, ValueError, KeyError):
            pass
    say = progress or (lambda msg: None)
    say(f"reading the real images of {data.label} for the pixel-space reference (once; cached)")
    images = real_images(data.data, image_shape, limit=PIXEL_REFERENCE_MAX, background=data.background)
    ref = build_pixel_reference(images, dataset_id=data_id, n=n, progress=progress)
    if data_id:
        try:
            ref.save(path)
        except OSError:
            pass  # a read-only cache: built again next time
    return ref


def max_n(ref: D.RealReference) -> int:
    """The largest N this reference has floors for (its holdout pool)."""
    return int(len(ref.holdout_features))
