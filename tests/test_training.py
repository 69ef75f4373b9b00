"""latent-train end to end on tiny data: run folder layout, export parity, resume, Ctrl-C, kill -9, errors.

Runs use a few hundred real Fashion-MNIST images (or a synthetic RGB folder of circles and squares),
width-8 networks and one thread; the runs several tests look at are trained once per session.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.io import contract as C
from tiny_training import (TINY, assert_same_weights, cli, fashion_subset, load_checkpoint, metrics_rows,
                           ort_session, real_fashion_dir, requires_fashion, run_args, run_cli, shapes_folder,
                           start_cli, tiny_run, without_timing)
from training.config import TrainConfig
from training.models import build_modules

FAMILIES = ("vae", "gan", "classifier")
ROLES = {"vae": ("decoder", "encoder"), "gan": ("generator",), "classifier": ("classifier",)}
MODULES = {"vae": {"vae"}, "gan": {"generator", "discriminator"}, "classifier": {"classifier"}}
ROW_KEYS = {
    "vae": {"loss", "reconstruction", "kl", "test_neg_elbo", "test_reconstruction", "test_kl", "kl_per_dim",
            "active_units"},
    "gan": {"d_loss", "g_loss", "d_x", "d_g_z"},
    "classifier": {"loss", "accuracy", "test_accuracy", "test_loss"},
}
COMMON_ROW_KEYS = {"epoch", "family", "images_per_s", "seconds"}
CHECKPOINT_KEYS = {"format", "version", "config", "epoch", "batch", "epoch_sums", "modules", "optimizers", "rng"}

pytestmark = requires_fashion


def onnx_files(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob("*.onnx"))


def hidden_leftovers(run_dir: Path) -> list[Path]:
    """Temporary files and folders of the atomic writers (their names start with a dot)."""
    return [p for p in run_dir.rglob(".*")]


# ---- layout --------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_run_folder_layout(family, tmp_path_factory):
    run = tiny_run(tmp_path_factory, family)
    # config.json: the TrainConfig, completed with what the data said
    config = json.loads((run / "config.json").read_text())
    cfg = TrainConfig.from_dict(config)
    assert cfg.family == family and cfg.epochs == 2 and cfg.seed == 3 and cfg.width == 8
    assert cfg.dataset == "fashion-mnist" and cfg.class_names == C.FASHION_MNIST_CLASSES and cfg.channels == 1
    # metrics.jsonl: one line per epoch with the family's keys
    rows = metrics_rows(run)
    assert [r["epoch"] for r in rows] == [1, 2]
    for row in rows:
        assert set(row) == COMMON_ROW_KEYS | ROW_KEYS[family]
        assert row["family"] == family
        assert all(math.isfinite(v) for v in row.values() if isinstance(v, (int, float)))
    if family == "vae":
        assert len(rows[0]["kl_per_dim"]) == 8
    if family == "classifier":
        assert 0 <= rows[-1]["test_accuracy"] <= 1
    # checkpoints/last.pt: loads without unpickling objects, and is self-describing
    ckpt = load_checkpoint(run)
    assert set(ckpt) == CHECKPOINT_KEYS
    assert ckpt["format"] == "latent-explorer-checkpoint" and ckpt["epoch"] == 2 and ckpt["batch"] == 0
    assert ckpt["config"] == config and set(ckpt["modules"]) == MODULES[family] == set(ckpt["optimizers"])
    assert len(ckpt["rng"]) == 1
    # snapshots/epoch-NNNN: a complete bundle per epoch
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["epoch-0001", "epoch-0002"]
    for epoch in (1, 2):
        snap = C.open_bundle(run / "snapshots" / f"epoch-{epoch:04d}")
        assert set(snap.cards) == set(ROLES[family]) and all(c.epoch == epoch for c in snap.cards.values())
        assert (snap.folder / "samples.png").is_file() == (family != "classifier")
    # model/: the final bundle (plus the atlas for a VAE)
    names = sorted(p.name for p in (run / "model").iterdir())
    expected = sorted([C.BUNDLE_FILES[r] for r in ROLES[family]]
                      + (["atlas.npz"] if family == "vae" else []) + (["samples.png"] if family != "classifier" else []))
    assert names == expected
    assert hidden_leftovers(run) == []


@pytest.mark.parametrize("family", FAMILIES)
def test_export_parity_with_torch(family, tmp_path_factory):
    """model/*.onnx in onnxruntime equals the checkpoint's modules in PyTorch (max |diff| <= 1e-4)."""
    run = tiny_run(tmp_path_factory, family)
    ckpt = load_checkpoint(run)
    cfg = TrainConfig.from_dict(ckpt["config"])
    modules = build_modules(cfg)
    for name, module in modules.items():
        module.load_state_dict(ckpt["modules"][name])
        module.eval()
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(16, cfg.latent_dim or 1, generator=gen)
    x = torch.rand(16, 1, 28, 28, generator=gen)
    with torch.no_grad():
        reference = {
            "vae": lambda: {"decoder": (torch.sigmoid(modules["vae"].decoder(z)),),
                            "encoder": modules["vae"].encoder(x)},
            "gan": lambda: {"generator": (modules["generator"](z),)},
            "classifier": lambda: {"classifier": modules["classifier"](x)},
        }[family]()
    for role, expected in reference.items():
        path = run / "model" / C.BUNDLE_FILES[role]
        card = C.read_card(path)
        feed = z if card.input_names == ("z",) else x
        got = ort_session(path).run(None, {card.input_names[0]: feed.numpy()})
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert np.abs(a - b.numpy()).max() <= 1e-4, f"{role}: onnxruntime and torch differ"


@pytest.mark.parametrize("family", FAMILIES)
def test_training_on_an_rgb_image_folder(family, tmp_path_factory):
    run = tiny_run(tmp_path_factory, family, source="shapes")
    bundle = C.open_bundle(run / "model")
    for role, card in bundle.cards.items():
        assert card.image_shape == (3, 16, 16) and card.dataset == "folder:shapes"
        assert card.class_names == ("circle", "square")
        session = ort_session(bundle.files[role])
        if card.input_names == ("z",):
            out = session.run(None, {"z": np.zeros((2, card.latent_dim), np.float32)})[0]
            assert out.shape == (2, 3, 16, 16)
        else:
            out = session.run(None, {"image": np.full((2, 3, 16, 16), 0.5, np.float32)})
            assert out[0].shape[0] == 2
    rows = metrics_rows(run)
    assert [r["epoch"] for r in rows] == [1] and set(rows[0]) == COMMON_ROW_KEYS | ROW_KEYS[family]
    if family == "vae":
        atlas = C.Atlas.load(bundle.folder / C.ATLAS_FILE)
        assert atlas.mu.shape == (8, 32) and set(atlas.labels.tolist()) <= {0, 1}
    if family == "classifier":
        assert bundle.cards["classifier"].feature_dim == 64
        assert load_checkpoint(run)["config"]["channels"] == 3


def test_training_on_the_installed_fashion_mnist_with_limit(tmp_path):
    """No --data: the trainer finds the installed Fashion-MNIST itself; --limit keeps it tiny."""
    out = tmp_path / "run"
    assert cli("gan", "--out", out, "--limit", "128", "--epochs", "1", "--batch-size", "64",
               "--latent-dim", "4", *TINY) == 0
    card = C.read_card(out / "model" / "generator.onnx")
    assert card.latent_dim == 4 and card.dataset == "fashion-mnist" and card.epoch == 1
    assert json.loads((out / "config.json").read_text())["limit"] == 128


# ---- resume --------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_resume_equals_an_uninterrupted_run(family, tmp_path, tmp_path_factory):
    uninterrupted = tiny_run(tmp_path_factory, family)  # 2 epochs in one go
    args = run_args(family, fashion_subset(tmp_path_factory), "fashion")
    out = tmp_path / "run"
    epochs_at = args.index("--epochs") + 1
    assert cli(*args[:epochs_at], "1", *args[epochs_at + 1:], "--out", out) == 0
    assert [r["epoch"] for r in metrics_rows(out)] == [1]
    assert cli(*args, "--out", out, "--resume") == 0
    assert_same_weights(load_checkpoint(out), load_checkpoint(uninterrupted))
    assert without_timing(metrics_rows(out)) == without_timing(metrics_rows(uninterrupted))
    assert C.read_card(out / "model" / C.BUNDLE_FILES[ROLES[family][0]]).epoch == 2


def test_resume_of_a_finished_run_re_exports_without_training(tmp_path, tmp_path_factory):
    args = run_args("gan", fashion_subset(tmp_path_factory), "fashion")
    out = tmp_path / "run"
    assert cli(*args, "--out", out) == 0
    before = load_checkpoint(out)
    rows = metrics_rows(out)
    shorter = list(args)
    shorter[shorter.index("--epochs") + 1] = "1"
    assert cli(*shorter, "--out", out, "--resume") == 0  # fewer epochs than done: nothing to train
    assert_same_weights(load_checkpoint(out), before, atol=0)
    assert metrics_rows(out) == rows
    assert C.read_card(out / "model" / "generator.onnx").epoch == 2  # the weights are epoch 2's


def test_resume_without_epochs_keeps_the_run_length(tmp_path, tmp_path_factory):
    """--resume with no --epochs trains to the run's own length (2 here), not the family's default (12)."""
    out = tmp_path / "run"
    shutil.copytree(tiny_run(tmp_path_factory, "classifier"), out)
    rows = metrics_rows(out)
    assert cli("classifier", "--out", out, "--resume", *TINY) == 0
    assert load_checkpoint(out)["config"]["epochs"] == 2 and metrics_rows(out) == rows
    assert C.read_card(out / "model" / "classifier.onnx").epoch == 2


# ---- Ctrl-C and kill -9 --------------------------------------------------------------------------

MEDIUM = ("--epochs", "2", "--batch-size", "16", "--latent-dim", "8", "--seed", "1", *TINY)


@pytest.fixture(scope="module")
def medium_data(tmp_path_factory):
    """1200 real training images: with batch 16 an epoch (75 steps) lasts long enough to be interrupted."""
    return fashion_subset(tmp_path_factory, n_train=1200, n_test=200)


@pytest.fixture(scope="module")
def medium_reference(medium_data, tmp_path_factory):
    """An uninterrupted medium VAE run and how long it took (seconds)."""
    out = tmp_path_factory.mktemp("medium-reference") / "run"
    t0 = time.monotonic()
    assert cli("vae", "--data", medium_data, *MEDIUM, "--out", out) == 0
    return out, time.monotonic() - t0


def wait_for(path: Path, proc, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, f"training ended before {path.name} appeared: {proc.communicate()}"
        assert time.monotonic() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.05)


def assert_every_onnx_file_loads(run_dir: Path) -> int:
    files = onnx_files(run_dir)
    for path in files:
        card = C.read_card(path)
        session = ort_session(path)
        assert [i.name for i in session.get_inputs()] == list(card.input_names), path
    return len(files)


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_identically(medium_data, medium_reference, tmp_path):
    reference, _ = medium_reference
    out = tmp_path / "run"
    proc = start_cli("vae", "--data", medium_data, *MEDIUM, "--out", out)
    try:
        wait_for(out / "config.json", proc)  # written just before the first batch
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted: checkpoint saved at epoch" in stdout and "--resume" in stdout
    assert "Traceback" not in stderr
    ckpt = load_checkpoint(out)
    assert (ckpt["epoch"], ckpt["batch"]) != (2, 0) and ckpt["batch"] > 0, "the interrupt was not mid-epoch"
    assert not (out / "model").exists()
    assert cli("vae", "--data", medium_data, *MEDIUM, "--out", out, "--resume") == 0
    assert_same_weights(load_checkpoint(out), load_checkpoint(reference))
    assert without_timing(metrics_rows(out)) == without_timing(metrics_rows(reference))
    assert hidden_leftovers(out) == []


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["first epoch", "random"])
def test_kill_9_leaves_loadable_files_and_resume_works(moment, medium_data, medium_reference, tmp_path):
    reference, duration = medium_reference
    seed = int(os.environ.get("KILL_SEED", time.time_ns() % 1_000_000))
    delay = 0.3 if moment == "first epoch" else random.Random(seed).uniform(0.0, duration)
    where = f"kill -9 {delay:.2f} s after training started (KILL_SEED={seed})"
    out = tmp_path / "run"
    proc = start_cli("vae", "--data", medium_data, *MEDIUM, "--out", out)
    try:
        wait_for(out / "config.json", proc)
        time.sleep(delay)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_every_onnx_file_loads(out)
    if (out / "checkpoints" / "last.pt").exists():
        load_checkpoint(out)
    assert cli("vae", "--data", medium_data, *MEDIUM, "--out", out, "--resume") == 0, where
    assert assert_every_onnx_file_loads(out) >= 6, where  # 2 snapshots + model, 2 files each
    assert [r["epoch"] for r in metrics_rows(out)] == [1, 2], where
    assert_same_weights(load_checkpoint(out), load_checkpoint(reference))
    assert without_timing(metrics_rows(out)) == without_timing(metrics_rows(reference)), where


def test_resume_before_the_first_checkpoint_starts_over(tmp_path, tmp_path_factory, capsys):
    """A run stopped in its first epoch has config.json but no checkpoint: --resume starts it again,
    with the run's own settings, and forgets any metrics line it left."""
    uninterrupted = tiny_run(tmp_path_factory, "classifier")
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text((uninterrupted / "config.json").read_text())
    (out / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "family": "classifier"}) + "\n")
    assert cli("classifier", "--out", out, "--epochs", "2", "--resume", *TINY) == 0
    assert "no checkpoint yet" in capsys.readouterr().out
    assert_same_weights(load_checkpoint(out), load_checkpoint(uninterrupted))
    assert without_timing(metrics_rows(out)) == without_timing(metrics_rows(uninterrupted))


def _dead_pid() -> int:
    """The PID of a process that has ended (a writer killed by kill -9)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_start_removes_temp_files_of_killed_writers_only(tmp_path, tmp_path_factory, capsys):
    """What a kill -9 leaves (a half-written final bundle, checkpoint temp file, snapshot temp folder, a
    bundle renamed aside) is cleaned on the next start; live writers' and other dot-files are kept."""
    out = tmp_path / "run"
    shutil.copytree(tiny_run(tmp_path_factory, "gan"), out)
    dead = _dead_pid()
    live = subprocess.Popen(["sleep", "60"])
    try:
        stale = [out / f".model.tmp-{dead}", out / "snapshots" / f".epoch-0002.tmp-{dead}",
                 out / "snapshots" / f".epoch-0001.old-{dead}"]
        for folder in stale:
            folder.mkdir()
            (folder / "generator.onnx").write_bytes(b"half")
        stale_files = [out / "checkpoints" / f".last.pt.ab12_xyz.tmp-{dead}.pt",
                       out / f".metrics.jsonl.q8w7e6r5.tmp-{dead}.jsonl"]
        kept = [out / "checkpoints" / f".last.pt.zz99_abc.tmp-{live.pid}.pt", out / ".notes",
                out / f".model.tmp-{live.pid}"]
        for path in stale_files + kept[:2]:
            path.write_bytes(b"half")
        kept[2].mkdir()
        (out / "snapshots" / "epoch-0002").rename(out / "snapshots" / f".epoch-0002.old-{dead}")
        assert cli("gan", "--out", out, "--resume", *TINY) == 0
    finally:
        live.kill()
        live.wait()
    lines = [line for line in capsys.readouterr().out.splitlines() if "removed temporary files" in line]
    assert len(lines) == 1, lines
    assert f".model.tmp-{dead}/" in lines[0] and f"checkpoints/.last.pt.ab12_xyz.tmp-{dead}.pt" in lines[0]
    assert not any(p.exists() for p in stale + stale_files)
    assert all(p.exists() for p in kept)
    assert (out / "snapshots" / "epoch-0002" / "generator.onnx").is_file()  # renamed aside: restored
    assert C.read_card(out / "snapshots" / "epoch-0002" / "generator.onnx").epoch == 2
    assert C.read_card(out / "model" / "generator.onnx").epoch == 2


def test_the_writers_temp_names_carry_their_pid(tmp_path, monkeypatch):
    """Every temporary name our writers make is one that the start-up cleaning recognises."""
    from explorer.io.run_folder import bundle_temp_name, temp_name_info
    from training import files

    moves = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (moves.append((Path(src), Path(dst))), real_replace(src, dst)))
    files.atomic_write_bytes(tmp_path / "last.pt", b"one")
    (tmp_path / bundle_temp_name("model", os.getpid())).mkdir()  # export_bundle's temp folder
    (tmp_path / "model").mkdir()
    files.replace_dir(tmp_path / bundle_temp_name("model", os.getpid()), tmp_path / "model")
    pid = os.getpid()
    assert temp_name_info(moves[0][0].name, is_dir=False) == ("last.pt", "tmp", pid)
    assert temp_name_info(moves[1][1].name, is_dir=True) == ("model", "old", pid)
    assert temp_name_info(moves[2][0].name, is_dir=True) == ("model", "tmp", pid)


def test_a_checkpoint_of_another_shape_is_one_line(tmp_path, tmp_path_factory, capsys):
    out = tmp_path / "run"
    shutil.copytree(tiny_run(tmp_path_factory, "gan"), out)
    ckpt = load_checkpoint(out)
    assert ckpt["config"]["latent_dim"] == 8
    ckpt["config"]["latent_dim"] = 32  # the weights stay those of latent-dim 8
    torch.save(ckpt, out / "checkpoints" / "last.pt")
    assert cli("gan", "--out", out, "--resume", *TINY) == 1
    err = one_line_error(capsys)
    assert "Error(s) in loading state_dict" not in err
    assert "checkpoint does not fit its run: generator parameter" in err, err
    assert "the checkpoint holds [784, 8]" in err and "(latent-dim 32," in err and "need [784, 32]" in err
    assert "start a new run with --out" in err and "resume with the run's own settings" in err


# ---- errors ----------------------------------------------------------------------------------------

def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_a_second_run_into_the_same_folder_is_refused(tmp_path_factory, capsys):
    run = tiny_run(tmp_path_factory, "gan")
    before = (run / "metrics.jsonl").read_bytes(), (run / "checkpoints" / "last.pt").read_bytes()
    assert cli(*run_args("gan", fashion_subset(tmp_path_factory), "fashion"), "--out", run) == 1
    err = one_line_error(capsys)
    assert "already holds a run; pass --resume to continue it or choose another --out" in err
    assert ((run / "metrics.jsonl").read_bytes(), (run / "checkpoints" / "last.pt").read_bytes()) == before


NONSENSE = [("--batch-size", "0", "--batch-size: expected a whole number of at least 1, got 0"),
            ("--epochs", "0", "--epochs: expected a whole number of at least 1, got 0"),
            ("--limit", "0", "--limit: expected a whole number of at least 1"),
            ("--latent-dim", "0", "--latent-dim: expected a whole number of at least 1, got 0"),
            ("--latent-dim", "-3", "--latent-dim: expected a whole number of at least 1, got -3"),
            ("--width", "0", "--width: expected a whole number of at least 1, got 0"),
            ("--snapshot-every", "0", "--snapshot-every: expected a whole number of at least 1, got 0"),
            ("--image-size", "30", "--image-size: expected a multiple of 4 of at least 8, got 30"),
            ("--lr", "0", "--lr: expected a positive number, got 0.0")]


@pytest.mark.parametrize("option,value,message", NONSENSE, ids=[f"{o}={v}" for o, v, _ in NONSENSE])
def test_settings_that_make_no_sense_are_refused_before_anything_is_created(option, value, message, tmp_path,
                                                                            capsys):
    out = tmp_path / "run"
    assert cli("vae", "--data", tmp_path / "no-data-needed", "--out", out, *TINY, option, value) == 2
    err = one_line_error(capsys)
    assert message in err, err
    assert not out.exists()
    assert cli("vae", "--out", out, "--resume", *TINY, option, value) == 2  # a resume refuses them too
    assert not out.exists()


def test_the_python_api_refuses_the_same_settings(tmp_path):
    from training.config import ConfigError, default_config
    from training.train import train

    with pytest.raises(ConfigError, match="batch_size: expected a whole number of at least 1, got 0"):
        default_config("gan", batch_size=0)
    cfg = default_config("gan")
    cfg.latent_dim = 0  # changed after construction: train() checks again
    with pytest.raises(ConfigError, match="latent_dim"):
        train(cfg, tmp_path / "run", device="cpu")
    assert not (tmp_path / "run").exists()
    assert default_config("classifier").latent_dim == 0  # the classifier has no latent space


def test_resume_notes_only_the_settings_that_differ(tmp_path, tmp_path_factory, capsys):
    out = tmp_path / "run"
    shutil.copytree(tiny_run(tmp_path_factory, "classifier"), out)
    same = run_args("classifier", fashion_subset(tmp_path_factory), "fashion")
    assert cli(*same, "--out", out, "--resume") == 0
    assert "note:" not in capsys.readouterr().out
    changed = list(same)
    changed[changed.index("--batch-size") + 1] = "32"
    assert cli(*changed, "--out", out, "--resume") == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == ["note: --resume keeps the run's own settings; ignoring --batch-size 32 (the run's: 64)"]


def test_resume_errors(tmp_path, tmp_path_factory, capsys):
    assert cli("vae", "--out", tmp_path / "nothing", "--resume", *TINY) == 1
    assert one_line_error(capsys) == (f"latent-train vae: nothing to resume yet in {tmp_path / 'nothing'} "
                                      "(no checkpoint): start it again without --resume")
    killed = tmp_path / "killed"  # killed before its config.json and first checkpoint: folders only
    (killed / "checkpoints").mkdir(parents=True)
    assert cli("vae", "--out", killed, "--resume", *TINY) == 1
    assert "nothing to resume yet in" in one_line_error(capsys)
    run = tiny_run(tmp_path_factory, "gan")
    assert cli("vae", "--out", run, "--resume", *TINY) == 1
    assert "holds a gan run, cannot resume it as vae" in one_line_error(capsys)
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    (broken / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    assert cli("vae", "--out", broken, "--resume", *TINY) == 1
    assert "checkpoint is unreadable" in one_line_error(capsys)


def _bad_data(kind: str, tmp_path: Path, tmp_path_factory) -> Path:
    folder = tmp_path / kind.replace(" ", "-")
    if kind == "missing folder":
        return folder
    if kind == "a file":
        folder.write_text("hello")
        return folder
    folder.mkdir()
    if kind == "unreadable images":
        for i in range(3):
            (folder / f"{i}.png").write_bytes(b"not a png")
    elif kind in ("truncated idx", "incomplete idx"):
        for src in fashion_subset(tmp_path_factory).iterdir():
            (folder / src.name).write_bytes(src.read_bytes())
        if kind == "truncated idx":
            path = folder / "train-images-idx3-ubyte.gz"
            path.write_bytes(path.read_bytes()[:1000])
        else:
            (folder / "t10k-images-idx3-ubyte.gz").unlink()
    return folder


@pytest.mark.parametrize("kind, message", [
    ("missing folder", "not a folder of images"),
    ("a file", "not a folder of images"),
    ("empty folder", "no images found"),
    ("unreadable images", "none of the 3 image files could be read"),
    ("truncated idx", "train-images-idx3-ubyte.gz: cannot read IDX file"),
    ("incomplete idx", "found no t10k-images-idx3-ubyte.gz"),
])
def test_bad_data_is_one_line_and_exit_code_1(kind, message, tmp_path, tmp_path_factory, capsys):
    data = _bad_data(kind, tmp_path, tmp_path_factory)
    out = tmp_path / "run"
    assert cli("vae", "--data", data, "--out", out, "--epochs", "1", *TINY) == 1
    err = one_line_error(capsys)
    assert err.startswith("latent-train vae: ") and message in err and str(data) in err
    assert not out.exists()  # nothing is written before the data is known to be good


@pytest.mark.parametrize("args, message", [
    (("classifier", "--data", "SHAPES-FLAT"), "a classifier needs labels"),
    (("vae", "--channels", "3", "--data", "FASHION"), "Fashion-MNIST is grayscale"),
    (("vae", "--data", "ONE-IMAGE"), "1 image(s) is too few; at least 2 are needed"),
])
def test_impossible_settings_are_one_line_errors(args, message, tmp_path, tmp_path_factory, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in list(shapes_folder(tmp_path_factory).rglob("*.png"))[:4]:
        (flat / path.name).write_bytes(path.read_bytes())
    one = tmp_path / "one"
    one.mkdir()
    (one / "only.png").write_bytes(next(flat.iterdir()).read_bytes())
    subst = {"SHAPES-FLAT": flat, "FASHION": fashion_subset(tmp_path_factory), "ONE-IMAGE": one}
    args = [subst.get(a, a) for a in args]
    if "--data" not in args:
        args += ["--data", fashion_subset(tmp_path_factory)]
    out = tmp_path / "run"
    assert cli(*args, "--out", out, "--epochs", "1", *TINY) == 1
    assert message in one_line_error(capsys)
    assert not out.exists()


@pytest.mark.slow
def test_bad_data_in_a_real_process(tmp_path, tmp_path_factory):
    """The same through a real interpreter: exit code 1, one line on stderr, no traceback."""
    data = _bad_data("truncated idx", tmp_path, tmp_path_factory)
    result = run_cli("gan", "--data", data, "--out", tmp_path / "run", *TINY)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "cannot read IDX file" in result.stderr and result.stdout == ""


def test_fashion_subset_helper_is_real_data(tmp_path_factory):
    folder = fashion_subset(tmp_path_factory)
    from training.data import load_fashion_mnist

    small = load_fashion_mnist("train", folder, download=False)
    real = load_fashion_mnist("test", real_fashion_dir(), download=False)
    np.testing.assert_array_equal(small.images, real.images[:512])


def test_a_resumed_epoch_counts_only_its_own_batches_in_images_per_s(tmp_path, tmp_path_factory, monkeypatch):
    """Stopped after 1 of 4 batches, the resumed process trains 3 batches: its images/s is those 48
    images over the time they took, not the epoch's 64 over that time."""
    from training import train as T

    data, out = shapes_folder(tmp_path_factory), tmp_path / "run"  # 72 training images: 4 batches of 16
    args = ("vae", "--data", data, "--out", out, "--epochs", "1", "--batch-size", "16", "--channels", "3",
            "--image-size", "16", "--latent-dim", "4", *TINY)
    real = T._interrupted
    monkeypatch.setattr(T, "_interrupted", lambda stop, dist, dev: True)  # Ctrl-C during the first batch
    assert cli(*args) == 130
    assert (load_checkpoint(out)["epoch"], load_checkpoint(out)["batch"]) == (0, 1)
    monkeypatch.setattr(T, "_interrupted", real)
    assert cli(*args, "--resume") == 0
    (row,) = metrics_rows(out)
    assert row["images_per_s"] * row["seconds"] == pytest.approx(48, rel=1e-6)
