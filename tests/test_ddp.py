"""latent-train under torchrun: two CPU ranks with gloo on a tiny data set.

Every write of both ranks is recorded (a sitecustomize that wraps open/os.replace/os.mkdir in each
worker), so the test can check that only rank 0 touched RUN_DIR.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from explorer.io import contract as C
from tiny_training import (REPO, TINY, cli_env, fashion_subset, free_port, load_checkpoint, metrics_rows,
                           ort_session, requires_fashion)

pytestmark = [requires_fashion, pytest.mark.slow]

WATCHER = textwrap.dedent('''
    """Test helper: log every write under $WATCH_DIR with this process's torchrun rank."""
    import builtins, os

    _watch, _log = os.environ["WATCH_DIR"], os.environ["WRITE_LOG"]
    _rank = os.environ.get("RANK", "launcher")
    _open, _replace, _rename, _mkdir = builtins.open, os.replace, os.rename, os.mkdir

    def _note(op, path):
        path = os.path.abspath(os.fspath(path))
        if path.startswith(_watch):
            with _open(os.path.join(_log, f"writes-{os.getpid()}.txt"), "a") as fh:
                fh.write(f"{_rank}\\t{op}\\t{path}\\n")

    def open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+"):
            _note("open", file)
        return _open(file, mode, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
        _note("replace", dst)
        return _replace(src, dst, *args, **kwargs)

    def rename(src, dst, *args, **kwargs):
        _note("rename", dst)
        return _rename(src, dst, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        _note("mkdir", path)
        return _mkdir(path, *args, **kwargs)

    builtins.open, os.replace, os.rename, os.mkdir = open, replace, rename, mkdir
''')


def torchrun(family: str, data: Path, out: Path, tmp_path: Path, *extra) -> tuple[subprocess.CompletedProcess, list]:
    site, log = tmp_path / "site", tmp_path / "writes"
    site.mkdir()
    log.mkdir()
    (site / "sitecustomize.py").write_text(WATCHER)
    env = cli_env()
    env["PYTHONPATH"] = f"{site}{':' + env['PYTHONPATH'] if env.get('PYTHONPATH') else ''}"
    env.update(WATCH_DIR=str(out.resolve()), WRITE_LOG=str(log))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "training.cli", family, "--data", str(data), "--out", str(out),
           *extra, *TINY]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=480)
    writes = [line.split("\t") for f in sorted(log.iterdir()) for line in f.read_text().splitlines()]
    return result, writes


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_two_ranks_train_and_only_rank_0_writes(family, tmp_path, tmp_path_factory):
    data = fashion_subset(tmp_path_factory)
    out = tmp_path / "run"
    result, writes = torchrun(family, data, out, tmp_path, "--epochs", "2", "--limit", "256", "--batch-size", "32",
                              "--latent-dim", "8")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # only rank 0 wrote: every recorded write under RUN_DIR comes from it, and there were writes
    assert writes and {w[0] for w in writes} == {"0"}, sorted({(w[0], w[2]) for w in writes})
    assert result.stdout.count("Epoch 1/2") == 1 and result.stdout.count("exported") == 1
    # one metrics line per epoch, the usual files, nothing half-written
    assert [r["epoch"] for r in metrics_rows(out)] == [1, 2]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "config.json", "metrics.jsonl", "model",
                                                     "snapshots"]
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == ["epoch-0001", "epoch-0002"]
    assert not [p for p in out.rglob(".*")]
    ckpt = load_checkpoint(out)
    assert ckpt["epoch"] == 2 and len(ckpt["rng"]) == 2  # both ranks' random states, gathered by rank 0
    # the export loads and runs
    bundle = C.open_bundle(out / "model")
    role = "decoder" if family == "vae" else "generator"
    card = bundle.cards[role]
    assert card.epoch == 2 and card.latent_dim == 8
    image = ort_session(bundle.files[role]).run(None, {"z": np.zeros((3, 8), np.float32)})[0]
    assert image.shape == (3, 1, 28, 28) and np.isfinite(image).all()
