"""Execution providers and onnxruntime sessions: which providers to ask for, and how a session is made.

onnxruntime is imported inside the functions, so importing this module costs nothing.
``create_session`` is the one place an ``InferenceSession`` is built for a model file; it is called by
the opener (``explorer/io/onnx_file.py``) after the file has been checked, never on an unchecked file.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from explorer.io.model_error import ModelError, first_line

PROVIDER_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
    "CPUExecutionProvider",
)
_NVIDIA = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
ENV_PROVIDER = "LATENT_EXPLORER_PROVIDER"  # "cpu" forces the CPU; a provider name forces that one
SHORT_NAMES = {
    "TensorrtExecutionProvider": "TensorRT", "CUDAExecutionProvider": "CUDA",
    "DmlExecutionProvider": "DirectML", "CoreMLExecutionProvider": "CoreML",
    "CPUExecutionProvider": "CPU",
}


def forced_note(provider: str) -> str:
    """What a designer reads when ``$LATENT_EXPLORER_PROVIDER`` chose the provider (no variable names:
    the model panel, About and the status bar show it; the variable is in docs/explorer.md and tooltips)."""
    name = SHORT_NAMES.get(provider, provider)
    return f"decoding on the {name} only, as this copy of the app is set up to" + (
        " (no graphics card is tried)" if provider == "CPUExecutionProvider" else "")


def provider_setting_hint() -> str:
    """For tooltips: which setting chose the provider, by its variable name, or "" when none did."""
    value = os.environ.get(ENV_PROVIDER, "")
    return f"Chosen by the environment variable {ENV_PROVIDER}={value} (see docs/explorer.md)" if value else ""


def nvidia_driver_present() -> bool:
    """True when the NVIDIA driver library loads (asking CUDA for a session without it costs seconds)."""
    names = {"win32": ("nvcuda.dll",), "darwin": ()}.get(sys.platform, ("libcuda.so.1", "libcuda.so"))
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


@dataclass(frozen=True)
class ProviderPlan:
    """The providers to ask onnxruntime for, best first, and why others were left out."""

    requested: tuple[str, ...]
    notes: tuple[str, ...] = ()


def plan_providers(available: list[str] | None = None, *, driver_present: bool | None = None,
                   override: str | None = None) -> ProviderPlan:
    """Choose providers: TensorRT -> CUDA -> DirectML/CoreML where present -> CPU."""
    import onnxruntime as ort

    available = list(ort.get_available_providers() if available is None else available)
    override = os.environ.get(ENV_PROVIDER, "") if override is None else override
    notes: list[str] = []
    if override:
        wanted = "CPUExecutionProvider" if override.lower() == "cpu" else override
        if wanted in available:
            return ProviderPlan(tuple(dict.fromkeys([wanted, "CPUExecutionProvider"])),
                                (forced_note(wanted),))
        notes.append(f"this copy of the app was set to decode on {override}, which this computer does not "
                     f"offer ({', '.join(SHORT_NAMES.get(p, p) for p in available)}); the fastest one offered is used")
    chosen = [p for p in PROVIDER_PREFERENCE if p in available]
    if any(p in chosen for p in _NVIDIA):
        if driver_present is None:
            driver_present = nvidia_driver_present()
        if not driver_present:
            chosen = [p for p in chosen if p not in _NVIDIA]
            notes.append("CUDA provider installed but no NVIDIA driver found (libcuda); decoding on CPU")
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return ProviderPlan(tuple(chosen), tuple(notes))


def _provider_options(name: str, profiles: dict[str, str] | None = None) -> dict:
    if name == "TensorrtExecutionProvider":
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "latent-explorer" / "trt"
        options = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)}
        if profiles:  # one engine covering batch 1..1024 instead of a rebuild per new batch size
            options.update({f"trt_profile_{k}_shapes": v for k, v in profiles.items()})
        return options
    if name == "CUDAExecutionProvider":
        # Exhaustive cuDNN search costs seconds per new batch size; heuristics are fine for small decoders.
        return {"cudnn_conv_algo_search": "HEURISTIC"}
    return {}


# On CPU a model gets two sessions: one intra-op thread for small batches (a slider drag decodes one
# image; a second thread only adds hand-off cost) and up to two threads for grids, where splitting
# each convolution pays (benchmarks/grid.py). LATENT_EXPLORER_THREADS pins one count for both.
BATCH_SESSION_MIN = 16


def cpu_thread_counts() -> tuple[int, int]:
    """(threads for small batches, threads for batches of BATCH_SESSION_MIN or more)."""
    pinned = os.environ.get("LATENT_EXPLORER_THREADS", "").strip()
    if pinned.isdigit() and int(pinned) > 0:  # anything else: the defaults
        return int(pinned), int(pinned)
    return 1, max(1, min(2, os.cpu_count() or 1))


def session_options(threads: int | None = None):
    """Options tuned for small decoders: no spinning, sequential graph, ``threads`` intra-op threads
    (default: the small-batch count, one, which measured fastest at batch 1 on 2 cores)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or cpu_thread_counts()[0]
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 4  # fatal only: refusals and provider fallbacks are reported by us, in one line
    return so


_preloaded = False


def _preload_dlls() -> None:
    """Let onnxruntime find CUDA/cuDNN from pip packages (ort.preload_dlls, onnxruntime >= 1.21)."""
    global _preloaded
    if _preloaded:
        return
    _preloaded = True
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception:  # missing libraries show up as a provider fallback, reported later
            pass


def trt_profiles(proto) -> dict[str, str] | None:
    """TensorRT optimisation profiles (min/opt/max) for inputs whose only dynamic axis is the batch."""
    inits = {i.name for i in proto.graph.initializer}
    shapes = {}
    for v in proto.graph.input:
        if v.name in inits:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
        if not dims or any(d is None for d in dims[1:]):
            return None
        if dims[0] is not None:
            return None  # fixed batch: nothing to profile
        shapes[v.name] = dims[1:]
    if not shapes:
        return None

    def fmt(n):
        return ",".join(f"{k}:" + "x".join(str(x) for x in [n] + rest) for k, rest in shapes.items())

    return {"min": fmt(1), "opt": fmt(64), "max": fmt(1024)}


def create_session(path: Path, plan: ProviderPlan | None = None, profiles: dict[str, str] | None = None):
    """An InferenceSession on the best provider; returns (session, notes about fallbacks)."""
    import onnxruntime as ort

    plan = plan or plan_providers()
    notes = list(plan.notes)
    if any(p in plan.requested for p in _NVIDIA):
        _preload_dlls()
    providers = [(p, _provider_options(p, profiles)) for p in plan.requested]
    try:
        session = ort.InferenceSession(str(path), session_options(), providers=providers)
    except Exception as exc:
        if plan.requested == ("CPUExecutionProvider",):
            raise ModelError(f"{path.name}: expected a graph onnxruntime can load, found: {first_line(exc)}") from None
        notes.append(f"{SHORT_NAMES.get(plan.requested[0], plan.requested[0])} failed to start "
                     f"({first_line(exc)}); decoding on CPU")
        try:
            session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc2:
            raise ModelError(f"{path.name}: expected a graph onnxruntime can load, found: {first_line(exc2)}") from None
    active = session.get_providers()
    wanted = plan.requested[0]
    if wanted not in active:
        notes.append(f"{SHORT_NAMES.get(wanted, wanted)} requested but unavailable (missing CUDA/cuDNN "
                     f"library?); using {SHORT_NAMES.get(active[0], active[0])}")
    return session, tuple(notes)


def create_batch_session(path: Path, session):
    """A second CPU session with more intra-op threads for grid-sized batches, or None when the
    model runs on a GPU provider or the thread counts are the same."""
    import onnxruntime as ort

    small, big = cpu_thread_counts()
    if big == small or session.get_providers()[0] != "CPUExecutionProvider":
        return None
    try:
        return ort.InferenceSession(str(path), session_options(big), providers=["CPUExecutionProvider"])
    except Exception:  # the first session loaded, so this cannot fail for the file's sake; stay on one
        return None
