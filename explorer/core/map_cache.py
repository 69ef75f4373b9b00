"""The latent map's cache: plain ``.npz`` arrays (never pickles) under the user cache, written atomically.

Encoded image sets, test-split scores, classifier features and UMAP layouts are kept here, keyed
by a content hash (``explorer.core.projection.data_key``) that includes ``CACHE_VERSION``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from explorer.io.exports import atomic_path

CACHE_VERSION = 1


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/latent-explorer/maps (~/.cache/… by default)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "latent-explorer" / "maps"


def save_npz_atomic(path: Path, **arrays) -> Path:
    """Write plain arrays to ``path`` atomically (temporary name in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, ".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (object arrays refused: nothing is unpickled)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
