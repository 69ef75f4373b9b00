"""Map data without Qt: atlas, user folders encoded end to end (with cache), bad input, anomaly percentiles,
the GAN feature map of a generator that only makes two classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

import model_factory
from explorer.core import atlas_data as A
from explorer.core.anomaly import AnomalyReference, anomaly_reference
from explorer.core.gan_feature_map import gan_feature_map
from explorer.core.image_probe import probe_image
from explorer.io import contract
from explorer.io.runtime import open_model


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def shown_map_view(qtbot, vae_bundle: Path, size=(1100, 700)):
    """The map view of the test VAE (with an encoder, so images can go in), shown and exposed."""
    from explorer.io.runtime import open_model
    from explorer.qt.map_view import MapView
    from explorer.qt.qapp import ensure_app

    make_encoder(vae_bundle)  # the test VAE takes 8x8 gray images
    ensure_app()
    view = MapView(open_model(vae_bundle), interactive=False)
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    return view


def wait_map_drawn(qtbot, view, timeout=30000) -> None:
    """Wait until the map's jobs (a big set is placed on one) are done and its density images drawn."""
    qtbot.waitUntil(lambda: not view.is_busy() and bool(view.canvas.layers) and not view.canvas.density_busy(),
                    timeout=timeout)


def make_encoder(folder: Path, *, latent_dim=6, size=8, nan=False, seed=0) -> Path:
    """A contract encoder: mu = flatten(image) @ W (sqrt(-1) = NaN added when ``nan``), logvar = -1."""
    w = (np.random.default_rng(seed).standard_normal((size * size, latent_dim)) * 0.3).astype(np.float32)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.array(-1.0, np.float32), "m1")]
    nodes = [helper.make_node("Flatten", ["image"], ["f"], axis=1), helper.make_node("MatMul", ["f", "W"], ["h"])]
    if nan:
        nodes += [helper.make_node("Sqrt", ["m1"], ["nan"]), helper.make_node("Add", ["h", "nan"], ["mu"])]
    else:
        nodes.append(helper.make_node("Identity", ["h"], ["mu"]))
    nodes += [helper.make_node("Mul", ["mu", "m1"], ["neg"]), helper.make_node("Sub", ["neg", "neg"], ["z0"]),
              helper.make_node("Add", ["z0", "m1"], ["logvar"])]
    graph = helper.make_graph(nodes, "enc", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                                           ["batch", 1, size, size])],
                              [helper.make_tensor_value_info("mu", TensorProto.FLOAT, ["batch", latent_dim]),
                               helper.make_tensor_value_info("logvar", TensorProto.FLOAT, ["batch", latent_dim])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", contract.OPSET)])
    model.ir_version = contract.IR_VERSION
    contract.write_metadata(model, model_factory.card("encoder", latent_dim=latent_dim, height=size, width=size,
                                                      name="test vae", siblings={"decoder": "decoder.onnx"}))
    onnx.save(model, str(folder / "encoder.onnx"))
    return folder / "encoder.onnx"


def write_images(folder: Path, n=12, size=8, mode="L", seed=0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        arr = rng.integers(0, 255, (size, size) if mode == "L" else (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr, mode=mode).save(folder / f"img{i:03d}.png")
    return folder


def test_atlas_points_and_class_mix(vae_bundle):
    model = open_model(vae_bundle)
    pts = A.atlas_points(model)
    assert len(pts) == 50 and pts.dim == 6 and pts.kind == "atlas"
    mix = pts.class_mix(np.arange(10))
    assert sum(c for _, c in mix) == 10 and {n for n, _ in mix} == {"a", "b", "c"}
    idx, d = pts.nearest(pts.vectors[7], 3)
    assert idx[0] == 7 and d[0] == pytest.approx(0, abs=1e-3)


def test_bundle_without_atlas_or_encoder_says_why(vae_bundle):
    (vae_bundle / contract.ATLAS_FILE).unlink()
    (vae_bundle / "encoder.onnx").unlink()
    model = open_model(vae_bundle)
    with pytest.raises(A.MapDataError, match="no atlas.npz"):
        A.atlas_points(model)
    with pytest.raises(A.MapDataError, match="no encoder"):
        A.encoder_for(model)


def test_encode_user_folder_end_to_end_with_cache(vae_bundle, tmp_path):
    make_encoder(vae_bundle)
    model = open_model(vae_bundle)
    enc = A.encoder_for(model)
    images = A.load_image_folder(write_images(tmp_path / "mine"), model.image_shape)
    assert images.images.shape == (12, 8, 8, 1) and images.names[0] == "img000.png"
    seen = []
    pts = A.encode_set(enc, images, progress=lambda f, m: seen.append((f, m)))
    assert pts.kind == "user" and pts.vectors.shape == (12, 6) and pts.images is images.images
    assert seen[-1][0] == 1.0 and "encoded 12 of 12" in seen[-1][1]
    x = images.images.transpose(0, 3, 1, 2).astype(np.float32) / 255
    want = x.reshape(12, -1) @ onnx.numpy_helper.to_array(onnx.load(str(vae_bundle / "encoder.onnx")).graph.initializer[0])
    np.testing.assert_allclose(pts.vectors, want, atol=1e-4)
    cached = list((tmp_path / "cache" / "latent-explorer" / "maps").glob("encoded-*.npz"))
    assert len(cached) == 1
    again = []
    pts2 = A.encode_set(enc, images, progress=lambda f, m: again.append(m))
    assert again == ["folder mine: loaded from cache"]
    np.testing.assert_array_equal(pts2.vectors, pts.vectors)


def test_encoding_can_be_cancelled(vae_bundle, tmp_path):
    make_encoder(vae_bundle)
    enc = A.encoder_for(open_model(vae_bundle))
    images = A.load_image_folder(write_images(tmp_path / "mine"), (1, 8, 8))
    with pytest.raises(A.Cancelled):
        A.encode_set(enc, images, cancelled=lambda: True)
    from explorer.core.map_jobs import MapJobs

    results = []  # a job on the map's latest-only worker: the encoder's Cancelled reads as a cancel, not an error
    jobs = MapJobs()
    jobs.start("encode", lambda p, c: A.encode_set(enc, images, progress=p, cancelled=lambda: True), results.append)
    assert jobs.wait(10) and results[0].cancelled and results[0].error is None and not jobs.busy
    jobs.close()


@pytest.mark.parametrize("case, match", [
    ("empty", "no images found"),
    ("size", "are not 8x8"),
    ("colour", "colour image"),
])
def test_bad_folders_give_one_line_reasons(tmp_path, case, match):
    folder = tmp_path / case
    if case == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("no images here")
    elif case == "size":
        write_images(folder, n=3, size=8)
        write_images(folder / "..", n=0)
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "big.png")
    else:
        write_images(folder, n=2, mode="RGB")
    with pytest.raises(A.MapDataError, match=match) as err:
        A.load_image_folder(folder, (1, 8, 8))
    assert "\n" not in str(err.value)


def test_gray_stored_as_rgb_is_accepted(tmp_path):
    folder = tmp_path / "rgbgray"
    folder.mkdir()
    g = np.random.default_rng(0).integers(0, 255, (8, 8), dtype=np.uint8)
    Image.fromarray(np.stack([g, g, g], -1), mode="RGB").save(folder / "a.png")
    s = A.load_image_folder(folder, (1, 8, 8))
    np.testing.assert_array_equal(s.images[0, ..., 0], g)


def test_nan_encoder_is_refused(vae_bundle, tmp_path):
    make_encoder(vae_bundle, nan=True)
    enc = A.encoder_for(open_model(vae_bundle))
    images = A.load_image_folder(write_images(tmp_path / "mine", n=3), (1, 8, 8))
    with pytest.raises(A.MapDataError, match="NaN/Inf for 3 of 3"):
        A.encode_set(enc, images)


def test_idx_set_and_shape_mismatch(vae_bundle, tmp_path):
    make_encoder(vae_bundle)
    enc = A.encoder_for(open_model(vae_bundle))
    imgs = np.random.default_rng(0).integers(0, 255, (5, 10, 10), dtype=np.uint8)
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + b"".join(int(v).to_bytes(4, "big") for v in imgs.shape) + imgs.tobytes())
    s = A.load_idx_set(path)
    assert s.images.shape == (5, 10, 10, 1) and (s.labels == -1).all()
    with pytest.raises(A.MapDataError, match="takes 8x8 images"):
        A.encode_set(enc, s)


def test_image_probe_scores_and_percentiles(vae_bundle, tmp_path):
    make_encoder(vae_bundle)
    model = open_model(vae_bundle)
    enc = A.encoder_for(model)
    test = A.load_image_folder(write_images(tmp_path / "test", n=40, seed=3), (1, 8, 8))
    ref = anomaly_reference(model, enc, test)
    assert len(ref.neg_elbo) == 40 and np.all(np.diff(ref.neg_elbo) >= 0)
    probe = probe_image(model, enc, test.images[5], reference=ref)
    assert probe.recon.shape == (8, 8, 1) and probe.recon.dtype == np.uint8
    assert 0 < probe.neg_elbo_pct <= 100 and 0 < probe.recon_error_pct <= 100
    # A blank image is far from this noise "test set": its reconstruction error ranks differently.
    assert AnomalyReference.percentile(ref.neg_elbo, ref.neg_elbo[-1] + 1) == 100.0
    assert AnomalyReference.percentile(ref.neg_elbo, ref.neg_elbo[0] - 1) == 0.0
    # cached: a second call reads the file
    assert len(list((tmp_path / "cache" / "latent-explorer" / "maps").glob("anomaly-*.npz"))) == 1


def _two_class_world(tmp_path):
    import monitor_factory

    if not monitor_factory.fashion_available():
        pytest.skip("Fashion-MNIST not installed")
    from explorer.io.fashion_data import load_split

    train, labels = load_split("train")
    clf_dir = tmp_path / "clf"
    monitor_factory.make_pca_classifier(clf_dir, train[:4000], labels[:4000], feature_dim=16)
    keep = np.flatnonzero(np.isin(labels, (1, 7)))[:400]  # trousers and sneakers only
    gen = monitor_factory.make_table_generator(tmp_path / "gan" / "generator.onnx", train[keep], latent_dim=8)
    real = A.ImageSet(train[4000:6000, ..., None], labels[4000:6000], source="real subset",
                      class_names=contract.FASHION_MNIST_CLASSES, is_train=np.arange(2000) >= 500)
    return gen, clf_dir, real


def test_gan_feature_map_of_a_two_class_generator(tmp_path):
    from explorer.core.classifier import Classifier

    gen, clf_dir, real = _two_class_world(tmp_path)
    gm = gan_feature_map(open_model(gen), Classifier(clf_dir), real, n_samples=300)
    assert len(gm.samples) == 300 and gm.samples.latents.shape == (300, 8) and gm.samples.images.shape[0] == 300
    shares = np.bincount(gm.samples.labels, minlength=10) / 300
    # the simple PCA classifier mistakes some sneakers for sandals/boots; the two classes still dominate
    assert set(np.argsort(-shares)[:2]) == {1, 7} and shares[[1, 7]].sum() > 0.75
    assert len(np.unique(real.labels)) == 10
    # memorisation check: a table generator copies training images, so its nearest real image is close
    idx, dist = gm.nearest_real(0, 3)
    assert len(idx) == 3 and dist[0] <= dist[-1] and (idx >= 500).all()  # training images only
    brute = np.argsort(np.linalg.norm(gm.real.vectors[500:] - gm.samples.vectors[0], axis=1))[:3] + 500
    np.testing.assert_array_equal(idx, brute)
