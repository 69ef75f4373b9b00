"""The one atomic writer: every file a user may read is written through :func:`atomic_path`.

A temporary file with a unique name is written in the target folder, fsynced, made 0644 (minus the
umask) and renamed over the target only when complete; on failure it is removed and the old file is
kept. Errors are :class:`ExportError` with one line. Standard library only: contract, exports,
training and the core all write through here, and it imports nothing from them.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


class ExportError(OSError):
    """An export could not be written. ``str()`` is one line: what, where, why, what to do."""

    def __str__(self) -> str:
        return self.args[0] if self.args else "export failed"


def write_failure(path, reason: str) -> ExportError:
    """ExportError 'cannot write PATH: REASON' whose ``strerror`` is the reason alone (callers that
    format 'cannot write PATH: {exc.strerror}' themselves then say it once)."""
    exc = ExportError(f"cannot write {path}: {reason}")
    exc.strerror = reason
    return exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied (read-only folder?); choose another folder"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path next to ``path``; on success rename it over ``path``, else delete it."""
    path = Path(path).expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise write_failure(path, f"folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + (suffix or path.suffix), dir=folder)
    except OSError as exc:
        raise write_failure(path, _reason(exc)) from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        try:
            os.chmod(tmp, 0o644 & ~_umask())
        except OSError:
            pass
        with open(tmp, "rb") as fh:  # on disk before the rename makes it the file
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except ExportError:
        raise
    except Exception as exc:
        raise write_failure(path, _reason(exc)) from None
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path).expanduser()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
