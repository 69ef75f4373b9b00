"""What the latent map can show, as work for its background jobs (Qt-free).

Each ``*_work`` function checks what it can at once (raising a one-line error) and returns
``work(progress, cancelled)`` for :class:`explorer.core.map_jobs.MapJobs`: the slow part (reading
and encoding images, classifying real and generated ones, scoring the test split) runs there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.core import atlas_data as A
from explorer.core.anomaly import AnomalyReference, anomaly_reference
from explorer.core.gan_feature_map import GanFeatureMap, gan_feature_map, real_features
from explorer.core.worker import Cancelled
from explorer.io.runtime import LoadedModel

MAX_GAN_POINTS = 1_000_000  # gan:N takes N up to this
GAN_CHUNK = 2000            # samples generated and classified per step of a gan:N job


class PointsSpecError(ValueError):
    """A --points value that names nothing the map can load (one line)."""


def parse_points_spec(spec: str) -> tuple[str, str | int]:
    """What ``--points`` names: ("gan", N) for ``gan:N``, ("folder", path) for a folder of images,
    ("idx", path) for an IDX image file. PointsSpecError (one line) otherwise."""
    text = str(spec).strip()
    if text.lower().startswith("gan:"):
        count = text[4:].strip().replace(",", "").replace("_", "")
        if not count.isdigit():
            raise PointsSpecError(f"--points gan:N expects a whole number of samples, found {text!r}")
        n = int(count)
        if not 1 <= n <= MAX_GAN_POINTS:
            raise PointsSpecError(f"--points gan:N expects N from 1 to {MAX_GAN_POINTS:,}, found {n:,}")
        return "gan", n
    if not text:
        raise PointsSpecError("--points expects a folder of images, an IDX file or gan:N, found nothing")
    path = Path(text).expanduser()
    if path.is_dir():
        return "folder", str(path)
    if path.is_file():
        return "idx", str(path)
    raise PointsSpecError(f"--points: no such folder or file: {text} (expected a folder of images, "
                          "an IDX file or gan:N)")


def fashion_images_behind(points: A.MapPoints, model: LoadedModel) -> np.ndarray | None:
    """uint8 [N, 28, 28, 1] when the atlas is the Fashion-MNIST test split (its images serve the
    nearest-real strip), else None."""
    if len(points) != 10000 or model.image_shape != (1, 28, 28):
        return None
    try:
        test = A.fashion_set("test")
    except A.MapDataError:
        return None
    return test.images if np.array_equal(test.labels, points.labels) else None


def encode_work(encoder: A.VAEEncoder, key: str, path: str | None, image_shape: tuple[int, int, int],
                class_names: tuple[str, ...] = ()):
    """Encode Fashion-MNIST ("fashion", all 70k), an image folder ("folder") or an IDX file ("idx")."""

    def work(progress, cancelled) -> A.MapPoints:
        if key == "fashion":
            images = A.fashion_set("all")
        elif key == "folder":
            images = A.load_image_folder(path, image_shape, background=encoder.background)
        else:
            lab = str(path).replace("images-idx3", "labels-idx1")
            images = A.load_idx_set(path, lab if lab != str(path) and Path(lab).is_file() else None,
                                    class_names=class_names)
        progress(0.0, f"encoding {images.source}")
        return A.encode_set(encoder, images, progress=progress, cancelled=cancelled)

    return work


def gan_map_work(generator: LoadedModel, classifier_path: str | os.PathLike | None, *, n_samples: int = 1000,
                 real_split: str = "all"):
    """Classify generated samples and real images; MonitorError at once when there is no usable classifier."""
    from explorer.core.classifier import Classifier
    from explorer.io.paths import bundled_model

    clf = Classifier(classifier_path or bundled_model("classifier"))

    def work(progress, cancelled) -> GanFeatureMap:
        real = A.fashion_set(real_split)
        return gan_feature_map(generator, clf, real, n_samples=n_samples, progress=progress, cancelled=cancelled)

    return work


def anomaly_work(model: LoadedModel, encoder: A.VAEEncoder, test_set: Callable[[], A.ImageSet]):
    """Score the test split (``test_set()`` is read on the worker), so an image's score reads as a percentile."""

    def work(progress, cancelled) -> AnomalyReference:
        return anomaly_reference(model, encoder, test_set(), progress=progress, cancelled=cancelled)

    return work


def gan_points_work(generator: LoadedModel, classifier_path: str | os.PathLike | None, n: int, *,
                    seed: int = 0, real_split: str = "all"):
    """``n`` generated samples (up to a million) over the real images, in the classifier's features.

    Unlike :func:`gan_map_work` the samples' images are not kept (a million 28 x 28 images would be
    784 MB): the samples keep their latents and are decoded again when hovered or selected. Made
    in chunks of ``GAN_CHUNK`` with progress and a cancel check between chunks; the latents are the
    same rows :func:`explorer.core.latents.sample_latents` draws for the seed."""
    from explorer.core.classifier import Classifier
    from explorer.io.paths import bundled_model

    clf = Classifier(classifier_path or bundled_model("classifier"))
    n = int(n)

    def work(progress, cancelled) -> GanFeatureMap:
        real = A.fashion_set(real_split)
        feats_real = real_features(clf, real, progress=lambda f, m: progress(0.1 * f, m), cancelled=cancelled)
        rng = np.random.default_rng(seed)
        d = generator.latent_dim
        classes = generator.signature.num_classes
        latents = np.empty((n, d), np.float32)
        labels = np.empty(n, np.int64)
        feats = None
        for s in range(0, n, GAN_CHUNK):
            if cancelled():
                raise Cancelled()
            e = min(s + GAN_CHUNK, n)
            z = rng.standard_normal((e - s, d)).astype(np.float32)
            dec = generator.decode(z, None if not classes else np.arange(s, e) % classes)
            lo, fe = clf.classify(clf.adapt(dec.pixels.astype(np.float32) / 255.0))
            if feats is None:
                feats = np.empty((n, fe.shape[1]), np.float32)
            latents[s:e], labels[s:e], feats[s:e] = z, lo.argmax(axis=1), fe
            progress(0.1 + 0.9 * e / n, f"generated and classified {e:,} of {n:,} samples")
        names = tuple(clf.class_names)
        real_pts = A.MapPoints(feats_real, real.labels, names, source=real.source, kind="gan-real",
                               images=real.images)
        samples = A.MapPoints(feats, labels, names, source=f"{generator.name}: {n:,} samples", kind="gan-samples",
                              latents=latents)
        return GanFeatureMap(real_pts, samples, classifier_name=clf.path.parent.name,
                             generator_path=str(generator.path), real_is_train=real.is_train)

    return work
