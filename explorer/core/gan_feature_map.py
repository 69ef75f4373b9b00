"""A GAN's map: generated samples over real images in a classifier's feature space (Qt-free).

Samples are coloured by the class the classifier predicts; the real images' features are cached
(``explorer.core.map_cache``). ``GanFeatureMap.nearest_real`` is the memorisation check: the
training images closest to a sample in feature space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from explorer.core.atlas_data import MapPoints
from explorer.core.map_cache import CACHE_VERSION, cache_dir, load_npz, save_npz_atomic
from explorer.core.projection import data_key, knn
from explorer.core.worker import Cancelled, Progress
from explorer.io.images import ImageSet
from explorer.io.runtime import LoadedModel


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
                  cancelled: Callable[[], bool] = lambda: False, use_cache: bool = True) -> np.ndarray:
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
                    cancelled: Callable[[], bool] = lambda: False) -> GanFeatureMap:
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
