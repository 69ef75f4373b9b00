"""Read the Fashion-MNIST IDX files with numpy (the app never imports ``training/``).

Where the files are looked for (no download from the app): ``data_dir``, ``$FASHION_MNIST_DIR``,
Debian's ``dataset-fashion-mnist`` folder, then the trainer's user cache. Gzipped (``.gz``) or plain.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

ENV_VAR = "FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The official files (github.com/zalandoresearch/fashion-mnist, data/fashion/): SHA-256 and size in bytes of
# each .gz. The trainer's download fallback keeps a file only when both match.
OFFICIAL_FILES = {
    "train-images-idx3-ubyte.gz": ("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", 26421856),
    "train-labels-idx1-ubyte.gz": ("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", 29491),
    "t10k-images-idx3-ubyte.gz": ("cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", 4422079),
    "t10k-labels-idx1-ubyte.gz": ("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", 5125),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataNotFound(FileNotFoundError):
    """The Fashion-MNIST files are not where we looked. ``str()`` says where and what to do."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array in native byte order.

    Raises ValueError naming the file and the problem (unreadable, corrupt, truncated, not IDX).
    The one IDX reader of the project: ``training/data.py`` uses it too.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: damaged deflate data inside a .gz
        raise ValueError(f"{path}: cannot read IDX file ({type(exc).__name__}: {exc}); the file is corrupt or "
                         "truncated, delete it and fetch it again") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(f"{path}: bad IDX header (magic {raw[:4].hex()}); not an IDX file")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(">" + "I" * ndim, raw[4:head])
    dtype = np.dtype(_IDX_DTYPES[code])
    need = math.prod(shape) * dtype.itemsize  # exact: np.prod would wrap around on a lying header
    if len(raw) - head != need:
        raise ValueError(f"{path}: IDX header says shape {shape} ({need} bytes of data), file holds "
                         f"{len(raw) - head}; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype, offset=head).reshape(shape).astype(dtype.newbyteorder("="))


def user_cache_dir() -> Path:
    """Where the trainer downloads Fashion-MNIST when it is nowhere else."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "latent-explorer" / "fashion-mnist"


def _file(folder: Path, name: str) -> Path | None:
    for suffix in (".gz", ""):
        if (folder / (name + suffix)).is_file():
            return folder / (name + suffix)
    return None


def find_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the four IDX files; DataNotFound lists where it looked."""
    if data_dir is not None:
        candidates = [Path(data_dir).expanduser()]
    else:
        env = os.environ.get(ENV_VAR)
        candidates = ([Path(env).expanduser()] if env else []) + [DEBIAN_DIR, user_cache_dir()]
    for folder in candidates:
        if all(_file(folder, n) for pair in SPLITS.values() for n in pair):
            return folder
    raise DataNotFound("Fashion-MNIST IDX files not found in " + ", ".join(str(c) for c in candidates)
                       + f"; install 'dataset-fashion-mnist', set ${ENV_VAR}, or pass the folder")


def load_split(split: str, data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels int64 [N]) of the "train" or "test" split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, found {split!r}")
    folder = find_fashion_mnist(data_dir)
    img_name, lab_name = SPLITS[split]
    images = read_idx(_file(folder, img_name))
    labels = read_idx(_file(folder, lab_name)).astype(np.int64)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
    return images, labels
