"""The runtime on contract files, foreign generators of every supported shape, and bad input."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import model_factory as mf
from explorer.io import pixels, providers, runtime
from explorer.io.runtime import ModelError, NeedsImageShape, open_model


def _decode(model, n=4, labels=None):
    z = np.random.default_rng(0).standard_normal((n, model.latent_dim)).astype(np.float32)
    return model.decode(z, labels), z


def test_contract_bundle(gan_bundle):
    m = open_model(gan_bundle)
    assert m.card is not None and m.name == "test gan"
    assert m.signature.value_range == (-1.0, 1.0) and m.signature.value_range_source == "metadata"
    assert m.provider == "CPU" and m.providers == ["CPUExecutionProvider"]
    out, _ = _decode(m, 5)
    assert out.pixels.shape == (5, 8, 8, 1) and out.pixels.dtype == np.uint8 and out.finite.all()
    assert not m.signature.guesses


def test_vae_bundle_and_encoder_redirect(vae_bundle):
    m = open_model(vae_bundle)
    assert m.path.name == "decoder.onnx" and m.atlas_path is not None
    assert open_model(vae_bundle / "encoder.onnx").path.name == "decoder.onnx"
    var, source = runtime.dimension_variance(m)
    assert source == "atlas variance" and var.argmax() == 0


def test_tanh_matches_manual_mapping(tmp_path):
    path = mf.make_generator(tmp_path / "g.onnx", activation="tanh")
    m = open_model(path)
    assert m.card is None and m.signature.value_range == (-1.0, 1.0)
    out, z = _decode(m, 3)
    raw = m.session.run(None, {"z": z})[0]  # [N, 1, 8, 8]
    expected = np.clip((raw[:, 0] + 1) / 2 * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out.pixels[..., 0], expected)
    assert any("[-1, 1]" in g for g in m.signature.guesses)


@pytest.mark.parametrize("kwargs, layout, shape, guess", [
    (dict(latent_layout="nchw"), "nchw", (1, 8, 8), "[N, 8, 1, 1]"),
    (dict(out="nhwc", channels=3), "nhwc", (3, 8, 8), "NHWC"),
    (dict(out="flat", height=28, width=28), "flat", (1, 28, 28), "square gray"),
    (dict(out="flat", channels=3, height=16, width=16), "flat", (3, 16, 16), "square RGB"),
    (dict(out="hw"), "hw", (1, 8, 8), "grayscale"),
    (dict(fixed_batch=4), "nchw", (1, 8, 8), "fixed batch size 4"),
    (dict(fixed_batch=1, latent_layout="nchw"), "nchw", (1, 8, 8), "fixed batch size 1"),
])
def test_foreign_shapes(tmp_path, kwargs, layout, shape, guess):
    m = open_model(mf.make_generator(tmp_path / "foreign.onnx", **kwargs))
    sig = m.signature
    assert sig.output_layout == layout and sig.image_shape == shape
    assert any(guess in g for g in sig.guesses), sig.guesses
    out, _ = _decode(m, 7)  # 7 is not a multiple of a fixed batch: the last chunk is padded
    assert out.pixels.shape == (7, shape[1], shape[2], shape[0])


def test_fixed_batch_gives_same_images_as_dynamic(tmp_path):
    dyn = open_model(mf.make_generator(tmp_path / "a.onnx", seed=5))
    fixed = open_model(mf.make_generator(tmp_path / "b.onnx", seed=5, fixed_batch=3))
    a, _ = _decode(dyn, 7)
    b, _ = _decode(fixed, 7)
    np.testing.assert_array_equal(a.pixels, b.pixels)


def test_nhwc_layout_is_read_correctly(tmp_path):
    m = open_model(mf.make_generator(tmp_path / "rgb.onnx", out="nhwc", channels=3))
    out, z = _decode(m, 2)
    raw = m.session.run(None, {"z": z})[0]  # [N, H, W, 3] in [0, 1]
    np.testing.assert_array_equal(out.pixels, np.clip(raw * 255 + 0.5, 0, 255).astype(np.uint8))


def test_flat_output_that_does_not_factor_asks_for_a_shape(tmp_path):
    path = mf.make_generator(tmp_path / "odd.onnx", out="flat", flat_values=250)
    with pytest.raises(NeedsImageShape, match="250 values") as info:
        open_model(path)
    assert info.value.values_per_sample == 250
    m = open_model(path, image_shape=(1, 10, 25))
    assert m.image_shape == (1, 10, 25) and any("given by you" in g for g in m.signature.guesses)
    with pytest.raises(ModelError, match="250"):
        open_model(path, image_shape=(1, 10, 10))


@pytest.mark.parametrize("activation, rng, source", [
    ("sigmoid", (0.0, 1.0), "probe"), ("tanh", (-1.0, 1.0), "probe"), ("relu10", None, "normalised"),
    ("linear", None, "normalised")])
def test_value_range_probe(tmp_path, activation, rng, source):
    m = open_model(mf.make_generator(tmp_path / "v.onnx", activation=activation))
    assert m.signature.value_range_source == source
    if rng:
        assert m.signature.value_range == rng
    else:
        assert any("normalised" in g for g in m.signature.guesses)
        out, _ = _decode(m, 16)
        assert out.pixels.max() > 128 and out.pixels.min() < 128  # visible, not saturated


@pytest.mark.parametrize("rank", [1, 2])
def test_class_label_input(tmp_path, rank):
    m = open_model(mf.make_generator(tmp_path / "cond.onnx", label_classes=7, label_rank=rank))
    assert m.signature.label_name == "label" and m.signature.num_classes == 7
    assert m.class_names == tuple(f"class {i}" for i in range(7))
    z = np.zeros((2, m.latent_dim), np.float32)
    a = m.decode(z, np.array([0, 0])).pixels
    b = m.decode(z, np.array([0, 5])).pixels
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], b[1])  # the label changes the image


def test_contract_class_names_used(tmp_path):
    c = mf.card(class_names=("cat", "dog", "eel"))
    m = open_model(mf.make_generator(tmp_path / "c.onnx", label_classes=3, card=c))
    assert m.class_names == ("cat", "dog", "eel")


def test_nan_outputs_are_flagged(tmp_path):
    m = open_model(mf.make_generator(tmp_path / "nan.onnx", nan_when_z0_negative=True))
    z = np.ones((4, m.latent_dim), np.float32)
    z[[1, 3], 0] = -1
    out = m.decode(z)
    assert list(out.finite) == [True, False, True, False] and out.bad_count == 2
    assert (out.pixels[1] == 0).all()


# ---- bad input ------------------------------------------------------------------------------------

def test_not_a_file(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        open_model(tmp_path / "missing.onnx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="found none"):
        open_model(tmp_path / "empty")


def test_not_onnx(tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("hello, I am a text file\n" * 20)
    with pytest.raises(ModelError, match="expected an ONNX model"):
        open_model(p)
    e = tmp_path / "empty.onnx"
    e.write_bytes(b"")
    with pytest.raises(ModelError, match="empty file"):
        open_model(e)


def test_truncated_onnx(tmp_path, gan_bundle):
    data = (gan_bundle / "generator.onnx").read_bytes()
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as info:
        open_model(p)
    assert "\n" not in str(info.value)


def test_unsupported_signature(tmp_path, vae_bundle):
    # An encoder without metadata: image input [N, 1, 8, 8] is not a latent.
    proto = onnx.load(str(vae_bundle / "encoder.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "enc.onnx"))
    with pytest.raises(ModelError, match="expected a generator.*found inputs image"):
        open_model(tmp_path / "enc.onnx")


def test_external_data_outside_folder_is_refused(tmp_path):
    src = mf.make_generator(tmp_path / "src.onnx")
    proto = onnx.load(str(src))
    folder = tmp_path / "model"
    folder.mkdir()
    onnx.save_model(proto, str(folder / "g.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=1024)
    assert open_model(folder / "g.onnx").decode(np.zeros((1, 8), np.float32)).finite.all()  # inside: fine
    (tmp_path / "weights.bin").write_bytes((folder / "weights.bin").read_bytes())
    evil = onnx.load(str(folder / "g.onnx"), load_external_data=False)
    for t in evil.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../weights.bin"
    onnx.save(evil, str(folder / "evil.onnx"))
    with pytest.raises(ModelError, match="outside the model folder"):
        open_model(folder / "evil.onnx")


def test_newer_contract_version_refused(tmp_path):
    path = mf.make_contract_gan(tmp_path / "g")
    proto = onnx.load(str(path))
    for p in proto.metadata_props:
        if p.key == "latent_explorer.format_version":
            p.value = "99"
    onnx.save(proto, str(path))
    with pytest.raises(ModelError, match="newer"):
        open_model(path)


def test_missing_cuda_falls_back_with_a_note():
    plan = providers.plan_providers(["CUDAExecutionProvider", "CPUExecutionProvider"], driver_present=False,
                                  override="")
    assert plan.requested == ("CPUExecutionProvider",)
    assert any("no NVIDIA driver" in n for n in plan.notes)
    plan = providers.plan_providers(["TensorrtExecutionProvider", "CUDAExecutionProvider", "DmlExecutionProvider",
                                   "CPUExecutionProvider"], driver_present=True, override="")
    assert plan.requested[:2] == ("TensorrtExecutionProvider", "CUDAExecutionProvider")
    assert providers.plan_providers(["CoreMLExecutionProvider", "CPUExecutionProvider"],
                                  override="").requested[0] == "CoreMLExecutionProvider"


def test_cuda_requested_without_libraries_reports_what_runs(gan_bundle):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers() or providers.nvidia_driver_present():
        pytest.skip("needs onnxruntime-gpu on a machine without a working CUDA")
    plan = providers.ProviderPlan(("CUDAExecutionProvider", "CPUExecutionProvider"))
    session, notes = providers.create_session(gan_bundle / "generator.onnx", plan)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert any("CUDA requested but unavailable" in n for n in notes)


def test_deleted_while_open_keeps_working(tmp_path):
    path = mf.make_generator(tmp_path / "gone.onnx")
    m = open_model(path)
    path.unlink()
    assert m.file_missing()
    assert m.decode(np.zeros((2, 8), np.float32)).finite.all()
    # a grid-sized batch would open the 2-thread session, which the missing file refuses: first session
    assert m.decode(np.zeros((providers.BATCH_SESSION_MIN, 8), np.float32)).finite.all()


def test_tile_layout():
    px = np.arange(4 * 2 * 3 * 1, dtype=np.uint8).reshape(4, 2, 3, 1)
    img = pixels.tile(px, 2, 2, pad=1, fill=9)
    assert img.shape == (2 * 3 + 1, 2 * 4 + 1, 1)
    np.testing.assert_array_equal(img[1:3, 1:4], px[0])
    np.testing.assert_array_equal(img[4:6, 5:8], px[3])
    assert img[0, 0, 0] == 9
    partial = pixels.tile(px[:3], 2, 2, pad=1, fill=9)
    np.testing.assert_array_equal(partial[4:6, 5:8], 9)


def test_tensorrt_profiles_cover_the_batch_range(tmp_path):
    proto = onnx.load(str(mf.make_generator(tmp_path / "c.onnx", label_classes=3)))
    assert providers.trt_profiles(proto) == {"min": "z:1x8,label:1", "opt": "z:64x8,label:64",
                                           "max": "z:1024x8,label:1024"}
    fixed = onnx.load(str(mf.make_generator(tmp_path / "f.onnx", fixed_batch=4)))
    assert providers.trt_profiles(fixed) is None
    opts = providers._provider_options("TensorrtExecutionProvider", providers.trt_profiles(proto))
    assert opts["trt_profile_max_shapes"] == "z:1024x8,label:1024" and opts["trt_engine_cache_enable"]


def test_flat_rgb_order_is_guessed_from_smoothness(tmp_path):
    """A smooth RGB image flattened channels-last is read as HWC; random weights default to CHW."""
    h = w = 8
    yy, xx = np.mgrid[0:h, 0:w] / 8.0
    basis = np.stack([np.stack([np.sin(yy * k + xx), np.cos(xx * k), yy * xx * k], -1) for k in (1, 2, 3)])
    weights = basis.reshape(3, -1).astype(np.float32)  # [D=3, H*W*3] in HWC order, smooth per channel
    path = mf.make_generator(tmp_path / "hwc.onnx", latent_dim=3, out="flat", channels=3, height=h, width=w,
                             activation="sigmoid")
    proto = onnx.load(str(path))
    for init in proto.graph.initializer:
        if init.name == "W":
            init.CopyFrom(onnx.numpy_helper.from_array(weights, "W"))
    onnx.save(proto, str(path))
    m = open_model(path)
    assert m.signature.flat_order == "hwc"
    noisy = open_model(mf.make_generator(tmp_path / "noise.onnx", out="flat", channels=3, height=h, width=w))
    assert noisy.signature.flat_order == "chw"
    assert any("flat RGB output read as" in g for g in noisy.signature.guesses)


def test_cpu_grid_batches_use_the_two_thread_session(gan_bundle, monkeypatch):
    monkeypatch.delenv("LATENT_EXPLORER_THREADS", raising=False)
    monkeypatch.setattr(providers.os, "cpu_count", lambda: 2)
    m = open_model(gan_bundle)
    assert m.batch_session is None  # opened on the first large batch, not with the model
    z = np.random.default_rng(0).standard_normal((providers.BATCH_SESSION_MIN, m.latent_dim)).astype(np.float32)
    assert m.session_for(len(z)) is m.batch_session
    assert m.batch_session is not None and m.batch_session.get_providers() == ["CPUExecutionProvider"]
    calls = []
    for name in ("session", "batch_session"):
        real = getattr(m, name)

        class Spy:
            def __init__(self, real, name):
                self.real, self.name = real, name

            def run(self, *a, **k):
                calls.append(self.name)
                return self.real.run(*a, **k)

            def __getattr__(self, attr):
                return getattr(self.real, attr)

        setattr(m, name, Spy(real, name))
    big = m.decode_raw(z)
    small = np.concatenate([m.decode_raw(z[i:i + 1]) for i in range(len(z))])
    assert calls == ["batch_session"] + ["session"] * len(z)
    np.testing.assert_allclose(big, small, atol=1e-5)


def test_thread_count_pin_gives_one_session(gan_bundle, monkeypatch):
    monkeypatch.setattr(providers.os, "cpu_count", lambda: 2)
    monkeypatch.setenv("LATENT_EXPLORER_THREADS", "lots")  # not a count: ignored, not a crash
    assert providers.cpu_thread_counts() == (1, 2)
    monkeypatch.setenv("LATENT_EXPLORER_THREADS", "1")
    assert providers.cpu_thread_counts() == (1, 1)
    for pin, cores in (("1", 2), (None, 1)):
        if pin is None:
            monkeypatch.delenv("LATENT_EXPLORER_THREADS")
        monkeypatch.setattr(providers.os, "cpu_count", lambda: cores)
        m = open_model(gan_bundle)
        m.decode_raw(np.zeros((providers.BATCH_SESSION_MIN, m.latent_dim), np.float32))
        assert m.batch_session is None


def test_to_uint8_takes_an_empty_batch():
    from explorer.io.pixels import to_uint8

    pixels, finite = to_uint8(np.zeros((0, 8, 8, 1), np.float32), (0.0, 1.0))
    assert pixels.shape == (0, 8, 8, 1) and pixels.dtype == np.uint8 and finite.shape == (0,)
