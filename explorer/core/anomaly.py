"""The VAE anomaly score: −ELBO and reconstruction error, and where an image ranks in the test split.

Numpy + onnxruntime. The test split is scored once per (encoder, decoder) and cached
(``explorer.core.map_cache``), so any image's score reads as a percentile (docs: metrics.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from explorer.core.atlas_data import ENCODE_BATCH, VAEEncoder
from explorer.core.map_cache import CACHE_VERSION, cache_dir, load_npz, save_npz_atomic
from explorer.core.projection import data_key
from explorer.core.worker import Cancelled, Progress
from explorer.io import contract
from explorer.io.images import ImageSet
from explorer.io.runtime import LoadedModel


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
                      progress: Progress | None = None, cancelled: Callable[[], bool] = lambda: False,
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
