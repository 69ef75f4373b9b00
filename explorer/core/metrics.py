"""Diversity and quality metrics on class predictions and classifier features (numpy only).

Definitions follow the team's metrics notes (``metrics.md``: class histogram, Frechet distance,
precision/recall, density/coverage, NDB, near-duplicate rate) and image sharpness (Laplacian variance).
Shapes: features float [N, F]; probs float [N, K] (rows sum to 1); logits float [N, K]. Distances
are Euclidean, in feature units.

The k-NN metrics share one core (:func:`manifold_metrics`) that builds distance matrices block by
block with the ||a||^2 + ||b||^2 - 2 a.b trick (one GEMM per block) and reads k-NN radii with
``np.partition``. Balls are closed (a point at exactly the radius is inside), as in Kynkaanniemi et al.

This module never imports torch or Qt: the app's diversity monitor runs it in a background worker.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import NamedTuple, Sequence

import numpy as np

# Rows per distance block are chosen so that one block holds about this many elements (4 MiB of
# float32): big enough for an efficient GEMM, small enough to stay in cache and to bound memory at
# large N (a 10k x 10k float32 matrix would be 400 MB).
BLOCK_ELEMENTS = 1 << 20


# --------------------------------------------------------------------------------------------
# Class histogram (PacGAN-style mode counting)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float [N, K] logits -> float64 [N, K] probabilities."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def class_stats(probs: np.ndarray, *, min_share: float = 0.01) -> dict:
    """Class histogram of predictions and the mode-counting figures built on it.

    probs: float [N, K]. Returns n, counts [K], histogram (shares, [K]), modes_covered (classes
    with >= ``min_share`` of samples), kl_to_uniform and entropy (nats), min_share (smallest class
    share) and mean_confidence (mean max probability).
    """
    probs = np.asarray(probs, dtype=np.float64)
    n, k = probs.shape
    counts = np.bincount(probs.argmax(axis=1), minlength=k)
    share = counts / max(n, 1)
    nz = share > 0
    entropy = float(-(share[nz] * np.log(share[nz])).sum())
    return {
        "n": int(n),
        "counts": counts.tolist(),
        "histogram": share.tolist(),
        "modes_covered": int((share >= min_share).sum()),
        "kl_to_uniform": float(np.log(k) - entropy),
        "entropy": entropy,
        "min_share": float(share.min()),
        "mean_confidence": float(probs.max(axis=1).mean()),
    }


# --------------------------------------------------------------------------------------------
# Frechet distance


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [F] and covariance [F, F] (float64, unbiased) of features [N, F]."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def sqrtm_psd(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix [F, F] (tiny negative eigenvalues -> 0)."""
    w, v = np.linalg.eigh(np.asarray(sigma, np.float64))
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2, *, sqrt_sigma1: np.ndarray | None = None) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), in squared feature units.

    tr((S1 S2)^(1/2)) = sum of sqrt of the eigenvalues of sqrt(S1) S2 sqrt(S1) (symmetric PSD, so
    real); tiny negative eigenvalues from round-off are clipped to zero. ``sqrt_sigma1`` (from
    :func:`sqrtm_psd`) saves one eigendecomposition when S1 is a cached reference.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    sqrt_s1 = sqrtm_psd(s1) if sqrt_sigma1 is None else np.asarray(sqrt_sigma1, np.float64)
    middle = sqrt_s1 @ s2 @ sqrt_s1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def frechet_distance_features(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of two feature sets [Na, F] and [Nb, F]."""
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


# --------------------------------------------------------------------------------------------
# Distances and k-NN radii


def _as_work(x: np.ndarray, dtype) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=dtype)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array [N, F], got shape {x.shape}")
    return x


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _rows_per_block(n_cols: int, block_elements: int) -> int:
    return max(1, block_elements // max(n_cols, 1))


def squared_distance_blocks(a: np.ndarray, b: np.ndarray, *, a_sq: np.ndarray | None = None,
                            b_sq: np.ndarray | None = None, block_elements: int = BLOCK_ELEMENTS):
    """Yield ``(start, stop, d2)``: squared distances between a[start:stop] and all of b.

    a: [Na, F], b: [Nb, F], already in the working dtype (float32 or float64); d2: [stop-start, Nb],
    same dtype, clipped at 0 (round-off can make the trick slightly negative). The block is reused
    memory only in the sense that each is a fresh array: callers may modify it in place.
    Centre both sets on a common point first (e.g. the real mean) to limit cancellation.
    """
    a_sq = _sq_norms(a) if a_sq is None else a_sq
    b_sq = _sq_norms(b) if b_sq is None else b_sq
    rows = _rows_per_block(len(b), block_elements)
    for s in range(0, len(a), rows):
        e = min(len(a), s + rows)
        g = a[s:e] @ b.T
        g *= -2.0
        g += a_sq[s:e, None]
        g += b_sq[None, :]
        np.maximum(g, 0.0, out=g)
        yield s, e, g


def squared_distances(a: np.ndarray, b: np.ndarray | None = None, *, dtype=np.float64) -> np.ndarray:
    """Full matrix of squared distances [Na, Nb] (``b=None``: a against itself). For small sets."""
    a = _as_work(a, dtype)
    b = a if b is None else _as_work(b, dtype)
    out = np.empty((len(a), len(b)), dtype=dtype)
    for s, e, g in squared_distance_blocks(a, b):
        out[s:e] = g
    return out


class _SelfPass(NamedTuple):
    radii_sq: np.ndarray  # [N, len(ks)] squared distance to the k-th nearest other point
    close_pairs: int  # unordered pairs with d^2 < close_sq
    min_sq: float  # smallest off-diagonal d^2 that is > ignore_sq


def _self_pass(x: np.ndarray, ks: Sequence[int], *, close_sq: float | None = None,
               ignore_sq: float | None = None, x_sq: np.ndarray | None = None,
               block_elements: int = BLOCK_ELEMENTS) -> _SelfPass:
    """One blocked pass over the self-distance matrix of x [N, F] (working dtype, centred)."""
    n = len(x)
    if ks and max(ks) >= n:
        raise ValueError(f"k-NN radius with k={max(ks)} needs more than {max(ks)} points, got {n}")
    kth = [k - 1 for k in ks]  # self is set to +inf, so the k-th neighbour sits at index k-1
    radii = np.empty((n, len(ks)), dtype=x.dtype)
    close = 0
    min_sq = np.inf
    for s, e, g in squared_distance_blocks(x, x, a_sq=x_sq, b_sq=x_sq, block_elements=block_elements):
        r = np.arange(e - s)
        g[r, r + s] = np.inf
        if close_sq is not None:
            close += int(np.count_nonzero(g < close_sq))
        if ignore_sq is not None:
            above = g[g > ignore_sq]
            if above.size:
                min_sq = min(min_sq, float(above.min()))
        if kth:
            part = np.partition(g, kth, axis=1)
            radii[s:e] = part[:, kth]
    return _SelfPass(radii, close // 2, min_sq)


def knn_radii(x: np.ndarray, k: int | Sequence[int], *, dtype=np.float32) -> np.ndarray:
    """Distance from each point of x [N, F] to its k-th nearest other point.

    k: an int -> float [N]; a sequence of ints -> float [N, len(k)]. Same units as the features.
    """
    ks = [k] if np.isscalar(k) else list(k)
    xw = _as_work(x, dtype)
    xw = xw - xw.mean(axis=0)
    r = np.sqrt(_self_pass(xw, ks).radii_sq)
    return r[:, 0] if np.isscalar(k) else r


def closest_pair_distance(x: np.ndarray) -> float:
    """Smallest distance between two distinct points of x [N, F] (float64; feature units).

    Exact duplicates (distance zero up to round-off) are ignored: a real set that happens to hold
    the same image twice must not set the near-duplicate threshold to zero.
    """
    xw = _as_work(x, np.float64)
    xw = xw - xw.mean(axis=0)
    scale = float(_sq_norms(xw).mean()) or 1.0
    d = _self_pass(xw, [], ignore_sq=1e-9 * scale).min_sq
    return float(np.sqrt(d)) if np.isfinite(d) else 0.0


def near_duplicate_rate(fake: np.ndarray, threshold: float, *, dtype=np.float32) -> float:
    """Share of the M(M-1)/2 pairs of fake [M, F] closer than ``threshold`` (strictly).

    ``threshold`` is normally the closest real-real distance (:func:`closest_pair_distance`), so a
    real sample of the same size scores about one pair in M(M-1)/2 (birthday-paradox test).
    """
    fw = _as_work(fake, dtype)
    fw = fw - fw.mean(axis=0)
    m = len(fw)
    pairs = _self_pass(fw, [], close_sq=float(threshold) ** 2).close_pairs
    return pairs / max(m * (m - 1) / 2, 1)


# --------------------------------------------------------------------------------------------
# Precision / recall, density / coverage, near duplicates: one fused pass


def manifold_metrics(real: np.ndarray, fake: np.ndarray, *, k_precision: int = 3, k_density: int = 5,
                     real_radii: np.ndarray | None = None, dup_threshold: float | None = None,
                     center: np.ndarray | None = None, dtype=np.float32,
                     block_elements: int = BLOCK_ELEMENTS) -> dict:
    """Precision, recall (Kynkaanniemi et al. 2019), density, coverage (Naeem et al. 2020), and the
    near-duplicate rate of fake, in two blocked passes (fake x fake, fake x real).

    real: [R, F] real features; fake: [M, F] generated features.
    real_radii: float [R, 2], the real k-NN radii (feature units) at (k_precision, k_density);
        computed when None. Pass them from a cached reference to skip the real x real pass.
    dup_threshold: distance below which two fakes count as near duplicates; defaults to the
        closest real-real distance of ``real``.
    center: point subtracted from both sets before the distance trick (default: real mean).

    Returns shares in [0, 1] for precision (fakes inside some real k_precision-NN ball), recall
    (reals inside some fake k_precision-NN ball), coverage (reals whose k_density-NN ball holds a
    fake) and near_dup_rate (fake pairs closer than dup_threshold); density is the mean number of
    real k_density-NN balls holding a fake, divided by k_density (about 1 for matching
    distributions, > 1 when fakes pile up where reals are dense).
    """
    real_w = _as_work(real, dtype)
    fake_w = _as_work(fake, dtype)
    if real_w.shape[1] != fake_w.shape[1]:
        raise ValueError(f"feature widths differ: real {real_w.shape[1]}, fake {fake_w.shape[1]}")
    c = real_w.mean(axis=0) if center is None else np.asarray(center, dtype)
    real_w, fake_w = real_w - c, fake_w - c
    if real_radii is None:
        real_radii = np.sqrt(_self_pass(real_w, [k_precision, k_density]).radii_sq)
    if dup_threshold is None:
        dup_threshold = closest_pair_distance(real)
    real_radii = np.asarray(real_radii, np.float64)
    if real_radii.shape != (len(real_w), 2):
        raise ValueError(f"real_radii must be [R, 2] = [{len(real_w)}, 2], got {real_radii.shape}")
    r_sq = (real_radii ** 2).astype(dtype)
    return manifold_pass(real_w, _sq_norms(real_w), r_sq[:, 0].copy(), r_sq[:, 1].copy(), fake_w,
                         k_precision=k_precision, k_density=k_density,
                         dup_sq=float(dup_threshold) ** 2, block_elements=block_elements)


def manifold_pass(real_w: np.ndarray, real_sq: np.ndarray, rp_sq: np.ndarray, rd_sq: np.ndarray,
                  fake_w: np.ndarray, *, k_precision: int, k_density: int, dup_sq: float,
                  block_elements: int = BLOCK_ELEMENTS) -> dict:
    """The core of :func:`manifold_metrics` for callers that cache the real side.

    real_w [R, F] and fake_w [M, F]: centred on the same point, same dtype (float32 or float64),
    C-contiguous. real_sq [R]: squared norms of real_w. rp_sq, rd_sq [R]: squared real k-NN radii
    at k_precision and k_density. dup_sq: squared near-duplicate threshold. Returns the same dict.
    """
    m, n_real = len(fake_w), len(real_w)
    fake_sq = _sq_norms(fake_w)
    own = _self_pass(fake_w, [k_precision], close_sq=dup_sq, x_sq=fake_sq, block_elements=block_elements)
    fake_r_sq = own.radii_sq[:, 0]

    in_real_manifold = 0  # fakes inside some real k_precision ball
    ball_hits = 0  # (fake, real ball) pairs with the fake inside the real k_density ball
    nearest_fake_sq = np.full(n_real, np.inf, dtype=real_w.dtype)
    real_in_fake = np.zeros(n_real, dtype=bool)
    for s, e, g in squared_distance_blocks(fake_w, real_w, a_sq=fake_sq, b_sq=real_sq,
                                           block_elements=block_elements):
        in_real_manifold += int(np.count_nonzero((g <= rp_sq).any(axis=1)))
        ball_hits += int(np.count_nonzero(g <= rd_sq))
        np.minimum(nearest_fake_sq, g.min(axis=0), out=nearest_fake_sq)
        real_in_fake |= (g <= fake_r_sq[s:e, None]).any(axis=0)
    return {
        "precision": in_real_manifold / m,
        "recall": float(real_in_fake.mean()),
        "density": ball_hits / (k_density * m),
        "coverage": float((nearest_fake_sq <= rd_sq).mean()),
        "near_dup_rate": own.close_pairs / max(m * (m - 1) / 2, 1),
    }


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3) -> dict:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN radii; shares in [0, 1]."""
    out = manifold_metrics(real, fake, k_precision=k, k_density=k, dup_threshold=0.0)
    return {"precision": out["precision"], "recall": out["recall"]}


def density_coverage(real: np.ndarray, fake: np.ndarray, *, k: int = 5) -> dict:
    """Density (mean real-ball count / k, about 1 when matched) and coverage (share of real balls
    holding a fake), Naeem et al. 2020."""
    out = manifold_metrics(real, fake, k_precision=k, k_density=k, dup_threshold=0.0)
    return {"density": out["density"], "coverage": out["coverage"]}


# --------------------------------------------------------------------------------------------
# NDB: number of statistically different bins (Richardson & Weiss 2018)


def kmeans(x: np.ndarray, n_clusters: int, *, seed: int = 0, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means (k-means++ seeding from ``seed``, then Lloyd iterations) in float64.

    x: [N, F]. Returns centres float64 [n_clusters, F] and labels int64 [N]. An emptied cluster is
    moved to the point farthest from its centre, so every centre keeps at least one point.
    """
    x = _as_work(x, np.float64)
    n = len(x)
    if not 1 <= n_clusters <= n:
        raise ValueError(f"k-means needs 1 <= n_clusters <= N; got n_clusters={n_clusters}, N={n}")
    rng = np.random.default_rng(seed)
    x_sq = _sq_norms(x)
    centres = np.empty((n_clusters, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    closest = np.maximum(x_sq - 2 * x @ centres[0] + centres[0] @ centres[0], 0)
    for j in range(1, n_clusters):
        total = closest.sum()
        i = int(rng.choice(n, p=closest / total)) if total > 0 else int(rng.integers(n))
        centres[j] = x[i]
        np.minimum(closest, np.maximum(x_sq - 2 * x @ x[i] + x_sq[i], 0), out=closest)
    labels = np.full(n, -1)
    for _ in range(max_iter):
        d = x_sq[:, None] - 2 * x @ centres.T + _sq_norms(centres)[None, :]
        new = d.argmin(axis=1)
        counts = np.bincount(new, minlength=n_clusters)
        empty = np.flatnonzero(counts == 0)
        if empty.size:  # refill empty clusters with the worst-fit points of clusters that can spare one
            fit = d[np.arange(n), new]
            for j in empty:
                far = int(np.where(counts[new] > 1, fit, -np.inf).argmax())
                counts[new[far]] -= 1
                new[far], counts[j], fit[far] = j, 1, -np.inf
        if np.array_equal(new, labels):
            break
        labels = new
        onehot = np.zeros((n, n_clusters))
        onehot[np.arange(n), labels] = 1.0
        centres = (onehot.T @ x) / counts[:, None]
    return centres, labels


def assign_bins(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre [K, F] for each row of x [N, F] -> int64 [N]."""
    x = np.asarray(x, np.float64)
    c = np.asarray(centres, np.float64)
    return (_sq_norms(c)[None, :] - 2 * x @ c.T).argmin(axis=1)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence between two histograms (normalised here), in nats, in [0, ln 2]."""
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a):
        nz = a > 0
        return float((a[nz] * np.log(a[nz] / m[nz])).sum())

    return max(0.5 * kl(p) + 0.5 * kl(q), 0.0)


def ndb(fake: np.ndarray, centres: np.ndarray, real_shares: np.ndarray, n_real: int, *,
        alpha: float = 0.05) -> dict:
    """NDB of fake features [M, F] against real bins (centres [K, F], real_shares [K] from n_real
    real samples).

    Each bin gets a two-sided two-proportion z-test (pooled variance) between the real and fake
    shares at level ``alpha``. Returns ndb_fraction (share of the K bins that differ), ndb_count,
    ndb_js (JS divergence of the bin histograms, nats) and fake_shares [K].
    """
    real_shares = np.asarray(real_shares, np.float64)
    k = len(real_shares)
    m = len(fake)
    fake_shares = np.bincount(assign_bins(fake, centres), minlength=k) / m
    pooled = (n_real * real_shares + m * fake_shares) / (n_real + m)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_real + 1 / m))
    diff = np.abs(fake_shares - real_shares)
    z_crit = NormalDist().inv_cdf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        different = np.where(se > 0, diff / se > z_crit, False)
    count = int(different.sum())
    return {"ndb_fraction": count / k, "ndb_count": count, "ndb_js": js_divergence(real_shares, fake_shares),
            "fake_shares": fake_shares}


# --------------------------------------------------------------------------------------------
# Sharpness (image quality, not diversity)


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """Per-image variance of the 4-neighbour Laplacian, images float [N, H, W] or [N, H, W, C] in [0, 1].

    RGB is reduced to luminance first. Blurry images have little high-frequency energy, so a low
    value; compare with real images of the same data set (``RealReference.real_sharpness``).
    """
    x = np.asarray(images, np.float32)
    if x.ndim == 4:
        x = x[..., 0] if x.shape[-1] == 1 else x[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    if x.ndim != 3 or x.shape[1] < 3 or x.shape[2] < 3:
        raise ValueError(f"expected images [N, H, W(, C)] of at least 3x3 pixels, got {np.shape(images)}")
    lap = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:] - 4.0 * x[:, 1:-1, 1:-1])
    return lap.reshape(len(x), -1).var(axis=1)
