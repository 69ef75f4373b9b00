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


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
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
