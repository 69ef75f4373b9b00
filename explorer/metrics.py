"""Diversity and quality metrics on class predictions and classifier features (numpy only).

Definitions: docs/metrics.md. Shapes: features float [N, F]; probs float [N, K] (rows sum to 1).
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float [N, K] logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def class_stats(probs: np.ndarray, *, min_share: float = 0.01) -> dict:
    """Class histogram of predictions and the mode-counting figures built on it.

    Returns histogram (shares, [K]), counts, modes_covered (classes with >= ``min_share`` of samples),
    kl_to_uniform and entropy (nats), mean_confidence (mean max probability).
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


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [F] and covariance [F, F] (float64) of features [N, F]."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) = sum of sqrt of the eigenvalues of sqrt(S1) S2 sqrt(S1) (symmetric PSD, so real);
    tiny negative eigenvalues from round-off are clipped to zero.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w, v = np.linalg.eigh(s1)
    sqrt_s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = sqrt_s1 @ s2 @ sqrt_s1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def frechet_distance_features(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of two feature sets."""
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
