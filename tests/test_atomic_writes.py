"""Every file a user may be reading while we write it goes through explorer.io.exports.atomic_path:
a failed write leaves the previous file as it was and no temporary file behind."""

from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest

from explorer.io import exports
from explorer.core.map_cache import load_npz, save_npz_atomic
from explorer.io.contract import Atlas
from explorer.core.report import write_html
from training.files import atomic_write_bytes, atomic_write_json


def _atlas(n=5):
    rng = np.random.default_rng(0)
    return Atlas(mu=rng.standard_normal((n, 2)).astype(np.float32), logvar=np.zeros((n, 2), np.float32),
                 labels=np.arange(n) % 2, class_names=("a", "b"))


WRITERS = {
    "report html": (lambda p: write_html("<p>new</p>", p), lambda p: p.read_text() == "<p>new</p>"),
    "map cache npz": (lambda p: save_npz_atomic(p, x=np.arange(3)), lambda p: load_npz(p)["x"].tolist() == [0, 1, 2]),
    "atlas": (lambda p: _atlas().save(p), lambda p: Atlas.load(p).mu.shape == (5, 2)),
    "training json": (lambda p: atomic_write_json(p, {"a": 1}), lambda p: p.read_text().startswith("{")),
    "training bytes": (lambda p: atomic_write_bytes(p, b"new"), lambda p: p.read_bytes() == b"new"),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_writes_whole_files_readable_by_others(tmp_path, writer):
    write, check = WRITERS[writer]
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    write(path)
    assert check(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, writer):
    write, _ = WRITERS[writer]
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(exports.os, "fsync", full_disk)
    with pytest.raises(OSError) as info:
        write(path)
    assert "No space left on device" in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
