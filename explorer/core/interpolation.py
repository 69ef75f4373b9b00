"""Interpolation paths through latent space: waypoints, slerp/lerp, easing, path length.

Numbers only (numpy): no Qt, no torch. Shapes: waypoints float32 [K, D], path latents float32 [N, D].
``LatentPath`` is a small frozen value object; ``latents()`` turns it into the frames to decode.
Slerp reuses :func:`explorer.core.latents.slerp` and falls back to lerp for nearly opposite waypoints
(sin ω → 0: the great circle between them is not unique).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from explorer.core.latents import slerp

MODES = ("slerp", "lerp")
EASINGS = ("linear", "ease-in-out", "ease-in", "ease-out")
MAX_STEPS = 2000
# Nearly opposite: angle within this many radians of pi. slerp's own guard (sin < 1e-6) only catches
# exact opposites; near them the great circle swings wildly with tiny changes in the endpoints.
ANTIPODAL_TOLERANCE = 1e-3
SAME_TOLERANCE = 1e-6  # relative distance below which two waypoints count as the same point


class PathError(ValueError):
    """A path that cannot be built. ``str()`` is one line: what was expected, what was found."""


def ease(t: np.ndarray, easing: str = "linear") -> np.ndarray:
    """Map t in [0, 1] onto [0, 1] (0 -> 0, 1 -> 1, monotonic)."""
    t = np.clip(np.asarray(t, np.float64), 0.0, 1.0)
    if easing == "linear":
        return t
    if easing == "ease-in-out":  # smoothstep: slow at both ends
        return t * t * (3.0 - 2.0 * t)
    if easing == "ease-in":
        return t * t
    if easing == "ease-out":
        return 1.0 - (1.0 - t) ** 2
    raise PathError(f"easing must be one of {', '.join(EASINGS)}, found {easing!r}")


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    """Angle in radians between two vectors [D] (0 when either is zero)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return 0.0
    return float(np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0)))


def nearly_antipodal(a: np.ndarray, b: np.ndarray, tol: float = ANTIPODAL_TOLERANCE) -> bool:
    return angle_between(a, b) > np.pi - tol


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Straight line a -> b; a, b [D], t [N] -> float32 [N, D]."""
    t = np.asarray(t, np.float64)[:, None]
    return ((1.0 - t) * np.asarray(a, np.float64) + t * np.asarray(b, np.float64)).astype(np.float32)


def interpolate_pair(a: np.ndarray, b: np.ndarray, t: np.ndarray, mode: str = "slerp") -> tuple[np.ndarray, bool]:
    """z float32 [N, D] between a and b ([D] each) at t [N]; returns (z, fell_back_to_lerp).

    Endpoints are exact: t = 0 gives a, t = 1 gives b bit for bit (float32).
    """
    if mode not in MODES:
        raise PathError(f"mode must be one of {', '.join(MODES)}, found {mode!r}")
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    t = np.asarray(t, np.float64).reshape(-1)
    fallback = mode == "slerp" and nearly_antipodal(a, b)
    if mode == "lerp" or fallback:
        z = lerp(a, b, t)
    else:
        z = slerp(np.broadcast_to(a, (len(t), a.size)), np.broadcast_to(b, (len(t), b.size)), t)
    z[t <= 0.0] = a
    z[t >= 1.0] = b
    return z, fallback


@dataclass(frozen=True)
class LatentPath:
    """Waypoints [K >= 2, D] joined by slerp or lerp, sampled at ``steps`` frames in total.

    Frames are spread over the segments in proportion to their length (angle for slerp, distance for
    lerp), so playback moves at an even pace; every waypoint is one of the frames. ``easing`` shapes
    the timing of each segment (ease-in-out pauses at every waypoint).

    ``extra`` (one length >= 0 per segment, or empty): added to each segment's length, for a segment
    that changes something besides the latent (a class-conditional path's garment type). A segment
    with an extra length may keep one latent at both ends.
    """

    waypoints: np.ndarray = field(repr=False)
    mode: str = "slerp"
    steps: int = 16
    easing: str = "linear"
    names: tuple[str, ...] = ()
    extra: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        w = np.array(self.waypoints, dtype=np.float32, copy=True)
        if w.ndim != 2:
            raise PathError(f"waypoints must be [K, D] latents, found shape {list(w.shape)}")
        if len(w) < 2:
            raise PathError(f"a path needs at least 2 waypoints, found {len(w)}; add another point")
        if not np.isfinite(w).all():
            raise PathError("waypoints contain NaN/Inf; pick finite latents")
        if self.mode not in MODES:
            raise PathError(f"mode must be one of {', '.join(MODES)}, found {self.mode!r}")
        if self.easing not in EASINGS:
            raise PathError(f"easing must be one of {', '.join(EASINGS)}, found {self.easing!r}")
        if isinstance(self.steps, bool) or not (isinstance(self.steps, (int, np.integer))):
            raise PathError(f"steps must be an integer, found {self.steps!r}")
        if not (len(w) <= self.steps <= MAX_STEPS):
            raise PathError(f"steps must be between the waypoint count ({len(w)}) and {MAX_STEPS}, found {self.steps}")
        extra = tuple(float(x) for x in self.extra)
        if extra and (len(extra) != len(w) - 1 or not all(np.isfinite(x) and x >= 0 for x in extra)):
            raise PathError(f"extra segment lengths must be {len(w) - 1} numbers >= 0, found {list(self.extra)}")
        object.__setattr__(self, "extra", extra)
        gaps = same_gaps(w)
        same = np.flatnonzero((gaps < SAME_TOLERANCE) & (np.array(extra or [0.0] * len(gaps)) <= 0))
        if same.size:
            i = int(same[0])
            raise PathError(f"waypoints {i + 1} and {i + 2} are the same latent; a path between them has length 0")
        w.setflags(write=False)
        object.__setattr__(self, "waypoints", w)
        object.__setattr__(self, "steps", int(self.steps))
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))

    @property
    def dim(self) -> int:
        return self.waypoints.shape[1]

    def with_(self, **changes) -> "LatentPath":
        return replace(self, **changes)

    def segment_lengths(self) -> np.ndarray:
        """float64 [K-1]: the angle (slerp) or distance (lerp) of each segment (plus ``extra``), for spacing frames."""
        return self.latent_lengths() + (np.array(self.extra) if self.extra else 0.0)

    def latent_lengths(self) -> np.ndarray:
        """float64 [K-1]: the angle (slerp) or distance (lerp) the latent moves along each segment."""
        w = self.waypoints
        if self.mode == "slerp":
            lengths = np.array([angle_between(a, b) for a, b in zip(w[:-1], w[1:])])
            # the norm also changes along a slerp segment; count it in so radial-only segments get frames
            radial = np.abs(np.diff(np.linalg.norm(w.astype(np.float64), axis=1)))
            mean_r = max(float(np.linalg.norm(w.astype(np.float64), axis=1).mean()), 1e-12)
            return lengths + radial / mean_r
        return np.linalg.norm(np.diff(w.astype(np.float64), axis=0), axis=1)

    def frame_segments(self) -> list[int]:
        """Frames per segment (each >= 1, the first frame of the path excluded); sums to steps - 1."""
        k = len(self.waypoints) - 1
        total = self.steps - 1
        lengths = self.segment_lengths()
        share = lengths / lengths.sum() if lengths.sum() > 0 else np.full(k, 1.0 / k)
        counts = np.maximum(1, np.floor(share * total).astype(int))
        while counts.sum() > total:  # only when many short segments got rounded up to 1
            counts[np.argmax(counts)] -= 1
        remainder = share * total - counts
        for i in np.argsort(-remainder)[: total - counts.sum()]:
            counts[i] += 1
        return [int(c) for c in counts]

    def waypoint_frames(self) -> list[int]:
        """Frame index of each waypoint (the first is 0, the last is steps - 1)."""
        return [0] + [int(x) for x in np.cumsum(self.frame_segments())]

    def fallback_segments(self) -> list[int]:
        """Segments (0-based) that use lerp although the path asks for slerp (nearly opposite ends)."""
        if self.mode != "slerp":
            return []
        w = self.waypoints
        return [i for i in range(len(w) - 1) if nearly_antipodal(w[i], w[i + 1])]

    def latents(self) -> np.ndarray:
        """float32 [steps, D]: frame 0 is the first waypoint, the last frame the last waypoint."""
        w = self.waypoints
        out = [w[:1].copy()]
        for i, n in enumerate(self.frame_segments()):
            t = ease(np.arange(1, n + 1) / n, self.easing)
            z, _ = interpolate_pair(w[i], w[i + 1], t, self.mode)
            out.append(z)
        return np.concatenate(out).astype(np.float32)

    def describe(self) -> str:
        extra = ""
        fb = self.fallback_segments()
        if fb:
            extra = f"; segment {', '.join(str(i + 1) for i in fb)} nearly opposite, lerp used there"
        return f"{len(self.waypoints)} waypoints, {self.steps} frames, {self.mode}, {self.easing}{extra}"

    def to_json(self) -> dict:
        out = {"waypoints": [[float(x) for x in row] for row in self.waypoints], "mode": self.mode,
               "steps": self.steps, "easing": self.easing, "names": list(self.names)}
        if self.extra:
            out["extra"] = list(self.extra)
        return out

    @classmethod
    def from_json(cls, data: dict) -> "LatentPath":
        try:
            return cls(np.asarray(data["waypoints"], np.float32), mode=str(data.get("mode", "slerp")),
                       steps=int(data.get("steps", 16)), easing=str(data.get("easing", "linear")),
                       names=tuple(data.get("names", ())), extra=tuple(data.get("extra") or ()))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, PathError):
                raise
            raise PathError(f"not a readable path ({type(exc).__name__}: {exc})") from None


# ---- smoothness: path length in feature space ----------------------------------------------------

def same_gaps(waypoints: np.ndarray) -> np.ndarray:
    """float64 [K-1]: each segment's latent distance relative to the largest coordinate (below
    SAME_TOLERANCE: one latent at both ends)."""
    w = np.asarray(waypoints, np.float64)
    scale = max(float(np.abs(w).max()), 1e-12)
    return np.linalg.norm(np.diff(w, axis=0), axis=1) / scale


def feature_path_length(features: np.ndarray) -> float:
    """Sum of squared feature distances between consecutive frames, features float [N, F].

    The discrete form of the perceptual path length (metrics.md): with frames spaced by ε = 1/(N-1)
    in t, Σ d²/ε² · ε = (N-1) Σ d², so the value is comparable across step counts for a smooth path.
    """
    f = np.asarray(features, np.float64)
    if len(f) < 2:
        return 0.0
    d2 = ((f[1:] - f[:-1]) ** 2).sum(axis=1)
    return float(d2.sum() * (len(f) - 1))


def step_distances(features: np.ndarray) -> np.ndarray:
    """float64 [N-1]: feature distance between consecutive frames (spikes show where the path jumps)."""
    f = np.asarray(features, np.float64)
    return np.sqrt(((f[1:] - f[:-1]) ** 2).sum(axis=1))


def perceptual_path_length(decode_features, dim: int, *, pairs: int = 64, epsilon: float = 1e-2,
                           mode: str = "slerp", seed: int = 0) -> float:
    """Model-level path length (Karras et al. 2019) with classifier features instead of LPIPS.

    decode_features: z float32 [N, D] -> features [N, F]. Mean over random prior pairs and t of
    d²(f(interp(t)), f(interp(t+ε))) / ε², the 1st/99th percentiles trimmed.
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((pairs, dim)).astype(np.float32)
    b = rng.standard_normal((pairs, dim)).astype(np.float32)
    t = rng.uniform(0.0, 1.0 - epsilon, pairs)
    if mode == "slerp":
        z0, z1 = slerp(a, b, t), slerp(a, b, t + epsilon)
    else:
        z0 = ((1 - t[:, None]) * a + t[:, None] * b).astype(np.float32)
        z1 = ((1 - (t + epsilon)[:, None]) * a + (t + epsilon)[:, None] * b).astype(np.float32)
    f = np.asarray(decode_features(np.concatenate([z0, z1])), np.float64)
    d2 = ((f[:pairs] - f[pairs:]) ** 2).sum(axis=1) / epsilon ** 2
    lo, hi = np.percentile(d2, [1, 99])
    kept = d2[(d2 >= lo) & (d2 <= hi)]
    return float(kept.mean()) if kept.size else float(d2.mean())
