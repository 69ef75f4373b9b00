"""Build the double-click app with PyInstaller, then run the built executable offscreen.

Slow (about 30 s of build on 2 cores) but run by CI. Every run builds from an empty work folder in
tmp_path: nothing is cached, so a broken spec, a missing module or a torch import cannot hide.
Skipped only when PyInstaller is not installed (pip install -e '.[package]').
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built_app(tmp_path_factory):
    pytest.importorskip("PyInstaller", reason="PyInstaller is not installed: pip install -e '.[package]'")
    import build

    tmp = tmp_path_factory.mktemp("package")
    exe = build.build(tmp / "dist", tmp / "work", quiet=True)
    return build, exe, tmp


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATENT_EXPLORER_")}
    env.update(QT_QPA_PLATFORM="offscreen", LATENT_EXPLORER_SETTINGS=str(tmp / "settings.ini"),
               LATENT_EXPLORER_PROVIDER="cpu", OMP_NUM_THREADS="1")
    return env


def test_bundle_has_models_icons_and_no_torch(built_app):
    build, exe, tmp = built_app
    folder = exe.parent
    internal = folder / "_internal"
    for name in ("fashion-vae/decoder.onnx", "fashion-gan/generator.onnx", "fashion-classifier/classifier.onnx"):
        assert (internal / "assets" / "models" / name).is_file(), name
    assert (internal / "icons" / "latent-explorer-256.png").is_file()
    assert build.forbidden_files(folder) == []
    modules = build.bundled_modules(tmp / "work")
    assert "explorer.qt.main_window" in modules and "onnxruntime" in modules
    assert build.forbidden_modules(tmp / "work") == [], "torch or training code was bundled"
    if sys.platform.startswith("linux"):
        assert (folder / "install.sh").is_file() and (folder / "share" / "latent-explorer.desktop").is_file()
        assert not list(folder.rglob("libonnxruntime_providers_cuda*")), "GPU providers only with --gpu"


def test_built_app_takes_a_screenshot_of_the_bundled_models(built_app):
    from PIL import Image

    _, exe, tmp = built_app
    shot = tmp / "shot.png"
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "--screenshot", str(shot)], env=_env(tmp), capture_output=True,
                          text=True, timeout=120, cwd=tmp)
    took = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape == (900, 1440, 3)
    gray = image.mean(axis=2)
    assert gray.std() > 20, "blank screenshot"
    # The grid of garments sits in the middle: many gray levels, some bright pixels.
    middle = gray[200:800, 450:1000]
    assert len(np.unique(middle.astype(np.uint8))) > 100 and middle.max() > 200
    print(f"\nbuilt app: launch -> grid painted -> screenshot saved -> exit in {took:.2f} s")
    assert took < 30


def test_built_app_cli_renders_and_reports_errors(built_app):
    from PIL import Image

    _, exe, tmp = built_app
    models = exe.parent / "_internal" / "assets" / "models"
    out = tmp / "grid.png"
    proc = subprocess.run([str(exe), "render", str(models / "fashion-gan"), "--grid", "2x3", "--scale", "1",
                           "--out", str(out)], env=_env(tmp), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size[0] > 3 * 28
    bad = subprocess.run([str(exe), "--screenshot", str(tmp / "x.png"), str(tmp / "missing.onnx")],
                         env=_env(tmp), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
