"""UMAP for the latent map: a shipped layout, a cached one, or a child process (umap-learn is optional).

Where a layout comes from, first match wins (:func:`compute_umap`):

1. the layout a bundle ships (``umap.npz`` beside ``atlas.npz``, docs/onnx-contract.md), when it
   was made from these very vectors: no child process, no umap-learn needed;
2. a layout cached earlier, beside the model (``<model folder>/umap-cache/``) or in the user cache
   (``$XDG_CACHE_HOME/latent-explorer/maps``) where the model's folder is not writable or is a
   bundled one (bundles stay as shipped); the key is a content hash of the vectors and the
   parameters, so a changed model (other latents) computes its own;
3. a child process, ``python -m explorer.core.umap_worker IN.npz OUT.npz``, which prints
   ``progress <fraction> <message>`` lines (real stages and epoch counts from umap-learn's own
   output) and writes the embedding. Why a child: umap-learn's numba kernels hold the GIL for
   seconds, which would freeze the window; a process can be cancelled at once (killed), runs
   niced, and its import cost never lands in the app.

numba's on-disk cache: the child sets ``NUMBA_CACHE_DIR`` to ``$XDG_CACHE_HOME/latent-explorer/numba``
and, before importing umap-learn, makes ``numba.njit`` default to ``cache=True`` (umap-learn declares
it on one function only; pynndescent on most of its own), so a second process loads the compiled
kernels instead of compiling them again (benchmarks/umap.py measures it).

Files are plain ``.npz`` arrays (never pickles), written atomically (``explorer.core.umap_layout``).
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
from explorer.core.umap_layout import (PARAMS, LayoutError, layout_key, layout_map, layout_matches, read_layout,
                                       save_layout)
from explorer.core.worker import Cancelled
from explorer.core.projection import UMAPMap
from explorer.io.contract import UMAP_FILE
from explorer.io.paths import bundled_models_dir

UMAP_MISSING = ("UMAP needs the optional package umap-learn (pip install umap-learn); "
                "PCA and two-dimension maps work without it")
BESIDE = "umap-cache"  # the cache folder inside a model's folder
RUN_LINE = "UMAP: fitting in a child process"  # said once per fit that really runs


def estimate_seconds(n_points: int) -> float:
    """Seconds a UMAP of ``n_points`` usually takes uncached on a 2-core machine (docs/latent-map.md:
    10k points 52 s, 70k points 130 s, numba's start-up included): a line through those two."""
    return 39.0 + 0.0013 * max(int(n_points), 0)


def umap_available() -> bool:
    """True when umap-learn is importable (checked without importing it: that costs seconds)."""
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def numba_cache_dir() -> Path:
    """Where the child keeps numba's compiled kernels: $XDG_CACHE_HOME/latent-explorer/numba."""
    return cache_dir().parent / "numba"


def _is_bundled(folder: Path) -> bool:
    try:
        return Path(folder).resolve().is_relative_to(bundled_models_dir().resolve())
    except OSError:
        return False


def cache_place(folder: Path | None) -> tuple[Path, str]:
    """(the folder a new layout is cached in, the words the UI says about it)."""
    if folder is not None:
        folder = Path(folder)
        if _is_bundled(folder):
            return cache_dir(), "cached in the user cache (bundled models stay as shipped)"
        target = folder / BESIDE
        usable = target.is_dir() and os.access(target, os.W_OK) if target.exists() else (
            folder.is_dir() and os.access(folder, os.W_OK))
        if usable:
            return target, f"cached beside the model ({folder.name}/{BESIDE})"
        return cache_dir(), f"cached in the user cache (the model's folder {folder.name} is not writable)"
    return cache_dir(), "cached in the user cache"


def umap_cache_path(data: np.ndarray, *, folder: Path | None = None, n_neighbors: int = PARAMS["n_neighbors"],
                    min_dist: float = PARAMS["min_dist"], seed: int | None = PARAMS["seed"]) -> Path:
    """Where the layout of ``data`` is cached for a model in ``folder`` (see :func:`cache_place`)."""
    key = layout_key(data, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    return cache_place(folder)[0] / f"umap-{key}.npz"


def find_layout(data: np.ndarray, folder: Path | None = None, *, n_neighbors: int = PARAMS["n_neighbors"],
                min_dist: float = PARAMS["min_dist"], seed: int | None = PARAMS["seed"]) -> UMAPMap | None:
    """The shipped or cached layout of ``data`` (see the module's order), or None. Reads no more than
    three small files; never starts a process."""
    data = np.ascontiguousarray(data, np.float32)
    key = layout_key(data, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    places: list[tuple[Path, str, bool]] = []
    if folder is not None:
        places.append((Path(folder) / UMAP_FILE, "shipped", False))  # any parameters: the bundle's own choice
        places.append((Path(folder) / BESIDE / f"umap-{key}.npz", "cache", True))
    places.append((cache_dir() / f"umap-{key}.npz", "cache", True))
    for path, origin, strict in places:
        if not path.is_file():
            continue
        try:
            d = read_layout(path)
        except LayoutError:
            continue
        if layout_matches(d, data, key, params=strict, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed):
            note = "" if origin == "shipped" else f"from the cache in {path.parent}"
            return layout_map(d, data, origin=origin, where=path, note=note)
    return None


def has_layout(data: np.ndarray, folder: Path | None = None) -> bool:
    return find_layout(data, folder) is not None


def compute_umap(data: np.ndarray, *, folder: Path | None = None, n_neighbors: int = PARAMS["n_neighbors"],
                 min_dist: float = PARAMS["min_dist"], seed: int | None = PARAMS["seed"],
                 progress: Callable[[float, str], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False, use_cache: bool = True,
                 timeout: float = 3600.0, numba_cache: bool = True, env: dict | None = None) -> UMAPMap:
    """UMAP of data float [N, D] for the model in ``folder`` (shipped, cached or computed, in that
    order). Raises MapDataError (umap missing, failure) or Cancelled."""
    say = progress or (lambda f, m: None)
    data = np.ascontiguousarray(data, np.float32)
    if use_cache:
        found = find_layout(data, folder, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
        if found is not None:
            say(1.0, "UMAP layout shipped with the model" if found.origin == "shipped"
                else f"UMAP loaded from the cache ({found.where})")
            return found
    if not umap_available():
        raise MapDataError(UMAP_MISSING)
    target, words = cache_place(folder)
    key = layout_key(data, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    path = target / f"umap-{key}.npz"
    work = cache_dir()
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
    inp = work / f".umap-in-{tag}.npz"
    out = work / f".umap-out-{tag}.npz"
    save_npz_atomic(inp, data=data, n_neighbors=np.array(n_neighbors), min_dist=np.array(min_dist),
                    seed=np.array(-1 if seed is None else seed))
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}  # umap-learn's stage lines as they come
    if numba_cache:
        numba_dir = numba_cache_dir()
        numba_dir.mkdir(parents=True, exist_ok=True)
        child_env["NUMBA_CACHE_DIR"] = str(numba_dir)
        child_env["LATENT_EXPLORER_NUMBA_CACHE"] = "1"
    else:
        child_env["LATENT_EXPLORER_NUMBA_CACHE"] = "0"
    root = str(Path(__file__).resolve().parents[2])
    child_env["PYTHONPATH"] = root + (os.pathsep + child_env["PYTHONPATH"] if child_env.get("PYTHONPATH") else "")
    say(0.0, RUN_LINE)
    proc = subprocess.Popen([sys.executable, "-m", "explorer.core.umap_worker", str(inp), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env, cwd=root)
    errors: list[str] = []
    stages = _Stages(say)

    def read_stdout():
        for line in proc.stdout:
            stages.line(line)

    def read_stderr():
        for line in proc.stderr:
            if not stages.line(line):
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
            last = next((e for e in reversed(errors) if e.strip() and "Warning" not in e), None) \
                or next((e for e in reversed(errors) if e.strip()), f"exit code {proc.returncode}")
            raise MapDataError(f"UMAP failed: {last[:200]}")
        d = load_npz(out)
        fit_s = float(d["fit_seconds"])
        if use_cache:
            try:
                save_layout(path, data, d["embedding"], n_neighbors=n_neighbors, min_dist=min_dist, seed=seed,
                            fit_seconds=fit_s)
            except OSError:  # the folder went read-only meanwhile: the user cache instead
                path, words = cache_dir() / path.name, "cached in the user cache"
                save_layout(path, data, d["embedding"], n_neighbors=n_neighbors, min_dist=min_dist, seed=seed,
                            fit_seconds=fit_s)
        return UMAPMap(source=data, embedding=d["embedding"].astype(np.float32), key=key, fit_seconds=fit_s,
                       origin="computed", where=str(path) if use_cache else "",
                       note=words if use_cache else "not cached")
    finally:
        for p in (inp, out):
            if p.exists():
                p.unlink()


class _Stages:
    """Turns the child's lines into progress: its own ``progress`` lines, umap-learn's verbose stage
    lines, pynndescent's ``k / n`` iterations and tqdm's ``done/total`` epoch counter."""

    STAGES = (("Finding Nearest Neighbors", 0.06, "UMAP: finding nearest neighbours"),
              ("Finished Nearest Neighbor Search", 0.25, "UMAP: nearest neighbours found"),
              ("Construct embedding", 0.28, "UMAP: spectral initialisation"),
              ("Finished embedding", 0.97, "UMAP: layout done"))
    NN = (0.08, 0.24)      # pynndescent's iterations
    EPOCHS = (0.3, 0.96)   # the layout's epochs

    def __init__(self, say):
        self.say = say
        self._lock = threading.Lock()
        self.epochs: tuple[int, int] | None = None

    def line(self, raw: str) -> bool:
        """True when the line was progress (of any kind)."""
        text = raw.strip()
        with self._lock:
            m = re.match(r"progress ([0-9.]+) (.*)", text)
            if m:
                self.say(float(m.group(1)), m.group(2))
                return True
            m = re.findall(r"(\d+)/(\d+) \[", text)  # tqdm: " 42%|####   | 210/500 [00:03<00:04, ...]"
            if m:
                done, total = int(m[-1][0]), int(m[-1][1])
                if total > 0 and self.epochs != (done, total):
                    self.epochs = (done, total)
                    lo, hi = self.EPOCHS
                    self.say(lo + (hi - lo) * done / total, f"UMAP layout: epoch {done} of {total}")
                return True
            m = re.match(r"(\d+)\s+/\s+(\d+)$", text)  # pynndescent: "\t 3  /  14"
            if m and int(m.group(2)) > 0:
                lo, hi = self.NN
                self.say(lo + (hi - lo) * int(m.group(1)) / int(m.group(2)),
                         f"UMAP: nearest-neighbour descent, iteration {m.group(1)} of {m.group(2)}")
                return True
            for words, fraction, message in self.STAGES:
                if words in text:
                    self.say(fraction, message)
                    return True
        return False


# ---- the child process ------------------------------------------------------------------------------

def _say(fraction: float, message: str) -> None:
    print(f"progress {fraction:.3f} {message}", flush=True)


class _TqdmFile:
    """tqdm writes its epoch bar here; each update goes to stdout as one line for the parent."""

    def write(self, text: str) -> None:
        text = text.strip("\r\n ")
        if text:
            print(text, flush=True)

    def flush(self) -> None:
        pass


def cache_numba_kernels() -> None:
    """Make ``numba.njit`` default to ``cache=True`` for the modules imported after this (umap-learn
    declares it on one function; numba then keeps every kernel it can in NUMBA_CACHE_DIR). Kernels
    numba cannot cache (closures made at run time) are compiled as before."""
    import numba

    if getattr(numba.njit, "_latent_explorer_cache", False):
        return
    plain = numba.njit

    def njit(*args, **kwargs):
        if len(args) == 1 and not kwargs and callable(args[0]):  # bare @numba.njit
            return plain(cache=True)(args[0])
        kwargs.setdefault("cache", True)
        return plain(*args, **kwargs)

    njit._latent_explorer_cache = True
    numba.njit = njit


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
    try:
        os.nice(5)  # every core for UMAP, and the window still first
    except OSError:
        pass
    d = load_npz(inp)
    data = d["data"].astype(np.float32)
    seed = int(d["seed"])
    _say(0.0, "importing umap-learn")
    if os.environ.get("LATENT_EXPLORER_NUMBA_CACHE", "1") == "1":
        cache_numba_kernels()
    import warnings

    import umap  # noqa: F401  (optional dependency, imported only here)

    _say(0.05, f"UMAP: nearest neighbours of {len(data):,} points")
    reducer = umap.UMAP(n_neighbors=int(d["n_neighbors"]), min_dist=float(d["min_dist"]),
                        random_state=None if seed < 0 else seed, n_components=2, verbose=True,
                        tqdm_kwds={"file": _TqdmFile(), "ascii": True, "mininterval": 0.3})
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_jobs value")
        embedding = reducer.fit_transform(data).astype(np.float32)
    fit_s = time.perf_counter() - t0
    _say(1.0, f"UMAP done: fit {fit_s:.1f} s")
    save_npz_atomic(out, embedding=embedding, fit_seconds=np.array(fit_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
