"""The identity of a training data set: which data a model (or a classifier) was trained on.

``latent-train`` records ``data`` (the folder as given, resolved) and ``data_id`` (below) in the
run's config.json; the diversity monitor reads them back to find a classifier trained on the same
data (explorer/core/own_data.py). An identity names the content, not the place: a copied or moved
folder keeps its id, an edited one gets a new one.

* ``fashion-mnist``: Fashion-MNIST from the default places (no ``--data``), or a folder that holds
  the four official IDX files unchanged;
* ``sha256:<16 hex>``: any other folder, hashed over the relative paths and bytes of its image
  files (or its four IDX files).

Standard library + numpy-free: it only hashes files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from explorer.io.fashion_data import SPLITS, find_fashion_mnist, DataNotFound
from explorer.io.images import image_files

FASHION_ID = "fashion-mnist"


def _idx_files(folder: Path) -> list[Path] | None:
    """The four IDX files of a Fashion-MNIST-style folder (gzipped or not), or None when it is not one."""
    out = []
    for pair in SPLITS.values():
        for name in pair:
            found = next((folder / (name + s) for s in (".gz", "") if (folder / (name + s)).is_file()), None)
            if found is None:
                return None
            out.append(found)
    return out


def _hash_files(root: Path, paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return "sha256:" + h.hexdigest()[:16]


def _default_fashion_id() -> str | None:
    """The content id of the Fashion-MNIST files in the default places (None when not installed)."""
    try:
        folder = find_fashion_mnist(None)
    except DataNotFound:
        return None
    files = _idx_files(folder)
    return _hash_files(folder, files) if files else None


def dataset_id(data: str | os.PathLike | None) -> str:
    """The identity of ``data`` (None: Fashion-MNIST from the default places). OSError when it cannot be read."""
    if data is None:
        return FASHION_ID
    root = Path(data).expanduser().resolve()
    idx = _idx_files(root)
    if idx is not None:
        own = _hash_files(root, idx)
        return FASHION_ID if own == _default_fashion_id() else own
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data folder")
    return _hash_files(root, image_files(root))


def resolved_data(data: str | os.PathLike | None) -> str | None:
    """The data folder as an absolute path (what config.json records), or None for the default Fashion-MNIST."""
    return None if data is None else str(Path(data).expanduser().resolve())
