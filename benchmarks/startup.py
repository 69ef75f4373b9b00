"""Process start -> first grid painted: ``latent-explorer --screenshot`` against a floor program, side by side.

    python benchmarks/startup.py --json [MODEL_OR_BUNDLE ...] [--repeats 7] [--quick]

Two programs are started as fresh processes, in alternation, ``--repeats`` times each:

- **app**: ``latent-explorer --screenshot OUT.png`` (offscreen Qt, the README's install, an empty home
  as on a first start). A probe wrapped around the grid canvas's ``paintEvent`` prints the time of the
  first paint that shows every cell decoded; the app is not otherwise touched.
- **floor**: the least a program that shows the same first grid must do: import the same libraries
  (numpy, onnxruntime, PySide6, pyqtgraph), open one onnxruntime session of the bundled model the
  app shows first, decode one 8x8 grid, tile it and paint it in one window (offscreen).

The parent takes the time just before starting each process; both children print wall-clock time
at their first painted grid. The figure that counts is ``ratio_p50`` (app p50 / floor p50), measured
in the same run: machines and their load differ, the ratio much less. Both run with Python's
bytecode cache on (``PYTHONDONTWRITEBYTECODE`` is dropped for the children), as an installed app
starts after its first launch; one untimed start of each comes first.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _explorer_bench import ROOT, emit, machine, stats_ms

TARGET_RATIO = 1.5

# The app as a user starts it, with a probe on the grid canvas (explorer/qt/grid_view.py).
APP = r"""
import sys, time
from explorer.qt import grid_view

_paint = grid_view.GridCanvas.paintEvent
_said = []

def probe(self, event):
    _paint(self, event)
    if not _said and self.grid.model is not None and not self.grid.dirty.any():
        _said.append(1)
        print(f"PAINTED {time.time():.6f}", flush=True)

grid_view.GridCanvas.paintEvent = probe
from explorer.cli.main import main
code = main(sys.argv[1:])
mods = sorted(m for m in sys.modules if m.startswith("explorer"))
print(f"MODULES {len(sys.modules)} {len(mods)}", flush=True)
sys.exit(code)
"""

# The floor: same libraries, one session, one 8x8 grid decoded, tiled and painted in one window.
FLOOR = r"""
import sys, time
import numpy as np
import onnxruntime as ort
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication, QWidget
import pyqtgraph

app = QApplication(sys.argv[:1])
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
inp = session.get_inputs()[0]
z = np.random.default_rng(0).standard_normal((64, inp.shape[1])).astype(np.float32)
images = session.run(None, {inp.name: z})[0]                       # [64, C, H, W]
n, c, h, w = images.shape
lo, hi = float(images.min()), float(images.max())
u8 = ((images - lo) * (255.0 / max(hi - lo, 1e-6))).astype(np.uint8)
tiles = u8.reshape(8, 8, c, h, w).transpose(0, 3, 1, 4, 2).reshape(8 * h, 8 * w, c)
rgb = np.ascontiguousarray(np.repeat(tiles, 3, axis=2) if c == 1 else tiles[..., :3])
image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)


class Grid(QWidget):
    def paintEvent(self, event):
        painter = QPainter(self)
        painter.drawImage(self.rect(), image)
        painter.end()
        if not getattr(self, "said", False):
            self.said = True
            print(f"PAINTED {time.time():.6f}", flush=True)


window = Grid()
window.resize(8 * h * 3, 8 * w * 3)
window.show()
app.processEvents()
window.repaint()
mods = sorted(m for m in sys.modules if m.startswith("explorer"))
print(f"MODULES {len(sys.modules)} {len(mods)}", flush=True)
"""


def first_model_file(models: list[str]) -> Path:
    """The .onnx file the app shows first: the first argument's decoder, else the first bundled model's."""
    from explorer.io.paths import bundled_models

    first = Path(models[0]) if models else next(iter(bundled_models()), None)
    if first is None:
        raise SystemExit("benchmark: expected the bundled models (assets/models), found none; pass MODEL")
    if first.is_file():
        return first
    for name in ("decoder.onnx", "generator.onnx"):
        if (first / name).is_file():
            return first / name
    files = sorted(first.glob("*.onnx"))
    if not files:
        raise SystemExit(f"benchmark: expected an .onnx file in {first}, found none")
    return files[0]


def run_child(code: str, args: list[str], env: dict) -> dict:
    """One fresh process; seconds from just before its start to its first painted grid, and to its exit."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    t_exit = time.time()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = out.stdout.splitlines()
    painted = next((l for l in lines if l.startswith("PAINTED ")), None)
    modules = next((l for l in lines if l.startswith("MODULES ")), None)
    if out.returncode != 0 or painted is None:
        last = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
        raise SystemExit(f"benchmark: expected a painted grid, found none ({last})")
    return {"painted_s": float(painted.split()[1]) - t0, "exit_s": t_exit - t0,
            "cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
            "modules": int(modules.split()[1]) if modules else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="what the app opens (default: the bundled models)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="3 repeats (for make bench QUICK=1)")
    args = ap.parse_args()
    repeats = 3 if args.quick else max(1, args.repeats)
    floor_model = first_model_file(args.models)
    shot_dir = tempfile.mkdtemp(prefix="startup-bench-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1")})
    env.pop("LATENT_EXPLORER_SETTINGS", None)

    def app_env() -> dict:  # an empty home each time: a first start, no settings, no last session
        home = tempfile.mkdtemp(dir=shot_dir)
        return {**env, "HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config")}

    app_args = ["--screenshot", os.path.join(shot_dir, "grid.png"), *args.models]
    run_child(APP, app_args, app_env())  # untimed: writes the bytecode cache, warms the disk cache
    run_child(FLOOR, [str(floor_model)], app_env())
    runs = {"app": [], "floor": []}
    for _ in range(repeats):  # alternated, so that both see the same load
        runs["app"].append(run_child(APP, app_args, app_env()))
        runs["floor"].append(run_child(FLOOR, [str(floor_model)], app_env()))

    def summary(rs):
        return {"to_first_grid": stats_ms([r["painted_s"] for r in rs]),
                "to_exit": stats_ms([r["exit_s"] for r in rs]),
                "cpu": stats_ms([r["cpu_s"] for r in rs]),
                "modules_loaded": rs[-1]["modules"]}

    app, floor = summary(runs["app"]), summary(runs["floor"])
    ratio = app["to_first_grid"]["p50_ms"] / floor["to_first_grid"]["p50_ms"]
    ratios = sorted(a["painted_s"] / f["painted_s"] for a, f in zip(runs["app"], runs["floor"]))
    result = {"benchmark": "startup_to_first_grid", "machine": machine(), "models": args.models or "bundled",
              "floor_model": str(floor_model.relative_to(ROOT) if floor_model.is_relative_to(ROOT) else floor_model),
              "app": app, "floor": floor,
              "ratio_p50": round(ratio, 3),
              "ratio_per_pair": {"min": round(ratios[0], 3), "median": round(ratios[len(ratios) // 2], 3),
                                 "max": round(ratios[-1], 3)},
              "cpu_ratio_p50": round(app["cpu"]["p50_ms"] / floor["cpu"]["p50_ms"], 3),
              "targets": {f"ratio_le_{TARGET_RATIO}": ratio <= TARGET_RATIO}}
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
