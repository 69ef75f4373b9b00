"""Helpers for the training-side tests: tiny data sets, tiny runs, and the CLI in and out of process.

Everything is sized for a busy 2-core machine: a few hundred images, width-8 networks, 1-2 epochs,
one thread. Runs that several test modules share are memoised per test session.
"""

from __future__ import annotations

import gzip
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported anywhere

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Small networks on the CPU: what every test run adds to its own arguments.
TINY = ("--width", "8", "--device", "cpu")
IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
TIMING_KEYS = ("seconds", "images_per_s")  # the only metrics that may differ between identical runs


# ---- data -----------------------------------------------------------------------------------------

def real_fashion_dir() -> Path | None:
    """The folder of the real Fashion-MNIST files, found the way the trainer finds them (no download)."""
    from training.data import DataError, find_fashion_mnist

    try:
        return find_fashion_mnist(download=False)
    except DataError:
        return None


requires_fashion = pytest.mark.skipif(
    real_fashion_dir() is None,
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist, or set $FASHION_MNIST_DIR)")


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (uint8, int8, or big-endian int16/int32/float32/float64)."""
    array = np.asarray(array)
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = struct.pack(">HBB", 0, IDX_CODES[np.dtype(big)], array.ndim)
    return header + struct.pack(">" + "I" * array.ndim, *array.shape) + array.astype(big).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzipped when the name ends in .gz."""
    data = idx_bytes(array)
    path = Path(path)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def write_fashion_folder(folder: Path, train_images, train_labels, test_images, test_labels) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", train_images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", train_labels)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", test_images)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", test_labels)
    return folder


def draw_shape(kind: str, size: int, rng: np.random.Generator) -> "PIL.Image.Image":  # noqa: F821
    """An RGB image of one filled circle or square, random colour/position/size, on a dark background."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 60, 3)))
    r = int(rng.integers(size // 5, size // 3))
    cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
    colour = tuple(int(v) for v in rng.integers(120, 256, 3))
    draw = ImageDraw.Draw(img)
    box = (cx - r, cy - r, cx + r, cy + r)
    (draw.ellipse if kind == "circle" else draw.rectangle)(box, fill=colour)
    return img


def write_shapes_folder(folder: Path, n_per_class: int = 40, size: int = 20, seed: int = 0) -> Path:
    """Two classes (circle/, square/) of RGB PNG and JPEG images; some sit one folder deeper."""
    rng = np.random.default_rng(seed)
    for kind in ("circle", "square"):
        for i in range(n_per_class):
            sub = folder / kind / ("more" if i % 4 == 0 else "")
            sub.mkdir(parents=True, exist_ok=True)
            draw_shape(kind, size, rng).save(sub / f"{kind}-{i:03d}.{'jpg' if i % 3 == 0 else 'png'}")
    return folder


_cache: dict = {}


def fashion_subset(tmp_path_factory, n_train: int = 512, n_test: int = 128) -> Path:
    """A small Fashion-MNIST folder of real images (from the real test split), in IDX .gz files."""
    key = ("fashion", n_train, n_test)
    if key not in _cache:
        from training.data import read_idx

        real = real_fashion_dir()
        if real is None:
            pytest.skip("Fashion-MNIST not installed")
        images = read_idx(real / "t10k-images-idx3-ubyte.gz")
        labels = read_idx(real / "t10k-labels-idx1-ubyte.gz")
        folder = tmp_path_factory.mktemp("fashion-small")
        _cache[key] = write_fashion_folder(folder, images[:n_train], labels[:n_train],
                                           images[n_train:n_train + n_test], labels[n_train:n_train + n_test])
    return _cache[key]


def shapes_folder(tmp_path_factory) -> Path:
    if "shapes" not in _cache:
        _cache["shapes"] = write_shapes_folder(tmp_path_factory.mktemp("shapes") / "shapes")
    return _cache["shapes"]


# Arguments of the shared tiny runs, per data source: (data args, epochs).
def run_args(family: str, data: Path, source: str) -> list[str]:
    if source == "fashion":
        extra = ["--epochs", "2", "--batch-size", "64"] + (["--latent-dim", "8"] if family != "classifier" else [])
    else:  # the RGB shapes folder
        extra = ["--epochs", "1", "--batch-size", "16", "--channels", "3", "--image-size", "16"]
    return [family, "--data", str(data), "--seed", "3", *extra, *TINY]


def tiny_run(tmp_path_factory, family: str, source: str = "fashion") -> Path:
    """A finished run folder of ``family`` trained on ``source`` ("fashion" or "shapes"); memoised."""
    key = ("run", family, source)
    if key not in _cache:
        data = fashion_subset(tmp_path_factory) if source == "fashion" else shapes_folder(tmp_path_factory)
        out = tmp_path_factory.mktemp(f"run-{family}-{source}")
        code = cli(*run_args(family, data, source), "--out", out / "run")
        assert code == 0, f"tiny {family} run on {source} exited with {code}"
        _cache[key] = out / "run"
    return _cache[key]


# ---- the command line -----------------------------------------------------------------------------

def cli(*args) -> int:
    """``latent-train ARGS`` in this process; returns the exit code (errors are printed, not raised)."""
    import torch

    from training.cli import main

    torch.set_num_threads(1)
    return main([str(a) for a in args])


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "training.cli", *[str(a) for a in args]]


def run_cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """``latent-train ARGS`` in a fresh interpreter; stdout/stderr captured as text."""
    return subprocess.run(cli_command(*args), cwd=REPO, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def start_cli(*args) -> subprocess.Popen:
    """Start ``latent-train ARGS`` in the background (SIGINT left at its default, as in a terminal)."""
    return subprocess.Popen(cli_command(*args), cwd=REPO, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- looking at runs ------------------------------------------------------------------------------

def load_checkpoint(run_dir: Path) -> dict:
    import torch

    return torch.load(run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)


def metrics_rows(run_dir: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def assert_same_weights(a: dict, b: dict, *, atol: float = 1e-6) -> None:
    """Two checkpoints hold the same module weights and buffers (and the same optimizer moments)."""
    import torch

    assert a["modules"].keys() == b["modules"].keys()
    for name in a["modules"]:
        sa, sb = a["modules"][name], b["modules"][name]
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.allclose(sa[key].double(), sb[key].double(), rtol=0, atol=atol), \
                f"{name}.{key} differs by {(sa[key].double() - sb[key].double()).abs().max():.3g}"
    for name in a["optimizers"]:
        for pid, state in a["optimizers"][name]["state"].items():
            other = b["optimizers"][name]["state"][pid]
            for key, value in state.items():
                if torch.is_tensor(value):
                    assert torch.allclose(value.double(), other[key].double(), rtol=0, atol=atol), \
                        f"optimizer {name} param {pid} {key} differs"


def ort_session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
