"""The one error type for a model that cannot be opened or used, and how foreign errors become one line.

Bottom of the model-I/O modules: imports nothing from explorer.
"""

from __future__ import annotations

import re

_LOAD_PREFIX = re.compile(r"^Load model from .* failed:\s*")
_ERROR_TAG = re.compile(r"\[\w*(Error|Exception)\]\s*")


class ModelError(ValueError):
    """A model cannot be opened or used. ``str()`` is one line: what was expected, what was found."""


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of ``str(exc)`` ("no reason given" when empty), cut to ``limit`` characters.

    onnxruntime's messages start with a bracketed status code (``[ONNXRuntimeError] : 2 : INVALID_ARGUMENT :``),
    which says nothing to a user: it is left out."""
    try:
        text = str(exc).strip().splitlines()
    except Exception:  # an exception whose message cannot even be made
        text = []
    line = text[0] if text else "no reason given"
    if line.startswith("[ONNXRuntimeError]"):
        line = line.split(" : ", 3)[-1].strip() or line
    line = _LOAD_PREFIX.sub("", line)  # "Load model from /long/path failed:" repeats what the caller says
    line = _ERROR_TAG.sub("", line).strip() or "no reason given"  # "[ShapeInferenceError] " names a class
    return line if len(line) < limit else line[:limit - 3] + "..."
