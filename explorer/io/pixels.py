"""Pixel helpers: float model output to uint8, grids of cells, enlargement, marking bad cells.

numpy only. Images are uint8 [H, W, C] (C = 1 or 3); batches uint8 [N, H, W, C].
"""

from __future__ import annotations

import numpy as np


def to_uint8(images: np.ndarray, value_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """float [N, H, W, C] in value_range -> (uint8 [N, H, W, C] C-contiguous, finite bool [N]).

    Non-finite pixels become 0 and their sample is flagged, so the UI can mark the cell.
    """
    low, high = value_range
    scale = np.float32(255.0 / (high - low))
    x = np.asarray(images, dtype=np.float32)
    finite_px = np.isfinite(x)
    finite = finite_px.all(axis=tuple(range(1, x.ndim)))  # bool [N]; an empty batch gives an empty mask
    y = (x - np.float32(low)) * scale
    y += np.float32(0.5)
    if not finite.all():
        y[~finite_px] = 0.0
    np.clip(y, 0.0, 255.0, out=y)
    return np.ascontiguousarray(y.astype(np.uint8)), finite


def tile(pixels: np.ndarray, rows: int, cols: int, *, pad: int = 1, fill: int = 0,
         out: np.ndarray | None = None) -> np.ndarray:
    """uint8 [N, H, W, C] -> one uint8 image [rows*(H+pad)-pad... , C] with the cells row-major.

    Cells past N stay ``fill``. ``out`` (the right shape) is reused when given, to avoid allocating.
    """
    n, h, w, c = pixels.shape
    H, W = rows * (h + pad) + pad, cols * (w + pad) + pad
    if out is None or out.shape != (H, W, c):
        out = np.full((H, W, c), fill, np.uint8)
    k = min(n, rows * cols)
    if k == rows * cols and pad >= 0:
        # One strided copy for a full grid: view the output as [rows, H+pad, cols, W+pad, C].
        body = out[pad:pad + rows * (h + pad), pad:pad + cols * (w + pad)]
        view = body.reshape(rows, h + pad, cols, w + pad, c)
        view[:, :h, :, :w] = pixels[:k].reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4)
        return out
    for i in range(k):
        r, q = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        out[y:y + h, x:x + w] = pixels[i]
    return out


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of uint8 [H, W, C] by an integer factor."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


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
