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


# ---- the compute floor: multiply-adds of a decoder and the GEMM rate numpy reaches -------------------

MAC_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _dims(shape) -> list[int]:
    """A shape with every symbolic axis (the batch) taken as 1: multiply-adds are counted per image."""
    return [int(d) if isinstance(d, int) and d > 0 else 1 for d in shape]


def _known_shapes(model) -> dict[str, list]:
    import onnx

    shapes = {i.name: list(i.dims) for i in model.graph.initializer}
    inferred = onnx.shape_inference.infer_shapes(model)
    for v in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape"):
            shapes.setdefault(v.name, [d.dim_value if d.HasField("dim_value") else d.dim_param
                                       for d in v.type.tensor_type.shape.dim])
    return shapes


def _shapes_by_running(path, model, names) -> dict[str, list]:
    """Shapes shape inference could not tell, read off one batch-1 run with those tensors as outputs."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    feed = np.zeros(_dims(inp.shape), np.float32)
    out = session.run(list(names), {inp.name: feed})
    return {n: list(a.shape) for n, a in zip(names, out)}


def count_macs(path) -> dict:
    """Multiply-adds per image of an ONNX graph: Conv, ConvTranspose, Gemm and MatMul, from their shapes
    (shape inference, else one batch-1 run). Returns {"per_image", "by_op": {op: macs}, "nodes"}."""
    import onnx

    model = onnx.load(str(path))
    shapes = _known_shapes(model)
    nodes = [n for n in model.graph.node if n.op_type in MAC_OPS]
    missing = sorted({t for n in nodes for t in (*n.input[:2], n.output[0])
                      if t and (t not in shapes or any(not isinstance(d, int) for d in shapes[t][1:]))})
    if missing:
        shapes.update(_shapes_by_running(path, model, missing))
    by_op: dict[str, int] = {}
    for n in nodes:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        a, b, y = (_dims(shapes[n.input[0]]), _dims(shapes[n.input[1]]), _dims(shapes[n.output[0]]))
        if n.op_type == "Conv":  # out [N, Cout, *S]; weight [Cout, Cin/g, *k]
            macs = int(np.prod(y[1:])) * int(np.prod(b[1:]))
        elif n.op_type == "ConvTranspose":  # in [N, Cin, *S]; weight [Cin, Cout/g, *k]
            macs = int(np.prod(a[1:])) * int(np.prod(b[1:]))
        elif n.op_type == "Gemm":
            m, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
            cols = b[0] if attrs.get("transB", 0) else b[1]
            macs = m * k * cols
        else:  # MatMul, numpy semantics: [..., M, K] @ [..., K, N]
            a2, b2 = ([1] + a if len(a) == 1 else a), (b + [1] if len(b) == 1 else b)
            batch = int(np.prod(y[:-2])) if len(y) > 2 else 1
            macs = batch * a2[-2] * a2[-1] * b2[-1]
        by_op[n.op_type] = by_op.get(n.op_type, 0) + macs
    return {"per_image": sum(by_op.values()), "by_op": by_op, "nodes": len(nodes)}


PROBE_CHILD = r"""
import sys, time
import numpy as np
n = int(sys.argv[1])
rng = np.random.default_rng(0)
a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
c = a @ b
for line in sys.stdin:
    t0 = time.perf_counter()
    np.matmul(a, b, out=c)
    print(time.perf_counter() - t0, flush=True)
"""


class GemmProbe:
    """numpy's float32 GEMM rate now, on demand: one n x n x n GEMM in each of a few child processes
    (one per BLAS thread count, kept running), so that a benchmark can time it right beside each of
    its own measurements instead of minutes apart on a machine whose speed drifts."""

    def __init__(self, thread_counts, n: int = 1024) -> None:
        import subprocess

        self.n = n
        self.samples: dict[int, list[float]] = {}
        self.children = {}
        for t in dict.fromkeys(int(t) for t in thread_counts):
            env = {**os.environ, "OMP_NUM_THREADS": str(t), "OPENBLAS_NUM_THREADS": str(t), "MKL_NUM_THREADS": str(t)}
            self.children[t] = subprocess.Popen([sys.executable, "-c", PROBE_CHILD, str(n)], env=env, text=True,
                                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.samples[t] = []
        for _ in range(2):  # warm: pages touched, threads started
            self.rate()
        for s in self.samples.values():
            s.clear()

    def rate(self) -> float:
        """G multiply-adds per second: the best of one GEMM on each thread count, now."""
        best = 0.0
        for t, child in self.children.items():
            child.stdin.write("go\n")
            child.stdin.flush()
            seconds = float(child.stdout.readline())
            gmacs = float(self.n) ** 3 / seconds / 1e9
            self.samples[t].append(gmacs)
            best = max(best, gmacs)
        return best

    def summary(self) -> dict:
        return {"n": self.n, "by_threads": {str(t): {"best_gmacs": round(max(s), 2), "p50_gmacs": round(float(np.median(s)), 2),
                                                     "samples": len(s)} for t, s in self.samples.items() if s}}

    def close(self) -> None:
        for child in self.children.values():
            child.stdin.close()
            child.wait(timeout=30)
