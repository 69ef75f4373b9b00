"""An image folder with alpha: the run records its --background in config.json, training lays the
transparency onto it, and the explorer fits images onto the same colour for that run's models."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from explorer.core import atlas_data as A
from explorer.io import images as I
from tiny_training import TINY, cli
from training.config import ConfigError, default_config

import pytest


def write_alpha_folder(root, n_per_class=12, size=8, seed=0):
    """Two classes of RGBA icons with a loud colour hidden under their transparent pixels."""
    rng = np.random.default_rng(seed)
    for k, kind in enumerate(("dots", "bars")):
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            rgba = np.zeros((size, size, 4), np.uint8)
            rgba[..., :3] = rng.integers(100, 256, 3)  # hidden
            c = rng.integers(0, 256, 3)
            if k == 0:
                rgba[3:5, 3:5, :3], rgba[3:5, 3:5, 3] = c, 255
            else:
                rgba[:, 3, :3], rgba[:, 3, 3] = c, 255
            Image.fromarray(rgba, "RGBA").save(root / kind / f"{i}.png")
    return root


def test_the_run_records_its_background_and_the_map_uses_it(tmp_path):
    data = write_alpha_folder(tmp_path / "icons")
    out = tmp_path / "run"
    assert cli("vae", "--data", data, "--out", out, "--epochs", "1", "--batch-size", "8", "--latent-dim", "2",
               "--image-size", "8", "--channels", "3", "--background", "#FFFFFF", *TINY) == 0
    assert json.loads((out / "config.json").read_text())["background"] == "white"  # one spelling
    for bundle in (out / "model", out / "snapshots" / "epoch-0001"):
        encoder = A.VAEEncoder(bundle / "encoder.onnx")
        assert encoder.background == (255, 255, 255)
        fitted = A.fitted_image_for(encoder, data / "dots" / "0.png")
        assert fitted.image[0, 0].tolist() == [255, 255, 255] and "onto white" in fitted.note
        folder = A.load_image_folder(data, encoder.image_shape, background=encoder.background)
        assert (folder.images[:, 0, 0] == 255).all()
    # a bundle outside any run folder: black, as before the setting existed
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    for f in (out / "model").iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert A.VAEEncoder(copy / "encoder.onnx").background == I.BLACK


def test_a_background_that_is_not_a_colour_is_refused_before_anything_is_created(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli("vae", "--out", out, "--background", "transparent", *TINY) == 2
    err = capsys.readouterr().err.strip()
    assert err == "latent-train vae: --background: expected black, white or #rrggbb, got 'transparent'"
    assert not out.exists()
    with pytest.raises(ConfigError):
        default_config("gan", background="#12")
    assert default_config("gan").background == "black"
