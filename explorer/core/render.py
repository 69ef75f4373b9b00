"""Headless grid rendering (numpy + Pillow): what ``latent-explorer render`` writes."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from explorer.core.latents import SamplingPolicy, sample_latents
from explorer.io.pixels import mark_bad_cells, tile, upscale
from explorer.io.runtime import LoadedModel

LABEL_GAP = 6  # px between a row label and its row


def render_grid(model: LoadedModel, rows: int, cols: int, policy: SamplingPolicy = SamplingPolicy(), *,
                scale: int = 1, pad: int = 1, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode a rows x cols grid -> (uint8 image [H', W', C], finite bool [rows*cols])."""
    n = rows * cols
    z = sample_latents(n, model.latent_dim, policy)
    if labels is None and model.signature.num_classes:
        labels = (np.arange(n) // cols) % model.signature.num_classes
    return _tiled(model, z, labels, rows, cols, scale=scale, pad=pad)


def class_grid_inputs(model: LoadedModel, classes: Sequence[int], cols: int,
                      policy: SamplingPolicy = SamplingPolicy()) -> tuple[np.ndarray, np.ndarray]:
    """The style x garment grid's inputs: (z float32 [R*C, D], class indices int64 [R*C]), row-major.

    Column c holds the same latent (style) in every row; row r asks for ``classes[r]``."""
    styles = sample_latents(cols, model.latent_dim, policy)
    z = np.tile(styles, (len(classes), 1))
    labels = np.repeat(np.asarray(classes, np.int64), cols)
    return z, labels


def render_class_grid(model: LoadedModel, classes: Sequence[int], cols: int,
                      policy: SamplingPolicy = SamplingPolicy(), *, scale: int = 1, pad: int = 1,
                      row_labels: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Style x garment grid: one row per class in ``classes``, one column per style (latent).

    Returns (uint8 image [H', W', C], finite bool [rows*cols]). ``row_labels`` (one per row) are
    written left of the rows, in a margin; the grid itself is the same pixels either way."""
    z, labels = class_grid_inputs(model, classes, cols, policy)
    image, finite = _tiled(model, z, labels, len(classes), cols, scale=scale, pad=pad)
    if row_labels is not None:
        _, h, _ = model.image_shape
        image = with_row_labels(image, row_labels, cell_height=h * scale, pad=pad * scale)
    return image, finite


def with_row_labels(image: np.ndarray, labels: Sequence[str], *, cell_height: int, pad: int) -> np.ndarray:
    """The grid with a white margin on its left holding one text label per row, vertically centred."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    width = max((int(np.ceil(probe.textlength(t, font=font))) for t in labels), default=0) + 2 * LABEL_GAP
    margin = Image.new("L", (width, image.shape[0]), 255)
    draw = ImageDraw.Draw(margin)
    for r, text in enumerate(labels):
        top, bottom = draw.textbbox((0, 0), text, font=font)[1::2]
        y = pad + r * (cell_height + pad) + (cell_height - (bottom - top)) // 2 - top
        draw.text((LABEL_GAP, y), text, fill=0, font=font)
    left = np.asarray(margin, np.uint8)[..., None]
    left = np.repeat(left, image.shape[2], axis=2)
    return np.concatenate([left, image], axis=1)


def _tiled(model: LoadedModel, z: np.ndarray, labels, rows: int, cols: int, *, scale: int,
           pad: int) -> tuple[np.ndarray, np.ndarray]:
    decoded = model.decode(z, labels)
    image = upscale(tile(decoded.pixels, rows, cols, pad=pad), scale)
    if not decoded.finite.all():
        _, h, w = model.image_shape
        image = mark_bad_cells(image, decoded.finite, rows, cols, (h, w), pad, scale)
    return image, decoded.finite
