"""Datasets as plain numpy arrays: Fashion-MNIST from the official IDX files, or any folder of images.

Everything returns ``explorer.io.images.ImageSet`` laid out for PyTorch (``channels_first``): images
uint8 [N, C, H, W], labels int64 [N] (-1 = unlabelled). Image folders are read by the same reader as
the latent map's (explorer/io/images.py), so a folder trained on can be encoded on the map as it is.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import numpy as np

from explorer.io import images as images_io
from explorer.io.contract import FASHION_MNIST_CLASSES
from explorer.io.fashion_data import DEBIAN_DIR, ENV_VAR, OFFICIAL_FILES, user_cache_dir
from explorer.io.fashion_data import SPLITS as FILES
from explorer.io.fashion_data import read_idx as _read_idx
from explorer.io.files import write_bytes_atomic
from explorer.io.images import ImageFolderError, ImageSet

# The download fallback: https only, the official repository first, then the official bucket; every
# file is checked against its official SHA-256 and size (explorer/io/fashion_data.py) before it is kept.
DOWNLOAD_URLS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
)


class DataError(RuntimeError):
    """Data could not be found or read. The message says what was looked for and what to do."""


class ChecksumError(DataError):
    """A downloaded file is not the official one (SHA-256 or size differ); nothing of it was kept."""


def _has_files(folder: Path) -> bool:
    return all(any((folder / (n + s)).is_file() for s in (".gz", "")) for pair in FILES.values() for n in pair)


def _has_some_idx(folder: Path) -> bool:
    return any((folder / (n + s)).is_file() for pair in FILES.values() for n in pair for s in (".gz", ""))


def find_fashion_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Return the folder holding the four Fashion-MNIST IDX files.

    Looks in: ``data_dir``, then ``$FASHION_MNIST_DIR``, then Debian's ``dataset-fashion-mnist``
    folder, then the user cache; if none has them and ``download`` is true, downloads into the cache.
    An explicit ``data_dir`` that lacks the files is an error (no silent fallback).
    """
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if _has_files(folder):
            return folder
        missing = [n + ".gz" for p in FILES.values() for n in p
                   if not any((folder / (n + s)).is_file() for s in (".gz", ""))]
        raise DataError(
            f"--data {folder}: expected the Fashion-MNIST files {', '.join(n + '.gz' for p in FILES.values() for n in p)} "
            f"there, found {'no such folder' if not folder.is_dir() else 'no ' + ', '.join(missing)}")
    looked: list[str] = []
    env = os.environ.get(ENV_VAR)
    candidates = ([(Path(env).expanduser(), f"${ENV_VAR}")] if env else []) + [
        (DEBIAN_DIR, "Debian package dataset-fashion-mnist"),
        (user_cache_dir(), "user cache"),
    ]
    for folder, why in candidates:
        if _has_files(folder):
            return folder
        looked.append(f"{folder} ({why})")
    if not env:
        looked.insert(0, f"${ENV_VAR} (not set)")
    if download:
        try:
            return download_fashion_mnist(user_cache_dir())
        except OSError as exc:
            looked.append(f"download failed ({exc})")
    raise DataError(
        "Fashion-MNIST not found. Looked in: " + "; ".join(looked)
        + ". Get it with 'apt-get install dataset-fashion-mnist', or put the four *-ubyte.gz files in a folder "
        f"and pass --data DIR or set ${ENV_VAR}.")


def download_fashion_mnist(folder: Path) -> Path:
    """Download the four official files into ``folder`` (those already there and official are kept).

    Each file is read into memory, checked against its official SHA-256 and size, and only then
    written (atomically); a mismatch raises ChecksumError and leaves nothing behind. Network failures
    try the next address and end in OSError naming them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (sha256, size) in OFFICIAL_FILES.items():
        target = folder / name
        if target.is_file() and _is_official(target, sha256, size):
            continue
        failures = []
        for base in DOWNLOAD_URLS:
            try:
                data = _fetch(base + name, size)
            except OSError as exc:
                failures.append(f"{base + name}: {exc}")
                continue
            _check_official(base + name, data, sha256, size)
            write_bytes_atomic(target, data)
            break
        else:
            raise OSError("; ".join(failures))
    return folder


def _fetch(url: str, size: int) -> bytes:
    """The body of ``url`` (https only, redirects included), at most one byte more than ``size``
    (enough to tell it is too long)."""
    if not url.startswith("https://"):
        raise DataError(f"{url}: refused, Fashion-MNIST is downloaded over https only")
    with urllib.request.urlopen(url, timeout=30) as resp:
        if not resp.geturl().startswith("https://"):
            raise DataError(f"{url}: redirected to {resp.geturl()}; refused, Fashion-MNIST is downloaded "
                            "over https only")
        chunks, got = [], 0
        while got <= size:
            chunk = resp.read(min(1 << 20, size + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    return b"".join(chunks)


def _check_official(url: str, data: bytes, sha256: str, size: int) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != size or digest != sha256:
        got = f"{len(data)} bytes" if len(data) <= size else f"more than {size} bytes"
        raise ChecksumError(f"{url}: not the official file (SHA-256 {digest[:12]}..., {got}; expected "
                            f"{sha256[:12]}..., {size} bytes); refused, nothing was kept")


def _is_official(path: Path, sha256: str, size: int) -> bool:
    try:
        return path.stat().st_size == size and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array; errors name the file and the problem."""
    try:
        return _read_idx(path)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _idx_path(folder: Path, name: str) -> Path:
    for suffix in (".gz", ""):
        if (folder / (name + suffix)).is_file():
            return folder / (name + suffix)
    raise DataError(f"{folder}: {name}.gz is missing")


def load_fashion_mnist(split: str, data_dir: str | os.PathLike | None = None, *,
                       image_size: int = 28, download: bool = True) -> ImageSet:
    """Fashion-MNIST ``split`` ("train" or "test") as an ImageSet, optionally resized."""
    folder = find_fashion_mnist(data_dir, download=download)
    image_file, label_file = (_idx_path(folder, n) for n in FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{image_file.name}/{label_file.name}: shapes {images.shape} and {labels.shape} do not match")
    if labels.size and (labels.min() < 0 or labels.max() >= len(FASHION_MNIST_CLASSES)):
        raise DataError(f"{label_file}: labels outside 0..9")
    images = images[:, None, :, :]
    if image_size != images.shape[-1]:
        images = resize_batch(images, image_size)
    return ImageSet(np.ascontiguousarray(images), labels.astype(np.int64), source="fashion-mnist",
                    class_names=FASHION_MNIST_CLASSES, channels_first=True)


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty(images.shape[:2] + (size, size), dtype=np.uint8)
    for i, img in enumerate(images):
        for c, plane in enumerate(img):
            out[i, c] = np.asarray(Image.fromarray(plane).resize((size, size), Image.BILINEAR))
    return out


def load_image_folder(folder: str | os.PathLike, *, image_size: int = 28, channels: int = 1,
                      labelled: bool | None = None, background: str = "black") -> ImageSet:
    """Every image under ``folder`` (recursive), resized to a square ``image_size``, as uint8 [N, C, H, W].

    Labels come from the first-level subfolder when every image sits in one (``labelled=None``
    decides that automatically). Colour images become gray by luma for ``channels=1``. Unreadable
    files are skipped and counted in ``skipped``. Transparent pixels are laid onto ``background``
    ("black", "white" or "#rrggbb"), whatever colour a file keeps under them. Raises DataError (one line).
    """
    root = Path(folder).expanduser()
    try:
        found = images_io.load_image_folder(root, (channels, image_size, image_size), resize=True,
                                            convert_colour=True, skip_unreadable=True, labelled=labelled,
                                            source=f"folder:{root.name}",
                                            background=images_io.parse_background(background))
    except ImageFolderError as exc:
        raise DataError(str(exc)) from None
    return found.to_channels_first()


def load_dataset(data: str | None, split: str, *, image_size: int = 28, channels: int | None = None,
                 seed: int = 0, test_fraction: float = 0.1, background: str = "black") -> ImageSet:
    """Fashion-MNIST when ``data`` is None or a folder of IDX files; otherwise an image folder.

    Image folders are split into train/test by a seeded shuffle (``test_fraction`` held out); each part
    keeps the shuffled order, so taking its first N images (``--limit``) samples every class.
    """
    if data is not None and not _has_files(Path(data).expanduser()) and _has_some_idx(Path(data).expanduser()):
        find_fashion_mnist(data)  # an incomplete Fashion-MNIST folder: raises the message naming the files
    if data is None or _has_files(Path(data).expanduser()):
        if channels not in (None, 1):
            raise DataError(f"Fashion-MNIST is grayscale; --channels {channels} is not possible")
        return load_fashion_mnist(split, data, image_size=image_size)
    full = load_image_folder(data, image_size=image_size, channels=channels or 1, background=background)
    order = np.random.default_rng(seed).permutation(len(full))
    n_test = max(1, int(round(len(full) * test_fraction))) if len(full) > 1 else 0
    part = order[:n_test] if split == "test" else order[n_test:]
    return full.subset(part)
