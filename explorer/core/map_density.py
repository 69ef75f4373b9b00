"""Maps of a million points (Qt-free): a class-coloured density image and a spatial index of 2-D points.

Zoomed out, the latent map draws :func:`density_image` (a 2-D histogram over the drawn region at
about screen resolution, aggregated with numpy) instead of a marker per point; zoomed in, when at
most :data:`POINT_LIMIT` points are in view, it draws the real points, only those near the view.
:class:`SpatialGrid` answers "which points lie in this box" and "how many, at most" fast enough for
every range change of a drag, for 1e6 points.
"""

from __future__ import annotations

import numpy as np

POINT_LIMIT = 20_000   # at most this many points in view: draw them as markers
SINGLE_ALPHA = 200     # a bin holding one point is as opaque as one marker (explorer/qt/map_canvas.py)
BRIGHTEN = 0.3         # the densest bins are mixed this far towards white


def hex_rgb(color: str) -> tuple[int, int, int]:
    """'#5b9bd5' -> (91, 155, 213)."""
    c = color.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"expected a colour like #5b9bd5, found {color!r}")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def density_image(xy: np.ndarray, colors: np.ndarray, x_range, y_range, width: int, height: int, *,
                  weights: np.ndarray | None = None, reference: float | None = None,
                  single_alpha: int = SINGLE_ALPHA, palette: np.ndarray | None = None) -> np.ndarray:
    """RGBA uint8 [height, width, 4] of the points xy float [N, 2] over the box x_range x y_range.

    colors [N, 3] (0..255, or [3]: one colour for all): each point's class colour. A bin's colour is
    the mean of its points' colours (the mix of its classes, weighted by their counts); a bin with
    one point has alpha ``single_alpha``, denser bins grow towards opaque and brighter on a log scale
    reaching the top at ``reference`` points (default: the densest bin). Empty bins are transparent.
    ``weights`` [N]: how many points each row stands for (default one each). With ``palette``
    uint8 [K, 3], ``colors`` are class indices int [N] into it: the same picture from one histogram
    of (bin, class) pairs, several times faster than averaging colours channel by channel.
    Row 0 is the top of the box (y = y_range[1]); points outside the box are left out, a point on
    the right or top edge falls in the last bin.
    """
    return _density(xy, colors, x_range, y_range, width, height, weights, reference, single_alpha, palette)[0]


def _density(xy, colors, x_range, y_range, width, height, weights, reference, single_alpha, palette=None):
    """(the image, the count of its densest bin)."""
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise ValueError(f"a density image needs at least 1 x 1 bins, asked for {width} x {height}")
    (x0, x1), (y0, y1) = (float(v) for v in x_range), (float(v) for v in y_range)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"empty box: x {x0}..{x1}, y {y0}..{y1}")
    xy = np.asarray(xy, np.float32).reshape(-1, 2)
    colors = np.asarray(colors)
    out = np.zeros((height, width, 4), np.uint8)
    if len(xy) == 0:
        return out, 0.0
    fx = (xy[:, 0] - np.float32(x0)) * np.float32(width / (x1 - x0))
    fy = (np.float32(y1) - xy[:, 1]) * np.float32(height / (y1 - y0))  # row from the top
    keep = (fx >= 0) & (fx <= width) & (fy >= 0) & (fy <= height)
    if not keep.all():
        fx, fy = fx[keep], fy[keep]
        if colors.ndim == 2 or palette is not None:
            colors = colors[keep]
        if weights is not None:
            weights = np.asarray(weights)[keep]
    if len(fx) == 0:
        return out, 0.0
    ix = np.minimum(fx.astype(np.int32), width - 1)
    iy = np.minimum(fy.astype(np.int32), height - 1)
    key = iy * np.int32(width) + ix
    nbins = width * height
    if palette is not None and weights is None:
        palette = np.asarray(palette, np.float32).reshape(-1, 3)
        k = len(palette)
        per_class = np.bincount(key.astype(np.int64) * k + colors, minlength=nbins * k).reshape(nbins, k)
        count = per_class.sum(axis=1)
        filled = np.flatnonzero(count)
        c = count[filled].astype(np.float32)
        rgb = (per_class[filled].astype(np.float32) @ palette) / c[:, None]
    else:
        if palette is not None:
            colors = np.asarray(palette, np.float32)[colors]
        count = np.bincount(key, weights=weights, minlength=nbins)
        filled = np.flatnonzero(count)
        c = count[filled].astype(np.float32)
    if palette is not None and weights is None:
        pass
    elif colors.ndim == 1:
        rgb = np.broadcast_to(colors.astype(np.float32), (len(filled), 3)).copy()
    else:
        rgb = np.empty((len(filled), 3), np.float32)
        for ch in range(3):
            w = colors[:, ch] if weights is None else colors[:, ch] * weights
            rgb[:, ch] = np.bincount(key, weights=w, minlength=nbins)[filled] / c
    top = float(reference) if reference is not None else float(c.max())
    t = np.clip(np.log(np.maximum(c, 1.0)) / np.log(max(top, 2.0)), 0.0, 1.0)
    rgb += (255.0 - rgb) * (BRIGHTEN * t)[:, None]
    alpha = single_alpha + (255.0 - single_alpha) * t
    rgba = np.empty((len(filled), 4), np.uint8)
    rgba[:, :3] = np.clip(rgb + 0.5, 0, 255)
    rgba[:, 3] = np.clip(alpha + 0.5, 0, 255)
    out.reshape(-1).view(np.uint32)[filled] = rgba.view(np.uint32).reshape(-1)  # a pixel is one 4-byte word
    return out, float(c.max())


def point_image(xy: np.ndarray, colors: np.ndarray, x_range, y_range, width: int, height: int, *,
                size: int = 3, alpha: int = SINGLE_ALPHA) -> np.ndarray:
    """RGBA uint8 [height, width, 4]: each point a ``size`` x ``size`` pixel square in its colour.

    The markers of the real points, drawn at screen resolution (one image pixel = one screen pixel):
    what a pixel-mode scatter of square markers paints (where markers overlap, one of them shows),
    at a cost of a few array writes per point instead of Python work per point. colors [N, 3] or [3].
    """
    width, height, size = int(width), int(height), max(1, int(size))
    if width < 1 or height < 1:
        raise ValueError(f"a point image needs at least 1 x 1 pixels, asked for {width} x {height}")
    (x0, x1), (y0, y1) = (float(v) for v in x_range), (float(v) for v in y_range)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"empty box: x {x0}..{x1}, y {y0}..{y1}")
    out = np.zeros((height, width, 4), np.uint8)
    xy = np.asarray(xy, np.float32).reshape(-1, 2)
    if len(xy) == 0:
        return out
    colors = np.asarray(colors, np.uint8)
    ix = np.floor((xy[:, 0] - np.float32(x0)) * np.float32(width / (x1 - x0))).astype(np.int64)
    iy = np.floor((np.float32(y1) - xy[:, 1]) * np.float32(height / (y1 - y0))).astype(np.int64)
    near = (ix > -size) & (ix < width + size) & (iy > -size) & (iy < height + size)
    ix, iy = ix[near], iy[near]
    rgba = np.empty((len(ix), 4), np.uint8)
    rgba[:, :3] = colors[near] if colors.ndim == 2 else colors
    rgba[:, 3] = alpha
    lo = -(size // 2)
    # drawn into a frame ``size`` pixels wider on every side (no bounds checks per marker), then cut
    pw = width + 2 * size
    framed = np.zeros(((height + 2 * size) * pw), np.uint32)  # a pixel is one 4-byte word: 50x faster than rows
    words = rgba.view(np.uint32).reshape(-1)
    base = (iy + size) * pw + (ix + size)
    for dy in range(lo, lo + size):
        for dx in range(lo, lo + size):
            framed[base + (dy * pw + dx)] = words
    out[:] = framed.view(np.uint8).reshape(height + 2 * size, pw, 4)[size:size + height, size:size + width]
    return out


class DensitySource:
    """Points with colours and a :class:`SpatialGrid`, drawn as a density image of any box.

    :meth:`image` bins only the points inside the box (all of them, unindexed, when the box holds
    the whole extent), so a zoomed-in redraw costs what the points in view cost. ``extent``:
    (x0, x1, y0, y1) of the points; ``last_max``: the count of the densest bin of the last image.
    """

    def __init__(self, xy: np.ndarray, colors: np.ndarray, grid: "SpatialGrid | None" = None, *,
                 palette: np.ndarray | None = None):
        self.xy = np.ascontiguousarray(xy, np.float32).reshape(-1, 2)
        self.palette = palette  # given: ``colors`` are class indices into it (see density_image)
        self.colors = np.asarray(colors, np.uint8 if palette is None else np.int64)
        self._grid = grid if grid is not None and grid.n == len(self.xy) else None
        if self._grid is not None:
            self.extent = self._grid.extent  # (x0, x1, y0, y1) of the points, found when the grid was made
        elif len(self.xy):
            lo, hi = self.xy.min(axis=0), self.xy.max(axis=0)
            self.extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        else:
            self.extent = (0.0, 0.0, 0.0, 0.0)
        self.last_max = 0.0

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def grid(self) -> "SpatialGrid":
        """The points' grid: given, or made when the first image is binned (on the density worker,
        so hiding a class of a million points does not sort 900,000 of them on the GUI thread)."""
        if self._grid is None:
            self._grid = SpatialGrid(self.xy)
        return self._grid

    def covers_all(self, x_range, y_range) -> bool:
        x0, x1, y0, y1 = self.extent
        return x_range[0] <= x0 and x_range[1] >= x1 and y_range[0] <= y0 and y_range[1] >= y1

    def image(self, x_range, y_range, width: int, height: int, *, reference: float | None = None,
              single_alpha: int = SINGLE_ALPHA) -> np.ndarray:
        """:func:`density_image` of these points over the box."""
        if self.covers_all(x_range, y_range):
            xy, cols = self.xy, self.colors
        else:
            idx = self.grid.indices_in(x_range[0], x_range[1], y_range[0], y_range[1])
            per_point = self.colors.ndim == 2 or self.palette is not None
            xy, cols = self.xy[idx], (self.colors[idx] if per_point else self.colors)
        image, self.last_max = _density(xy, cols, x_range, y_range, width, height, None, reference, single_alpha,
                                        self.palette)
        return image


class SpatialGrid:
    """Points xy float [N, 2] sorted into a uniform grid of ``cells`` x ``cells`` cells.

    ``indices_in(box)``: the exact indices of the points in a box, by reading only the cells the box
    overlaps (one contiguous run of the sorted order per grid column). ``count_at_most(box)``: an
    upper bound of that count in O(1) (a summed-area table of the cell counts; cells cut by the box
    count whole).
    """

    def __init__(self, xy: np.ndarray, cells: int = 256):
        xy = np.ascontiguousarray(xy, np.float32).reshape(-1, 2)
        self.n = len(xy)
        self.cells = int(cells)
        if self.n:
            self.lo = xy.min(axis=0).astype(np.float64)
            hi = xy.max(axis=0).astype(np.float64)
            self.extent = (float(self.lo[0]), float(hi[0]), float(self.lo[1]), float(hi[1]))  # of the points
        else:
            self.lo, hi = np.zeros(2), np.ones(2)
            self.extent = (0.0, 0.0, 0.0, 0.0)
        self.size = np.maximum((hi - self.lo) / self.cells, 1e-12)
        ij = self._cells(xy)
        key = ij[:, 0] * self.cells + ij[:, 1]
        self.order = np.argsort(key, kind="stable")
        self.sorted_xy = xy[self.order]
        counts = np.bincount(key, minlength=self.cells * self.cells)
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        grid = counts.reshape(self.cells, self.cells)
        self.table = np.zeros((self.cells + 1, self.cells + 1), np.int64)
        self.table[1:, 1:] = grid.cumsum(axis=0).cumsum(axis=1)

    def _cells(self, p: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((p - self.lo) / self.size), 0, self.cells - 1).astype(np.int64)

    def _cell_box(self, x0: float, x1: float, y0: float, y1: float):
        """(i0, i1, j0, j1) of the cells the box overlaps (inclusive), or None when it misses the points."""
        x0, x1 = min(x0, x1), max(x0, x1)
        y0, y1 = min(y0, y1), max(y0, y1)
        hi = self.lo + self.size * self.cells
        if self.n == 0 or x1 < self.lo[0] or y1 < self.lo[1] or x0 > hi[0] or y0 > hi[1]:
            return None
        (i0, j0), (i1, j1) = self._cells(np.array([[x0, y0], [x1, y1]]))
        return int(i0), int(i1), int(j0), int(j1)

    def count_at_most(self, x0: float, x1: float, y0: float, y1: float) -> int:
        """At least as many as the points in the box (the points of every cell it overlaps)."""
        box = self._cell_box(x0, x1, y0, y1)
        if box is None:
            return 0
        i0, i1, j0, j1 = box
        t = self.table
        return int(t[i1 + 1, j1 + 1] - t[i0, j1 + 1] - t[i1 + 1, j0] + t[i0, j0])

    def indices_in(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """int64 [K]: indices of the points with x0 <= x <= x1 and y0 <= y <= y1, ascending."""
        box = self._cell_box(x0, x1, y0, y1)
        if box is None:
            return np.zeros(0, np.int64)
        i0, i1, j0, j1 = box
        cols = np.arange(i0, i1 + 1) * self.cells
        a, b = self.starts[cols + j0], self.starts[cols + j1 + 1]
        runs = [(s, e) for s, e in zip(a.tolist(), b.tolist()) if e > s]
        if not runs:
            return np.zeros(0, np.int64)
        pos = np.concatenate([np.arange(s, e) for s, e in runs])
        p = self.sorted_xy[pos]
        x0, x1 = min(x0, x1), max(x0, x1)
        y0, y1 = min(y0, y1), max(y0, y1)
        inside = (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)
        return np.sort(self.order[pos[inside]])
