"""Map projections: latent (or feature) vectors <-> positions on the 2-D latent map.

Numeric core (numpy only; umap-learn is optional and runs in a child process, see
``explorer.core.umap_worker``). Every projection is a small frozen value object with

* ``forward(x float [N, D]) -> float32 [N, 2]`` — where vectors land on the map;
* ``inverse(p float [M, 2]) -> MapInverse`` — the latent to decode at map positions, and how it
  was obtained (``exact``, ``umap-inverse`` or ``nearest``), so the UI can say which.

``LatentPlane`` (D = 2), ``DimPair`` (two chosen dimensions, the rest held at ``base``) and
``PCAPlane`` have exact inverses: ``forward(inverse(p)) == p`` for every position, empty space
included. ``UMAPMap`` decodes through UMAP's inverse transform sampled on a lattice (where the
worker could compute it) and through the nearest data point elsewhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

EXACT, UMAP_INVERSE, NEAREST = "exact", "umap-inverse", "nearest"
INVERSE_LABELS = {EXACT: "exact inverse", UMAP_INVERSE: "UMAP inverse transform",
                  NEAREST: "nearest data point"}


@dataclass(frozen=True)
class MapInverse:
    """Latents for map positions: z float32 [M, D]; how[M] one of EXACT / UMAP_INVERSE / NEAREST;
    index int [M]: the data point used for NEAREST (-1 otherwise)."""

    z: np.ndarray
    how: np.ndarray
    index: np.ndarray

    @property
    def summary(self) -> str:
        kinds = [k for k in (EXACT, UMAP_INVERSE, NEAREST) if (self.how == k).any()]
        return " + ".join(INVERSE_LABELS[k] for k in kinds) or "nothing"


def _as2d(x, width: int | None = None) -> np.ndarray:
    a = np.asarray(x, np.float32)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or (width is not None and a.shape[1] != width):
        raise ValueError(f"expected an array [N, {width if width is not None else 'D'}], got {list(a.shape)}")
    return a


def _exact(z: np.ndarray) -> MapInverse:
    m = len(z)
    return MapInverse(z.astype(np.float32), np.full(m, EXACT, dtype=object), np.full(m, -1, np.int64))


@dataclass(frozen=True)
class LatentPlane:
    """A 2-D latent space is its own map."""

    name = "Latent plane"
    exact = True

    @property
    def axis_labels(self) -> tuple[str, str]:
        return ("z₀", "z₁")

    def forward(self, x) -> np.ndarray:
        return _as2d(x, 2).copy()

    def inverse(self, p) -> MapInverse:
        return _exact(_as2d(p, 2))


@dataclass(frozen=True)
class DimPair:
    """Two latent dimensions as the axes; the other dimensions are held at ``base`` [D]."""

    dim_x: int
    dim_y: int
    base: np.ndarray = field(compare=False)

    name = "Two dimensions"
    exact = True

    def __post_init__(self):
        d = len(self.base)
        if not (0 <= self.dim_x < d and 0 <= self.dim_y < d) or self.dim_x == self.dim_y:
            raise ValueError(f"pick two different dimensions in 0..{d - 1}, got {self.dim_x} and {self.dim_y}")

    @property
    def axis_labels(self) -> tuple[str, str]:
        return (f"z{self.dim_x}", f"z{self.dim_y}")

    def forward(self, x) -> np.ndarray:
        x = _as2d(x, len(self.base))
        return np.ascontiguousarray(x[:, [self.dim_x, self.dim_y]])

    def inverse(self, p) -> MapInverse:
        p = _as2d(p, 2)
        z = np.repeat(np.asarray(self.base, np.float32)[None], len(p), axis=0)
        z[:, self.dim_x], z[:, self.dim_y] = p[:, 0], p[:, 1]
        return _exact(z)


@dataclass(frozen=True)
class PCAPlane:
    """The plane of the two main principal components of the data.

    mean [D], components [2, D] (orthonormal rows), explained [2] (share of the total variance).
    ``inverse`` returns the point of the plane itself: mean + p @ components, so forward(inverse(p)) = p.
    """

    mean: np.ndarray = field(compare=False)
    components: np.ndarray = field(compare=False)
    explained: np.ndarray = field(compare=False)

    name = "PCA"
    exact = True

    @classmethod
    def fit(cls, x, *, max_points: int = 20000, seed: int = 0) -> "PCAPlane":
        """Fit on x float [N, D] (a seeded subset of ``max_points`` for the covariance; exact enough)."""
        x = _as2d(x).astype(np.float64)
        if len(x) < 2:
            raise ValueError(f"PCA needs at least 2 points, got {len(x)}")
        mean = x.mean(axis=0)
        sub = x if len(x) <= max_points else x[np.random.default_rng(seed).choice(len(x), max_points, replace=False)]
        c = sub - mean
        if x.shape[1] == 1:
            raise ValueError("PCA needs at least 2 dimensions")
        cov = c.T @ c / max(len(sub) - 1, 1)
        vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1][:2]
        comps = vecs[:, order].T
        # Sign convention: the largest coordinate of each component is positive (stable across refits).
        comps *= np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])[:, None]
        total = float(vals.sum()) or 1.0
        return cls(mean.astype(np.float32), comps.astype(np.float32), (vals[order] / total).astype(np.float32))

    @property
    def axis_labels(self) -> tuple[str, str]:
        return tuple(f"PC{i + 1} ({100 * e:.0f} %)" for i, e in enumerate(self.explained))

    def forward(self, x) -> np.ndarray:
        x = _as2d(x, len(self.mean))
        return ((x - self.mean) @ self.components.T).astype(np.float32)

    def inverse(self, p) -> MapInverse:
        p = _as2d(p, 2)
        return _exact(self.mean + p @ self.components)


class NearestIndex:
    """Nearest points in 2-D by uniform grid bucketing: O(1) per query for map-sized data.

    points float [N, 2]. ``query(p [M, 2])`` -> (index int [M], distance float [M]).
    """

    def __init__(self, points, cells: int = 128):
        self.points = _as2d(points, 2)
        n = len(self.points)
        if n == 0:
            raise ValueError("no points to search")
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        self.lo = lo
        self.size = np.maximum((hi - lo) / cells, 1e-9)
        self.cells = cells
        ij = self._cell(self.points)
        key = ij[:, 0] * (cells + 1) + ij[:, 1]
        self.order = np.argsort(key, kind="stable")
        sorted_keys = key[self.order]
        self.starts = np.searchsorted(sorted_keys, np.arange((cells + 1) ** 2), side="left")
        self.ends = np.searchsorted(sorted_keys, np.arange((cells + 1) ** 2), side="right")

    def _cell(self, p):
        return np.clip(((p - self.lo) / self.size).astype(np.int64), 0, self.cells)

    def _gather(self, ci: int, cj: int, ring: int) -> np.ndarray:
        n = self.cells + 1
        i0, i1, j0, j1 = max(ci - ring, 0), min(ci + ring, n - 1), max(cj - ring, 0), min(cj + ring, n - 1)
        keys = (np.arange(i0, i1 + 1)[:, None] * n + np.arange(j0, j1 + 1)[None]).ravel()
        s, e = self.starts[keys], self.ends[keys]
        keep = e > s
        if not keep.any():
            return np.zeros(0, np.int64)
        return np.concatenate([self.order[a:b] for a, b in zip(s[keep], e[keep])])

    def query_one(self, x: float, y: float, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest points of (x, y): (indices [k'], distances [k']), nearest first."""
        p = np.array([x, y], np.float32)
        ci, cj = (int(v) for v in self._cell(p[None])[0])
        k = min(k, len(self.points))
        ring = 0
        while True:
            idx = self._gather(ci, cj, ring)
            if len(idx) >= k or ring > self.cells:
                break
            ring = max(1, ring * 2)
        d = np.hypot(*(self.points[idx] - p).T)
        # Any point closer than the k-th found lies within this many cells of the (clipped) query cell.
        reach = int(np.ceil(np.sort(d)[k - 1] / float(self.size.min()))) + 1
        if reach > ring:
            idx = self._gather(ci, cj, reach)
            d = np.hypot(*(self.points[idx] - p).T)
        best = np.argsort(d, kind="stable")[:k]
        return idx[best], d[best].astype(np.float32)

    def query(self, p) -> tuple[np.ndarray, np.ndarray]:
        p = _as2d(p, 2)
        out_i = np.empty(len(p), np.int64)
        out_d = np.empty(len(p), np.float32)
        for r, (x, y) in enumerate(p):
            i, d = self.query_one(float(x), float(y))
            out_i[r], out_d[r] = i[0], d[0]
        return out_i, out_d


@dataclass(frozen=True)
class UMAPMap:
    """A UMAP embedding of ``source`` [N, D] (float32 [N, 2] in ``embedding``).

    lattice: UMAP's inverse transform sampled on a G x G lattice over ``lattice_box`` (x0, y0, x1, y1):
    float32 [G, G, D] (row = y, column = x) and ``lattice_ok`` bool [G, G] (False outside the
    embedding's hull, where UMAP's inverse is not defined). Positions outside it decode through the
    nearest data point. forward() of new vectors averages the embedding of their 5 nearest sources.
    """

    source: np.ndarray = field(compare=False)
    embedding: np.ndarray = field(compare=False)
    lattice: np.ndarray | None = field(default=None, compare=False)
    lattice_ok: np.ndarray | None = field(default=None, compare=False)
    lattice_box: tuple[float, float, float, float] | None = None
    key: str = ""
    fit_seconds: float = float("nan")  # UMAP fit alone (the lattice inverse comes on top), when known

    name = "UMAP"

    @property
    def exact(self) -> bool:
        return False

    @property
    def axis_labels(self) -> tuple[str, str]:
        return ("UMAP 1", "UMAP 2")

    def __post_init__(self):
        if len(self.source) != len(self.embedding):
            raise ValueError(f"UMAP embedding has {len(self.embedding)} rows for {len(self.source)} points")
        object.__setattr__(self, "_index", None)

    @property
    def index(self) -> NearestIndex:
        if self._index is None:
            object.__setattr__(self, "_index", NearestIndex(self.embedding))
        return self._index

    def forward(self, x) -> np.ndarray:
        x = _as2d(x, self.source.shape[1])
        out = np.empty((len(x), 2), np.float32)
        for r, v in enumerate(x):
            idx, dist = knn(self.source, v, 5)
            w = 1.0 / np.maximum(dist, 1e-6)
            out[r] = (self.embedding[idx] * w[:, None]).sum(axis=0) / w.sum()
        return out

    def inverse(self, p) -> MapInverse:
        p = _as2d(p, 2)
        m, d = len(p), self.source.shape[1]
        z = np.empty((m, d), np.float32)
        how = np.full(m, NEAREST, dtype=object)
        index = np.full(m, -1, np.int64)
        done = np.zeros(m, bool)
        if self.lattice is not None:
            g = self.lattice.shape[0]
            x0, y0, x1, y1 = self.lattice_box
            fx = (p[:, 0] - x0) / (x1 - x0) * (g - 1)
            fy = (p[:, 1] - y0) / (y1 - y0) * (g - 1)
            inside = (fx >= 0) & (fx <= g - 1) & (fy >= 0) & (fy <= g - 1)
            ix = np.clip(np.floor(fx).astype(np.int64), 0, g - 2)
            iy = np.clip(np.floor(fy).astype(np.int64), 0, g - 2)
            ok = inside & self.lattice_ok[iy, ix] & self.lattice_ok[iy + 1, ix] \
                & self.lattice_ok[iy, ix + 1] & self.lattice_ok[iy + 1, ix + 1]
            if ok.any():
                tx, ty = (fx - ix)[ok, None], (fy - iy)[ok, None]
                a, b = iy[ok], ix[ok]
                L = self.lattice
                z[ok] = ((1 - ty) * ((1 - tx) * L[a, b] + tx * L[a, b + 1])
                         + ty * ((1 - tx) * L[a + 1, b] + tx * L[a + 1, b + 1]))
                how[ok] = UMAP_INVERSE
                done = ok
        rest = np.flatnonzero(~done)
        if len(rest):
            idx, _ = self.index.query(p[rest])
            z[rest] = self.source[idx]
            index[rest] = idx
        return MapInverse(z, how, index)


# ---- helpers shared by the map ------------------------------------------------------------------

def knn(points: np.ndarray, query: np.ndarray, k: int, *, sq_norms: np.ndarray | None = None
        ) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of points [N, D] to query [D] (Euclidean): (indices [k], distances [k])."""
    pts = np.asarray(points, np.float32)
    q = np.asarray(query, np.float32).reshape(-1)
    if pts.ndim != 2 or pts.shape[1] != q.shape[0]:
        raise ValueError(f"query has {q.shape[0]} values, points have {pts.shape[1] if pts.ndim == 2 else '?'}")
    if sq_norms is None:
        sq_norms = np.einsum("ij,ij->i", pts, pts)
    d2 = sq_norms - 2.0 * (pts @ q) + float(q @ q)
    k = min(k, len(pts))
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    part = np.argpartition(d2, k - 1)[:k] if k < len(pts) else np.arange(len(pts))
    part = part[np.argsort(d2[part], kind="stable")]
    return part.astype(np.int64), np.sqrt(np.maximum(d2[part], 0.0)).astype(np.float32)


def data_key(*arrays: np.ndarray, **params) -> str:
    """A short content hash of arrays and parameters (cache file names)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.data)
    h.update(repr(sorted(params.items())).encode())
    return h.hexdigest()[:20]


def grid_positions(x0: float, y0: float, x1: float, y1: float, n: int, cols: int | None = None) -> np.ndarray:
    """Centres of an n-row x cols mosaic (cols = n by default) over the box, row-major from the top
    (high y) row: float32 [n * cols, 2]."""
    cols = n if cols is None else cols
    xs = x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols
    ys = y1 - (np.arange(n) + 0.5) * (y1 - y0) / n
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """bool [N]: which points [N, 2] lie inside the closed polygon [M, 2] (even-odd rule, vectorised).

    Long lasso paths are thinned to at most 400 vertices (cost is N x M)."""
    pts = _as2d(points, 2)
    poly = _as2d(polygon, 2)
    if len(poly) > 400:
        poly = poly[np.linspace(0, len(poly) - 1, 400).astype(np.int64)]
    if len(poly) < 3:
        return np.zeros(len(pts), bool)
    x, y = pts[:, 0], pts[:, 1]
    inside = np.zeros(len(pts), bool)
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    box = (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])
    cand = np.flatnonzero(box)
    xc, yc = x[cand], y[cand]
    res = np.zeros(len(cand), bool)
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    for a, b, c, d in zip(x1, y1, x2, y2):
        cross = (b > yc) != (d > yc)
        if cross.any():
            xi = a + (yc - b) * (c - a) / ((d - b) if d != b else 1e-12)
            res ^= cross & (xc < xi)
    inside[cand] = res
    return inside
