"""Interpolation paths, directions, exports and the ``interpolate`` subcommand (numeric core, no Qt)."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from explorer.io import contract
from explorer.io import exports
from explorer.cli.main import main
from explorer.core.directions import (Direction, DirectionError, arithmetic, class_direction, load_directions,
                                 pca_directions, save_directions, sefa_directions, selection_direction)
from explorer.core.interpolation import (LatentPath, PathError, ease, feature_path_length, interpolate_pair,
                                    perceptual_path_length)
from explorer.core.latents import SamplingPolicy, sample_latents

D = 64


def _pair(seed=0, d=D):
    z = np.random.default_rng(seed).standard_normal((2, d)).astype(np.float32)
    return z[0], z[1]


# ---- slerp / lerp -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["slerp", "lerp"])
def test_endpoints_are_exact(mode):
    a, b = _pair()
    z = LatentPath(np.stack([a, b]), mode=mode, steps=9).latents()
    assert z.shape == (9, D) and z.dtype == np.float32
    assert np.array_equal(z[0], a) and np.array_equal(z[-1], b)


def test_slerp_stays_on_the_shell_lerp_cuts_through():
    a, b = _pair(1, 256)
    b = b / np.linalg.norm(b) * np.linalg.norm(a)  # equal norms: slerp keeps that norm exactly
    s = LatentPath(np.stack([a, b]), mode="slerp", steps=21).latents()
    l = LatentPath(np.stack([a, b]), mode="lerp", steps=21).latents()
    r = np.linalg.norm(a)
    assert np.allclose(np.linalg.norm(s, axis=1), r, rtol=1e-5)
    assert np.linalg.norm(l[10]) < 0.8 * r  # the midpoint of two near-orthogonal vectors: ~ r / sqrt(2)


def test_slerp_norm_moves_linearly_between_different_norms():
    a, b = _pair(2)
    b = b * 2.0
    t = np.linspace(0, 1, 11)
    z, fell_back = interpolate_pair(a, b, t, "slerp")
    assert not fell_back
    want = (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b)
    assert np.allclose(np.linalg.norm(z, axis=1), want, rtol=1e-5)


@pytest.mark.parametrize("nudge", [0.0, 1e-5])
def test_antipodal_endpoints_fall_back_to_lerp(nudge):
    a, _ = _pair(3)
    b = -a + nudge
    path = LatentPath(np.stack([a, b]), mode="slerp", steps=5)
    assert path.fallback_segments() == [0]
    assert "nearly opposite" in path.describe()
    z = path.latents()
    assert np.all(np.isfinite(z))
    assert np.allclose(z, LatentPath(np.stack([a, b]), mode="lerp", steps=5).latents(), atol=1e-6)


def test_bad_paths_say_why():
    a, b = _pair()
    with pytest.raises(PathError, match="at least 2 waypoints"):
        LatentPath(a[None], steps=4)
    with pytest.raises(PathError, match="same latent"):
        LatentPath(np.stack([a, a.copy()]), steps=4)
    with pytest.raises(PathError, match="steps"):
        LatentPath(np.stack([a, b]), steps=1)
    with pytest.raises(PathError, match="mode"):
        LatentPath(np.stack([a, b]), mode="cubic")
    with pytest.raises(PathError, match="NaN"):
        LatentPath(np.stack([a, b * np.nan]))


def test_waypoints_are_frames_and_spacing_follows_segment_length():
    a, b = _pair(4)
    c = b + 0.01 * (b - a)  # a very short last segment
    path = LatentPath(np.stack([a, b, c]), mode="lerp", steps=30)
    frames = path.waypoint_frames()
    z = path.latents()
    assert frames[0] == 0 and frames[-1] == 29
    assert np.array_equal(z[frames[1]], b)
    assert path.frame_segments()[0] > path.frame_segments()[1] >= 1


def test_path_is_frozen_and_round_trips_json():
    a, b = _pair()
    path = LatentPath(np.stack([a, b]), mode="lerp", steps=7, easing="ease-in-out", names=("1", "2"))
    with pytest.raises(ValueError):
        path.waypoints[0, 0] = 5.0
    again = LatentPath.from_json(json.loads(json.dumps(path.to_json())))
    assert again.mode == "lerp" and again.steps == 7 and again.easing == "ease-in-out"
    assert np.array_equal(again.waypoints, path.waypoints)


@pytest.mark.parametrize("easing", ["linear", "ease-in-out", "ease-in", "ease-out"])
def test_easing_maps_the_unit_interval_onto_itself(easing):
    t = np.linspace(0, 1, 101)
    e = ease(t, easing)
    assert e[0] == 0 and e[-1] == 1 and np.all(np.diff(e) >= 0)


def test_feature_path_length_is_stable_across_step_counts():
    # a straight line in feature space: length = |Δ|² for any N (the ε-normalised form)
    start, end = np.zeros(4), np.array([3.0, 4.0, 0, 0])
    for n in (5, 17, 101):
        f = np.linspace(start, end, n)
        assert feature_path_length(f) == pytest.approx(25.0)


def test_perceptual_path_length_of_a_linear_map():
    w = np.random.default_rng(0).standard_normal((8, 5))
    value = perceptual_path_length(lambda z: z @ w, 8, pairs=32, mode="lerp")
    assert value > 0 and np.isfinite(value)
    again = perceptual_path_length(lambda z: z @ w, 8, pairs=32, mode="lerp", epsilon=1e-3)
    assert again == pytest.approx(value, rel=0.05)  # stable across epsilon


# ---- directions -----------------------------------------------------------------------------------

def _linear_generator(path, weight, *, gemm_trans_b=False):
    """z [N, D] -> first layer (MatMul z@W, or Gemm with transB) -> Tanh -> image [N, 1, 4, K/4]."""
    k = weight.shape[1] if not gemm_trans_b else weight.shape[0]
    d = weight.shape[0] if not gemm_trans_b else weight.shape[1]
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", d])
    out = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 4, k // 4])
    inits = [numpy_helper.from_array(weight.astype(np.float32), "W"),
             numpy_helper.from_array(np.array([-1, 1, 4, k // 4], np.int64), "shape")]
    if gemm_trans_b:
        first = helper.make_node("Gemm", ["z", "W"], ["h"], transB=1)
    else:
        first = helper.make_node("MatMul", ["z", "W"], ["h"])
    nodes = [first, helper.make_node("Tanh", ["h"], ["a"]), helper.make_node("Reshape", ["a", "shape"], ["image"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [z], [out], inits),
                              opset_imports=[helper.make_opsetid("", contract.OPSET)])
    model.ir_version = contract.IR_VERSION
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("gemm", [False, True])
def test_sefa_recovers_known_directions(tmp_path, gemm):
    rng = np.random.default_rng(0)
    d, k = 8, 32
    v, _ = np.linalg.qr(rng.standard_normal((d, d)))  # the planted directions (columns)
    q, _ = np.linalg.qr(rng.standard_normal((k, d)))
    s = np.array([9.0, 6.0, 4.0, 2.0, 1.0, 0.5, 0.3, 0.1])
    w = v @ np.diag(s) @ q.T  # W [D, K]: z @ W; W Wᵀ = V diag(s²) Vᵀ
    path = _linear_generator(tmp_path / "g.onnx", w.T if gemm else w, gemm_trans_b=gemm)
    found = sefa_directions(path, k=3)
    for i, direction in enumerate(found):
        assert abs(float(direction.vector @ v[:, i])) > 0.999, i
        assert direction.source == "sefa"


def test_sefa_on_a_nonlinear_first_layer_says_why(tmp_path):
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4])
    out = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Tanh", ["z"], ["image"])], "g", [z], [out]),
                              opset_imports=[helper.make_opsetid("", contract.OPSET)])
    onnx.save(model, str(tmp_path / "t.onnx"))
    with pytest.raises(DirectionError, match="not a constant MatMul/Gemm"):
        sefa_directions(tmp_path / "t.onnx")


def test_sefa_on_the_bundled_gan():
    from explorer.io.paths import bundled_model

    gen = bundled_model("gan") / "generator.onnx"
    if not gen.is_file():
        pytest.skip("bundled GAN not present")
    dirs = sefa_directions(gen, k=3)
    assert len(dirs) == 3 and dirs[0].dim == 64


def test_class_selection_pca_and_arithmetic():
    rng = np.random.default_rng(0)
    mu = rng.standard_normal((300, 6)) * 0.1
    labels = np.arange(300) % 3
    mu[labels == 1, 0] += 5.0
    d = class_direction(mu, labels, 0, 1, ("tee", "dress", "bag"))
    assert d.name == "tee → dress" and d.vector[0] > 0.99
    sel = selection_direction(mu, np.flatnonzero(labels == 0), np.flatnonzero(labels == 1))
    assert np.allclose(sel.vector, d.vector, atol=1e-6)
    pcs = pca_directions(mu, k=2)
    assert abs(pcs[0].vector[0]) > 0.99 and "variance" in pcs[0].detail
    moved = d.move(np.zeros(6, np.float32), 2.0)
    assert np.linalg.norm(moved) == pytest.approx(2.0)
    a, b, c = np.eye(3, dtype=np.float32)
    assert np.array_equal(arithmetic(a, b, c), a - b + c)
    with pytest.raises(DirectionError, match="no atlas points"):
        class_direction(mu, labels, 0, 7)
    with pytest.raises(DirectionError, match="length 0"):
        Direction("zero", np.zeros(6))
    with pytest.raises(DirectionError, match="lasso both"):
        selection_direction(mu, [], [1])


def test_directions_save_and_reload(tmp_path):
    dirs = pca_directions(np.random.default_rng(0).standard_normal((50, 5)), k=2, model="m")
    dirs.append(Direction("T-shirt → Dress", np.arange(5.0) + 1, "class", model="m"))
    path = save_directions(dirs, tmp_path / "dirs.json")
    text = path.read_text()
    assert "T-shirt → Dress" in text and '"format": "latent-explorer-directions"' in text
    again = load_directions(path)
    assert [d.name for d in again] == [d.name for d in dirs]
    assert all(np.allclose(x.vector, y.vector) for x, y in zip(again, dirs))
    newer = json.loads(text)
    newer["version"] = 99
    (tmp_path / "new.json").write_text(json.dumps(newer))
    with pytest.raises(DirectionError, match="newer than this app"):
        load_directions(tmp_path / "new.json")


def test_suggested_file_names_have_no_spaces():
    assert exports.safe_file_name("fashion-mnist gan-path.gif") == "fashion-mnist-gan-path.gif"
    assert exports.safe_file_name("T-shirt/top → Dress.PNG") == "T-shirt-top-Dress.png"
    assert exports.safe_file_name("  .json") == "export.json"


def test_directions_remember_the_file_they_were_made_on(tmp_path):
    from explorer.core.directions import DirectionList, ModelKey, model_fingerprint

    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"generator a")
    b.write_bytes(b"generator b")
    fa, fb = model_fingerprint(a), model_fingerprint(b)
    assert fa and fb and fa != fb and model_fingerprint(a) == fa
    made = Direction("SeFa 1", np.ones(4), "sefa", model="gan a", fingerprint=fa)
    old = Direction("PC1", np.ones(4), "pca", model="gan a")  # an older file: no fingerprint, a name
    loose = Direction("mine", np.ones(4))  # written by hand: no model at all
    six = Direction("six", np.ones(6), model="gan a", fingerprint=fa)
    items = DirectionList([made, old, loose, six])
    usable, hidden = items.offered(ModelKey("gan a", 4, fa))
    assert usable == [made, old, loose] and hidden == ["for 6-d latents (this model takes 4-d)"]
    usable, hidden = items.offered(ModelKey("gan b", 4, fb))  # same size, another file
    assert usable == [loose] and hidden.count("made on gan a") == 2
    usable, hidden = items.offered(ModelKey("gan a", 4, fb))  # retrained: same name, another file
    assert made not in usable and "made on another file named gan a" in hidden
    again = Direction.from_json(json.loads(json.dumps(made.to_json())))
    assert again.fingerprint == fa
    twin = Direction("SeFa 1", np.ones(4), "sefa", model="gan b", fingerprint=fb)
    items.add([twin])
    items.remove(twin)  # by identity, though name and vector equal another's
    assert twin not in items.items and made in items.items


# ---- exports ----------------------------------------------------------------------------------------

def _frames(n=7, h=10, w=13, c=1):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)


def test_gif_decodes_back_to_the_right_frames(tmp_path):
    from PIL import Image

    out = exports.write_gif(_frames(7), tmp_path / "a.gif", fps=10)
    with Image.open(out) as im:
        assert im.n_frames == 7 and im.size == (13, 10)
    exports.write_gif(_frames(5, c=3), tmp_path / "b.gif", bounce=True)
    with Image.open(tmp_path / "b.gif") as im:
        assert im.n_frames == 8


@pytest.mark.skipif(not exports.mp4_available(), reason="imageio-ffmpeg not installed")
def test_mp4_decodes_back_to_the_right_frames(tmp_path):
    import imageio_ffmpeg

    out = exports.write_mp4(_frames(9, 16, 20), tmp_path / "a.mp4", fps=8)
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert tuple(meta["size"]) == (20, 16)
    assert sum(1 for _ in reader) == 9
    out = exports.write_mp4(_frames(4, 15, 21), tmp_path / "odd.mp4")  # odd sides are padded to even
    reader = imageio_ffmpeg.read_frames(str(out))
    assert tuple(next(reader)["size"]) == (22, 16)


def test_exports_are_atomic_and_readonly_folders_say_why(tmp_path):
    target = tmp_path / "keep.png"
    exports.write_png(_frames(1)[0], target)
    before = target.read_bytes()
    with pytest.raises(exports.ExportError):
        exports.write_png(np.zeros((3, 3, 2), np.uint8), target)  # bad input: the old file survives
    assert target.read_bytes() == before
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(exports.ExportError, match="permission denied"):
            exports.write_json({"a": 1}, ro / "x.json")
    finally:
        ro.chmod(stat.S_IRWXU)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_npy_and_json_latents(tmp_path):
    z = sample_latents(3, 4)
    exports.write_npy(z, tmp_path / "z.npy")
    assert np.array_equal(np.load(tmp_path / "z.npy", allow_pickle=False), z)
    exports.write_json(exports.latents_json(z, model="m"), tmp_path / "z.json")
    data = json.loads((tmp_path / "z.json").read_text())
    assert data["shape"] == [3, 4] and np.allclose(data["latents"], z)


# ---- CLI ---------------------------------------------------------------------------------------------

def test_cli_interpolate_png_gif_npy(gan_bundle, tmp_path, capsys):
    from PIL import Image

    assert main(["interpolate", str(gan_bundle), "--from", "1", "--to", "2", "--via", "3", "--steps", "6",
                 "--classifier", "none", "--scale", "2", "--out", str(tmp_path / "p.png")]) == 0
    with Image.open(tmp_path / "p.png") as im:
        # 6 frames of 8x8 at scale 2, 2 px padding: width (2 + 6 * 10) * 2
        assert im.size == ((2 + 6 * 10) * 2, (2 + 10) * 2)
    assert "wrote" in capsys.readouterr().out
    assert main(["interpolate", str(gan_bundle), "--from", "1", "--to", "2", "--steps", "5", "--mode", "lerp",
                 "--classifier", "none", "--out", str(tmp_path / "p.gif")]) == 0
    with Image.open(tmp_path / "p.gif") as im:
        assert im.n_frames == 5 and im.size == (64, 64)
    assert main(["interpolate", str(gan_bundle), "--from", "1", "--to", "2", "--steps", "4",
                 "--out", str(tmp_path / "p.npy")]) == 0
    z = np.load(tmp_path / "p.npy", allow_pickle=False)
    assert z.shape == (4, 8) and np.array_equal(z[0], sample_latents(1, 8, SamplingPolicy(1))[0])


@pytest.mark.skipif(not exports.mp4_available(), reason="imageio-ffmpeg not installed")
def test_cli_interpolate_mp4(gan_bundle, tmp_path):
    import imageio_ffmpeg

    assert main(["interpolate", str(gan_bundle), "--from", "1", "--to", "2", "--steps", "6",
                 "--classifier", "none", "--out", str(tmp_path / "p.mp4")]) == 0
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "p.mp4"))
    assert tuple(next(reader)["size"]) == (64, 64) and sum(1 for _ in reader) == 6


def test_cli_interpolate_from_a_latent_file_and_antipodes(gan_bundle, tmp_path, capsys):
    z = sample_latents(1, 8)[0]
    np.save(tmp_path / "a.npy", z)
    np.save(tmp_path / "b.npy", -z)
    assert main(["interpolate", str(gan_bundle), "--from", str(tmp_path / "a.npy"), "--to", str(tmp_path / "b.npy"),
                 "--steps", "5", "--classifier", "none", "--out", str(tmp_path / "p.png")]) == 0
    assert "nearly opposite" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--from", "1", "--to", "1"], "same latent"),
    (["--from", "1", "--to", "nope.png"], "no such file"),
    (["--from", "1", "--to", "2", "--steps", "1"], "steps"),
    (["--from", "1", "--to", "2", "--out-format"], "unrecognized"),
])
def test_cli_interpolate_errors_are_one_line(gan_bundle, tmp_path, capsys, args, message):
    code = main(["interpolate", str(gan_bundle), *args, "--out", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.png").exists()


def test_cli_interpolate_image_waypoint_needs_an_encoder(gan_bundle, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
    code = main(["interpolate", str(gan_bundle), "--from", str(tmp_path / "x.png"), "--to", "2",
                 "--out", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert code == 2 and "only VAE bundles have an encoder" in err


def test_cli_interpolate_image_waypoint_on_a_vae(vae_bundle, tmp_path):
    from PIL import Image

    Image.fromarray(np.full((8, 8), 128, np.uint8)).save(tmp_path / "x.png")
    assert main(["interpolate", str(vae_bundle), "--from", str(tmp_path / "x.png"), "--to", "2", "--steps", "3",
                 "--out", str(tmp_path / "p.json")]) == 0
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["shape"] == [3, 6] and data["path"]["names"][0].endswith("x.png")


def test_cli_interpolate_to_a_missing_folder(gan_bundle, tmp_path, capsys):
    code = main(["interpolate", str(gan_bundle), "--from", "1", "--to", "2", "--out",
                 str(tmp_path / "no" / "p.gif")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "s.json"
    exports.write_json({"v": 1}, target)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(exports.os, "replace", refuse)
    with pytest.raises(exports.ExportError, match="permission denied"):
        exports.write_json({"v": 2}, target)
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left behind


def test_cli_interpolate_to_a_read_only_folder_says_so_before_decoding(gan_bundle, tmp_path, capsys, monkeypatch):
    import explorer.cli.interpolate as icli

    target = tmp_path / "p.gif"
    target.write_bytes(b"previous")
    monkeypatch.setattr(icli.os, "access", lambda path, mode: False)
    code = main(["interpolate", str(gan_bundle), "--from", "1", "--to", "2", "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and "read-only" in err and len(err.strip().splitlines()) == 1
    assert target.read_bytes() == b"previous"


def test_cli_interpolate_fits_an_image_waypoint_of_another_size_and_says_so(vae_bundle, tmp_path, capsys):
    """Training resizes the same folder, so a waypoint of another size is fitted (as the map's Image in does)."""
    from PIL import Image

    from explorer.io.images import fit_image

    big = np.random.default_rng(0).integers(0, 120, (16, 16), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    Image.fromarray(fit_image(big[..., None], (1, 8, 8)).image[..., 0]).save(tmp_path / "small.png")
    for name in ("big", "small"):
        assert main(["interpolate", str(vae_bundle), "--from", str(tmp_path / f"{name}.png"), "--to", "2",
                     "--steps", "3", "--out", str(tmp_path / f"{name}.npy")]) == 0
    err = capsys.readouterr().err
    assert "note: waypoint big.png: resized 16×16 → 8×8" in err and "small.png" not in err, err
    np.testing.assert_array_equal(np.load(tmp_path / "big.npy"), np.load(tmp_path / "small.npy"))
