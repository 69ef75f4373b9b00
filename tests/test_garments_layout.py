"""The garment controls on a laptop (1366x768) and a desktop (1920x1080) screen: with a class-conditional model
in the style x garment grid and a cell focused, the grid's columns and rows with their labels are in view
without scrolling sideways, the toggle is on the control bar, and every garment control in the Focused latent
panel is on screen at a usable size with the latent sliders still in view. Each screen is a child process
(tests/garments_layout_probe.py), as in tests/test_layout.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import model_factory as mf
from screen_probe import run_screen_probe

PROBE = Path(__file__).with_name("garments_layout_probe.py")
ROW_PX = 22  # explorer.qt.latent_panel.ROW_PX


def _probe(tmp_path: Path, width: int, height: int) -> dict:
    model = tmp_path / "cgan"
    mf.make_contract_cgan(model, size=28, latent_dim=16)
    shot = [os.environ["GARMENT_LAYOUT_SHOT"] + f"-{width}.png"] if os.environ.get("GARMENT_LAYOUT_SHOT") else []
    return run_screen_probe(tmp_path, width, height, PROBE, str(model), *shot)


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
