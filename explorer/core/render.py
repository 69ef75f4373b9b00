"""Headless grid rendering (numpy + Pillow): what ``latent-explorer render`` writes."""

from __future__ import annotations

import numpy as np

from explorer.core.latents import SamplingPolicy, sample_latents
from explorer.io.pixels import mark_bad_cells, tile, upscale
from explorer.io.runtime import LoadedModel

def render_grid(model: LoadedModel, rows: int, cols: int, policy: SamplingPolicy = SamplingPolicy(), *,
                scale: int = 1, pad: int = 1, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode a rows x cols grid -> (uint8 image [H', W', C], finite bool [rows*cols])."""
    n = rows * cols
    z = sample_latents(n, model.latent_dim, policy)
    if labels is None and model.signature.num_classes:
        labels = (np.arange(n) // cols) % model.signature.num_classes
    decoded = model.decode(z, labels)
    image = upscale(tile(decoded.pixels, rows, cols, pad=pad), scale)
    if not decoded.finite.all():
        _, h, w = model.image_shape
        image = mark_bad_cells(image, decoded.finite, rows, cols, (h, w), pad, scale)
    return image, decoded.finite
