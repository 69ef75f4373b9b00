"""Glue between the Qt-free models and Qt: answers onto the GUI thread, arrays into QImages."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage


class DecodeBridge(QObject):
    """Carries decode answers from the worker thread to the GUI thread (queued signal)."""

    answered = Signal(object)


def qimage_view(array: np.ndarray) -> QImage:
    """A QImage sharing memory with a C-contiguous uint8 [H, W, 1|3] array (no copy).

    The caller keeps ``array`` alive as long as the QImage is used (the pyqtgraph approach).
    """
    if array.dtype != np.uint8 or not array.flags.c_contiguous:
        raise ValueError("expected a C-contiguous uint8 [H, W, C] array")
    h, w, c = array.shape
    fmt = QImage.Format.Format_Grayscale8 if c == 1 else QImage.Format.Format_RGB888
    return QImage(array.data, w, h, w * c, fmt)


def qimage_copy(array: np.ndarray) -> QImage:
    """A QImage owning a copy of uint8 [H, W, 1|3] (safe to keep, e.g. on the clipboard)."""
    return qimage_view(np.ascontiguousarray(array)).copy()
