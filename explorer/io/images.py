"""Image sets and the one image-folder reader, shared by training (``training/data.py``) and the map.

A folder is read recursively; when every image sits in a first-level subfolder and there are at
least two of them, each subfolder is a class (sorted names give the label indices), so the map can
encode the same labelled folder a model was trained on. Images are converted to the channels the
model takes and, where the caller allows, resized to its size. numpy + Pillow only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageFolderError(ValueError):
    """Images that cannot be used. ``str()`` is one line: what was expected, what was found, what to do."""


@dataclass
class ImageSet:
    """A set of images with labels.

    images: uint8 [N, H, W, C] (C = 1 or 3), or [N, C, H, W] when ``channels_first`` (what PyTorch takes).
    labels: int64 [N], -1 = unlabelled; class_names [K] name the labels 0..K-1.
    source: what the set is, for messages and model cards ("folder shapes", "fashion-mnist").
    names: [N] file names (relative to the folder read) when the set came from files, else ().
    is_train: bool [N], which images the models were trained on, when known.
    skipped: unreadable files left out.
    """

    images: np.ndarray
    labels: np.ndarray
    source: str
    names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    is_train: np.ndarray | None = None
    skipped: int = 0
    channels_first: bool = False

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def name(self) -> str:
        """The source under the name training records as the card's ``dataset``."""
        return self.source

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image, whichever the layout."""
        n, a, b, c = self.images.shape
        return (a, b, c) if self.channels_first else (c, a, b)

    def subset(self, index) -> "ImageSet":
        """The images ``index`` (a slice, indices or a bool mask) with their labels, names and flags."""
        names = tuple(np.asarray(self.names, dtype=object)[index]) if self.names else ()
        is_train = self.is_train[index] if self.is_train is not None else None
        return replace(self, images=self.images[index], labels=self.labels[index], names=names, is_train=is_train)

    def to_channels_first(self) -> "ImageSet":
        """The same set as uint8 [N, C, H, W] (C-contiguous)."""
        if self.channels_first:
            return self
        return replace(self, images=np.ascontiguousarray(self.images.transpose(0, 3, 1, 2)), channels_first=True)


def read_image(path: Path, channels: int, *, convert_colour: bool = True) -> np.ndarray:
    """One image file -> uint8 [H, W, channels].

    Transparent pixels are laid over black (like a dataset image). Gray -> RGB repeats the plane.
    RGB -> gray: with ``convert_colour`` the ITU-R 601 luma (Pillow's "L"); without it only images
    that are gray already (R = G = B) are accepted, anything else is refused rather than changed.
    Raises ImageFolderError naming the file when it is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("1", "L", "I;16", "I", "F"):
                arr = np.asarray(im.convert("L"))[..., None]
            else:
                arr = np.asarray(im.convert("RGBA" if "A" in mode else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageFolderError(f"{path.name}: not a readable image ({type(exc).__name__})") from None
    if arr.shape[-1] == 4:  # transparent pixels over black
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        arr = (arr[..., :3] * alpha).astype(np.uint8)
    if arr.shape[-1] == channels:
        return arr
    if channels == 1:
        if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
            return arr[..., :1]  # a gray image stored as RGB
        if not convert_colour:
            raise ImageFolderError(f"{path.name}: a colour image, the model takes 1-channel (gray) images; "
                                   "convert the folder to grayscale first")
        return np.asarray(Image.fromarray(arr, "RGB").convert("L"))[..., None]
    return np.repeat(arr, 3, axis=-1)  # gray -> RGB loses nothing


def _resize(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 [H, W, C] -> uint8 [height, width, C], bilinear (Pillow), each channel alike."""
    from PIL import Image

    if arr.shape[:2] == (height, width):
        return arr
    if arr.shape[-1] == 1:
        return np.asarray(Image.fromarray(arr[..., 0], "L").resize((width, height), Image.BILINEAR))[..., None]
    return np.asarray(Image.fromarray(arr, "RGB").resize((width, height), Image.BILINEAR))


def image_files(root: Path) -> list[Path]:
    """Every image file under ``root`` (recursive), sorted by path."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def load_image_folder(folder: str | os.PathLike, image_shape: tuple[int, int, int], *, resize: bool = True,
                      convert_colour: bool = True, skip_unreadable: bool = True, labelled: bool | None = None,
                      limit: int | None = None, source: str | None = None) -> ImageSet:
    """Every image under ``folder`` (recursive, sorted) as uint8 [N, H, W, C] for ``image_shape`` (C, H, W).

    Labels: one first-level subfolder per class. ``labelled=None`` decides: labelled when every image
    sits in a subfolder and there are at least two; True forces it (one class is allowed).
    resize: bilinear to (H, W); without it an image of another size is an error naming it.
    convert_colour: RGB -> gray by luma; without it a colour image for a gray model is an error.
    skip_unreadable: leave unreadable files out and count them in ``skipped``; without it the first
    one is an error. limit: read at most this many files (the first in sorted order).
    Raises ImageFolderError (one line).
    """
    c, h, w = image_shape
    if c not in (1, 3):
        raise ImageFolderError(f"channels must be 1 (grayscale) or 3 (RGB), got {c}")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ImageFolderError(f"{root}: not a folder of images")
    paths = image_files(root)
    if not paths:
        raise ImageFolderError(f"{root}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
    if limit is not None:
        paths = paths[:limit]
    parts = [p.relative_to(root).parts for p in paths]
    if labelled is None:
        labelled = all(len(q) >= 2 for q in parts) and len({q[0] for q in parts}) >= 2
    class_names = tuple(sorted({q[0] for q in parts if len(q) >= 2})) if labelled else ()
    images = np.empty((len(paths), h, w, c), np.uint8)
    labels = np.full(len(paths), -1, np.int64)
    kept: list[int] = []
    wrong: list[str] = []
    for i, (path, rel) in enumerate(zip(paths, parts)):
        try:
            arr = read_image(path, c, convert_colour=convert_colour)
        except ImageFolderError:
            if not skip_unreadable:
                raise
            continue
        if arr.shape[:2] != (h, w):
            if not resize:
                wrong.append(f"{path.name} is {arr.shape[1]}x{arr.shape[0]}")
                continue
            arr = _resize(arr, h, w)
        images[i] = arr
        if labelled and len(rel) >= 2:
            labels[i] = class_names.index(rel[0])
        kept.append(i)
    if wrong:
        raise ImageFolderError(f"{root.name}: {len(wrong)} of {len(paths)} images are not {w}x{h} "
                               f"({wrong[0]}); resize them to the model's {w}x{h} first")
    if not kept:
        raise ImageFolderError(f"{root}: none of the {len(paths)} image files could be read")
    index = np.asarray(kept, np.int64)
    names = tuple("/".join(parts[i]) for i in kept)
    return ImageSet(images[index] if len(kept) < len(paths) else images, labels[index],
                    source=source or f"folder {root.name}", names=names, class_names=class_names,
                    skipped=len(paths) - len(kept))
