"""Map projections: latent (or feature) vectors <-> positions on the 2-D latent map.

Numeric core (numpy only; umap-learn is optional and runs in a child process, see
``explorer.core.umap_worker``). Every projection is a small frozen value object with

* ``forward(x float [N, D]) -> float32 [N, 2]`` — where vectors land on the map;
* ``inverse(p float [M, 2]) -> MapInverse`` — the latent to decode at map positions, and how it
  was obtained (``exact``, ``neighbours`` or ``nearest``), so the UI can say which.

``LatentPlane`` (D = 2), ``DimPair`` (two chosen dimensions, the rest held at ``base``) and
``PCAPlane`` have exact inverses: ``forward(inverse(p)) == p`` for every position, empty space
included. ``UMAPMap`` decodes a position as the inverse-distance-weighted blend of the latents of
its nearest embedded points (no inverse transform: microseconds a position), and through the
nearest point in empty space; ``interpolation_fidelity`` measures how faithful that is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

EXACT, NEIGHBOURS, NEAREST = "exact", "neighbours", "nearest"
INVERSE_LABELS = {EXACT: "exact inverse", NEIGHBOURS: "blend of the nearest points' latents",
                  NEAREST: "nearest data point"}


@dataclass(frozen=True)
class MapInverse:
    """Latents for map positions: z float32 [M, D]; how[M] one of EXACT / NEIGHBOURS / NEAREST;
    index int [M]: the data point used for NEAREST (-1 otherwise)."""

    z: np.ndarray
    how: np.ndarray
    index: np.ndarray

    @property
    def summary(self) -> str:
        kinds = [k for k in (EXACT, NEIGHBOURS, NEAREST) if (self.how == k).any()]
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


SNAP = 0.01  # within this share of UMAPMap.reach of a point, a position is that point


@dataclass(frozen=True)
class UMAPMap:
    """A UMAP embedding of ``source`` [N, D] (float32 [N, 2] in ``embedding``).

    inverse(): a position decodes to the inverse-distance-weighted blend (weights 1/d²) of the
    latents of its ``k`` nearest embedded points (exactly a point's own latent on that point), so
    every position decodes in microseconds with no inverse transform. Positions farther than
    ``reach`` from every point (empty space around the layout), and those within ``SNAP`` x reach
    of a point (on it, as drawn), decode as the nearest point itself.
    forward() of new vectors averages the embedding of their 5 nearest sources.

    origin: where the layout came from ("shipped" with the model, "cache", "computed");
    where: the file it was read from or cached to ("" when not kept); note: the words the map says
    about it ("cached beside the model (…)", "cached in the user cache (…)").
    """

    source: np.ndarray = field(compare=False)
    embedding: np.ndarray = field(compare=False)
    key: str = ""
    fit_seconds: float = float("nan")  # the UMAP fit alone, when known
    origin: str = "computed"
    where: str = ""
    note: str = ""
    k: int = 8

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
        object.__setattr__(self, "_reach", None)

    @property
    def index(self) -> NearestIndex:
        if self._index is None:
            object.__setattr__(self, "_index", NearestIndex(self.embedding))
        return self._index

    @property
    def reach(self) -> float:
        """How far from the nearest embedded point a position still blends its neighbours: twice the
        distance to the k-th neighbour at the layout's mean density (points per occupied cell of the
        nearest-point index), sqrt(k / (pi * density)). O(cells), so the first hover does not wait."""
        if self._reach is None:
            index = self.index
            counts = index.ends - index.starts
            occupied = int((counts > 0).sum())
            area = occupied * float(index.size[0]) * float(index.size[1])
            density = len(self.embedding) / max(area, 1e-12)
            object.__setattr__(self, "_reach", float(2.0 * np.sqrt(self.k / (np.pi * density))))
        return self._reach

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
        how = np.full(m, NEIGHBOURS, dtype=object)
        index = np.full(m, -1, np.int64)
        reach = self.reach
        k = min(self.k, len(self.embedding))
        for r, (x, y) in enumerate(p):
            idx, dist = self.index.query_one(float(x), float(y), k=k)
            if dist[0] > reach or dist[0] <= SNAP * reach or k == 1:
                z[r], how[r], index[r] = self.source[idx[0]], NEAREST, idx[0]
                continue
            w = 1.0 / np.square(dist.astype(np.float64))
            z[r] = (w @ self.source[idx].astype(np.float64)) / w.sum()
        return MapInverse(z, how, index)


def interpolation_fidelity(source, embedding, *, holdout: float = 0.1, seed: int = 0, k: int = 8) -> dict:
    """How faithful UMAPMap.inverse is on known points: hold out a seeded ``holdout`` share of the
    points, build the map from the rest, and decode the held-out points at their own positions.

    Returns the held-out indices and decoded latents (for pixel errors) and, relative to the
    latents' spread (the RMS distance of a point from the mean), the RMS latent error of the blend,
    of the nearest remaining point on the map alone, of a random remaining point (no skill), and of
    the remaining point nearest in latent space (the best any single data point could do).
    """
    src = _as2d(source)
    emb = _as2d(embedding, 2)
    n = len(src)
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(n, max(1, int(round(n * holdout))), replace=False))
    keep = np.setdiff1d(np.arange(n), held)
    m = UMAPMap(src[keep], emb[keep], k=k)
    blend = m.inverse(emb[held]).z
    near = src[keep][m.index.query(emb[held])[0]]
    rand = src[keep][rng.integers(0, len(keep), len(held))]
    spread = float(np.sqrt(np.mean(np.sum((src - src.mean(axis=0)) ** 2, axis=1))))
    sq = np.einsum("ij,ij->i", src[keep], src[keep])
    best = src[keep][[knn(src[keep], src[h], 1, sq_norms=sq)[0][0] for h in held]]

    def rel(z):
        return float(np.sqrt(np.mean(np.sum((z - src[held]) ** 2, axis=1))) / spread)

    return {"held_out": held, "blend": blend, "nearest": near,
            "latent_rel_error": rel(blend), "nearest_rel_error": rel(near), "random_rel_error": rel(rand),
            "floor_rel_error": rel(best),
            "k": k, "n_held_out": int(len(held))}


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
