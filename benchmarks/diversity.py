"""Benchmark: one diversity-monitor snapshot's metrics (generator and classifier passes excluded).

    python benchmarks/diversity.py [--n 1000] [--features 64] [--repeats 40] [--json]

Synthetic classifier outputs (a 10-cluster Gaussian mixture in F dims) stand in for real ones; the
cost does not depend on the values. The real reference (10,000 "real" samples, k-NN subset of N,
floors at N) is built once outside the timing, as the app caches it. Timed: the snapshot metrics
(class histogram, FD, precision/recall/density/coverage, near duplicates, NDB) plus the alarms.
BLAS is limited to one thread before numpy loads (a busy 2-core machine stalls with two).
Target: <= 150 ms at N = 1000, F = 64.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from explorer.core import diversity as D  # noqa: E402
from explorer.core import metrics as M  # noqa: E402

TARGET_MS = 150.0


def synthetic_outputs(rng, n, *, k=10, f=64):
    centres = np.random.default_rng(123).normal(0, 3.0, (k, f))
    labels = rng.integers(k, size=n)
    feats = np.maximum(centres[labels] + rng.normal(size=(n, f)), 0)  # ReLU-like features
    logits = 4.0 * np.eye(k)[labels] + rng.normal(size=(n, k))
    return logits.astype(np.float32), feats.astype(np.float32)


def percentiles(times_s):
    ms = np.asarray(times_s) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "min_ms": round(float(ms.min()), 2)}


def timed(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000, help="generated samples per snapshot")
    p.add_argument("--features", type=int, default=64, help="feature width F")
    p.add_argument("--real", type=int, default=10000, help="real samples the reference is built from")
    p.add_argument("--repeats", type=int, default=40)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)

    rng = np.random.default_rng(0)
    real_logits, real_feats = synthetic_outputs(rng, a.real, f=a.features)
    t0 = time.perf_counter()
    ref = D.RealReference.build(real_logits, real_feats, n_knn=a.n, floor_ns=(a.n,))
    build_s = time.perf_counter() - t0
    logits, feats = synthetic_outputs(np.random.default_rng(1), a.n, f=a.features)

    def snapshot():
        return D.diversity_report(logits, feats, ref)

    for _ in range(3):  # warm-up: page in code and memory
        snapshot()
    total = timed(snapshot, a.repeats)

    # Component breakdown (same calls as RealReference.metrics).
    fake_w = feats - ref._center
    parts = {
        "class_stats": lambda: M.class_stats(M.softmax(logits)),
        "frechet": lambda: M.frechet_distance(ref.mean, ref.cov, *M.gaussian_stats(feats), sqrt_sigma1=ref.sqrt_cov),
        "prdc_and_duplicates": lambda: M.manifold_pass(ref._knn_w, ref._knn_sq, ref._rp_sq, ref._rd_sq, fake_w,
                                                       k_precision=ref.k_precision, k_density=ref.k_density,
                                                       dup_sq=ref.dup_threshold ** 2),
        "ndb": lambda: M.ndb(feats, ref.ndb_centres, ref.ndb_shares, ref.n_real),
    }
    components = {name: percentiles(timed(fn, max(10, a.repeats // 2)))["p50_ms"] for name, fn in parts.items()}

    result = {
        "benchmark": "diversity_snapshot",
        "n": a.n, "features": a.features, "classes": 10, "real_knn_subset": len(ref.knn_features),
        "ndb_bins": len(ref.ndb_centres), "repeats": a.repeats,
        **percentiles(total),
        "target_ms": TARGET_MS,
        "within_target": bool(np.percentile(np.asarray(total) * 1e3, 50) <= TARGET_MS),
        "components_p50_ms": components,
        "reference_build_s": round(build_s, 2),
        "blas_threads": 1,
        "numpy": np.__version__, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if a.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
