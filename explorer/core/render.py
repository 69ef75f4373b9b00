"""Headless grid rendering (numpy + Pillow): what ``latent-explorer render`` writes."""

from __future__ import annotations

import numpy as np

from explorer.core.latents import SamplingPolicy, sample_latents
from explorer.io.runtime import LoadedModel, tile, upscale

BAD_CELL_RGB = (220, 40, 40)


def mark_bad_cells(image: np.ndarray, finite: np.ndarray, rows: int, cols: int, cell: tuple[int, int],
                   pad: int, scale: int = 1) -> np.ndarray:
    """Return an RGB copy of a tiled grid with a red frame and cross over cells whose sample is not finite."""
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image.copy()
    h, w = cell
    for i in np.flatnonzero(~np.asarray(finite)):
        if i >= rows * cols:
            continue
        r, q = divmod(int(i), cols)
        y0, x0 = (pad + r * (h + pad)) * scale, (pad + q * (w + pad)) * scale
        ch, cw = h * scale, w * scale
        block = rgb[y0:y0 + ch, x0:x0 + cw]
        block[...] = (block * 0.35).astype(np.uint8)
        t = max(1, scale)
        block[:t], block[-t:], block[:, :t], block[:, -t:] = BAD_CELL_RGB, BAD_CELL_RGB, BAD_CELL_RGB, BAD_CELL_RGB
        for k in range(min(ch, cw)):
            yy = int(k * ch / min(ch, cw))
            xx = int(k * cw / min(ch, cw))
            block[yy, max(0, xx - t // 2):xx + t // 2 + 1] = BAD_CELL_RGB
            block[yy, max(0, cw - 1 - xx - t // 2):cw - xx + t // 2] = BAD_CELL_RGB
    return rgb


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
