"""The command line: render, info, screenshot, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import model_factory as mf
from explorer.cli.main import main

ROOT = Path(__file__).resolve().parent.parent


def test_render_writes_grid(gan_bundle, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["render", str(gan_bundle), "--grid", "3x4", "--seed", "2", "--truncation", "1.5",
                 "--out", str(out)]) == 0
    img = np.asarray(Image.open(out))
    # 8-px cells at the default scale of 8 (>= 64 px), 1-px gaps: (3*9+1)*8 x (4*9+1)*8
    assert img.shape[:2] == ((3 * 9 + 1) * 8, (4 * 9 + 1) * 8)
    again = tmp_path / "again.png"
    main(["render", str(gan_bundle), "--grid", "3x4", "--seed", "2", "--truncation", "1.5", "--out", str(again)])
    assert np.array_equal(img, np.asarray(Image.open(again)))  # seeded: same picture


def test_info_json(vae_bundle, capsys):
    assert main(["info", str(vae_bundle), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["source"] == "contract" and info["latent_dim"] == 6
    assert info["provider"] == "CPU" and info["contract"]["role"] == "decoder"


def test_info_foreign_lists_guesses(tmp_path, capsys):
    path = mf.make_generator(tmp_path / "f.onnx", latent_layout="nchw", out="nhwc", channels=3, activation="tanh")
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["source"] == "inferred" and info["image"]["channels"] == 3
    assert any("NHWC" in n for n in info["notes"]) and info["value_range"] == [-1.0, 1.0]


@pytest.mark.parametrize("args, expected", [
    (["info", "{missing}"], "no such file"),
    (["info", "{text}"], "expected an ONNX model"),
    (["render", "{gan}", "--grid", "40x2", "--out", "x.png"], "1..32"),
    (["render", "{gan}", "--grid", "eight", "--out", "x.png"], "ROWSxCOLS"),
    (["render", "{gan}"], "--out"),
    (["info", "{odd}"], "--shape"),
])
def test_bad_input_is_one_line(args, expected, tmp_path, gan_bundle, capsys):
    text = tmp_path / "t.onnx"
    text.write_text("not a model")
    odd = mf.make_generator(tmp_path / "odd.onnx", out="flat", flat_values=250)
    subs = {"missing": tmp_path / "nope.onnx", "text": text, "gan": gan_bundle, "odd": odd}
    code = main([a.format(**subs) for a in args])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert expected in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_render_nan_model_marks_cells(tmp_path, capsys):
    path = mf.make_generator(tmp_path / "nan.onnx", nan_when_z0_negative=True)
    out = tmp_path / "nan.png"
    assert main(["render", str(path), "--grid", "4x4", "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "NaN/Inf" in err and "marked" in err
    img = np.asarray(Image.open(out))
    assert img.ndim == 3 and ((img[..., 0] > 200) & (img[..., 1] < 80)).any()  # red marks


def _run(args, tmp_path, **env):
    (tmp_path / "none").mkdir(exist_ok=True)  # an empty models folder: tests never see assets/models
    full_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1",
                "LATENT_EXPLORER_PROVIDER": "cpu", "LATENT_EXPLORER_SETTINGS": str(tmp_path / "s.ini"),
                "LATENT_EXPLORER_MODELS": str(tmp_path / "none"), **env}
    return subprocess.run([sys.executable, "-m", "explorer.cli.main", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_app_starts_screenshots_and_quits(tmp_path, gan_bundle, vae_bundle):
    shot = tmp_path / "shot.png"
    proc = _run([str(gan_bundle), str(vae_bundle), "--screenshot", str(shot), "--view", "latent"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    img = Image.open(shot)
    assert img.size[0] >= 1000 and img.size[1] >= 700


@pytest.mark.slow
def test_app_opens_bundled_models_without_arguments(tmp_path):
    models = tmp_path / "models"
    mf.make_contract_vae(models / "fashion-vae")
    mf.make_contract_gan(models / "fashion-gan")
    shot = tmp_path / "default.png"
    proc = _run(["--screenshot", str(shot)], tmp_path, LATENT_EXPLORER_MODELS=str(models))
    assert proc.returncode == 0, proc.stderr
    assert shot.is_file()


@pytest.mark.slow
def test_app_with_a_bad_model_reports_one_line(tmp_path, gan_bundle):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x01garbage")
    proc = _run([str(bad), str(gan_bundle), "--screenshot", str(tmp_path / "s.png")], tmp_path)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.startswith("latent-explorer")]
    assert len(lines) == 1 and "bad.onnx" in lines[0] and "Traceback" not in proc.stderr
    assert (tmp_path / "s.png").is_file()  # the app stayed usable with the good model


def test_help_lists_every_subcommand_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("render", "info", "interpolate", "diversity", "monitor", "compare", "reference"):
        lines = [line for line in out.splitlines() if line.split()[:1] == [name]]
        assert len(lines) == 1 and len(lines[0].split()) > 2, (name, out)
