#!/usr/bin/env bash
# The GPU check, for the day a machine with an NVIDIA GPU is lent:
#
#     benchmarks/gpu_check.sh [OUT.json]            (default: $OUT/gpu_check.json, else ./gpu_check.json)
#
# Sets up what it needs within GPU_CHECK_SETUP_S seconds (default 300): a Python with numpy, onnx and
# onnxruntime-gpu. It uses GPU_CHECK_PYTHON, else the project's .venv, when that has them (and, on a
# machine with an NVIDIA driver, one that really starts a CUDA session); otherwise it makes a virtual
# environment (GPU_CHECK_VENV, default $TMPDIR/latent-explorer-gpu-check) and pip-installs
# "onnxruntime-gpu[cuda,cudnn]" (CUDA and cuDNN as pip packages, found by ort.preload_dlls), numpy and
# onnx; WHEELS=DIR installs from a folder of wheels only (pip --no-index --find-links DIR).
# GPU_CHECK_TENSORRT=1 also installs TensorRT's libraries (tensorrt-cu12-libs, about 2 GB).
#
# Then it writes one JSON: the GPU (nvidia-smi), onnxruntime's version and providers, and for the
# bundled VAE decoder, the bundled GAN generator and a 256x256 RGB decoder built here with
# onnx.helper (about 0.4 G multiply-adds per image, so that a GPU has real work), on the CPU (as the
# app's grid session runs it), on CUDA and on TensorRT where present: the providers the session
# really uses (session.get_providers()), 8x8 and 16x16 frame times (batch 64 and 256, one
# session.run from numpy to numpy, as the app decodes), the first run apart (TensorRT builds its
# engine then), the largest difference from the CPU's images, and GPU-vs-CPU speed-ups.
# Without a GPU it records why CUDA is unavailable and the CPU figures, and exits 0.
# GPU_CHECK_QUICK=1: one timed run per figure and no 16x16 of the 256x256 decoder on the CPU (tests).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_JSON="${1:-${OUT:+$OUT/gpu_check.json}}"
OUT_JSON="${OUT_JSON:-$PWD/gpu_check.json}"
SETUP_S="${GPU_CHECK_SETUP_S:-300}"
START=$(date +%s)
SETUP_LOG="$(mktemp "${TMPDIR:-/tmp}/gpu-check-setup.XXXXXX")"
say() { echo "gpu_check: $*" >&2; }

driver=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then driver=1; fi

usable() {  # usable PYTHON: numpy, onnx and onnxruntime import; with a driver, a CUDA session really starts
  "$1" - "$driver" <<'EOF' >/dev/null 2>&1
import sys
import numpy, onnx, onnxruntime as ort
if sys.argv[1] == "0":
    sys.exit(0)
if "CUDAExecutionProvider" not in ort.get_available_providers():
    sys.exit(1)
getattr(ort, "preload_dlls", lambda: None)()
from onnx import TensorProto, helper
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
session = ort.InferenceSession(model.SerializeToString(), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
sys.exit(0 if session.get_providers()[0] == "CUDAExecutionProvider" else 1)
EOF
}

PY=""
for candidate in "${GPU_CHECK_PYTHON:-}" "$ROOT/.venv/bin/python"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && usable "$candidate"; then PY="$candidate"; break; fi
done
setup="used $PY"
if [ -z "$PY" ]; then
  VENV="${GPU_CHECK_VENV:-${TMPDIR:-/tmp}/latent-explorer-gpu-check}"
  BASE="$(command -v python3 || true)"
  [ -n "$BASE" ] || { say "expected python3 on PATH, found none"; exit 2; }
  say "setting up $VENV (log: $SETUP_LOG)"
  [ -x "$VENV/bin/python" ] || "$BASE" -m venv "$VENV" >>"$SETUP_LOG" 2>&1
  PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --quiet)
  if [ -n "${WHEELS:-}" ]; then PIP+=(--no-index --find-links "$WHEELS"); fi
  left() { local s=$(( SETUP_S - ($(date +%s) - START) )); echo $(( s > 1 ? s : 1 )); }  # timeout 0 would mean none
  wanted=(numpy onnx)
  if [ "${GPU_CHECK_TENSORRT:-0}" = 1 ]; then wanted+=(tensorrt-cu12-libs); fi
  # CUDA and cuDNN as pip packages first; a plain onnxruntime-gpu where those are not to be had
  if ! timeout "$(left)" "${PIP[@]}" "onnxruntime-gpu[cuda,cudnn]" "${wanted[@]}" >>"$SETUP_LOG" 2>&1; then
    timeout "$(left)" "${PIP[@]}" onnxruntime-gpu "${wanted[@]}" >>"$SETUP_LOG" 2>&1 \
      || timeout "$(left)" "${PIP[@]}" onnxruntime "${wanted[@]}" >>"$SETUP_LOG" 2>&1 \
      || { say "expected to install onnxruntime-gpu, numpy and onnx within ${SETUP_S} s, could not: $(tail -n 1 "$SETUP_LOG")"; exit 2; }
  fi
  PY="$VENV/bin/python"
  setup="installed into $VENV"
fi
SETUP_SECONDS=$(( $(date +%s) - START ))
say "$setup in ${SETUP_SECONDS} s; measuring"

export GPU_CHECK_ROOT="$ROOT" GPU_CHECK_OUT="$OUT_JSON" GPU_CHECK_SETUP="$setup" GPU_CHECK_SETUP_SECONDS="$SETUP_SECONDS"
export GPU_CHECK_DRIVER="$driver" GPU_CHECK_QUICK="${GPU_CHECK_QUICK:-0}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$PY" - <<'EOF'
import json, os, platform, subprocess, sys, tempfile, time

import numpy as np
import onnxruntime as ort

ROOT = os.environ["GPU_CHECK_ROOT"]
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from explorer.io import providers as P  # the app's own session options and provider options
from _explorer_bench import count_macs, cpu_model

GRIDS = {"8x8": 64, "16x16": 256}
MIN_REPEATS, MAX_REPEATS, BUDGET_S = 3, 30, 20.0  # per measurement: at least 3 runs, at most 20 s or 30 runs
QUICK = os.environ.get("GPU_CHECK_QUICK") == "1"
if QUICK:
    MIN_REPEATS, MAX_REPEATS, BUDGET_S = 1, 3, 0.5


def first_line(exc):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def gpu_info():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"present": False, "why": f"nvidia-smi not found ({first_line(exc)})"}
    if out.returncode != 0:
        return {"present": False, "why": (out.stderr.strip() or out.stdout.strip() or "nvidia-smi failed")[:300]}
    return {"present": True, "gpus": [line.strip() for line in out.stdout.splitlines() if line.strip()]}


def rgb256_decoder(path):
    """z [N, 128] -> image [N, 3, 256, 256] in [0, 1]: a linear layer to 256x8x8, then five times
    (nearest 2x upsample, 3x3 convolution, ReLU) halving the channels 256 -> 8, a 3x3 convolution to RGB
    and a sigmoid. Seeded random weights (He-scaled), opset 17."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def weight(name, shape, fan_in):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name))
        return name

    def const(name, values, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name

    nodes.append(helper.make_node("Gemm", ["z", weight("fc_w", (128, 256 * 8 * 8), 128), const("fc_b", np.zeros(256 * 64))],
                                  ["fc"]))
    nodes.append(helper.make_node("Reshape", ["fc", const("shape", [-1, 256, 8, 8], np.int64)], ["x0"]))
    nodes.append(helper.make_node("Relu", ["x0"], ["a0"]))
    scales = const("scales", [1, 1, 2, 2])
    x, c = "a0", 256
    for i in range(5):
        nodes.append(helper.make_node("Resize", [x, "", scales], [f"up{i}"], mode="nearest"))
        nodes.append(helper.make_node("Conv", [f"up{i}", weight(f"w{i}", (c // 2, c, 3, 3), c * 9),
                                               const(f"b{i}", np.zeros(c // 2))], [f"conv{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"a{i + 1}"]))
        x, c = f"a{i + 1}", c // 2
    nodes.append(helper.make_node("Conv", [x, weight("w_rgb", (3, c, 3, 3), c * 9), const("b_rgb", np.zeros(3))],
                                  ["rgb"], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Sigmoid", ["rgb"], ["image"]))
    graph = helper.make_graph(nodes, "rgb256", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 128])],
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 256, 256])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gpu_check")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def configs(available, driver):
    """(name, providers with options) for the CPU as the app's grid session runs, CUDA, TensorRT."""
    out = [("cpu", ["CPUExecutionProvider"])]
    for name, chain in (("cuda", ["CUDAExecutionProvider"]), ("tensorrt", ["TensorrtExecutionProvider", "CUDAExecutionProvider"])):
        if chain[0] not in available:
            out.append((name, f"unavailable: this onnxruntime build has no {chain[0]}"))
        elif not driver:
            out.append((name, "unavailable: no NVIDIA driver (nvidia-smi and libcuda not found)"))
        else:
            out.append((name, chain + ["CPUExecutionProvider"]))
    return out


def session_for(path, chain, profiles):
    if chain == ["CPUExecutionProvider"]:
        return ort.InferenceSession(path, P.session_options(P.cpu_thread_counts()[1]), providers=chain)
    with_options = [(p, P._provider_options(p, profiles)) for p in chain]
    return ort.InferenceSession(path, P.session_options(), providers=with_options)


def time_runs(session, name, z):
    t0 = time.perf_counter()
    first = session.run(None, {name: z})[0]
    first_s = time.perf_counter() - t0
    times, end = [], time.perf_counter() + BUDGET_S
    while len(times) < MIN_REPEATS or (len(times) < MAX_REPEATS and time.perf_counter() < end):
        t0 = time.perf_counter()
        session.run(None, {name: z})
        times.append(time.perf_counter() - t0)
    a = np.asarray(times) * 1000
    return first, {"first_run_ms": round(first_s * 1000, 3), "p50_ms": round(float(np.median(a)), 3),
                   "min_ms": round(float(a.min()), 3), "n": int(a.size)}


def mem_available_gb():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def main():
    driver = os.environ.get("GPU_CHECK_DRIVER") == "1" and P.nvidia_driver_present()
    if driver:
        P._preload_dlls()  # CUDA and cuDNN from pip packages, as the app does
    available = ort.get_available_providers()
    result = {"check": "gpu", "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform(),
                                          "python": platform.python_version()},
              "gpu": gpu_info(), "nvidia_driver_loads": bool(driver),
              "setup": {"how": os.environ.get("GPU_CHECK_SETUP"), "seconds": int(os.environ.get("GPU_CHECK_SETUP_SECONDS", 0))},
              "onnxruntime": {"version": ort.__version__, "available_providers": available,
                              "device": ort.get_device()},
              "decoders": {}}
    try:  # what the app itself chooses on this machine, through its own opener
        from explorer.io.runtime import open_model

        model = open_model(os.path.join(ROOT, "assets", "models", "fashion-vae"))
        result["app_opens_bundled_vae_on"] = {"provider": model.provider, "notes": list(model.provider_notes)}
    except Exception as exc:
        result["app_opens_bundled_vae_on"] = {"error": first_line(exc)}
    work = tempfile.mkdtemp(prefix="gpu-check-")
    decoders = {"fashion-vae decoder (28x28x1)": os.path.join(ROOT, "assets", "models", "fashion-vae", "decoder.onnx"),
                "fashion-gan generator (28x28x1)": os.path.join(ROOT, "assets", "models", "fashion-gan", "generator.onnx"),
                "rgb256 decoder, built here (256x256x3)": rgb256_decoder(os.path.join(work, "rgb256.onnx"))}
    rng = np.random.default_rng(0)
    for label, path in decoders.items():
        if not os.path.isfile(path):
            result["decoders"][label] = {"error": f"expected {path}, found nothing"}
            continue
        from explorer.io.onnx_proto import load_model_proto

        proto = load_model_proto(path)
        profiles = P.trt_profiles(proto)
        macs = count_macs(path)["per_image"]
        entry = {"path": os.path.relpath(path, ROOT) if path.startswith(ROOT) else "built in a temporary folder",
                 "macs_per_image": macs, "runs": {}}
        reference = {}
        for name, chain in configs(available, driver):
            if isinstance(chain, str):
                entry["runs"][name] = {"status": chain}
                continue
            try:
                session = session_for(path, chain, profiles)
            except Exception as exc:
                entry["runs"][name] = {"status": f"failed to start: {first_line(exc)}"}
                continue
            used = session.get_providers()
            run = {"requested": chain, "providers_used": used,
                   "status": "ok" if used[0] == chain[0] else f"fell back to {used[0]} (missing CUDA/cuDNN/TensorRT library?)"}
            inp = session.get_inputs()[0]
            for grid, n in GRIDS.items():
                big = macs * n > 50e9 and name == "cpu"
                avail = mem_available_gb()
                if big and QUICK:
                    run[grid] = {"skipped": "GPU_CHECK_QUICK=1"}
                    continue
                if big and avail is not None and avail < 6:
                    run[grid] = {"skipped": f"needs about 3 GB of memory on the CPU, {avail:.1f} GB available"}
                    continue
                z = rng.standard_normal((n, inp.shape[1])).astype(np.float32)
                try:
                    images, stats = time_runs(session, inp.name, z)
                except Exception as exc:
                    run[grid] = {"error": first_line(exc)}
                    continue
                stats["gmacs_per_s"] = round(macs * n / (stats["p50_ms"] / 1000) / 1e9, 2)
                if name == "cpu":
                    reference[grid] = (z, images)
                elif grid in reference:
                    cpu_z, cpu_images = reference[grid]
                    again = session.run(None, {inp.name: cpu_z})[0]
                    stats["max_abs_diff_vs_cpu"] = float(np.abs(again - cpu_images).max())
                run[grid] = stats
            entry["runs"][name] = run
            del session
        cpu = entry["runs"].get("cpu", {})
        for name, run in entry["runs"].items():
            if name == "cpu" or "providers_used" not in run:
                continue
            run["speedup_vs_cpu"] = {g: round(cpu[g]["p50_ms"] / run[g]["p50_ms"], 2) for g in GRIDS
                                     if "p50_ms" in cpu.get(g, {}) and "p50_ms" in run.get(g, {})}
        result["decoders"][label] = entry
    used = sorted({p for e in result["decoders"].values() for r in e.get("runs", {}).values()
                   for p in r.get("providers_used", [])[:1]})
    result["providers_really_used"] = used
    result["cuda_used"] = "CUDAExecutionProvider" in used
    result["tensorrt_used"] = "TensorrtExecutionProvider" in used
    if not result["cuda_used"]:
        result["cuda_unavailable_because"] = next(
            (e["runs"]["cuda"]["status"] for e in result["decoders"].values() if "cuda" in e.get("runs", {})),
            "no decoder was run")
    out = os.environ["GPU_CHECK_OUT"]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(tmp, out)  # a reader never sees half a file
    print(json.dumps(result, indent=2))
    print(f"gpu_check: wrote {out}", file=sys.stderr)


main()
EOF
