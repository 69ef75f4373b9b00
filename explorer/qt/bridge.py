"""Glue between the Qt-free models and Qt: answers onto the GUI thread, arrays into QImages."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage


class ToGui(QObject):
    """The one way back to the GUI thread: ``wrap(fn)`` gives a function any thread may call.

    The call is queued onto the thread this object lives on (the GUI thread) and runs ``fn`` there;
    workers (``explorer.core.worker.LatestOnly``) take the wrapped functions as ``deliver`` and
    ``on_progress``. Parent it to the view that owns the worker, so calls stop when the view goes.
    """

    _call = Signal(object, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._call.connect(self._run)

    @staticmethod
    def _run(fn, args) -> None:
        fn(*args)

    def wrap(self, fn):
        def queued(*args):
            self._call.emit(fn, args)
        return queued


def qimage_view(array: np.ndarray) -> QImage:
    """A QImage sharing memory with a C-contiguous uint8 [H, W, 1|3] array (no copy).

    The caller keeps ``array`` alive as long as the QImage is used (the pyqtgraph approach).
    """
    if array.dtype != np.uint8 or not array.flags.c_contiguous:
        raise ValueError("expected a C-contiguous uint8 [H, W, C] array")
    h, w, c = array.shape
    fmt = QImage.Format.Format_Grayscale8 if c == 1 else QImage.Format.Format_RGB888
    return QImage(array.data, w, h, w * c, fmt)


def accept_url_drag(event) -> None:
    """dragEnterEvent of a widget that takes dropped files or folders."""
    if event.mimeData().hasUrls():
        event.acceptProposedAction()


def dropped_paths(event) -> list[str]:
    """The local files/folders of a drop event; the drop is accepted when there are any."""
    paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
    if paths:
        event.acceptProposedAction()
    return paths


def rgb32_image(shape: tuple[int, int]) -> tuple[np.ndarray, QImage]:
    """An opaque uint32 [H, W] buffer and a QImage (Format_RGB32, 0xffRRGGBB) sharing its memory.

    Qt scales and blits RGB32 without converting it first: painting an 8x8 grid at 3x measured
    0.4 ms against 1.7 ms from Grayscale8 (the caller keeps the array alive with the image)."""
    h, w = shape
    buffer = np.full((h, w), 0xFF000000, np.uint32)
    return buffer, QImage(buffer.data, w, h, w * 4, QImage.Format.Format_RGB32)


def fill_rgb32(dst: np.ndarray, src: np.ndarray) -> None:
    """uint8 [H, W, 1|3] -> the uint32 0xffRRGGBB buffer of rgb32_image, in place."""
    if src.shape[2] == 1:
        np.multiply(src[..., 0], np.uint32(0x010101), out=dst, dtype=np.uint32)
    else:
        np.left_shift(src[..., 0], 16, out=dst, dtype=np.uint32)
        dst |= src[..., 1].astype(np.uint32) << 8
        dst |= src[..., 2]
    dst |= np.uint32(0xFF000000)


def qimage_copy(array: np.ndarray) -> QImage:
    """A QImage owning a copy of uint8 [H, W, 1|3] (safe to keep, e.g. on the clipboard)."""
    return qimage_view(np.ascontiguousarray(array)).copy()
