"""Atomic file writes: a reader (or a kill -9) never sees half a file.

The metrics log is appended and read through explorer/io/run_folder.py (append_jsonl, read_metrics).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

from explorer.io.files import atomic_path
from explorer.io.run_folder import bundle_old_name, file_temp_suffix


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` through the one atomic writer; the temp file's name carries this process's PID
    (``.last.pt.RANDOM.tmp-PID.pt``), so that a later start can tell a killed writer's leftover."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=file_temp_suffix(os.getpid(), path.suffix)) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def replace_dir(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written ``tmp_dir`` to ``final_dir``, replacing any older one.

    The new folder appears with one rename; an older folder is first renamed aside and deleted after,
    so a reader sees either the old complete folder or the new complete one.
    """
    old = None
    if final_dir.exists():
        old = final_dir.with_name(bundle_old_name(final_dir.name, os.getpid()))
        if old.exists():
            shutil.rmtree(old)
        os.replace(final_dir, old)
    os.replace(tmp_dir, final_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
