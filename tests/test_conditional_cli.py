"""The command line on class-conditional models: the style x garment grid (render --classes / --class),
class blends along an interpolation (--from-class / --to-class, --stops), and one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import model_factory as mf
from explorer.cli.main import main
from explorer.core.interpolation import interpolate_pair
from explorer.core.latents import SamplingPolicy, sample_latents
from explorer.io.classes import LABELS_ONLY, blend
from explorer.io.runtime import open_model

SIZE = 8  # the factory cgan's images are 8x8, one channel


@pytest.fixture
def cgan(tmp_path):
    return mf.make_contract_cgan(tmp_path / "cgan").parent


@pytest.fixture
def label_model(tmp_path):
    return mf.make_generator(tmp_path / "labels.onnx", label_classes=3)


def _cell(image: np.ndarray, r: int, c: int, pad: int, left: int = 0) -> np.ndarray:
    """One cell (scale 1) of a tiled grid, as uint8 [H, W, 1]."""
    y, x = pad + r * (SIZE + pad), left + pad + c * (SIZE + pad)
    return image[y:y + SIZE, x:x + SIZE].reshape(SIZE, SIZE, 1)


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("latent-explorer: error: "), err
    return err


def test_render_classes_all_is_one_row_per_class_with_the_same_styles_down_the_columns(cgan, tmp_path, capsys):
    out = tmp_path / "g.png"
    k, cols = len(mf.GARMENTS), 5
    assert main(["render", str(cgan), "--classes", "all", "--grid", f"{k}x{cols}", "--seed", "3", "--scale", "1",
                 "--out", str(out)]) == 0
    assert f"{k} classes x {cols} styles" in capsys.readouterr().out
    image = _png(out)
    assert image.shape[:2] == (k * (SIZE + 1) + 1, cols * (SIZE + 1) + 1)  # K rows of cells
    model = open_model(cgan)
    styles = sample_latents(cols, model.latent_dim, SamplingPolicy(3))
    for r in range(k):
        expected = model.decode(styles, np.full(cols, r)).pixels
        for c in range(cols):
            np.testing.assert_array_equal(_cell(image, r, c, 1), expected[c])
    # the rows really differ: the class input is in use, not only the latent
    assert not np.array_equal(_cell(image, 0, 0, 1), _cell(image, 1, 0, 1))


def test_render_classes_default_grid_row_labels_and_a_list(cgan, tmp_path):
    plain, labelled, two = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    assert main(["render", str(cgan), "--classes", "all", "--scale", "1", "--out", str(plain)]) == 0
    assert main(["render", str(cgan), "--classes", "all", "--scale", "1", "--row-labels", "--out", str(labelled)]) == 0
    a, b = _png(plain), _png(labelled)
    assert a.shape == (4 * (SIZE + 1) + 1, 8 * (SIZE + 1) + 1)  # K rows x 8 styles by default
    margin = b.shape[1] - a.shape[1]
    assert b.shape[0] == a.shape[0] and margin > 10
    np.testing.assert_array_equal(b[:, margin:], a)  # the labels sit in a margin; the grid is unchanged
    assert (b[:, :margin] < 128).any()  # text was drawn there
    assert main(["render", str(cgan), "--classes", "coat,0", "--grid", "2x3", "--scale", "1", "--out", str(two)]) == 0
    c = _png(two)
    np.testing.assert_array_equal(_cell(c, 0, 1, 1), _cell(a, 2, 1, 1))  # Coat, the same second style
    np.testing.assert_array_equal(_cell(c, 1, 2, 1), _cell(a, 0, 2, 1))  # Tee


@pytest.mark.parametrize("given", ["Dress", "dress", "1"])
def test_render_one_class_everywhere(cgan, tmp_path, given):
    out = tmp_path / "d.png"
    assert main(["render", str(cgan), "--class", given, "--grid", "2x3", "--seed", "4", "--scale", "1",
                 "--out", str(out)]) == 0
    model = open_model(cgan)
    z = sample_latents(6, model.latent_dim, SamplingPolicy(4))
    expected = model.decode(z, np.full(6, 1)).pixels
    image = _png(out)
    for i in range(6):
        np.testing.assert_array_equal(_cell(image, i // 3, i % 3, 1), expected[i])


def test_render_without_class_options_is_unchanged(cgan, tmp_path):
    """Conditional models still cycle their classes row by row when no class option is given."""
    out = tmp_path / "p.png"
    assert main(["render", str(cgan), "--grid", "3x2", "--scale", "1", "--out", str(out)]) == 0
    model = open_model(cgan)
    z = sample_latents(6, model.latent_dim, SamplingPolicy(0))
    expected = model.decode(z, (np.arange(6) // 2) % 4).pixels
    np.testing.assert_array_equal(_cell(_png(out), 2, 1, 1), expected[5])


def _strip_frame(image: np.ndarray, i: int) -> np.ndarray:
    """Frame i of an interpolate PNG strip (pad 2, scale 1)."""
    return _cell(image, 0, i, 2)


def _seed_latent(model, seed: int) -> np.ndarray:
    return sample_latents(1, model.latent_dim, SamplingPolicy(seed, 1.0))[0]


def test_interpolate_blends_class_with_latent(cgan, tmp_path, capsys):
    out = tmp_path / "p.png"
    assert main(["interpolate", str(cgan), "--from", "1", "--to", "2", "--from-class", "Dress", "--to-class", "Boot",
                 "--steps", "3", "--scale", "1", "--classifier", "none", "--out", str(out)]) == 0
    assert "Dress -> Boot" in capsys.readouterr().out
    model = open_model(cgan)
    a, b = _seed_latent(model, 1), _seed_latent(model, 2)
    image = _png(out)
    z_mid, _ = interpolate_pair(a, b, np.array([0.5]), "slerp")
    half = model.decode(z_mid, blend(1, 3, np.array([0.5]), 4)).pixels[0]
    np.testing.assert_array_equal(_strip_frame(image, 1), half)
    np.testing.assert_array_equal(_strip_frame(image, 0), model.decode(a[None], np.array([1])).pixels[0])
    np.testing.assert_array_equal(_strip_frame(image, 2), model.decode(b[None], np.array([3])).pixels[0])
    # the middle frame is neither end's class: the blend is in the picture
    assert not np.array_equal(half, model.decode(z_mid, np.array([1])).pixels[0])
    assert not np.array_equal(half, model.decode(z_mid, np.array([3])).pixels[0])


def test_interpolate_stops_write_exactly_those_mixes(cgan, tmp_path):
    gif, png, js = tmp_path / "s.gif", tmp_path / "s.png", tmp_path / "s.json"
    common = [str(cgan), "--from", "5", "--to", "6", "--from-class", "Tee", "--to-class", "coat",
              "--stops", "0.1,0.5,0.9", "--classifier", "none", "--scale", "1"]
    assert main(["interpolate", *common, "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 3
    assert main(["interpolate", *common, "--out", str(png)]) == 0
    model = open_model(cgan)
    stops = np.array([0.1, 0.5, 0.9])
    z, _ = interpolate_pair(_seed_latent(model, 5), _seed_latent(model, 6), stops, "slerp")
    expected = model.decode(z, blend(0, 2, stops, 4)).pixels
    image = _png(png)
    assert image.shape[1] == 3 * (SIZE + 2) + 2
    for i in range(3):
        np.testing.assert_array_equal(_strip_frame(image, i), expected[i])
    assert main(["interpolate", *common, "--out", str(js)]) == 0
    data = json.loads(js.read_text())
    np.testing.assert_allclose(data["class_weights"], blend(0, 2, stops, 4))
    assert data["path"]["stops"] == [0.1, 0.5, 0.9] and data["class_names"] == list(mf.GARMENTS)


def test_interpolate_one_class_on_a_label_model_works(label_model, tmp_path):
    out = tmp_path / "l.png"
    assert main(["interpolate", str(label_model), "--from", "1", "--to", "2", "--from-class", "2", "--steps", "2",
                 "--scale", "1", "--classifier", "none", "--out", str(out)]) == 0
    model = open_model(label_model)
    np.testing.assert_array_equal(_strip_frame(_png(out), 0),
                                  model.decode(_seed_latent(model, 1)[None], np.array([2])).pixels[0])


def test_bad_class_input_is_one_line_and_exit_2(cgan, label_model, tmp_path, capsys):
    plain = mf.make_generator(tmp_path / "plain.onnx")
    out = str(tmp_path / "x.png")
    cases = [
        (["render", str(cgan), "--classes", "all,Frock", "--out", out], "unknown class 'all'"),
        (["render", str(cgan), "--class", "Frock", "--out", out], "valid classes: Tee, Dress, Coat, Boot"),
        (["render", str(cgan), "--class", "9", "--out", out], "class 9 is out of range"),
        (["render", str(cgan), "--classes", "all", "--grid", "3x3", "--out", out], "pass --grid 4x3"),
        (["render", str(cgan), "--classes", "all", "--class", "Tee", "--out", out], "exclude each other"),
        (["render", str(mf.make_contract_cgan(tmp_path / "many", classes=tuple(f"c{i}" for i in range(40))).parent),
          "--classes", "all", "--out", out], "at most 32"),
        (["render", str(plain), "--class", "1", "--out", out], "--class needs a class-conditional model"),
        (["render", str(plain), "--classes", "all", "--out", out], "plain has no class input"),
        (["interpolate", str(cgan), "--from", "1", "--to", "2", "--from-class", "Frock", "--out", out],
         "valid classes: Tee, Dress, Coat, Boot"),
        (["interpolate", str(plain), "--from", "1", "--to", "2", "--from-class", "1", "--out", out],
         "--from-class needs a class-conditional model"),
        (["interpolate", str(label_model), "--from", "1", "--to", "2", "--from-class", "0", "--to-class", "1",
          "--out", out], LABELS_ONLY),
        (["interpolate", str(cgan), "--from", "1", "--to", "2", "--stops", "0.1,1.2", "--out", out],
         "--stops takes mixes between 0 and 1"),
        (["interpolate", str(cgan), "--from", "1", "--to", "2", "--stops", "-0.5", "--out", out],
         "--stops takes mixes between 0 and 1"),
        (["interpolate", str(cgan), "--from", "1", "--to", "2", "--stops", "0.5", "--steps", "4", "--out", out],
         "drop --steps"),
        (["interpolate", str(cgan), "--from", "1", "--to", "2", "--to-class", "Coat", "--out", out],
         "--to-class needs --from-class"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        assert needle in _error_line(capsys), argv
    assert not (tmp_path / "x.png").exists()
