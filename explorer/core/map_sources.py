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
from explorer.core.gan_feature_map import GanFeatureMap, gan_feature_map
from explorer.io.runtime import LoadedModel


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
