"""Models and run folders for the monitor tests, built with numpy + onnx.helper (no training).

* a PCA + nearest-class-mean classifier for 28x28 gray images (a contract classifier bundle);
* "table" generators that map every latent to one of a fixed set of images:
  z -> argmax(z @ W) -> that row of the table. Few rows = a collapsed generator; rows of some
  classes only = a generator that drops modes; thousands of real images = a healthy-looking one;
* run folders in the RUN_DIR layout of training/train.py (config.json, metrics.jsonl, snapshots/).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from explorer.io import contract
from explorer.io.contract import FASHION_MNIST_CLASSES, ModelCard


def _save(model, path: Path, card: ModelCard) -> Path:
    model.ir_version = contract.IR_VERSION
    contract.write_metadata(model, card)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_pca_classifier(folder, images_u8: np.ndarray, labels: np.ndarray, *, feature_dim: int = 32,
                        temperature: float = 0.05) -> Path:
    """Classifier bundle: features = PCA(feature_dim) of the pixels, logits = -|f - class mean|^2 * temperature."""
    x = images_u8.reshape(len(images_u8), -1).astype(np.float64) / 255.0
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x[:6000] - mean, full_matrices=False)
    proj = vt[:feature_dim].T  # [784, F]
    feats = (x - mean) @ proj
    k = len(FASHION_MNIST_CLASSES)
    centres = np.stack([feats[labels == c].mean(0) for c in range(k)])  # [K, F]
    # -t |f - c|^2 = 2t f.c - t|c|^2 - t|f|^2; the last term is the same for every class: dropped.
    wl = (2 * temperature * centres.T).astype(np.float32)
    bl = (-temperature * (centres ** 2).sum(1)).astype(np.float32)
    h, w = images_u8.shape[1:3]
    inits = [numpy_helper.from_array(mean.astype(np.float32), "mean"),
             numpy_helper.from_array(proj.astype(np.float32), "P"),
             numpy_helper.from_array(wl, "WL"), numpy_helper.from_array(bl, "BL")]
    nodes = [helper.make_node("Flatten", ["image"], ["flat"], axis=1),
             helper.make_node("Sub", ["flat", "mean"], ["centred"]),
             helper.make_node("MatMul", ["centred", "P"], ["features"]),
             helper.make_node("MatMul", ["features", "WL"], ["l0"]),
             helper.make_node("Add", ["l0", "BL"], ["logits"])]
    graph = helper.make_graph(
        nodes, "pca_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", k]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", feature_dim])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", contract.OPSET)])
    card = ModelCard(role="classifier", family="classifier", image_channels=1, image_height=h, image_width=w,
                     value_range=(0.0, 1.0), latent_dim=None, latent_prior=None, dataset="fashion-mnist",
                     class_names=FASHION_MNIST_CLASSES, feature_dim=feature_dim, name="pca test classifier")
    return _save(model, Path(folder) / "classifier.onnx", card)


def make_table_generator(path, table_u8: np.ndarray, *, latent_dim: int = 16, seed: int = 0, epoch: int = 1,
                         name: str = "table gan") -> Path:
    """A contract GAN generator: z [N, D] -> table[argmax(z @ W)] as float [N, 1, H, W] in [-1, 1]."""
    table = np.asarray(table_u8, np.uint8)
    m, h, w = table.shape
    rng = np.random.default_rng(seed)
    wz = rng.standard_normal((latent_dim, m))
    wz /= np.linalg.norm(wz, axis=0, keepdims=True)  # equal norms: every row equally likely
    inits = [numpy_helper.from_array(wz.astype(np.float32), "W"),
             numpy_helper.from_array(table.reshape(m, 1, h, w), "table"),
             numpy_helper.from_array(np.array(2.0 / 255.0, np.float32), "scale"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    nodes = [helper.make_node("MatMul", ["z", "W"], ["scores"]),
             helper.make_node("ArgMax", ["scores"], ["row"], axis=1, keepdims=0),
             helper.make_node("Gather", ["table", "row"], ["picked"], axis=0),
             helper.make_node("Cast", ["picked"], ["pf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["pf", "scale"], ["p2"]),
             helper.make_node("Sub", ["p2", "one"], ["image"])]
    graph = helper.make_graph(
        nodes, "table_generator", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, h, w])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", contract.OPSET)])
    card = ModelCard(role="generator", family="gan", image_channels=1, image_height=h, image_width=w,
                     value_range=(-1.0, 1.0), latent_dim=latent_dim, dataset="fashion-mnist",
                     class_names=FASHION_MNIST_CLASSES, epoch=epoch, name=name)
    return _save(model, Path(path), card)


def make_blur_vae_decoder(folder, table_u8: np.ndarray, *, latent_dim: int = 8, seed: int = 0) -> Path:
    """A contract VAE decoder (plus stand-in encoder) returning box-blurred table images in [0, 1]."""
    t = table_u8.astype(np.float32) / 255.0
    pad = np.pad(t, ((0, 0), (1, 1), (1, 1)), mode="edge")
    blur = sum(pad[:, dy:dy + t.shape[1], dx:dx + t.shape[2]] for dy in range(3) for dx in range(3)) / 9.0
    path = make_table_generator(Path(folder) / "decoder.onnx", np.clip(blur * 255 + 0.5, 0, 255).astype(np.uint8),
                                latent_dim=latent_dim, seed=seed, name="blurry vae")
    model = onnx.load(str(path))
    # Decoder contract: [0, 1] pixels, so undo the generator's [-1, 1] mapping.
    model.graph.node[-2].input[1] = "scale1"
    model.graph.initializer.append(numpy_helper.from_array(np.array(1.0 / 255.0, np.float32), "scale1"))
    model.graph.node[-1].op_type = "Identity"
    del model.graph.node[-1].input[1:]
    h, w = table_u8.shape[1:]
    card = ModelCard(role="decoder", family="vae", image_channels=1, image_height=h, image_width=w,
                     value_range=(0.0, 1.0), latent_dim=latent_dim, dataset="fashion-mnist",
                     class_names=FASHION_MNIST_CLASSES, name="blurry vae", siblings={})
    return _save(model, path, card)


def gan_rows(epochs: int, *, d_x: float = 0.7, d_g_z: float = 0.3) -> list[dict]:
    return [{"epoch": e, "family": "gan", "d_loss": 1.2 - 0.01 * e, "g_loss": 0.9 + 0.02 * e,
             "d_x": d_x, "d_g_z": d_g_z, "images_per_s": 1000.0, "seconds": 1.0} for e in range(1, epochs + 1)]


def make_run(run_dir, *, family: str = "gan", epochs: int = 3, rows: list[dict] | None = None) -> Path:
    """An (empty) RUN_DIR with config.json and metrics.jsonl rows; add snapshots with add_snapshot."""
    run = Path(run_dir)
    (run / "snapshots").mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps({"family": family, "epochs": epochs, "latent_dim": 16,
                                                 "dataset": "fashion-mnist"}))
    with open(run / "metrics.jsonl", "w") as fh:
        for r in rows or []:
            fh.write(json.dumps(r) + "\n")
    return run


def add_snapshot(run_dir, epoch: int, table_u8: np.ndarray, *, latent_dim: int = 16, seed: int = 0) -> Path:
    """Write snapshots/epoch-NNNN the way the trainer does: a temp folder, then one rename."""
    snaps = Path(run_dir) / "snapshots"
    tmp = snaps / f".epoch-{epoch:04d}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    make_table_generator(tmp / "generator.onnx", table_u8, latent_dim=latent_dim, seed=seed, epoch=epoch,
                         name=f"table gan epoch {epoch}")
    final = snaps / f"epoch-{epoch:04d}"
    os.replace(tmp, final)
    return final


# ---- a shared test world: real Fashion-MNIST images, the PCA classifier and its reference ---------

TEST_N = 500  # samples per evaluation in the tests (floors are cached for this N)
_world: dict = {}


def fashion_available() -> bool:
    from explorer.io.fashion_data import DataNotFound, find_fashion_mnist

    try:
        find_fashion_mnist()
        return True
    except DataNotFound:
        return False


def world(tmp_path_factory) -> dict:
    """Memoised per session: {"train": uint8 [N, 28, 28], "labels": int64 [N], "classifier": Path (bundle)}.

    The classifier bundle holds real-reference.npz (8000 real images, floors at TEST_N)."""
    if "classifier" not in _world:
        import pytest

        from explorer.core.classifier import build_fashion_reference
        from explorer.io.fashion_data import load_split

        if not fashion_available():
            pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
        train, labels = load_split("train")
        folder = tmp_path_factory.mktemp("pca-classifier")
        make_pca_classifier(folder, train[:20000], labels[:20000])
        build_fashion_reference(folder, limit=8000, n=TEST_N, floor_ns=(TEST_N,), ndb_bins=50)
        _world.update(train=train, labels=labels, classifier=folder)
    return _world


def collapsed_table(w: dict) -> np.ndarray:
    """Five training images: every latent maps to one of them."""
    return w["train"][30000:30005]


def few_class_table(w: dict, classes=(0, 1, 7)) -> np.ndarray:
    """3000 training images of only a few classes (T-shirt, Trouser, Sneaker by default)."""
    keep = np.isin(w["labels"], classes)
    return w["train"][keep][:3000]


def healthy_table(w: dict) -> np.ndarray:
    """5000 training images of every class: diverse, sharp samples."""
    return w["train"][30000:35000]


# ---- a stand-in for the GUI thread in Qt-free controller tests ------------------------------------

class Inbox:
    """``wrap(fn)`` gives a function the worker may call from its thread; the call waits in a queue
    until :meth:`pump` runs it on the test's thread — what ``explorer.qt.bridge.ToGui`` does for the
    GUI thread. ``returned`` keeps what each handled call returned (receivers say whether they used it)."""

    def __init__(self):
        import queue

        self._calls = queue.Queue()
        self.returned: list = []

    def wrap(self, fn):
        def queued(*args):
            self._calls.put((fn, args))
        return queued

    def pump(self, until, timeout: float = 60.0) -> bool:
        """Run queued calls until ``until()`` is true (True) or ``timeout`` seconds passed (False)."""
        import queue
        import time

        end = time.monotonic() + timeout
        while not until():
            left = end - time.monotonic()
            if left <= 0:
                return False
            try:
                fn, args = self._calls.get(timeout=min(left, 0.05))
            except queue.Empty:
                continue
            self.returned.append(fn(*args))
        return True
