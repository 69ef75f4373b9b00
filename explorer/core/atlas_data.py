"""The data behind the latent map (numpy + onnxruntime; no Qt, no torch, nothing unpickled).

* :class:`MapPoints` — what the map shows: vectors [N, D] (latent means, or classifier features for
  GANs), labels, class names, optional thumbnails of the original images, and what it is.
* :func:`atlas_points` — a VAE bundle's atlas (encoder means of the test split).
* :class:`VAEEncoder` — a contract encoder: images -> (mu, logvar), with input checks.
* :func:`load_image_folder`, :func:`load_idx_set`, :func:`fashion_set` — image sets a user encodes.
* :func:`encode_set` — encode an :class:`ImageSet` in batches with progress and cancel; the result
  is cached (``.npz`` of plain arrays, written atomically) under the user cache and reused.
* :class:`AnomalyReference` — −ELBO and reconstruction error of the test split, so any image's
  score reads as a percentile (the anomaly score of docs: metrics.md).
* :func:`gan_feature_map` — a GAN's samples and real images in classifier-feature space.
* :class:`Job` — run one of the above on a worker thread with progress, cancel and a deliver callback.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.io import contract
from explorer.io.contract import ContractError
from explorer.io.exports import atomic_path
from explorer.core.projection import data_key, knn
from explorer.io import images as images_io
from explorer.io.images import ImageFolderError, ImageSet, read_image
from explorer.io.model_error import ModelError, first_line
from explorer.io.onnx_file import open_onnx
from explorer.io.runtime import LoadedModel

ENCODE_BATCH = 500
CACHE_VERSION = 1


class MapDataError(ValueError):
    """Data the map cannot use. ``str()`` is one line: what was expected, what was found, what to do."""


class Cancelled(Exception):
    """The user cancelled a background job."""


Progress = Callable[[float, str], None]  # (fraction 0..1, message)


def cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "latent-explorer" / "maps"


def save_npz_atomic(path: Path, **arrays) -> Path:
    """Write plain arrays to ``path`` atomically (temporary name in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, ".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


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


# ---- image sets ---------------------------------------------------------------------------------------
# ImageSet and the folder reader are explorer/io/images.py's, shared with training; the map reads a
# folder as it is (no resizing, no colour-to-gray), so a mismatch is reported rather than hidden.


def _read_image(path: Path, channels: int) -> np.ndarray:
    """One image file -> uint8 [H, W, channels], converting channels only where nothing is lost."""
    try:
        return read_image(path, channels, convert_colour=False)
    except ImageFolderError as exc:
        raise MapDataError(str(exc)) from None


def load_image_folder(folder: str | os.PathLike, image_shape: tuple[int, int, int], *,
                      limit: int = 100_000) -> ImageSet:
    """Every image under ``folder`` (recursive; one subfolder per class gives labels) as the model's
    (C, H, W), uint8 [N, H, W, C]. Raises MapDataError naming the first file whose size or channels do
    not fit, or a file that cannot be read, or when there are no images."""
    try:
        return images_io.load_image_folder(folder, image_shape, resize=False, convert_colour=False,
                                           skip_unreadable=False, limit=limit)
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


# ---- reconstructions and the anomaly score ---------------------------------------------------------

def decode_unit(model: LoadedModel, z: np.ndarray) -> np.ndarray:
    """Decode z [N, D] -> float32 [N, H, W, C] in [0, 1] (non-finite pixels become 0.5)."""
    out = []
    for s in range(0, len(z), 1000):
        raw = model.to_hwc(model.decode_raw(np.asarray(z[s:s + 1000], np.float32)))
        out.append(contract.to_unit_range(np.nan_to_num(raw, nan=0.5), model.signature.value_range))
    return np.concatenate(out) if out else np.zeros((0,) + model.image_shape[1:] + model.image_shape[:1], np.float32)


def vae_scores(images_u8: np.ndarray, mu: np.ndarray, logvar: np.ndarray, recon: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(−ELBO nats [N], reconstruction error [N]) at the posterior mean.

    −ELBO = Bernoulli cross-entropy of the pixels (summed) + KL(q(z|x) ‖ N(0, I)); the decoder is
    evaluated once, at z = mu (deterministic, so scores are repeatable). Reconstruction error is
    the mean squared pixel difference in [0, 1].
    """
    x = np.asarray(images_u8, np.float32).reshape(len(images_u8), -1) / 255.0
    r = np.clip(np.asarray(recon, np.float32).reshape(len(recon), -1), 1e-6, 1 - 1e-6)
    bce = -(x * np.log(r) + (1 - x) * np.log1p(-r)).sum(axis=1)
    kl = 0.5 * (np.exp(logvar) + mu ** 2 - 1.0 - logvar).sum(axis=1)
    return (bce + kl).astype(np.float32), ((x - r) ** 2).mean(axis=1).astype(np.float32)


@dataclass(frozen=True)
class AnomalyReference:
    """−ELBO and reconstruction error of the test split (sorted), to turn a score into a percentile."""

    neg_elbo: np.ndarray
    recon_error: np.ndarray

    @staticmethod
    def percentile(sorted_values: np.ndarray, v: float) -> float:
        """Share (in %) of the test images scoring at most v."""
        return 100.0 * float(np.searchsorted(sorted_values, v, side="right")) / max(len(sorted_values), 1)

    def rank(self, neg_elbo: float, recon_error: float) -> tuple[float, float]:
        return self.percentile(self.neg_elbo, neg_elbo), self.percentile(self.recon_error, recon_error)


def anomaly_reference(model: LoadedModel, encoder: VAEEncoder, test: ImageSet, *,
                      progress: Progress | None = None, cancelled: Callable[[], bool] = _never,
                      use_cache: bool = True) -> AnomalyReference:
    """Score every test image (encode, decode at mu); cached by (encoder, decoder, images)."""
    from explorer.core.diversity import file_fingerprint

    say = progress or (lambda f, m: None)
    key = data_key(test.images[:: max(1, len(test.images) // 200)], encoder=encoder.fingerprint,
                   decoder=file_fingerprint(model.path), n=len(test.images), v=CACHE_VERSION)
    path = cache_dir() / f"anomaly-{key}.npz"
    if use_cache and path.is_file():
        try:
            d = load_npz(path)
            return AnomalyReference(d["neg_elbo"], d["recon_error"])
        except (OSError, ValueError, KeyError):
            pass
    scores_e, scores_r = [], []
    n = len(test.images)
    for s in range(0, n, ENCODE_BATCH):
        if cancelled():
            raise Cancelled()
        x = test.images[s:s + ENCODE_BATCH]
        mu, logvar = encoder.encode(x)
        e, r = vae_scores(x, mu, logvar, decode_unit(model, mu))
        scores_e.append(e)
        scores_r.append(r)
        say(min(s + ENCODE_BATCH, n) / n, f"scoring the test split: {min(s + ENCODE_BATCH, n):,} of {n:,}")
    ref = AnomalyReference(np.sort(np.concatenate(scores_e)), np.sort(np.concatenate(scores_r)))
    if use_cache:
        try:
            save_npz_atomic(path, neg_elbo=ref.neg_elbo, recon_error=ref.recon_error)
        except OSError:
            pass
    return ref


@dataclass
class ImageProbe:
    """One image put through the VAE: original, reconstruction, latent, scores (and their percentiles)."""

    image: np.ndarray  # uint8 [H, W, C]
    recon: np.ndarray  # uint8 [H, W, C]
    mu: np.ndarray  # float32 [D]
    logvar: np.ndarray
    neg_elbo: float
    recon_error: float
    neg_elbo_pct: float | None = None
    recon_error_pct: float | None = None
    name: str = ""


def probe_image(model: LoadedModel, encoder: VAEEncoder, image_u8: np.ndarray, *,
                reference: AnomalyReference | None = None, name: str = "") -> ImageProbe:
    """Encode one uint8 [H, W, C] image, reconstruct it at mu, score it."""
    x = np.asarray(image_u8, np.uint8)[None]
    mu, logvar = encoder.encode(x)
    recon = decode_unit(model, mu)
    e, r = vae_scores(x, mu, logvar, recon)
    probe = ImageProbe(x[0], (recon[0] * 255 + 0.5).astype(np.uint8), mu[0], logvar[0], float(e[0]), float(r[0]),
                       name=name)
    if reference is not None:
        probe.neg_elbo_pct, probe.recon_error_pct = reference.rank(probe.neg_elbo, probe.recon_error)
    return probe


def read_image_for(encoder: VAEEncoder, path: str | os.PathLike) -> np.ndarray:
    """One image file as the encoder takes it: uint8 [H, W, C]; MapDataError with the reason otherwise."""
    path = Path(path)
    if not path.is_file():
        raise MapDataError(f"{path}: not a file")
    c, h, w = encoder.image_shape
    arr = _read_image(path, c)
    if arr.shape[:2] != (h, w):
        raise MapDataError(f"{path.name}: the image is {arr.shape[1]}x{arr.shape[0]}, the model takes {w}x{h}; "
                           "resize it first")
    return arr


# ---- GAN: classifier-feature map -----------------------------------------------------------------------

@dataclass
class GanFeatureMap:
    """Real images and generated samples in classifier-feature space.

    real: MapPoints (kind "gan-real", labels = true classes, images = the real uint8 images);
    samples: MapPoints (kind "gan-samples", labels = predicted class, latents = generator z,
    images = the samples). Share a feature space of dimension F.
    """

    real: MapPoints
    samples: MapPoints
    classifier_name: str
    generator_path: str = ""
    real_is_train: np.ndarray | None = None  # bool [R]; the memorisation check searches these only

    @property
    def searches_training_images(self) -> bool:
        return self.real_is_train is not None and bool(self.real_is_train.any())

    def nearest_real(self, sample_index: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """The k real (training, when known) images closest to a generated sample in feature space:
        the memorisation check. Returns (indices into ``real``, distances), nearest first."""
        v = self.samples.vectors[sample_index]
        if not self.searches_training_images:
            return self.real.nearest(v, k)
        if getattr(self, "_train_idx", None) is None:
            self._train_idx = np.flatnonzero(self.real_is_train)
            self._train_vec = np.ascontiguousarray(self.real.vectors[self._train_idx])
        idx, dist = knn(self._train_vec, v, k)
        return self._train_idx[idx], dist


def real_features(classifier, images: ImageSet, *, progress: Progress | None = None,
                  cancelled: Callable[[], bool] = _never, use_cache: bool = True) -> np.ndarray:
    """Classifier features float32 [N, F] of real images, cached per (classifier, images)."""
    say = progress or (lambda f, m: None)
    key = data_key(images.images[:: max(1, len(images.images) // 500)], clf=classifier.id,
                   n=len(images.images), v=CACHE_VERSION)
    path = cache_dir() / f"features-{key}.npz"
    if use_cache and path.is_file():
        try:
            return load_npz(path)["features"]
        except (OSError, ValueError, KeyError):
            pass
    feats = []
    n = len(images.images)
    for s in range(0, n, 2000):
        if cancelled():
            raise Cancelled()
        chunk = images.images[s:s + 2000].astype(np.float32) / 255.0
        feats.append(classifier.classify(classifier.adapt(chunk))[1])
        say(min(s + 2000, n) / n, f"classifier features of real images: {min(s + 2000, n):,} of {n:,}")
    out = np.concatenate(feats).astype(np.float32)
    if use_cache:
        try:
            save_npz_atomic(path, features=out)
        except OSError:
            pass
    return out


def gan_feature_map(generator: LoadedModel, classifier, real: ImageSet, *, n_samples: int = 2000,
                    seed: int = 0, progress: Progress | None = None,
                    cancelled: Callable[[], bool] = _never) -> GanFeatureMap:
    """Decode ``n_samples`` prior latents, classify them and the real images (features cached)."""
    from explorer.core.latents import SamplingPolicy, sample_latents

    say = progress or (lambda f, m: None)
    z = sample_latents(n_samples, generator.latent_dim, SamplingPolicy(seed))
    # Fail fast (before minutes of classifying real images) when the classifier cannot read the samples.
    probe = generator.decode(z[:2], None if not generator.signature.num_classes else np.arange(2) %
                             generator.signature.num_classes)
    classifier.adapt(probe.pixels.astype(np.float32) / 255.0)
    feats = real_features(classifier, real, progress=lambda f, m: say(0.7 * f, m), cancelled=cancelled)
    pix, logits, gfeats = [], [], []
    for s in range(0, n_samples, 500):
        if cancelled():
            raise Cancelled()
        dec = generator.decode(z[s:s + 500], None if not generator.signature.num_classes
                               else np.arange(s, min(s + 500, n_samples)) % generator.signature.num_classes)
        lo, fe = classifier.classify(classifier.adapt(dec.pixels.astype(np.float32) / 255.0))
        pix.append(dec.pixels)
        logits.append(lo)
        gfeats.append(fe)
        say(0.7 + 0.3 * min(s + 500, n_samples) / n_samples, f"generated and classified {min(s + 500, n_samples):,} samples")
    logits = np.concatenate(logits)
    names = tuple(classifier.class_names)
    real_pts = MapPoints(feats, real.labels, names, source=real.source, kind="gan-real", images=real.images)
    samples = MapPoints(np.concatenate(gfeats), logits.argmax(axis=1), names,
                        source=f"{generator.name}: {n_samples:,} samples", kind="gan-samples",
                        images=np.concatenate(pix), latents=z)
    return GanFeatureMap(real_pts, samples, classifier_name=classifier.path.parent.name,
                         generator_path=str(generator.path), real_is_train=real.is_train)


# ---- background jobs ------------------------------------------------------------------------------------

@dataclass
class JobResult:
    name: str
    value: object = None
    error: str | None = None
    cancelled: bool = False
    seconds: float = 0.0


class Job:
    """Run ``work(progress, cancelled)`` on a daemon thread; ``deliver(JobResult)`` from that thread.

    ``on_progress(fraction, message)`` is also called from the worker thread (the Qt layer queues both
    onto the GUI thread). ``cancel()`` asks the work to stop at its next check.
    """

    def __init__(self, name: str, work: Callable[[Progress, Callable[[], bool]], object],
                 deliver: Callable[[JobResult], None], on_progress: Progress | None = None):
        self.name = name
        self._work = work
        self._deliver = deliver
        self._progress = on_progress or (lambda f, m: None)
        self._cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"map-{name}", daemon=True)

    def start(self) -> "Job":
        self.thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _run(self) -> None:
        from explorer.io.blas import limit_blas_threads

        limit_blas_threads(1)
        t0 = time.perf_counter()
        try:
            value = self._work(self._progress, self._cancel.is_set)
            result = JobResult(self.name, value, seconds=time.perf_counter() - t0)
        except Cancelled:
            result = JobResult(self.name, cancelled=True, seconds=time.perf_counter() - t0)
        except ValueError as exc:  # MapDataError, ModelError, ContractError, MonitorError: one line for the user
            line = (str(exc).splitlines() or [type(exc).__name__])[0]
            result = JobResult(self.name, error=line, seconds=time.perf_counter() - t0)
        except Exception as exc:  # one line for the user; the traceback for a debugging developer
            if os.environ.get("LATENT_EXPLORER_DEBUG"):
                traceback.print_exc()
            msg = str(exc).splitlines()[0] if str(exc) else ""
            result = JobResult(self.name, error=f"{self.name} failed ({type(exc).__name__}: {msg[:160]})",
                               seconds=time.perf_counter() - t0)
        if result.cancelled or not self._cancel.is_set() or result.error:
            self._deliver(result)
        else:
            self._deliver(JobResult(self.name, cancelled=True, seconds=result.seconds))

    def wait(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()
