"""Process start -> first grid painted, for the real app (offscreen Qt).

    python benchmarks/startup.py --json [MODEL_OR_BUNDLE ...] [--repeats 5]

Each run starts a fresh Python that imports the app, builds the main window on the given models
(default: the bundled ones), waits for the grid to be decoded and forces a paint, then prints the
wall-clock time; the parent took the time just before starting the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

from _explorer_bench import ROOT, emit, machine, stats_ms

CHILD = r"""
import sys, time
from explorer.qt.app import build_window, wait_for_grid
from explorer.qt.qapp import ensure_app
app = ensure_app()
win, errors = build_window(sys.argv[1:], interactive=False)
win.show()
ok = wait_for_grid(win)
win.canvas.repaint()
t = time.time()
painted = win.canvas.paint_count
print(f"PAINTED {t:.6f} {int(ok)} {painted} {len(errors)}")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1",
           "LATENT_EXPLORER_SETTINGS": os.path.join(tempfile.gettempdir(), "latent-explorer-startup.ini")}
    times, cpu = [], []
    for _ in range(args.repeats):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        out = subprocess.run([sys.executable, "-c", CHILD, *args.models], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        line = next((l for l in out.stdout.splitlines() if l.startswith("PAINTED")), None)
        if out.returncode != 0 or line is None:
            raise SystemExit(f"benchmark: the app did not start ({out.stderr.strip().splitlines()[-1:]})")
        _, t, ok, painted, errors = line.split()
        if ok != "1" or int(errors):
            raise SystemExit("benchmark: the grid did not decode, or a model failed to open")
        times.append(float(t) - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    s = stats_ms(times)
    result = {"benchmark": "startup_to_first_grid", "machine": machine(), "models": args.models or "bundled",
              "startup": s, "target_le_2s": s["p50_ms"] <= 2000,
              # CPU seconds the whole child used (start to exit): what startup costs without contention
              "child_cpu": stats_ms(cpu)}
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
