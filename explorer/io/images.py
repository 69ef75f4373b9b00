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

# The colour transparent pixels are laid onto: one per training run (``latent-train --background``,
# recorded in its config.json), black unless told otherwise, and the same in training and the map.
BLACK = (0, 0, 0)
_NAMED_BACKGROUNDS = {"black": BLACK, "white": (255, 255, 255)}


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
    skipped: unreadable files left out; skipped_names: theirs (relative to the folder read).
    """

    images: np.ndarray
    labels: np.ndarray
    source: str
    names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    is_train: np.ndarray | None = None
    skipped: int = 0
    channels_first: bool = False
    skipped_names: tuple[str, ...] = ()

    def skipped_note(self, shown: int = 3) -> str:
        """One line naming the unreadable files left out (the first ``shown``, and how many more);
        "" when none was."""
        if not self.skipped:
            return ""
        names = list(self.skipped_names[:shown])
        more = self.skipped - len(names)
        listed = ", ".join(names) + (f" and {more} more" if more and names else "")
        what = "file" if self.skipped == 1 else "files"
        return f"skipped {self.skipped} unreadable image {what}" + (f": {listed}" if listed else "")

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


def parse_background(text) -> tuple[int, int, int]:
    """"black", "white" or "#rrggbb" -> (r, g, b); ImageFolderError (one line) for anything else."""
    if isinstance(text, str):
        key = text.strip().lower()
        if key in _NAMED_BACKGROUNDS:
            return _NAMED_BACKGROUNDS[key]
        if len(key) == 7 and key[0] == "#" and all(ch in "0123456789abcdef" for ch in key[1:]):
            return tuple(int(key[i:i + 2], 16) for i in (1, 3, 5))
    raise ImageFolderError(f"background: expected black, white or #rrggbb, got {text!r}")


def background_name(rgb: tuple[int, int, int]) -> str:
    """The canonical spelling of a background: "black", "white" or "#rrggbb"."""
    for name, value in _NAMED_BACKGROUNDS.items():
        if tuple(rgb) == value:
            return name
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def training_background(bundle_folder: str | os.PathLike) -> tuple[int, int, int]:
    """The background a bundle's model was trained with: the ``background`` of the config.json of the
    run folder the bundle sits in (its model/ or a snapshot), black when it is in no run folder or the
    run does not say (runs before the setting existed laid transparency onto black too)."""
    from explorer.io.run_folder import read_config, run_of_bundle

    run = run_of_bundle(bundle_folder)
    config = read_config(run) if run is not None else None
    try:
        return parse_background((config or {}).get("background", "black"))
    except ImageFolderError:
        return BLACK


def _composite(arr: np.ndarray, alpha: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """uint8 [H, W, C] with alpha float [H, W, 1] laid onto ``background`` (r, g, b); a gray image onto a
    colour that is not gray becomes RGB."""
    bg = np.asarray(background, np.float32)
    if arr.shape[-1] == 1:
        if bg[0] == bg[1] == bg[2]:
            bg = bg[:1]
        else:
            arr = np.repeat(arr, 3, axis=-1)
    out = arr.astype(np.float32) * alpha + bg * (1.0 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _open(path: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    """One image file -> (uint8 [H, W, 1 or 3], alpha float32 [H, W, 1] in 0..1 or None, its mode in words)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")  # palette transparency (bytes or index) as an alpha channel, no warning
                mode = "PA"
            gray_key = mode in ("1", "L") and "transparency" in im.info  # a gray level that is transparent
            if mode in ("1", "L", "I;16", "I", "F") and not gray_key:
                arr, alpha, words = np.asarray(im.convert("L"))[..., None], None, "gray"
            elif mode in ("LA", "La") or gray_key:
                la = np.asarray(im.convert("LA"))
                arr, alpha, words = la[..., :1], la[..., 1:2], "gray + alpha"
            else:
                rgba = "A" in mode or "transparency" in im.info
                rgb = np.asarray(im.convert("RGBA" if rgba else "RGB"))
                arr, alpha, words = rgb[..., :3], (rgb[..., 3:4] if rgba else None), "RGBA" if rgba else "RGB"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageFolderError(f"{path.name}: not a readable image ({type(exc).__name__})") from None
    if alpha is not None:
        alpha = alpha.astype(np.float32) / 255.0
        if (alpha == 1.0).all():
            alpha = None
    return np.ascontiguousarray(arr), alpha, words


def _is_gray(arr: np.ndarray) -> bool:
    return arr.shape[-1] == 1 or bool((arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all())


def _luma(arr: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [H, W, 1], ITU-R 601 luma (Pillow's "L")."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(arr), "RGB").convert("L"))[..., None]


def read_image(path: Path, channels: int, *, convert_colour: bool = True,
               background: tuple[int, int, int] = BLACK) -> np.ndarray:
    """One image file -> uint8 [H, W, channels].

    Transparent pixels are laid onto ``background`` (r, g, b; black by default, like a dataset image),
    whatever colour the file keeps under them. Gray -> RGB repeats the plane.
    RGB -> gray: with ``convert_colour`` the ITU-R 601 luma (Pillow's "L"); without it only images
    that are gray already (R = G = B) are accepted, anything else is refused rather than changed.
    Raises ImageFolderError naming the file when it is not a readable image.
    """
    arr, alpha, _ = _open(path)
    if alpha is not None:
        arr = _composite(arr, alpha, background)
    if arr.shape[-1] == channels:
        return arr
    if channels == 1:
        if _is_gray(arr):
            return arr[..., :1]  # a gray image stored as RGB
        if not convert_colour:
            raise ImageFolderError(f"{path.name}: a colour image, the model takes 1-channel (gray) images; "
                                   "convert the folder to grayscale first")
        return _luma(arr)
    return np.repeat(arr, 3, axis=-1)  # gray -> RGB loses nothing


@dataclass(frozen=True)
class FittedImage:
    """An image made to fit a model's input: ``image`` uint8 [H, W, C]; ``steps`` what was done to it,
    in words ("resized 224×224 → 28×28", "converted RGB → gray"), empty when it fitted as it was."""

    image: np.ndarray
    steps: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """One line for the user: what was done, or that nothing was."""
        if self.steps:
            return ", ".join(self.steps)
        h, w, c = self.image.shape
        return f"used as it is ({w}×{h} {'gray' if c == 1 else 'RGB'})"


def fit_image(arr: np.ndarray, image_shape: tuple[int, int, int], *, alpha: np.ndarray | None = None,
              background: int | tuple[int, int, int] = BLACK, mode: str | None = None) -> FittedImage:
    """Make an image what a model takes, the way a designer expects, and say what was done.

    arr uint8 [H, W, 1 or 3]; image_shape (C, H, W) of the model; alpha float [H, W, 1] in 0..1 or
    None; background: the training images' background, (r, g, b) or a gray level (black: Fashion-MNIST's;
    an image folder's run records its own, see :func:`training_background`).

    1. Transparent pixels go onto the background.
    2. An image whose border is far from the background (a garment photographed on white for a
       model trained on black) is inverted, so the garment is the bright part as in training.
    3. Colour: RGB -> gray by luma for a gray model (an RGB file that is gray already is only
       unpacked), gray -> RGB by repeating the plane.
    4. A non-square image is centred on a square of the background (garments are centred in the
       training images), then resized to (H, W): area averaging when shrinking (an upscaled saved
       cell comes back pixel for pixel), bilinear when enlarging.
    """
    from PIL import Image

    c, h, w = image_shape
    if c not in (1, 3):
        raise ImageFolderError(f"channels must be 1 (grayscale) or 3 (RGB), got {c}")
    arr = np.asarray(arr, np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    steps: list[str] = []
    src_h, src_w = arr.shape[:2]
    words = mode or ("gray" if arr.shape[-1] == 1 else "RGB")
    rgb = tuple(int(np.clip(v, 0, 255)) for v in ((background,) * 3 if np.isscalar(background) else background))
    bg = (rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114) / 1000  # its luma: for inverting, a gray model's padding
    if alpha is not None:
        arr = _composite(arr, alpha, rgb)
        name = background_name(rgb)
        steps.append("transparent pixels onto " + (f"gray {rgb[0]}" if name.startswith("#") and len(set(rgb)) == 1
                                                   else name))
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]]).astype(np.float32).mean()
    if abs(border - bg) > 128:
        arr = (255 - arr).astype(np.uint8)
        steps.append(f"inverted ({'light' if border > bg else 'dark'} background → the model's "
                     f"{'dark' if bg < 128 else 'light'} one)")
    if c == 1 and arr.shape[-1] == 3:
        gray = _is_gray(arr)
        arr = arr[..., :1] if gray else _luma(arr)
        if not gray:
            steps.append(f"converted {'RGB' if words.startswith('RGB') else words} → gray")
    elif c == 3 and arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
        steps.append("converted gray → RGB")
    if src_h != src_w and (src_h, src_w) != (h, w):
        side = max(src_h, src_w)
        fill = rgb if arr.shape[-1] == 3 else (int(round(bg)),)
        square = np.empty((side, side, arr.shape[-1]), np.uint8)
        square[...] = np.asarray(fill, np.uint8)
        y0, x0 = (side - src_h) // 2, (side - src_w) // 2
        square[y0:y0 + src_h, x0:x0 + src_w] = arr
        arr = square
        steps.append(f"centred on a {side}×{side} square")
    if arr.shape[:2] != (h, w):
        shrink = arr.shape[0] >= h and arr.shape[1] >= w
        resample = Image.BOX if shrink else Image.BILINEAR
        if arr.shape[-1] == 1:
            arr = np.asarray(Image.fromarray(arr[..., 0], "L").resize((w, h), resample))[..., None]
        else:
            arr = np.asarray(Image.fromarray(arr, "RGB").resize((w, h), resample))
        steps.insert(0, f"resized {src_w}×{src_h} → {w}×{h}")
    return FittedImage(np.ascontiguousarray(arr, np.uint8), tuple(steps))


def read_image_fitted(path: str | os.PathLike, image_shape: tuple[int, int, int], *,
                      background: int | tuple[int, int, int] = BLACK) -> FittedImage:
    """One image file made to fit ``image_shape`` (C, H, W) by :func:`fit_image`; ImageFolderError
    (one line naming the file) when it is not a readable image."""
    path = Path(path)
    arr, alpha, words = _open(path)
    return fit_image(arr, image_shape, alpha=alpha, background=background, mode=words)


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
                      limit: int | None = None, source: str | None = None,
                      background: tuple[int, int, int] = BLACK) -> ImageSet:
    """Every image under ``folder`` (recursive, sorted) as uint8 [N, H, W, C] for ``image_shape`` (C, H, W).

    Labels: one first-level subfolder per class. ``labelled=None`` decides: labelled when every image
    sits in a subfolder and there are at least two; True forces it (one class is allowed).
    resize: bilinear to (H, W); without it an image of another size is an error naming it.
    convert_colour: RGB -> gray by luma; without it a colour image for a gray model is an error.
    skip_unreadable: leave unreadable files out and count them in ``skipped``; without it the first
    one is an error. limit: read at most this many files (the first in sorted order).
    background: the colour (r, g, b) transparent pixels are laid onto.
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
    unreadable: list[str] = []
    wrong: list[str] = []
    for i, (path, rel) in enumerate(zip(paths, parts)):
        try:
            arr = read_image(path, c, convert_colour=convert_colour, background=background)
        except ImageFolderError:
            if not skip_unreadable:
                raise
            unreadable.append("/".join(rel))
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
                    skipped=len(paths) - len(kept), skipped_names=tuple(unreadable))
