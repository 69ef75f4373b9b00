"""latent-train under torchrun: two CPU ranks with gloo on a tiny data set.

Every write of both ranks is recorded (a sitecustomize that wraps open/os.replace/os.mkdir in each
worker), so the test can check that only rank 0 touched RUN_DIR. tests/ddp_probe.py keeps what each
rank holds at every checkpoint, so the test can check that the ranks agree with what is exported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.io import contract as C
from tiny_training import (REPO, TINY, cli_env, fashion_subset, free_port, load_checkpoint, metrics_rows,
                           ort_session, requires_fashion)
from training.config import TrainConfig
from training.models import build_modules

PROBE = Path(__file__).resolve().parent / "ddp_probe.py"

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


def torchrun_command(family: str, data: Path, out: Path, *extra, launcher: str = "torch.distributed.run",
                     entry: tuple[str, ...] = ("-m", "training.cli")) -> list[str]:
    return [sys.executable, "-m", launcher, "--nproc_per_node=2", "--master_addr", "127.0.0.1",
            "--master_port", str(free_port()), *entry, family, "--data", str(data), "--out", str(out),
            *extra, *TINY]


def torchrun(family: str, data: Path, out: Path, tmp_path: Path, *extra,
             entry: tuple[str, ...] = ("-m", "training.cli")) -> tuple[subprocess.CompletedProcess, list]:
    site, log = tmp_path / "site", tmp_path / "writes"
    site.mkdir()
    log.mkdir()
    (site / "sitecustomize.py").write_text(WATCHER)
    env = cli_env()
    env["PYTHONPATH"] = f"{site}{':' + env['PYTHONPATH'] if env.get('PYTHONPATH') else ''}"
    env.update(WATCH_DIR=str(out.resolve()), WRITE_LOG=str(log), PROBE_DIR=str(tmp_path))
    cmd = torchrun_command(family, data, out, *extra, entry=entry)
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


def test_the_ranks_hold_the_same_batch_norm_statistics_and_the_export_has_them(tmp_path, tmp_path_factory):
    """DDP broadcasts rank 0's buffers before each forward and each rank then updates them with its own
    batch: at the end of an epoch they are averaged over the ranks, so the checkpoint, the snapshot and
    the exported generator hold what every rank holds."""
    data = fashion_subset(tmp_path_factory)
    out = tmp_path / "run"
    result, _ = torchrun("gan", data, out, tmp_path, "--epochs", "2", "--limit", "128", "--batch-size", "32",
                         "--latent-dim", "8", entry=(str(PROBE),))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for epoch in (1, 2):
        ranks = [torch.load(tmp_path / f"rank{r}-epoch{epoch}-batch0.pt", weights_only=True) for r in (0, 1)]
        g0, g1 = ranks[0]["generator"], ranks[1]["generator"]
        stats = [k for k in g0 if k.endswith(("running_mean", "running_var"))]
        assert stats, "the generator has batch norm"
        for key in g0:
            assert torch.equal(g0[key], g1[key]), f"epoch {epoch}: generator {key} differs between the ranks"
    saved = load_checkpoint(out)["modules"]["generator"]
    assert all(torch.equal(saved[k], g1[k]) for k in g1)
    # the exported generator computes what rank 1's generator computes
    cfg = TrainConfig.from_dict(load_checkpoint(out)["config"])
    g = build_modules(cfg)["generator"]
    g.load_state_dict(g1)
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = g.eval()(z).numpy()
    got = ort_session(out / "model" / "generator.onnx").run(None, {"z": z.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_ctrl_c_under_the_launcher_is_one_line_and_exit_130(tmp_path, tmp_path_factory):
    """Ctrl-C in a terminal reaches the launcher and both ranks (one process group); the ranks stop
    after the same batch, rank 0 saves and says so, and the launcher exits 130 without a traceback.
    The run then resumes under the launcher."""
    data = fashion_subset(tmp_path_factory, n_train=1200, n_test=200)
    out = tmp_path / "run"
    args = ("--epochs", "2", "--batch-size", "16", "--latent-dim", "8")
    proc = subprocess.Popen(torchrun_command("vae", data, out, *args, launcher="training.torchrun"), cwd=REPO,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        t0 = time.monotonic()
        while not (out / "config.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - t0 < 240, "training did not start"
            time.sleep(0.05)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "SignalException" not in stderr + stdout, stderr
    assert stdout.count("interrupted: checkpoint saved at epoch") == 1 and "--resume" in stdout, stdout
    ckpt = load_checkpoint(out)
    assert ckpt["batch"] > 0 and len(ckpt["rng"]) == 2
    resumed = subprocess.run(torchrun_command("vae", data, out, *args, "--resume", launcher="training.torchrun"),
                             cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=480)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert [r["epoch"] for r in metrics_rows(out)] == [1, 2]
