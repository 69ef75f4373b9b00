"""Run a layout probe (a child script) on an offscreen screen of a given size, as a first-run user.

Qt's offscreen platform reads the screen's size from a config file when the application starts, so each
screen size is its own process: empty home, config and cache, its own settings file, the CPU provider.
The probe prints one JSON line last; that is what this returns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_screen_probe(tmp_path: Path, width: int, height: int, probe: Path, *args: str) -> dict:
    screen = tmp_path / f"screen-{width}x{height}.json"
    screen.write_text(json.dumps({"screens": [{"name": "screen", "x": 0, "y": 0, "width": width, "height": height,
                                                "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("LATENT_EXPLORER_MODELS", "LATENT_EXPLORER_SETTINGS")}
    env.update(QT_QPA_PLATFORM=f"offscreen:configfile={screen}", HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), LATENT_EXPLORER_SETTINGS=str(tmp_path / "settings.ini"),
               LATENT_EXPLORER_PROVIDER="cpu", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(probe), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
