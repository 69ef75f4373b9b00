"""A UMAP layout file: the embedding of a set of vectors, and what identifies that set.

One format for the layout a bundle ships (``umap.npz`` beside ``atlas.npz``, made by
``python -m training.bundle_assets --umap-only``; docs/onnx-contract.md) and for the layouts the
app caches (beside the model, or in the user cache). Plain ``.npz`` arrays, never pickles,
written atomically. Nothing else is needed to decode any 2-D position: the map blends the latents
of the nearest embedded points (``explorer.core.projection.UMAPMap``), and those latents are the
vectors the layout was made from (the atlas's ``mu`` for a bundle).

Arrays: ``embedding`` float32 [N, 2]; ``data_key`` (the content hash of the vectors and the
parameters); ``shape`` int64 [2] (N, D); ``probe_index`` int64 [P] and ``probe`` float32 [P, D]:
a few of the vectors, so a layout still matches vectors that differ from the fitted ones only by
float rounding (another CPU's encoder); ``n_neighbors``, ``min_dist``, ``seed`` (-1: none),
``fit_seconds``, ``format_version``; a shipped layout also holds ``fidelity_*`` figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.core.map_cache import load_npz, save_npz_atomic
from explorer.core.projection import UMAPMap, data_key

LAYOUT_VERSION = 1
PROBES = 64
PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "seed": None}  # what the map fits with: no seed, so every core works
BUNDLE_SEED = 0  # shipped layouts are seeded: `make models` makes the same file again


class LayoutError(ValueError):
    """A layout file that cannot be used (one line)."""


def layout_key(data: np.ndarray, *, n_neighbors: int, min_dist: float, seed: int | None) -> str:
    return data_key(np.ascontiguousarray(data, np.float32), n_neighbors=n_neighbors, min_dist=min_dist,
                    seed=-1 if seed is None else seed, v=LAYOUT_VERSION)


def save_layout(path: Path, data: np.ndarray, embedding: np.ndarray, *, n_neighbors: int, min_dist: float,
                seed: int | None, fit_seconds: float = float("nan"), **extra) -> Path:
    """Write the layout of ``data`` [N, D] (``embedding`` [N, 2]); ``extra`` scalars are kept as arrays."""
    data = np.ascontiguousarray(data, np.float32)
    emb = np.asarray(embedding, np.float32)
    if emb.shape != (len(data), 2) or not np.isfinite(emb).all():
        raise LayoutError(f"a UMAP layout must be finite [{len(data)}, 2], got {list(emb.shape)}")
    rng = np.random.default_rng(0)
    probe_index = np.sort(rng.choice(len(data), min(PROBES, len(data)), replace=False)).astype(np.int64)
    return save_npz_atomic(
        Path(path), embedding=emb, shape=np.array(data.shape, np.int64),
        data_key=np.array(layout_key(data, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)),
        probe_index=probe_index, probe=data[probe_index], n_neighbors=np.array(int(n_neighbors)),
        min_dist=np.array(float(min_dist)), seed=np.array(-1 if seed is None else int(seed)),
        fit_seconds=np.array(float(fit_seconds)), format_version=np.array(LAYOUT_VERSION),
        **{k: np.asarray(v) for k, v in extra.items()})


def read_layout(path: Path) -> dict[str, np.ndarray]:
    """Every array of a layout file; LayoutError (one line) when it is not one this app reads."""
    path = Path(path)
    try:
        d = load_npz(path)
    except (OSError, ValueError) as exc:
        raise LayoutError(f"{path.name}: not a readable UMAP layout ({str(exc).splitlines()[0][:100]})") from None
    missing = [k for k in ("embedding", "shape", "data_key", "probe_index", "probe") if k not in d]
    if missing:
        raise LayoutError(f"{path.name}: not a UMAP layout (no {', '.join(missing)})")
    if int(d.get("format_version", LAYOUT_VERSION)) > LAYOUT_VERSION:
        raise LayoutError(f"{path.name}: UMAP layout version {int(d['format_version'])} is newer than this app "
                          f"understands ({LAYOUT_VERSION}); update Latent Explorer")
    n = int(d["shape"][0])
    if d["embedding"].shape != (n, 2) or not np.isfinite(d["embedding"]).all():
        raise LayoutError(f"{path.name}: UMAP embedding is not a finite [{n}, 2] array")
    return d


def layout_matches(d: dict[str, np.ndarray], data: np.ndarray, key: str, *, params: bool = True,
                   n_neighbors: int | None = None, min_dist: float | None = None,
                   seed: int | None = None) -> bool:
    """True when layout ``d`` was made from ``data`` (same content hash ``key``, or the same shape and
    the probe rows equal up to float rounding: 1e-4 of their scale) with the same parameters."""
    if str(d["data_key"]) == key:
        return True
    data = np.asarray(data, np.float32)
    if tuple(int(v) for v in d["shape"]) != data.shape:
        return False
    if params and n_neighbors is not None:
        if (int(d.get("n_neighbors", -2)) != n_neighbors or abs(float(d.get("min_dist", -1)) - min_dist) > 1e-9
                or int(d.get("seed", -2)) != (-1 if seed is None else seed)):
            return False
    idx = d["probe_index"].astype(np.int64)
    if len(idx) == 0 or idx.max() >= len(data):
        return False
    probe = d["probe"].astype(np.float32)
    scale = float(np.abs(probe).max()) or 1.0
    return bool(np.abs(data[idx] - probe).max() <= 1e-4 * scale)


def layout_map(d: dict[str, np.ndarray], data: np.ndarray, *, origin: str, where: Path | str,
               note: str = "") -> UMAPMap:
    fit = float(d["fit_seconds"]) if "fit_seconds" in d else float("nan")
    return UMAPMap(source=np.ascontiguousarray(data, np.float32), embedding=d["embedding"].astype(np.float32),
                   key=str(d["data_key"]), fit_seconds=fit, origin=origin, where=str(where), note=note)
