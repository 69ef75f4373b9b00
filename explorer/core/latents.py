"""Latent vectors: seeded sampling, temperature and truncation, slerp, and the animated walk.

Numbers only (numpy): no Qt, no torch. Shapes: z float32 [N, D].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SamplingPolicy:
    """How grid latents are drawn from the prior N(0, I).

    temperature scales every vector (1 = the prior); truncation (in standard deviations, None = off)
    redraws each coordinate whose magnitude exceeds it (the "truncation trick").
    """

    seed: int = 0
    temperature: float = 1.0
    truncation: float | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.temperature) or self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.truncation is not None and not (self.truncation > 0):
            raise ValueError(f"truncation must be positive (or off), got {self.truncation}")


def sample_latents(n: int, dim: int, policy: SamplingPolicy = SamplingPolicy()) -> np.ndarray:
    """z float32 [n, dim] for cells 0..n-1.

    Cell k gets the same vector whatever n is (rows are drawn in order from one stream), so growing
    the grid keeps the samples already on screen.
    """
    rng = np.random.default_rng(policy.seed)
    z = rng.standard_normal((n, dim))
    if policy.truncation is not None:
        redraw = np.random.default_rng([policy.seed, 1])
        bad = np.abs(z) > policy.truncation
        for _ in range(100):  # P(|x| > t) < 1 for every t > 0, so this ends; 100 rounds is plenty
            if not bad.any():
                break
            z[bad] = redraw.standard_normal(int(bad.sum()))
            bad = np.abs(z) > policy.truncation
        np.clip(z, -policy.truncation, policy.truncation, out=z)
    return (z * policy.temperature).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between rows of a and b ([N, D] or [D]); t in [0, 1] (scalar or [N]).

    Interpolates the direction along the great circle and the norm linearly, so points stay on the
    shell where the prior's mass lies instead of cutting through its low-density centre.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if a.ndim == 2 and t.ndim == 1:
        t = t[:, None]
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    ua = a / np.maximum(na, 1e-12)
    ub = b / np.maximum(nb, 1e-12)
    cos = np.clip(np.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    wa = np.where(small, 1.0 - t, np.sin((1.0 - t) * omega) / safe)
    wb = np.where(small, t, np.sin(t * omega) / safe)
    direction = wa * ua + wb * ub
    direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-12)
    return (direction * ((1.0 - t) * na + t * nb)).astype(np.float32)


class LatentWalk:
    """A smooth random walk of N latents on the prior's shell (radius sqrt(D) * temperature).

    Each latent travels along a great circle towards a random target at a constant angular speed;
    on arrival a new target is drawn. ``step(dt)`` advances by dt seconds and returns z [N, D].
    """

    def __init__(self, start: np.ndarray, *, seed: int = 0, speed: float = 0.6, temperature: float = 1.0):
        self.z = np.asarray(start, dtype=np.float32).copy()
        n, d = self.z.shape
        self.radius = float(np.sqrt(d) * temperature)
        self.speed = float(speed)  # radians per second along the great circle
        self._rng = np.random.default_rng([seed, 2])
        norms = np.maximum(np.linalg.norm(self.z, axis=1, keepdims=True), 1e-6)
        self.z = (self.z / norms * self.radius).astype(np.float32)
        self.target = self._draw(n)

    def _draw(self, n: int) -> np.ndarray:
        t = self._rng.standard_normal((n, self.z.shape[1]))
        return (t / np.linalg.norm(t, axis=1, keepdims=True) * self.radius).astype(np.float32)

    def step(self, dt: float) -> np.ndarray:
        ua = self.z / self.radius
        ub = self.target / self.radius
        angle = np.arccos(np.clip(np.sum(ua * ub, axis=1), -1.0, 1.0))
        move = self.speed * max(dt, 0.0)
        arrived = angle <= move
        frac = np.where(arrived, 1.0, move / np.maximum(angle, 1e-9))
        self.z = slerp(self.z, self.target, frac)
        if arrived.any():
            self.target[arrived] = self._draw(int(arrived.sum()))
        return self.z


def dimension_order(variances: np.ndarray) -> np.ndarray:
    """Indices of latent dimensions, highest variance first (ties keep index order)."""
    v = np.asarray(variances, dtype=np.float64)
    return np.argsort(-v, kind="stable")
