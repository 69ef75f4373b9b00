"""Shared helpers for the benchmark scripts (percentiles, model lookup, JSON output)."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def stats_ms(seconds) -> dict:
    a = np.asarray(seconds) * 1000.0
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3),
            "min_ms": round(float(a.min()), 3), "n": int(a.size)}


def cpu_model() -> str:
    """The CPU's name and its widest vector instructions, from /proc/cpuinfo where there is one."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    widest = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), None)
    field = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()[:12])}
    family = f"family {field['cpu family']} model {field['model']}" if "cpu family" in field and "model" in field else ""
    detail = ", ".join(x for x in (family, widest.upper() if widest else "") if x)
    return f"{name} ({detail})" if detail else name


def machine() -> dict:
    return {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}


def model_path(arg: str | None, family: str) -> Path:
    from explorer.io.paths import bundled_model

    path = Path(arg) if arg else bundled_model(family)
    if not path.exists():
        sys.exit(f"benchmark: expected the bundled {family} model at {path}, found nothing "
                 f"(pass --{family} PATH or set LATENT_EXPLORER_MODELS)")
    return path


def emit(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
