"""Run every benchmark (benchmarks/*.py but the helpers named _*.py), each printing its JSON: ``make bench``.

    python benchmarks/_run_all.py [--quick] [--out DIR] [--only NAME ...]

Each script runs in its own process with ``--json``. With ``--quick`` a script that takes ``--quick``
gets it; the ones that predate it get the small settings in QUICK_ARGS; any other runs as it is, so
a new benchmark is included without touching this file. A script that cannot run here (it needs a
training run, say) prints why and is counted as not run; the exit status is 1 when any benchmark
failed, 0 otherwise. ``--out DIR`` also writes each result to DIR/NAME.json (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

# Small settings for the benchmarks that have no --quick of their own.
QUICK_ARGS = {
    "diversity": ["--repeats", "5"],
    "map": ["--frames", "10", "--hovers", "5", "--umap", "none"],
    "monitor_latency": ["--trials", "1"],
    "ort_vs_torch": ["--repeats", "5", "--rounds", "1", "--pause", "0.2"],
    "train_throughput": ["--steps", "3", "--warmup", "1"],
}
TIMEOUT_S = 3600


def scripts(only: list[str] | None) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    if only:
        wanted = {o.removesuffix(".py") for o in only}
        unknown = wanted - {p.stem for p in found}
        if unknown:
            raise SystemExit(f"bench: expected benchmarks among {', '.join(p.stem for p in found)}, "
                             f"found {', '.join(sorted(unknown))}")
        found = [p for p in found if p.stem in wanted]
    return found


def takes_quick(script: Path) -> bool:
    return "--quick" in script.read_text(encoding="utf-8", errors="replace")


def command(script: Path, quick: bool) -> list[str]:
    args = [sys.executable, str(script), "--json"]
    if quick:
        args += ["--quick"] if takes_quick(script) else QUICK_ARGS.get(script.stem, [])
    return args


def last_json(text: str):
    """The JSON object a benchmark printed (the last one, if it printed more), or None."""
    decoder = json.JSONDecoder()
    found, i = None, 0
    while True:
        i = text.find("{", i)
        if i < 0:
            return found
        try:
            found, end = decoder.raw_decode(text, i)
            i = end
        except json.JSONDecodeError:
            i += 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small repeat counts (checks that all run, not speed)")
    ap.add_argument("--out", help="also write each result to OUT/NAME.json")
    ap.add_argument("--only", nargs="+", help="run these benchmarks only (names without .py)")
    args = ap.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    summary = {}
    for script in scripts(args.only):
        cmd = command(script, args.quick)
        print(f"== {script.name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            summary[script.stem] = {"status": "failed", "why": f"still running after {TIMEOUT_S} s"}
            continue
        seconds = round(time.perf_counter() - t0, 1)
        result = last_json(out.stdout)
        if out.returncode == 0 and isinstance(result, dict):
            summary[script.stem] = {"status": "ok", "seconds": seconds}
            print(json.dumps(result, indent=2), flush=True)
            if args.out:
                from explorer.io.files import write_bytes_atomic

                Path(args.out).mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(Path(args.out) / f"{script.stem}.json", (json.dumps(result, indent=2) + "\n").encode())
            continue
        said = result.get("error") if isinstance(result, dict) else None
        last = said or (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
        # a benchmark that says what it needs (a JSON "error" and exit 2) did not run here; anything else failed
        status = "not run" if said and out.returncode == 2 else "failed"
        summary[script.stem] = {"status": status, "seconds": seconds, "why": last[:300]}
        print(f"== {script.name}: {status}: {last[:300]}", file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "all", "quick": args.quick, "results": summary}, indent=2))
    return 1 if any(s["status"] == "failed" for s in summary.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
