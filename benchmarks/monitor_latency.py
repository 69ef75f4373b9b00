"""Live-monitor latency: snapshot folder renamed into a watched run -> epoch seen -> film strip -> metrics drawn.

    python benchmarks/monitor_latency.py [--run RUN_DIR] [--epoch E] [--trials 3]

RUN_DIR is a finished training run with snapshots (default: a GAN run trained by `latent-train gan`,
e.g. runs/assets/gan). Each trial starts the monitor on a copy holding epochs < E, waits until they
are drawn, then renames epoch E in the way the trainer does. Prints JSON (seconds after the rename).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--run", default="runs/assets/gan")
    p.add_argument("--epoch", type=int, default=0, help="the epoch to rename in (default: the last one)")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--json", action="store_true", help="(output is always JSON)")
    args = p.parse_args()
    from explorer.core.monitor import list_snapshots
    from explorer.qt.qapp import ensure_app
    from explorer.qt.monitor_view import MonitorView

    src = Path(args.run)
    snaps = {s.epoch: s.path for s in list_snapshots(src)}
    if len(snaps) < 2:
        print(json.dumps({"error": f"{src}: expected a run with at least two snapshots"}))
        return 2
    epoch = args.epoch or max(snaps)
    before = max(e for e in snaps if e < epoch)
    rows = [json.loads(line) for line in open(src / "metrics.jsonl")]
    app = ensure_app()
    trials = []
    for _ in range(args.trials):
        run = Path(tempfile.mkdtemp()) / "run"
        (run / "snapshots").mkdir(parents=True)
        shutil.copy(src / "config.json", run / "config.json")
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows if r["epoch"] <= before))
        shutil.copytree(snaps[before], run / "snapshots" / snaps[before].name)
        view = MonitorView()
        view.set_run(str(run))
        deadline = time.time() + 120
        while time.time() < deadline and "full" not in view.timeline.get(before, {}):
            app.processEvents()
            time.sleep(0.005)
        tmp = run / "snapshots" / f".{snaps[epoch].name}.tmp"
        shutil.copytree(snaps[epoch], tmp)
        t0 = time.time()
        os.replace(tmp, run / "snapshots" / snaps[epoch].name)
        with open(run / "metrics.jsonl", "a") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows if r["epoch"] == epoch)
        while time.time() < t0 + 60 and "full" not in view.timeline.get(epoch, {}):
            app.processEvents()
            time.sleep(0.002)
        trials.append({k: round(v - t0, 3) for k, v in view.timeline.get(epoch, {}).items()})
        view.close_monitor()
        view.deleteLater()
        app.processEvents()
        shutil.rmtree(run.parent, ignore_errors=True)
    full = [t["full"] for t in trials if "full" in t]
    print(json.dumps({"run": str(src), "epoch": epoch, "trials": trials,
                      "full_p50_s": statistics.median(full) if full else None, "target_s": 1.0}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
