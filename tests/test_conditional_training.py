"""latent-train cgan / cvae end to end on tiny data: a class-subfolder image folder and a few hundred
Fashion-MNIST images; export under contract v2 (z + class_weights), the app opens it with blends,
snapshots' sample grids have one row per class, resume equals a straight run, torchrun, evaluation.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from explorer.io import contract as C
from explorer.io.classes import blend, one_hot
from tiny_training import (TINY, assert_same_weights, cli, fashion_subset, load_checkpoint, metrics_rows,
                           ort_session, requires_fashion, run_cli, shapes_folder, without_timing)
from training.config import TrainConfig
from training.models import build_modules

ROLES = {"cgan": ("generator",), "cvae": ("decoder", "encoder")}
MODULES = {"cgan": {"generator", "discriminator"}, "cvae": {"cvae"}}
ROW_KEYS = {
    "cgan": {"d_loss", "g_loss", "d_x", "d_g_z", "class_acc_real", "class_acc_fake", "pair_distance_ratio",
             "test_class_accuracy"},
    "cvae": {"loss", "reconstruction", "kl", "test_neg_elbo", "test_reconstruction", "test_kl", "kl_per_dim",
             "active_units"},
}
_runs: dict = {}


def fashion_args(family, data, *extra):
    return [family, "--data", data, "--seed", "3", "--epochs", "2", "--batch-size", "64", "--latent-dim", "8",
            *extra, *TINY]


def shapes_args(family, data, *extra):
    return [family, "--data", data, "--seed", "3", "--epochs", "1", "--batch-size", "16", "--channels", "3",
            "--image-size", "16", "--latent-dim", "8", *extra, *TINY]


def run(tmp_path_factory, family: str, source: str):
    key = (family, source)
    if key not in _runs:
        if source == "fashion":
            args = fashion_args(family, fashion_subset(tmp_path_factory))
        else:
            args = shapes_args(family, shapes_folder(tmp_path_factory))
        out = tmp_path_factory.mktemp(f"cond-{family}-{source}") / "run"
        assert cli(*args, "--out", out) == 0
        _runs[key] = out
    return _runs[key]


def decode(path, z, w):
    session = ort_session(path)
    return session.run(None, {"z": z.astype(np.float32), "class_weights": w.astype(np.float32)})[0]


def grid_rows(png: bytes, cell: int) -> int:
    """Rows of a snapshot's sample grid (cells of ``cell`` pixels with 2-pixel gaps)."""
    from PIL import Image

    height = Image.open(io.BytesIO(png)).size[1]
    return (height - 2) // (cell + 2)


@pytest.mark.parametrize("family", ["cgan", "cvae"])
@pytest.mark.parametrize("source", ["shapes", pytest.param("fashion", marks=requires_fashion)])
def test_conditional_run_exports_a_blendable_model(family, source, tmp_path_factory):
    out = run(tmp_path_factory, family, source)
    cfg = TrainConfig.from_dict(json.loads((out / "config.json").read_text()))
    names = C.FASHION_MNIST_CLASSES if source == "fashion" else ("circle", "square")
    assert cfg.family == family and cfg.class_names == names
    rows = metrics_rows(out)
    assert [r["epoch"] for r in rows] == list(range(1, cfg.epochs + 1))
    assert set(rows[-1]) == {"epoch", "family", "images_per_s", "seconds"} | ROW_KEYS[family]
    assert set(load_checkpoint(out)["modules"]) == MODULES[family]
    # The bundle satisfies contract v2: conditional cards with the class names, (z, class_weights) inputs.
    bundle = C.open_bundle(out / "model")
    assert set(bundle.cards) == set(ROLES[family])
    role = ROLES[family][0]
    card = bundle.cards[role]
    assert card.family == family and card.conditional and card.class_names == names
    assert card.input_names == ("z", "class_weights")
    import onnx

    proto = onnx.load(str(bundle.files[role]))
    C.check_model_proto(proto, card, source=role)
    assert json.loads(dict((p.key, p.value) for p in proto.metadata_props)["latent_explorer.format_version"]) == 2
    if family == "cvae":  # the style encoder has the VAE encoder's IO: no class input
        assert bundle.cards["encoder"].input_names == ("image",)
    # The app opens it with blends and the class names.
    from explorer.api import open_model

    model = open_model(out / "model")
    assert model.can_blend and tuple(model.class_names) == names
    # Every class weight row decodes; classes differ; a blend is neither end.
    k, size = len(names), cfg.image_size
    z = np.random.default_rng(0).standard_normal((1, 8)).repeat(3, 0)
    w = np.stack([one_hot(np.array([0]), k)[0], one_hot(np.array([1]), k)[0], blend(0, 1, 0.5, k)])
    images = decode(bundle.files[role], z, w)
    assert images.shape == (3, cfg.channels, size, size) and np.isfinite(images).all()
    apart = np.abs(images[0] - images[1]).max()  # small after a few steps from the DCGAN init, never 0
    assert apart > 1e-3 * np.abs(images).max()
    assert np.abs(images[2] - images[0]).max() > 0.05 * apart and np.abs(images[2] - images[1]).max() > 0.05 * apart
    # Snapshots' sample grids: one row per class.
    png = (out / "snapshots" / f"epoch-{cfg.epochs:04d}" / "samples.png").read_bytes()
    assert grid_rows(png, size) == k
    assert grid_rows((out / "model" / "samples.png").read_bytes(), size) == k


@requires_fashion
@pytest.mark.parametrize("family", ["cgan", "cvae"])
def test_onnx_matches_torch_on_a_blend(family, tmp_path_factory):
    """The exported file computes what the trained weights compute, for one-hot and blended rows."""
    out = run(tmp_path_factory, family, "fashion")
    ckpt = load_checkpoint(out)
    cfg = TrainConfig.from_dict(ckpt["config"])
    modules = build_modules(cfg)
    for name, m in modules.items():
        m.load_state_dict(ckpt["modules"][name])
        m.eval()
    z = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    w = np.stack([one_hot(np.array([3]), 10)[0], blend(2, 7, 0.3, 10), blend(0, 9, 0.9, 10),
                  np.full(10, 0.1)]).astype(np.float32)
    with torch.no_grad():
        if family == "cgan":
            want = modules["generator"](torch.from_numpy(z), torch.from_numpy(w)).numpy()
            path = out / "model" / "generator.onnx"
        else:
            want = torch.sigmoid(modules["cvae"].decoder(torch.from_numpy(z), torch.from_numpy(w))).numpy()
            path = out / "model" / "decoder.onnx"
    assert np.abs(decode(path, z, w) - want).max() < 1e-4


@requires_fashion
@pytest.mark.parametrize("family", ["cgan", "cvae"])
def test_resume_equals_a_straight_run(family, tmp_path_factory, tmp_path):
    data = fashion_subset(tmp_path_factory)
    straight = run(tmp_path_factory, family, "fashion")
    resumed = tmp_path / "run"
    assert cli(*fashion_args(family, data, "--epochs", "1"), "--out", resumed) == 0
    assert cli(*fashion_args(family, data), "--out", resumed, "--resume") == 0
    assert_same_weights(load_checkpoint(straight), load_checkpoint(resumed))
    assert without_timing(metrics_rows(straight)) == without_timing(metrics_rows(resumed))


@pytest.mark.parametrize("family", ["cgan", "cvae"])
def test_an_unlabelled_folder_is_refused(family, tmp_path):
    from PIL import Image

    data = tmp_path / "flat"
    data.mkdir()
    for i in range(12):
        Image.new("L", (16, 16), i * 20).save(data / f"{i}.png")
    result = run_cli(family, "--data", data, "--out", tmp_path / "run", "--image-size", "16", *TINY)
    assert result.returncode == 1
    assert f"a {family} needs labels" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing is written before the data is known to be good


@requires_fashion
@pytest.mark.slow
def test_cgan_under_torchrun(tmp_path, tmp_path_factory):
    from test_ddp import torchrun

    data = fashion_subset(tmp_path_factory)
    out = tmp_path / "run"
    result, writes = torchrun("cgan", data, out, tmp_path, "--epochs", "2", "--limit", "256", "--batch-size", "32",
                              "--latent-dim", "8")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert writes and {w[0] for w in writes} == {"0"}
    assert [r["epoch"] for r in metrics_rows(out)] == [1, 2]
    assert len(load_checkpoint(out)["rng"]) == 2
    bundle = C.open_bundle(out / "model")
    images = decode(bundle.files["generator"], np.zeros((2, 8)), np.eye(10)[:2])
    assert images.shape == (2, 1, 28, 28) and np.isfinite(images).all()


# ---- evaluation ----------------------------------------------------------------------------------

def test_mean_pairwise_distance():
    from training.evaluate_conditional import mean_pairwise_distance

    assert mean_pairwise_distance(np.ones((5, 3))) == pytest.approx(0.0, abs=1e-6)
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert mean_pairwise_distance(x) == pytest.approx((5 + 0 + 5) / 3)
    assert mean_pairwise_distance(x[:1]) == 0.0


@requires_fashion
@pytest.mark.parametrize("family", ["cgan", "cvae"])
def test_evaluate_with_the_referee(family, tmp_path_factory, capsys):
    """evaluate trains the independent referee on the data's training split (cached), reports its own
    accuracy per class, and per asked class the accuracy and the spread ratio of the samples."""
    from training.evaluate import evaluate

    out = run(tmp_path_factory, family, "fashion")
    data = fashion_subset(tmp_path_factory)
    result = evaluate(out / "model", data=str(data), n=200, seed=0)
    names = C.FASHION_MNIST_CLASSES
    assert result["family"] == family and result["n"] == 200 and set(result["per_class"]) == set(names)
    for row in result["per_class"].values():
        assert 0 <= row["class_accuracy"] <= 1 and row["real_spread"] > 0 and row["spread"] >= 0
    accs = [row["class_accuracy"] for row in result["per_class"].values()]
    assert result["mean_class_accuracy"] == pytest.approx(np.mean(accs), abs=1e-4)
    assert result["min_class_accuracy"] == min(accs)
    ref = result["referee"]
    assert "scikit-learn" in ref["kind"] and set(ref["per_class_test_accuracy"]) <= set(names)
    assert ref["test_accuracy"] > 0.5  # it learned something on 512 images (chance is 0.1)
    assert "training the referee" in capsys.readouterr().err
    # The second time it is read from the cache, and gives the same figures.
    again = evaluate(out / "model", data=str(data), n=200, seed=0)
    assert "training the referee" not in capsys.readouterr().err
    assert again["per_class"] == result["per_class"]
