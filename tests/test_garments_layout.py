"""The garment controls on a laptop (1366x768) and a desktop (1920x1080) screen: with a class-conditional model
in the style x garment grid and a cell focused, the grid's columns and rows with their labels are in view
without scrolling sideways, the toggle is on the control bar, and every garment control in the Focused latent
panel is on screen at a usable size with the latent sliders still in view. Each screen is a child process
(tests/garments_layout_probe.py), as in tests/test_layout.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import model_factory as mf

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).with_name("garments_layout_probe.py")
ROW_PX = 22  # explorer.qt.latent_panel.ROW_PX


def _probe(tmp_path: Path, width: int, height: int) -> dict:
    model = tmp_path / "cgan"
    mf.make_contract_cgan(model, size=28, latent_dim=16)
    screen = tmp_path / f"screen-{width}x{height}.json"
    screen.write_text(json.dumps({"screens": [{"name": "screen", "x": 0, "y": 0, "width": width, "height": height,
                                                "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("LATENT_EXPLORER_MODELS", "LATENT_EXPLORER_SETTINGS")}
    env.update(QT_QPA_PLATFORM=f"offscreen:configfile={screen}", HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), LATENT_EXPLORER_SETTINGS=str(tmp_path / "settings.ini"),
               LATENT_EXPLORER_PROVIDER="cpu", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    args = [sys.executable, str(PROBE), str(model)] + ([os.environ["GARMENT_LAYOUT_SHOT"] + f"-{width}.png"]
                                                      if os.environ.get("GARMENT_LAYOUT_SHOT") else [])
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("width,height", [(1366, 768), (1920, 1080)])
def test_the_garment_grid_and_its_controls_fit_the_screen(tmp_path, width, height):
    got = _probe(tmp_path, width, height)
    for which in ("first", "maximised"):
        m = got[which]
        g = m["grid"]
        assert (g["rows"], g["cols"]) == (4, 8)
        assert g["hscroll_max"] == 0 and 0 < g["last_column_right"] < g["viewport"]["w"], g
        assert 0 < g["last_row_bottom"] < g["viewport"]["h"], g
        assert g["label_width"] >= 30, g  # room for the class names
        t = m["toggle"]
        assert t["visible"] and t["x"] >= 0 and t["x"] + t["w"] <= m["controls_w"], m
        inside = m["dock_inside"]
        assert m["panel"]["visible"], m
        for name, c in m["controls"].items():
            assert c["visible"], (which, name, c)
            assert c["x"] >= 0 and c["x"] + c["w"] <= inside["w"], (which, name, c, inside)
            assert c["y"] >= 0 and c["y"] + c["h"] <= inside["h"], (which, name, c, inside)
        for name in ("klass", "a", "b"):
            assert m["controls"][name]["w"] >= 60, (which, name, m["controls"][name])
        assert m["controls"]["mix"]["w"] >= 100, m["controls"]["mix"]
        s = m["sliders"]
        assert s["visible"] and s["h"] >= 4 * ROW_PX and s["y"] + s["h"] <= inside["h"], (which, s)
