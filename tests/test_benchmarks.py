"""The hand-run benchmarks still run and report what docs/explorer.md quotes (tiny repeat counts:
these check the plumbing and the agreement checks, never the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GAN = ROOT / "assets" / "models" / "fashion-gan"

pytest.importorskip("torch")


def test_ort_vs_torch_reports_both_settings_of_each_runtime():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ort_vs_torch.py"), "--json", "--model", str(GAN),
         "--repeats", "2", "--rounds", "1", "--pause", "0"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    result = json.loads(out)
    (entry,) = result["runs"].values()
    assert entry["family"] == "gan" and entry["provider"] == "CPU"
    for batch in ("batch_1", "batch_64"):
        b = entry[batch]
        timed = [k for k, v in b.items() if isinstance(v, dict) and "p50_ms" in v]
        assert {"onnxruntime_app", "onnxruntime_defaults", "torch_1_thread"} <= set(timed)
        assert any(k.startswith("torch_threads_default(") for k in timed)
        assert all(b[k]["p50_ms"] > 0 and b[k]["n"] >= 2 for k in timed)
        best_ort = min(b["onnxruntime_app"]["p50_ms"], b["onnxruntime_defaults"]["p50_ms"])
        best_torch = min(v["p50_ms"] for k, v in b.items() if k.startswith("torch_") and "p50_ms" in v)
        assert b["speedup_p50"] == pytest.approx(best_torch / best_ort, abs=0.01)
        assert b["speedup_app_p50"] <= b["speedup_p50"] + 1e-9
        assert b["max_abs_diff"] < 1e-4  # the torch rebuild of the ONNX graph computes the same images
    assert set(entry["targets"]) == {"batch1_ge_5x", "batch64_ge_1.5x"}
