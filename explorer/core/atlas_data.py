"""The latent map's points: a VAE bundle's atlas, and image sets put through its encoder.

Numpy + onnxruntime; no Qt, no torch, nothing unpickled.

* :class:`MapPoints` — what the map shows: vectors [N, D] (latent means, or classifier features for
  GANs), labels, class names, optional thumbnails of the original images, and what it is.
* :func:`atlas_points` — a VAE bundle's atlas (encoder means of the test split).
* :class:`VAEEncoder` — a contract encoder: images -> (mu, logvar), with input checks;
  :func:`read_image_for` — one image file as it takes it.
* :func:`load_image_folder`, :func:`load_idx_set`, :func:`fashion_set` — image sets a user encodes.
* :func:`encode_set` — encode an :class:`ImageSet` in batches with progress and cancel; the result
  is cached (``explorer.core.map_cache``) and reused.

Beside it: ``anomaly`` (−ELBO percentiles), ``image_probe`` (one image through the VAE),
``gan_feature_map`` (a GAN's samples over real images), ``map_cache``.

Long loops take ``progress(fraction, message)`` and ``cancelled()`` and raise
``explorer.core.worker.Cancelled``: the map runs them as jobs on its latest-only workers
(``explorer.core.map_jobs``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.io import contract
from explorer.io.contract import ContractError
from explorer.core.map_cache import CACHE_VERSION, cache_dir, load_npz, save_npz_atomic
from explorer.core.projection import data_key, knn
from explorer.core.worker import Cancelled, Progress  # the worker's own: a cancelled loop reads as cancelled, not failed
from explorer.io import images as images_io
from explorer.io.images import (BLACK, FittedImage, ImageFolderError, ImageSet, read_image, read_image_fitted,
                                training_background)
from explorer.io.model_error import ModelError, first_line
from explorer.io.onnx_file import open_onnx
from explorer.io.runtime import LoadedModel

ENCODE_BATCH = 500


class MapDataError(ValueError):
    """Data the map cannot use. ``str()`` is one line: what was expected, what was found, what to do."""


# ---- what the map shows ---------------------------------------------------------------------------

@dataclass
class MapPoints:
    """Points of the latent map.

    vectors float32 [N, D]: encoder means (VAE) or classifier features (GAN map).
    labels int64 [N]: class index, -1 = unlabelled (drawn grey); class_names [K].
    logvar float32 [N, D] or None. images uint8 [N, H, W, C] or None: the originals (user sets),
    shown next to the reconstruction on hover. latents float32 [N, Dz] or None: for GAN samples,
    the generator latent behind each point. kind: "atlas", "user", "gan-real", "gan-samples".
    """

    vectors: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    kind: str = "atlas"
    logvar: np.ndarray | None = None
    images: np.ndarray | None = None
    latents: np.ndarray | None = None
    names: tuple[str, ...] = ()
    _sq: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        self.vectors = np.ascontiguousarray(self.vectors, np.float32)
        self.labels = np.asarray(self.labels, np.int64)
        if self.vectors.ndim != 2 or self.labels.shape != (len(self.vectors),):
            raise MapDataError(f"{self.source}: vectors {list(self.vectors.shape)} and labels "
                               f"{list(self.labels.shape)} disagree")

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def nearest(self, v: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """The k points nearest to v [D] in vector space: (indices [k], distances [k])."""
        if self._sq is None:
            self._sq = np.einsum("ij,ij->i", self.vectors, self.vectors)
        return knn(self.vectors, v, k, sq_norms=self._sq)

    def class_mix(self, indices: np.ndarray) -> list[tuple[str, int]]:
        """(class name, count) of the points ``indices``, most frequent first ("unlabelled" for -1)."""
        labs = self.labels[np.asarray(indices, np.int64)]
        out = []
        for lab in np.unique(labs):
            name = "unlabelled" if lab < 0 else (self.class_names[lab] if lab < len(self.class_names) else f"class {lab}")
            out.append((name, int((labs == lab).sum())))
        return sorted(out, key=lambda t: -t[1])


def atlas_points(model: LoadedModel) -> MapPoints:
    """The atlas of a VAE bundle as map points; MapDataError (one line) when there is none or it is unusable."""
    if model.atlas_path is None:
        raise MapDataError(f"{model.name}: this bundle has no {contract.ATLAS_FILE} (encoder means of the test set); "
                           "encode an image set instead, or re-export the VAE with its atlas")
    try:
        atlas = contract.Atlas.load(model.atlas_path)
    except ContractError as exc:
        raise MapDataError(str(exc)) from None
    if atlas.mu.shape[1] != model.latent_dim:
        raise MapDataError(f"{contract.ATLAS_FILE}: holds {atlas.mu.shape[1]}-d latents, the decoder takes "
                           f"{model.latent_dim}-d; the atlas belongs to another model")
    if not np.isfinite(atlas.mu).all():
        raise MapDataError(f"{contract.ATLAS_FILE}: contains NaN/Inf latents; re-export the VAE")
    return MapPoints(atlas.mu, atlas.labels, atlas.class_names or model.class_names,
                     source=f"atlas ({atlas.split} split, {len(atlas.mu):,} images)", kind="atlas",
                     logvar=atlas.logvar)


# ---- encoders ---------------------------------------------------------------------------------------

class VAEEncoder:
    """A contract encoder (role "encoder"): images -> (mu, logvar), run with onnxruntime.

    Opened through the one ONNX opener (explorer/io/onnx_file.py): card and role checked, external
    data kept inside the bundle folder, the provider policy applied; MapDataError (one line) otherwise.
    """

    def __init__(self, path: str | os.PathLike):
        try:
            opened = open_onnx(path, ("encoder",))
        except ModelError as exc:
            raise MapDataError(str(exc)) from None
        self.path, self.card, self.session = opened.path, opened.card, opened.session
        self._fingerprint: str | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.card.image_shape

    @property
    def latent_dim(self) -> int:
        return int(self.card.latent_dim)

    @property
    def background(self) -> tuple[int, int, int]:
        """What transparent pixels were laid onto in training (the run's config.json; black elsewhere)."""
        return training_background(Path(self.path).parent)

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from explorer.core.diversity import file_fingerprint

            self._fingerprint = file_fingerprint(self.path)
        return self._fingerprint

    def check_images(self, images: np.ndarray, source: str = "images") -> None:
        c, h, w = self.image_shape
        if images.ndim != 4 or images.shape[1:] != (h, w, c):
            got = list(images.shape[1:]) if images.ndim == 4 else list(images.shape)
            raise MapDataError(f"{source}: the encoder takes {h}x{w} images with {c} channel(s), "
                               f"found [H, W, C] = {got}")

    def encode(self, images_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [N, H, W, C] -> (mu float32 [N, D], logvar float32 [N, D]); MapDataError on NaN/Inf."""
        self.check_images(images_u8)
        x = np.ascontiguousarray(images_u8.transpose(0, 3, 1, 2), np.float32) / np.float32(255.0)
        x = contract.from_unit_range(x, self.card.value_range)
        try:
            mu, logvar = self.session.run(["mu", "logvar"], {"image": x})
        except Exception as exc:
            raise MapDataError(f"{self.path.name}: encoding failed ({first_line(exc, 120)})") from None
        bad = ~(np.isfinite(mu).all(axis=1) & np.isfinite(logvar).all(axis=1))
        if bad.any():
            raise MapDataError(f"{self.path.name}: the encoder output NaN/Inf for {int(bad.sum())} of {len(mu)} "
                               "images; this encoder cannot place them on the map")
        return mu.astype(np.float32), logvar.astype(np.float32)


def encoder_for(model: LoadedModel) -> VAEEncoder:
    """The encoder sibling of a VAE decoder; MapDataError when the bundle has none."""
    if model.card is None or model.card.family != "vae":
        raise MapDataError(f"{model.name}: only VAE bundles have an encoder; a GAN's map uses classifier features")
    name = model.card.siblings.get("encoder", contract.BUNDLE_FILES["encoder"])
    path = model.path.parent / name
    if not path.is_file():
        raise MapDataError(f"{model.name}: this VAE bundle has no encoder ({name} missing); images cannot be "
                           "placed on the map")
    enc = VAEEncoder(path)
    if enc.latent_dim != model.latent_dim:
        raise MapDataError(f"{path.name}: encodes to {enc.latent_dim}-d, the decoder takes {model.latent_dim}-d")
    return enc


def fitted_image_for(encoder: VAEEncoder, path: str | os.PathLike, *,
                     background: int | tuple[int, int, int] | None = None) -> FittedImage:
    """One image file made to fit the encoder's input (resized, centred, colour and alpha converted;
    ``explorer.io.images.fit_image``), with what was done in words; MapDataError with the reason when
    it is not a readable image file. background: the training images' background (None: the one the
    encoder's run was trained with, ``encoder.background``)."""
    path = Path(path)
    if not path.is_file():
        raise MapDataError(f"{path}: not a file")
    try:
        return read_image_fitted(path, encoder.image_shape,
                                 background=encoder.background if background is None else background)
    except ImageFolderError as exc:
        raise MapDataError(str(exc)) from None


def read_image_for(encoder: VAEEncoder, path: str | os.PathLike) -> np.ndarray:
    """One image file that already has the encoder's size: uint8 [H, W, C]; MapDataError with the reason
    otherwise (strict; :func:`fitted_image_for` makes any image fit and says how)."""
    path = Path(path)
    if not path.is_file():
        raise MapDataError(f"{path}: not a file")
    c, h, w = encoder.image_shape
    arr = _read_image(path, c, encoder.background)
    if arr.shape[:2] != (h, w):
        raise MapDataError(f"{path.name}: the image is {arr.shape[1]}x{arr.shape[0]}, the model takes {w}x{h}; "
                           "resize it first")
    return arr


# ---- image sets ---------------------------------------------------------------------------------------
# ImageSet and the folder reader are explorer/io/images.py's, shared with training; the map reads a
# folder as it is (no resizing, no colour-to-gray), so a mismatch is reported rather than hidden.


def _read_image(path: Path, channels: int, background: tuple[int, int, int] = BLACK) -> np.ndarray:
    """One image file -> uint8 [H, W, channels], converting channels only where nothing is lost."""
    try:
        return read_image(path, channels, convert_colour=False, background=background)
    except ImageFolderError as exc:
        raise MapDataError(str(exc)) from None


def load_image_folder(folder: str | os.PathLike, image_shape: tuple[int, int, int], *,
                      limit: int = 100_000, background: tuple[int, int, int] = BLACK) -> ImageSet:
    """Every image under ``folder`` (recursive; one subfolder per class gives labels) as the model's
    (C, H, W), uint8 [N, H, W, C]. Raises MapDataError naming the first file whose size or channels do
    not fit, or a file that cannot be read, or when there are no images. Transparent pixels go onto
    ``background`` (the model's training background: ``VAEEncoder.background``)."""
    try:
        return images_io.load_image_folder(folder, image_shape, resize=False, convert_colour=False,
                                           skip_unreadable=False, limit=limit, background=background)
    except ImageFolderError as exc:
        raise MapDataError(str(exc)) from None


def load_idx_set(images_path: str | os.PathLike, labels_path: str | os.PathLike | None = None,
                 class_names: tuple[str, ...] = ()) -> ImageSet:
    """An IDX image file ([N, H, W] or [N, H, W, C] uint8) with optional IDX labels."""
    from explorer.io.fashion_data import read_idx

    try:
        images = read_idx(images_path)
        labels = read_idx(labels_path).astype(np.int64) if labels_path else np.full(len(images), -1, np.int64)
    except (OSError, ValueError) as exc:
        raise MapDataError(str(exc).splitlines()[0]) from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise MapDataError(f"{Path(images_path).name}: expected uint8 images [N, H, W(, C)], "
                           f"found {images.dtype} {list(images.shape)}")
    if labels.shape != (len(images),):
        raise MapDataError(f"{Path(labels_path).name}: {len(labels)} labels for {len(images)} images")
    if images.ndim == 3:
        images = images[..., None]
    return ImageSet(images, labels, source=Path(images_path).name, class_names=class_names)


def fashion_set(split: str = "all", data_dir=None) -> ImageSet:
    """Fashion-MNIST "test" (10k), "train" (60k) or "all" (test first, then train: 70k), labelled."""
    from explorer.io.fashion_data import load_split

    try:
        parts = [load_split(s, data_dir) for s in (("test", "train") if split == "all" else (split,))]
    except (OSError, ValueError) as exc:
        raise MapDataError(str(exc).splitlines()[0]) from None
    splits = ("test", "train") if split == "all" else (split,)
    images = np.concatenate([p[0] for p in parts])[..., None]
    labels = np.concatenate([p[1] for p in parts])
    is_train = np.concatenate([np.full(len(p[1]), s == "train") for p, s in zip(parts, splits)])
    return ImageSet(images, labels, source=f"Fashion-MNIST {split} ({len(images):,})",
                    class_names=contract.FASHION_MNIST_CLASSES, is_train=is_train)


# ---- encoding with cache ------------------------------------------------------------------------------

def _never(*_a) -> bool:
    return False


def encode_set(encoder: VAEEncoder, images: ImageSet, *, progress: Progress | None = None,
               cancelled: Callable[[], bool] = _never, use_cache: bool = True,
               keep_images: bool = True) -> MapPoints:
    """Encode an image set in batches; cached by (encoder file, images) under :func:`cache_dir`.

    Raises Cancelled when ``cancelled()`` turns true between batches, MapDataError for bad input.
    """
    say = progress or (lambda f, m: None)
    encoder.check_images(images.images, images.source)
    key = data_key(images.images, images.labels, encoder=encoder.fingerprint, v=CACHE_VERSION)
    path = cache_dir() / f"encoded-{key}.npz"
    kind = "user"
    keep = images.images if keep_images else None
    if use_cache and path.is_file():
        try:
            d = load_npz(path)
            say(1.0, f"{images.source}: loaded from cache")
            return MapPoints(d["mu"], images.labels, images.class_names, source=images.source, kind=kind,
                             logvar=d["logvar"], images=keep, names=images.names)
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: encode again
    n = len(images.images)
    mu = np.empty((n, encoder.latent_dim), np.float32)
    logvar = np.empty_like(mu)
    t0 = time.perf_counter()
    for s in range(0, n, ENCODE_BATCH):
        if cancelled():
            raise Cancelled()
        e = min(s + ENCODE_BATCH, n)
        mu[s:e], logvar[s:e] = encoder.encode(images.images[s:e])
        say(e / n, f"encoded {e:,} of {n:,} images ({time.perf_counter() - t0:.1f} s)")
    if use_cache:
        try:
            save_npz_atomic(path, mu=mu, logvar=logvar, version=np.array(CACHE_VERSION))
        except OSError:
            pass  # a read-only cache only costs a re-encode next time
    return MapPoints(mu, images.labels, images.class_names, source=images.source, kind=kind, logvar=logvar,
                     images=keep, names=images.names)
