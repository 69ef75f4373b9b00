"""Exports, all written atomically: PNG (grid or strip), GIF (Pillow), MP4 (imageio-ffmpeg), .npy, JSON.

Every writer writes to a temporary file in the target folder and renames it over the target only
when complete, so a failed export never leaves a half-written file or destroys the previous one.
Errors are :class:`ExportError` with one line. No Qt, no torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

# ExportError, atomic_path and write_bytes_atomic are the atomic writer's (explorer/io/files.py); they
# are named here too because every export raises ExportError and callers import it with the writers.
from explorer.io.files import ExportError, atomic_path, write_bytes_atomic, write_failure  # noqa: F401
from explorer.io.pixels import tile, upscale

FORMATS = {".png": "png", ".gif": "gif", ".mp4": "mp4", ".npy": "npy", ".json": "json"}


def _check_frames(frames: np.ndarray) -> np.ndarray:
    f = np.asarray(frames)
    if f.ndim == 3:
        f = f[..., None]
    if f.ndim != 4 or f.shape[-1] not in (1, 3) or f.dtype != np.uint8 or len(f) == 0:
        raise ExportError(f"expected frames uint8 [N>0, H, W, 1|3], found {f.dtype} {list(f.shape)}")
    return f


def write_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """uint8 [H, W, 1|3] -> PNG (gray or RGB)."""
    from PIL import Image

    img = _check_frames(np.asarray(image)[None])[0]
    with atomic_path(path, ".png") as tmp:
        Image.fromarray(np.ascontiguousarray(img[..., 0] if img.shape[-1] == 1 else img)).save(tmp, format="PNG")
    return Path(path)


def write_gif(frames: np.ndarray, path: str | os.PathLike, *, fps: float = 12.0, loop: bool = True,
              bounce: bool = False) -> Path:
    """uint8 [N, H, W, 1|3] -> animated GIF, one GIF frame per input frame (``bounce`` appends the way back)."""
    from PIL import Image

    f = _check_frames(frames)
    if bounce and len(f) > 2:
        f = np.concatenate([f, f[-2:0:-1]])
    mode_frames = [Image.fromarray(np.ascontiguousarray(x[..., 0] if x.shape[-1] == 1 else x)) for x in f]
    duration = max(20, int(round(1000.0 / max(fps, 0.1))))  # browsers clamp < 20 ms to 100 ms
    with atomic_path(path, ".gif") as tmp:
        kwargs = {"loop": 0} if loop else {}
        # disposal=1 and optimize=False keep every frame full-size, so readers count exactly N frames
        mode_frames[0].save(tmp, format="GIF", save_all=True, append_images=mode_frames[1:], duration=duration,
                            optimize=False, disposal=1, **kwargs)
    return Path(path)


def mp4_available() -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def write_mp4(frames: np.ndarray, path: str | os.PathLike, *, fps: float = 12.0, bounce: bool = False) -> Path:
    """uint8 [N, H, W, 1|3] -> H.264 MP4 via imageio-ffmpeg (frames padded to even sizes, yuv420p)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ExportError("MP4 export needs the imageio-ffmpeg package (pip install imageio-ffmpeg); "
                          "GIF export works without it") from None
    f = _check_frames(frames)
    if bounce and len(f) > 2:
        f = np.concatenate([f, f[-2:0:-1]])
    if f.shape[-1] == 1:
        f = np.repeat(f, 3, axis=3)
    n, h, w, _ = f.shape
    # yuv420p needs even sides: pad with the edge colour rather than rescaling
    ph, pw = h + h % 2, w + w % 2
    if (ph, pw) != (h, w):
        f = np.pad(f, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    with atomic_path(path, ".mp4") as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (pw, ph), fps=float(fps), codec="libx264",
                                             pix_fmt_in="rgb24", pix_fmt_out="yuv420p", macro_block_size=1,
                                             output_params=["-crf", "18"], ffmpeg_log_level="error")
        writer.send(None)
        try:
            for frame in f:
                writer.send(np.ascontiguousarray(frame))
        finally:
            writer.close()
    return Path(path)


def write_npy(array: np.ndarray, path: str | os.PathLike) -> Path:
    """A plain numeric array as .npy (never object arrays: loading must not need pickle)."""
    a = np.asarray(array)
    if a.dtype == object:
        raise ExportError("expected a numeric array, found objects")
    with atomic_path(path, ".npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, a, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_json(data, path: str | os.PathLike) -> Path:
    """Readable JSON (indent 2, UTF-8)."""
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise write_failure(path, f"not JSON-serialisable ({exc})") from None
    with atomic_path(path, ".json") as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def latents_json(z: np.ndarray, **extra) -> dict:
    """z [N, D] as a JSON-ready dict {"latents": [[...], ...], **extra}."""
    z = np.asarray(z, np.float32)
    return {"shape": list(z.shape), "latents": z.astype(float).tolist(), **extra}


def strip_image(pixels: np.ndarray, *, cols: int | None = None, pad: int = 2, scale: int = 1,
                fill: int = 255) -> np.ndarray:
    """Frames uint8 [N, H, W, C] side by side (wrapping after ``cols``) -> one uint8 [H', W', C] image."""
    f = _check_frames(pixels)
    n = len(f)
    cols = n if not cols else max(1, min(cols, n))
    rows = -(-n // cols)
    return upscale(tile(f, rows, cols, pad=pad, fill=fill), scale)


def safe_file_name(name: str) -> str:
    """A file name to suggest: no spaces or characters that need quoting ("fashion gan path.gif" ->
    "fashion-gan-path.gif"); the suffix is kept."""
    import re

    stem, suffix = os.path.splitext(str(name))  # the whole text, slashes included ("T-shirt/top")
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "-", stem).strip("-.") or "export"
    return stem + re.sub(r"[^A-Za-z0-9.]+", "", suffix.lower())


def export_kind(path: str | os.PathLike) -> str:
    """'png', 'gif', 'mp4', 'npy' or 'json' from the file name; ExportError otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"{Path(path).name}: expected a file ending in {', '.join(FORMATS)}, found {suffix or 'no suffix'!r}")
    return FORMATS[suffix]
