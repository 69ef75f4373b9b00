"""UMAP for the latent map, in a child process (umap-learn is optional).

Why a child process: umap-learn's numba kernels hold the GIL for seconds, which would freeze the
window; a process can also be cancelled at once (killed) and its import cost (numba) never lands in
the app. The parent side is :func:`compute_umap` (cache, progress, cancel); the child side is
``python -m explorer.core.umap_worker IN.npz OUT.npz``, which prints ``progress <fraction> <message>``
lines and writes the embedding plus UMAP's inverse transform sampled on a lattice.

Files are plain ``.npz`` arrays (never pickles), written atomically.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from explorer.core.atlas_data import MapDataError
from explorer.core.map_cache import cache_dir, load_npz, save_npz_atomic
from explorer.core.worker import Cancelled
from explorer.core.projection import UMAPMap, data_key

UMAP_MISSING = ("UMAP needs the optional package umap-learn (pip install umap-learn); "
                "PCA and two-dimension maps work without it")
DEFAULT_LATTICE = 24
CACHE_VERSION = 1


def estimate_seconds(n_points: int) -> float:
    """Seconds a UMAP of ``n_points`` usually takes uncached on a 2-core machine (docs/latent-map.md:
    10k points 52 s, 70k points 130 s, numba's start-up included): a line through those two."""
    return 39.0 + 0.0013 * max(int(n_points), 0)


def umap_available() -> bool:
    """True when umap-learn is importable (checked without importing it: that costs seconds)."""
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def umap_cache_path(data: np.ndarray, *, n_neighbors: int, min_dist: float, seed: int, lattice: int) -> Path:
    key = data_key(data, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed, lattice=lattice, v=CACHE_VERSION)
    return cache_dir() / f"umap-{key}.npz"


def _umap_from_file(data: np.ndarray, path: Path) -> UMAPMap:
    d = load_npz(path)
    lat = d.get("lattice")
    has = lat is not None and lat.size > 0
    box = tuple(float(v) for v in d["lattice_box"]) if has else None
    return UMAPMap(source=data, embedding=d["embedding"].astype(np.float32),
                   lattice=lat.astype(np.float32) if has else None,
                   lattice_ok=d["lattice_ok"].astype(bool) if has else None, lattice_box=box, key=path.stem,
                   fit_seconds=float(d["fit_seconds"]) if "fit_seconds" in d else float("nan"))


def compute_umap(data: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0,
                 lattice: int = DEFAULT_LATTICE, progress: Callable[[float, str], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False, use_cache: bool = True,
                 timeout: float = 3600.0) -> UMAPMap:
    """UMAP of data float [N, D] (cached). Raises MapDataError (umap missing, failure) or Cancelled."""
    say = progress or (lambda f, m: None)
    data = np.ascontiguousarray(data, np.float32)
    path = umap_cache_path(data, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed, lattice=lattice)
    if use_cache and path.is_file():
        try:
            out = _umap_from_file(data, path)
            say(1.0, "UMAP loaded from cache")
            return out
        except (OSError, ValueError, KeyError):
            pass
    if not umap_available():
        raise MapDataError(UMAP_MISSING)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
    inp = path.with_name(f".umap-in-{tag}.npz")
    out = path.with_name(f".umap-out-{tag}.npz")
    save_npz_atomic(inp, data=data, n_neighbors=np.array(n_neighbors), min_dist=np.array(min_dist),
                    seed=np.array(seed), lattice=np.array(lattice))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS", "1")}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen([sys.executable, "-m", "explorer.core.umap_worker", str(inp), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root)
    lines: list[str] = []
    errors: list[str] = []

    def read_stdout():
        for line in proc.stdout:
            m = re.match(r"progress ([0-9.]+) (.*)", line.strip())
            if m:
                say(float(m.group(1)), m.group(2))
            else:
                lines.append(line)

    def read_stderr():
        for line in proc.stderr:
            errors.append(line.rstrip())

    readers = [threading.Thread(target=read_stdout, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
    for t in readers:
        t.start()
    t0 = time.monotonic()
    try:
        while proc.poll() is None:
            if cancelled():
                proc.kill()
                proc.wait()
                raise Cancelled()
            if time.monotonic() - t0 > timeout:
                proc.kill()
                proc.wait()
                raise MapDataError(f"UMAP took longer than {timeout:.0f} s and was stopped")
            time.sleep(0.05)
        for t in readers:
            t.join(2)
        if proc.returncode != 0 or not out.is_file():
            last = next((e for e in reversed(errors) if e.strip()), f"exit code {proc.returncode}")
            raise MapDataError(f"UMAP failed: {last[:200]}")
        result = _umap_from_file(data, out)
        if use_cache:
            os.replace(out, path)
        return result
    finally:
        for p in (inp, out):
            if p.exists():
                p.unlink()


# ---- the child process ------------------------------------------------------------------------------

def _say(fraction: float, message: str) -> None:
    print(f"progress {fraction:.3f} {message}", flush=True)


class _TqdmFile:
    """tqdm writes its bar here; turn '42%|' into progress lines for the epochs stage."""

    def __init__(self, lo: float, hi: float):
        self.lo, self.hi = lo, hi
        self._last = -1

    def write(self, text: str) -> None:
        m = re.findall(r"(\d+)%\|", text)
        if m:
            pct = int(m[-1])
            if pct != self._last:
                self._last = pct
                _say(self.lo + (self.hi - self.lo) * pct / 100, f"UMAP layout: {pct} % of epochs")

    def flush(self) -> None:
        pass


def _lattice_inverse(reducer, embedding: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UMAP's inverse transform on a g x g lattice over the embedding's box (inside its hull only)."""
    from scipy.spatial import Delaunay

    lo, hi = embedding.min(axis=0), embedding.max(axis=0)
    xs = np.linspace(lo[0], hi[0], g)
    ys = np.linspace(lo[1], hi[1], g)
    gx, gy = np.meshgrid(xs, ys)  # row = y, column = x
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    inside = Delaunay(embedding).find_simplex(pts) >= 0
    lat = np.zeros((g * g, reducer._raw_data.shape[1]), np.float32)
    if inside.any():
        lat[inside] = reducer.inverse_transform(pts[inside]).astype(np.float32)
    ok = inside & np.isfinite(lat).all(axis=1)
    return lat.reshape(g, g, -1), ok.reshape(g, g), np.array([lo[0], lo[1], hi[0], hi[1]], np.float32)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    inp, out = Path(argv[0]), Path(argv[1])
    parent = os.getppid()

    def watchdog():  # the app quit (or crashed) without cancelling: do not run on as an orphan
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    d = load_npz(inp)
    data = d["data"].astype(np.float32)
    g = int(d["lattice"])
    _say(0.0, "importing umap-learn")
    import umap  # noqa: F401  (optional dependency, imported only here)

    _say(0.05, f"UMAP: nearest neighbours of {len(data):,} points")
    reducer = umap.UMAP(n_neighbors=int(d["n_neighbors"]), min_dist=float(d["min_dist"]),
                        random_state=int(d["seed"]), n_components=2, verbose=True,
                        tqdm_kwds={"file": _TqdmFile(0.3, 0.85), "ascii": True, "mininterval": 0.3})
    t0 = time.perf_counter()
    embedding = reducer.fit_transform(data).astype(np.float32)
    fit_s = time.perf_counter() - t0
    lattice = np.zeros((0,), np.float32)
    lattice_ok = np.zeros((0,), bool)
    box = np.zeros(4, np.float32)
    if g > 1:
        _say(0.87, f"UMAP inverse transform on a {g}x{g} lattice")
        try:
            lattice, lattice_ok, box = _lattice_inverse(reducer, embedding, g)
        except Exception as exc:  # the map still works, decoding through the nearest point
            print(f"inverse transform unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
            lattice, lattice_ok = np.zeros((0,), np.float32), np.zeros((0,), bool)
    _say(1.0, f"UMAP done in {time.perf_counter() - t0:.1f} s (fit {fit_s:.1f} s)")
    save_npz_atomic(out, embedding=embedding, lattice=lattice, lattice_ok=lattice_ok, lattice_box=box,
                    fit_seconds=np.array(fit_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
