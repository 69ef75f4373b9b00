"""One image put through a VAE: its reconstruction, latent and scores (the map's "Image in" card)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.core.anomaly import AnomalyReference, decode_unit, vae_scores
from explorer.core.atlas_data import VAEEncoder
from explorer.io.runtime import LoadedModel


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
    note: str = ""  # what was done to fit the model's input ("resized 224×224 → 28×28, converted RGB → gray")


def probe_image(model: LoadedModel, encoder: VAEEncoder, image_u8: np.ndarray, *,
                reference: AnomalyReference | None = None, name: str = "", note: str = "") -> ImageProbe:
    """Encode one uint8 [H, W, C] image (already the model's size and channels), reconstruct it at mu, score it."""
    x = np.asarray(image_u8, np.uint8)[None]
    mu, logvar = encoder.encode(x)
    recon = decode_unit(model, mu)
    e, r = vae_scores(x, mu, logvar, recon)
    probe = ImageProbe(x[0], (recon[0] * 255 + 0.5).astype(np.uint8), mu[0], logvar[0], float(e[0]), float(r[0]),
                       name=name, note=note)
    if reference is not None:
        probe.neg_elbo_pct, probe.recon_error_pct = reference.rank(probe.neg_elbo, probe.recon_error)
    return probe
