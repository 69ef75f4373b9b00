"""The one error type for a model that cannot be opened or used, and how foreign errors become one line.

Bottom of the model-I/O modules: imports nothing from explorer.
"""

from __future__ import annotations


class ModelError(ValueError):
    """A model cannot be opened or used. ``str()`` is one line: what was expected, what was found."""


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of ``str(exc)`` (the exception's type name when empty), cut to ``limit`` characters."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) < limit else line[:limit - 3] + "..."
