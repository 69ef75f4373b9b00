"""Work around a PySide6 6.12 reference-count bug on Python < 3.12.

Measured here (PySide6 6.12.0, CPython 3.11): every call of a void C++ method through the bindings
(``QLabel.setText``, ``setVisible``, ...) drops one reference to ``None`` that it never took, and
some paths do the same to ``True``/``False``. CPython 3.12+ makes these singletons immortal, so
there the bug is invisible; on 3.11 a long session (or a test run) eventually deallocates ``None``
and aborts with "Fatal Python error: none_dealloc". The singletons are never freed in a healthy
process anyway, so we give them a reference count no session can exhaust.
"""

from __future__ import annotations

import ctypes
import sys

_PINNED = False
_HEADROOM = 1 << 40  # references added to each singleton: ~10^12 void calls before trouble


def pin_singletons() -> bool:
    """Make None/True/False effectively immortal on CPython < 3.12 (idempotent). True when applied."""
    global _PINNED
    if _PINNED or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every object (Py_ssize_t) in release builds.
        ctypes.c_ssize_t.from_address(id(obj)).value += _HEADROOM
    _PINNED = True
    return True
