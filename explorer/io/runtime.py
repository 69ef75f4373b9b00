"""Open a generator (ours or someone else's) and decode latents with onnxruntime.

Numeric core: imports numpy, onnx and onnxruntime only (no Qt, no torch, nothing unpickled).

``open_model(path)`` accepts a model file or a bundle folder. Files with contract metadata
(``explorer/io/contract.py``) are read as documented; files without it are inspected and whatever
was guessed (latent layout, image layout, value range, class count) is listed in
``Signature.guesses`` so the UI can say so.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from explorer.io import contract
from explorer.io.contract import ContractError, ModelCard


class ModelError(ValueError):
    """A model cannot be opened or used. ``str()`` is one line: what was expected, what was found."""


class NeedsImageShape(ModelError):
    """The output is flat and does not factor into a square image: the caller must give (C, H, W)."""

    def __init__(self, message: str, values_per_sample: int):
        super().__init__(message)
        self.values_per_sample = values_per_sample


# ---- execution providers -------------------------------------------------------------------------

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
                                (f"provider forced by {ENV_PROVIDER}={override}",))
        notes.append(f"{ENV_PROVIDER}={override} is not available here ({', '.join(available)})")
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
    so.log_severity_level = 3  # provider fallbacks are reported by us, in one line
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
            raise ModelError(f"{path.name}: onnxruntime cannot load it ({_first_line(exc)})") from None
        notes.append(f"{SHORT_NAMES.get(plan.requested[0], plan.requested[0])} failed to start "
                     f"({_first_line(exc)}); decoding on CPU")
        try:
            session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc2:
            raise ModelError(f"{path.name}: onnxruntime cannot load it ({_first_line(exc2)})") from None
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) < 160 else line[:157] + "..."


# ---- reading the file ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Signature:
    """How to feed a generator and read its images.

    latent_layout: "flat" ([N, D]) or "nchw" ([N, D, 1, 1]).
    output_layout: "nchw", "nhwc", "hw" ([N, H, W]) or "flat" ([N, H*W*C]).
    value_range: pixel range mapped to [0, 1]; value_range_source: "metadata", "probe" or "normalised".
    fixed_batch: the batch size the graph requires (decode loops over chunks), None when dynamic.
    label_name / num_classes: the integer class input, when there is one.
    guesses: human-readable lines, one per thing that was inferred rather than read from metadata.
    """

    latent_name: str
    latent_dim: int
    latent_layout: str
    output_name: str
    output_layout: str
    image_shape: tuple[int, int, int]  # (C, H, W)
    value_range: tuple[float, float]
    value_range_source: str = "metadata"
    fixed_batch: int | None = None
    label_name: str | None = None
    label_dtype: str = "int64"
    label_rank: int = 1  # 1: [N]; 2: [N, 1]
    num_classes: int | None = None
    guesses: tuple[str, ...] = ()
    flat_order: str = "chw"  # flat RGB outputs: "chw" (PyTorch flatten of NCHW) or "hwc" (channels-last)

    def describe_io(self) -> dict[str, str]:
        c, h, w = self.image_shape
        batch = str(self.fixed_batch) if self.fixed_batch else "N"
        z = f"{batch}, {self.latent_dim}" + (", 1, 1" if self.latent_layout == "nchw" else "")
        out = {"nchw": f"{batch}, {c}, {h}, {w}", "nhwc": f"{batch}, {h}, {w}, {c}",
               "hw": f"{batch}, {h}, {w}", "flat": f"{batch}, {h * w * c}"}[self.output_layout]
        io = {"input " + self.latent_name: f"float32 [{z}]"}
        if self.label_name:
            io["input " + self.label_name] = f"{self.label_dtype} [{batch}{', 1' if self.label_rank == 2 else ''}]"
        io["output " + self.output_name] = f"float32 [{out}] ({self.output_layout.upper()})"
        return io


def check_external_data(model_proto, folder: Path, source: str) -> None:
    """Refuse tensors whose external-data file lies outside the model's folder."""
    import onnx

    root = folder.resolve()
    tensors = list(model_proto.graph.initializer)
    for node in model_proto.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                tensors.append(attr.t)
    for t in tensors:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        target = (root / location).resolve()
        if os.path.isabs(location) or (target != root and root not in target.parents):
            raise ModelError(f"{source}: weights of '{t.name}' point outside the model folder "
                             f"({location!r}); refusing to read them")
        if not target.is_file():
            raise ModelError(f"{source}: external weights file {location!r} is missing next to the model")


def _load_proto(path: Path):
    import onnx

    if not path.exists():
        raise ModelError(f"{path}: no such file or folder")
    if not path.is_file():
        raise ModelError(f"{path}: expected an .onnx file or a bundle folder, found something else")
    if path.stat().st_size == 0:
        raise ModelError(f"{path.name}: expected an ONNX model, found an empty file")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"{path.name}: expected an ONNX model, found unreadable data "
                         f"(not ONNX or truncated: {type(exc).__name__})") from None
    if not proto.graph.output or not proto.graph.node:
        raise ModelError(f"{path.name}: expected an ONNX model with a graph, found none (not ONNX or truncated)")
    return proto


def _card_from_proto(proto, source: str) -> ModelCard | None:
    props = {p.key: p.value for p in proto.metadata_props}
    if not any(k.startswith(contract.KEY_PREFIX) for k in props):
        return None
    try:
        return ModelCard.from_metadata(props, source=source)
    except ContractError as exc:
        raise ModelError(str(exc)) from None


def resolve_model_file(path: str | os.PathLike) -> tuple[Path, list[str]]:
    """The generator file to open for ``path`` (a file, or a bundle folder); plus notes."""
    path = Path(path).expanduser()
    notes: list[str] = []
    if path.is_dir():
        onnx_files = sorted(path.glob("*.onnx"))
        if not onnx_files:
            raise ModelError(f"{path}: expected a bundle folder with .onnx files, found none")
        try:
            bundle = contract.open_bundle(path)
        except ContractError as exc:
            if len(onnx_files) == 1:
                return onnx_files[0], notes  # a foreign model in its own folder
            raise ModelError(str(exc)) from None
        for role in ("decoder", "generator"):
            if role in bundle.files:
                return bundle.files[role], notes
        raise ModelError(f"{path.name}: expected a decoder or generator, this bundle holds "
                         f"{', '.join(sorted(bundle.cards))}")
    return path, notes


def _dims(shape) -> list[int | None]:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def _is_float(type_str: str) -> bool:
    return type_str in ("tensor(float)", "tensor(float16)", "tensor(double)")


def _is_int(type_str: str) -> bool:
    return type_str in ("tensor(int64)", "tensor(int32)")


def _square_image(k: int) -> tuple[int, int, int] | None:
    for c in (1, 3):
        if k % c == 0:
            s = math.isqrt(k // c)
            if s * s * c == k and s > 1:
                return (c, s, s)
    return None


def _embedding_rows(proto, input_name: str) -> int | None:
    """Class count from the Gather (embedding lookup) fed by the label input, when there is one."""
    inits = {i.name: list(i.dims) for i in proto.graph.initializer}
    frontier = {input_name}
    for node in proto.graph.node:  # labels may pass through Cast/Reshape/Squeeze before the lookup
        if not frontier.intersection(node.input):
            continue
        if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] in frontier \
                and node.input[0] in inits and inits[node.input[0]]:
            return int(inits[node.input[0]][0])
        if node.op_type in ("Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten"):
            frontier.update(node.output)
    return None


def infer_signature(session, proto, card: ModelCard | None, source: str,
                    image_shape: tuple[int, int, int] | None = None) -> Signature:
    """Read (card) or infer (no card) how to drive the session. Value range: see ``probe_value_range``."""
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    found = ", ".join(f"{i.name} {i.type[7:-1]} {list(i.shape)}" for i in inputs)
    expected = ("expected a generator: one float latent input [N, D] or [N, D, 1, 1] "
                "(optionally an integer class label)")
    floats = [i for i in inputs if _is_float(i.type)]
    ints = [i for i in inputs if _is_int(i.type)]
    if len(floats) != 1 or len(ints) > 1 or len(inputs) != len(floats) + len(ints):
        raise ModelError(f"{source}: {expected}; found inputs {found}")
    z_in = floats[0]
    zdims = _dims(z_in.shape)
    guesses: list[str] = []
    if len(zdims) == 2 and zdims[1]:
        layout, dim = "flat", zdims[1]
    elif len(zdims) == 4 and zdims[1] and zdims[2] == 1 and zdims[3] == 1:
        layout, dim = "nchw", zdims[1]
        guesses.append(f"latent input {z_in.name} is [N, {dim}, 1, 1] (DCGAN style)")
    else:
        raise ModelError(f"{source}: {expected}; found inputs {found}")
    if card is not None and card.latent_dim is not None and card.latent_dim != dim:
        raise ModelError(f"{source}: metadata says latent_dim {card.latent_dim}, the graph takes {dim}")
    fixed = zdims[0]
    if fixed is not None and fixed > 1 and card is None:
        guesses.append(f"fixed batch size {fixed}: decoding in chunks of {fixed}")
    elif fixed == 1 and card is None:
        guesses.append("fixed batch size 1: decoding one sample at a time")

    label_name, label_dtype, label_rank, num_classes = None, "int64", 1, None
    if ints:
        lab = ints[0]
        ldims = _dims(lab.shape)
        if len(ldims) not in (1, 2) or (len(ldims) == 2 and ldims[1] not in (1, None)):
            raise ModelError(f"{source}: expected a class label input [N] or [N, 1], found {lab.name} {list(lab.shape)}")
        label_name, label_rank = lab.name, len(ldims)
        label_dtype = "int32" if lab.type == "tensor(int32)" else "int64"
        if card is not None and card.class_names:
            num_classes = len(card.class_names)
        else:
            num_classes = _embedding_rows(proto, lab.name)
            if num_classes:
                guesses.append(f"class input {lab.name}: {num_classes} classes (embedding table rows)")
            else:
                num_classes = 10
                guesses.append(f"class input {lab.name}: class count unknown, offering 10")

    if len(outputs) < 1:
        raise ModelError(f"{source}: expected an image output, found none")
    out = outputs[0]
    if not _is_float(out.type):
        raise ModelError(f"{source}: expected a float image output, found {out.name} {out.type}")
    odims = _dims(out.shape)
    if any(d is None for d in odims[1:]):
        odims = [None] + list(_probe_shape(session, z_in, layout, dim, fixed, label_name, label_rank, label_dtype))
        guesses.append(f"output shape learned from a probe decode: {odims[1:]}")
    if len(outputs) > 1:
        guesses.append(f"using the first output ({out.name}) of {len(outputs)}")

    if card is not None:
        c, h, w = card.image_shape
        if len(odims) == 4 and odims[1:] == [c, h, w]:
            out_layout = "nchw"
        elif len(odims) == 4 and odims[1:] == [h, w, c]:
            out_layout = "nhwc"
        elif len(odims) == 2 and odims[1] == c * h * w:
            out_layout = "flat"
        else:
            raise ModelError(f"{source}: metadata says image {c}x{h}x{w}, the graph outputs {list(out.shape)}")
        return Signature(z_in.name, dim, layout, out.name, out_layout, (c, h, w), card.value_range, "metadata",
                         fixed if fixed and fixed > 0 else None, label_name, label_dtype, label_rank, num_classes,
                         tuple(guesses))

    rest = odims[1:]
    if len(rest) == 3:
        if rest[0] in (1, 3) and rest[2] not in (1, 3):
            out_layout, shape = "nchw", (rest[0], rest[1], rest[2])
        elif rest[2] in (1, 3) and rest[0] not in (1, 3):
            out_layout, shape = "nhwc", (rest[2], rest[0], rest[1])
            guesses.append("output is channels-last (NHWC)")
        elif rest[0] in (1, 3):
            out_layout, shape = "nchw", (rest[0], rest[1], rest[2])
            guesses.append("output layout ambiguous; assuming NCHW")
        else:
            raise ModelError(f"{source}: expected an image output [N, C, H, W] or [N, H, W, C] with C = 1 or 3, "
                             f"found {out.name} {list(out.shape)}")
    elif len(rest) == 2 and rest[0] > 1 and rest[1] > 1:
        out_layout, shape = "hw", (1, rest[0], rest[1])
        guesses.append("output [N, H, W] read as grayscale")
    elif len(rest) == 1:
        k = rest[0]
        if image_shape is not None:
            c, h, w = image_shape
            if c * h * w != k:
                raise ModelError(f"{source}: image shape {h}x{w}x{c} has {c * h * w} values, the output has {k}")
            shape = (c, h, w)
            guesses.append(f"flat output read as {h}x{w}x{c} (given by you)")
        else:
            shape = _square_image(k)
            if shape is None:
                raise NeedsImageShape(f"{source}: flat output has {k} values per sample, which is not a square "
                                      "gray or RGB image; give the image shape (H x W x C)", k)
            c, h, w = shape
            guesses.append(f"flat output of {k} values read as a square {'gray' if c == 1 else 'RGB'} "
                           f"{h}x{w} image")
        out_layout = "flat"
    else:
        raise ModelError(f"{source}: expected an image output, found {out.name} {list(out.shape)}")
    return Signature(z_in.name, dim, layout, out.name, out_layout, shape, (0.0, 1.0), "probe",
                     fixed if fixed and fixed > 0 else None, label_name, label_dtype, label_rank, num_classes,
                     tuple(guesses))


def _probe_shape(session, z_in, layout, dim, fixed, label_name, label_rank, label_dtype):
    n = fixed or 1
    z = np.zeros((n, dim) + ((1, 1) if layout == "nchw" else ()), np.float32)
    feed = {z_in.name: z}
    if label_name:
        feed[label_name] = np.zeros((n,) + ((1,) if label_rank == 2 else ()), label_dtype)
    try:
        out = session.run(None, feed)[0]
    except Exception as exc:
        raise ModelError(f"{z_in.name}: a probe decode failed ({_first_line(exc)})") from None
    return list(out.shape[1:])


# ---- the loaded model ----------------------------------------------------------------------------

@dataclass
class DecodedImages:
    """Images as uint8 [N, H, W, C] (C = 1 or 3), which samples were finite, and the decode time."""

    pixels: np.ndarray
    finite: np.ndarray  # bool [N]; False where the model produced NaN or Inf (those pixels are 0)
    seconds: float

    @property
    def bad_count(self) -> int:
        return int((~self.finite).sum())


@dataclass
class LoadedModel:
    """An open generator: session, signature, card (when the file has one) and notes for the user."""

    path: Path
    session: object
    signature: Signature
    card: ModelCard | None
    provider_notes: tuple[str, ...] = ()
    atlas_path: Path | None = None
    file_stamp: tuple[float, int] | None = None
    extra: dict = field(default_factory=dict)
    batch_session: object | None = None  # CPU only: more threads for batches >= BATCH_SESSION_MIN
    _batch_session_tried: bool = field(default=False, repr=False)

    @property
    def name(self) -> str:
        if self.card is not None and self.card.name:
            return self.card.name
        if self.path.name in contract.BUNDLE_FILES.values():
            return self.path.parent.name
        return self.path.stem

    @property
    def latent_dim(self) -> int:
        return self.signature.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.signature.image_shape

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    @property
    def provider(self) -> str:
        """Short name of the provider doing the work (what session.get_providers() reports first)."""
        p = self.providers[0]
        return SHORT_NAMES.get(p, p.replace("ExecutionProvider", ""))

    @property
    def class_names(self) -> tuple[str, ...]:
        k = self.signature.num_classes
        if not k:
            return ()
        names = tuple(self.card.class_names) if self.card is not None else ()
        return names if len(names) == k else tuple(f"class {i}" for i in range(k))

    @property
    def notes(self) -> tuple[str, ...]:
        """Everything the user should know: guesses, value-range handling, provider fallbacks."""
        return tuple(self.signature.guesses) + tuple(self.provider_notes)

    def file_missing(self) -> bool:
        return not self.path.is_file()

    def decode_raw(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Run the graph: z float32 [N, D] -> the output array as the model lays it out."""
        sig = self.signature
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != sig.latent_dim:
            raise ModelError(f"expected latents [N, {sig.latent_dim}], found {list(z.shape)}")
        n = z.shape[0]
        if sig.label_name:
            labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels).reshape(n)
            labels = labels.astype(sig.label_dtype)
        chunk = sig.fixed_batch or n
        session = self.session_for(chunk)
        parts = []
        for start in range(0, n, max(chunk, 1)):
            zc = z[start:start + chunk]
            m = zc.shape[0]
            if sig.fixed_batch and m < chunk:  # pad the last chunk to the fixed size
                zc = np.concatenate([zc, np.zeros((chunk - m, zc.shape[1]), np.float32)])
            feed = {sig.latent_name: zc.reshape(zc.shape + (1, 1)) if sig.latent_layout == "nchw" else zc}
            if sig.label_name:
                lc = labels[start:start + chunk]
                if sig.fixed_batch and m < chunk:
                    lc = np.concatenate([lc, np.zeros(chunk - m, lc.dtype)])
                feed[sig.label_name] = lc.reshape(-1, 1) if sig.label_rank == 2 else lc
            try:
                out = session.run([sig.output_name], feed)[0]
            except Exception as exc:
                raise ModelError(f"{self.path.name}: decoding failed ({_first_line(exc)})") from None
            parts.append(out[:m])
        if not parts:
            c, h, w = sig.image_shape
            return np.zeros((0, c, h, w), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def session_for(self, batch: int):
        """The session for a batch of this size. The more-threaded CPU session for large batches is
        opened on the first one, so models that are only opened (or never show a grid) don't pay
        for it; if it cannot be opened (a GPU provider, a pinned thread count, the file gone since),
        everything runs on the first session."""
        if batch < BATCH_SESSION_MIN:
            return self.session
        if not self._batch_session_tried:
            self._batch_session_tried = True  # two threads racing here at worst open it twice
            self.batch_session = create_batch_session(self.path, self.session)
        return self.batch_session if self.batch_session is not None else self.session

    def to_hwc(self, raw: np.ndarray) -> np.ndarray:
        """Model output -> float32 [N, H, W, C] in the model's value range (a view where possible)."""
        c, h, w = self.signature.image_shape
        n = raw.shape[0]
        layout = self.signature.output_layout
        if layout == "nchw":
            return raw.reshape(n, c, h, w).transpose(0, 2, 3, 1)
        if layout == "nhwc":
            return raw.reshape(n, h, w, c)
        if layout == "hw":
            return raw.reshape(n, h, w, 1)
        if c == 1 or self.signature.flat_order == "hwc":
            return raw.reshape(n, h, w, c)
        return raw.reshape(n, c, h, w).transpose(0, 2, 3, 1)

    def decode(self, z: np.ndarray, labels: np.ndarray | None = None) -> DecodedImages:
        """z float32 [N, D] (labels int [N] for class-conditional models) -> uint8 images [N, H, W, C]."""
        t0 = time.perf_counter()
        raw = self.decode_raw(z, labels)
        pixels, finite = to_uint8(self.to_hwc(raw), self.signature.value_range)
        return DecodedImages(pixels, finite, time.perf_counter() - t0)


def to_uint8(images: np.ndarray, value_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """float [N, H, W, C] in value_range -> (uint8 [N, H, W, C] C-contiguous, finite bool [N]).

    Non-finite pixels become 0 and their sample is flagged, so the UI can mark the cell.
    """
    low, high = value_range
    scale = np.float32(255.0 / (high - low))
    x = np.asarray(images, dtype=np.float32)
    n = x.shape[0]
    finite_px = np.isfinite(x)
    finite = finite_px.reshape(n, -1).all(axis=1)
    y = (x - np.float32(low)) * scale
    y += np.float32(0.5)
    if not finite.all():
        y[~finite_px] = 0.0
    np.clip(y, 0.0, 255.0, out=y)
    return np.ascontiguousarray(y.astype(np.uint8)), finite


def probe_value_range(model: LoadedModel, *, samples: int = 16) -> LoadedModel:
    """Decode a few prior samples to find the pixel range of a model without metadata.

    [-1, 1] (tanh) and [0, 1] (sigmoid) are recognised; anything else is normalised to the probed
    min..max with a note, so the image is visible and its contrast stays fixed across frames.
    """
    sig = model.signature
    z = np.random.default_rng(0).standard_normal((samples, sig.latent_dim)).astype(np.float32)
    labels = np.arange(samples) % sig.num_classes if sig.num_classes else None
    raw = model.decode_raw(z, labels)
    finite = raw[np.isfinite(raw)]
    guesses = list(sig.guesses)
    if finite.size == 0:
        guesses.append("probe decode gave only NaN/Inf; value range unknown, assuming [0, 1]")
        new = replace(sig, value_range=(0.0, 1.0), value_range_source="probe", guesses=tuple(guesses))
    else:
        lo, hi = float(finite.min()), float(finite.max())
        tol = 1e-3
        if lo >= -tol and hi <= 1 + tol:
            rng, src = (0.0, 1.0), "probe"
            guesses.append(f"value range [0, 1] inferred from a probe decode (saw {lo:.2f}..{hi:.2f})")
        elif lo >= -1 - tol and hi <= 1 + tol:
            rng, src = (-1.0, 1.0), "probe"
            guesses.append(f"value range [-1, 1] inferred from a probe decode (saw {lo:.2f}..{hi:.2f})")
        elif lo >= -tol and 200 < hi <= 255 + tol:  # 8-bit scale
            rng, src = (0.0, 255.0), "probe"
            guesses.append(f"value range [0, 255] inferred from a probe decode (saw {lo:.1f}..{hi:.1f})")
        else:
            if hi - lo < 1e-6:
                hi = lo + 1.0
            rng, src = (lo, hi), "normalised"
            guesses.append(f"output is unbounded (saw {lo:.3g}..{hi:.3g}); normalised to that range")
        new = replace(sig, value_range=rng, value_range_source=src, guesses=tuple(guesses))
    if not np.isfinite(raw).all():
        new = replace(new, guesses=new.guesses + ("probe decode produced NaN/Inf values",))
    model.signature = new
    return model


def open_model(path: str | os.PathLike, *, image_shape: tuple[int, int, int] | None = None,
               plan: ProviderPlan | None = None) -> LoadedModel:
    """Open a generator file or bundle folder. Raises ModelError with a one-line reason.

    image_shape (C, H, W) answers NeedsImageShape for flat outputs that do not factor.
    """
    file, notes = resolve_model_file(path)
    proto = _load_proto(file)
    source = file.name
    card = _card_from_proto(proto, source)
    if card is not None and card.role not in ("decoder", "generator"):
        # An encoder opened on its own: open its decoder sibling instead, when there is one.
        for role in ("decoder", "generator"):
            sib = card.siblings.get(role)
            if sib and (file.parent / sib).is_file():
                return open_model(file.parent / sib, image_shape=image_shape, plan=plan)
        raise ModelError(f"{source}: expected a decoder or generator, found a {card.role}")
    if card is not None:
        try:
            contract.check_model_proto(proto, card, source=source)
        except ContractError as exc:
            notes.append(f"contract check: {exc}")
    check_external_data(proto, file.parent, source)
    plan = plan or plan_providers()
    profiles = trt_profiles(proto) if "TensorrtExecutionProvider" in plan.requested else None
    session, provider_notes = create_session(file, plan, profiles)
    signature = infer_signature(session, proto, card, source, image_shape)
    del proto
    stat = file.stat()
    atlas = file.parent / contract.ATLAS_FILE
    model = LoadedModel(path=file, session=session, signature=signature, card=card,
                        provider_notes=tuple(notes) + tuple(provider_notes),
                        atlas_path=atlas if atlas.is_file() else None,
                        file_stamp=(stat.st_mtime, stat.st_size))
    if card is None:
        probe_value_range(model)
        if signature.output_layout == "flat" and signature.image_shape[0] == 3:
            guess_flat_order(model)
    return model


def guess_flat_order(model: LoadedModel, *, samples: int = 8) -> None:
    """Flat RGB output: pick CHW or HWC order, whichever gives smoother images on a probe decode."""
    sig = model.signature
    c, h, w = sig.image_shape
    z = np.random.default_rng(1).standard_normal((samples, sig.latent_dim)).astype(np.float32)
    labels = np.arange(samples) % sig.num_classes if sig.num_classes else None
    raw = np.nan_to_num(model.decode_raw(z, labels).reshape(samples, -1).astype(np.float64))

    def roughness(img):  # mean absolute difference between horizontal and vertical neighbours
        return float(np.abs(np.diff(img, axis=1)).mean() + np.abs(np.diff(img, axis=2)).mean())

    chw = roughness(raw.reshape(samples, c, h, w).transpose(0, 2, 3, 1))
    hwc = roughness(raw.reshape(samples, h, w, c))
    order = "hwc" if hwc < 0.8 * chw else "chw"
    note = (f"flat RGB output read as {order.upper()} order "
            + ("(smoother than CHW on a probe decode)" if order == "hwc" else "(PyTorch flatten order)"))
    model.signature = replace(sig, flat_order=order, guesses=sig.guesses + (note,))


def describe(model: LoadedModel) -> dict:
    """JSON-ready summary: contract card (or the inferred signature), provider, notes."""
    sig = model.signature
    c, h, w = sig.image_shape
    info = {
        "path": str(model.path),
        "name": model.name,
        "source": "contract" if model.card is not None else "inferred",
        "latent_dim": sig.latent_dim,
        "image": {"channels": c, "height": h, "width": w},
        "value_range": list(sig.value_range),
        "value_range_source": sig.value_range_source,
        "signature": sig.describe_io(),
        "fixed_batch": sig.fixed_batch,
        "classes": list(model.class_names),
        "provider": model.provider,
        "providers": model.providers,
        "notes": list(model.notes),
    }
    if model.card is not None:
        meta = {k[len(contract.KEY_PREFIX):]: v for k, v in model.card.to_metadata().items()}
        import json

        info["contract"] = {k: json.loads(v) for k, v in meta.items()}
    return info


# ---- grids ---------------------------------------------------------------------------------------

def tile(pixels: np.ndarray, rows: int, cols: int, *, pad: int = 1, fill: int = 0,
         out: np.ndarray | None = None) -> np.ndarray:
    """uint8 [N, H, W, C] -> one uint8 image [rows*(H+pad)-pad... , C] with the cells row-major.

    Cells past N stay ``fill``. ``out`` (the right shape) is reused when given, to avoid allocating.
    """
    n, h, w, c = pixels.shape
    H, W = rows * (h + pad) + pad, cols * (w + pad) + pad
    if out is None or out.shape != (H, W, c):
        out = np.full((H, W, c), fill, np.uint8)
    k = min(n, rows * cols)
    if k == rows * cols and pad >= 0:
        # One strided copy for a full grid: view the output as [rows, H+pad, cols, W+pad, C].
        body = out[pad:pad + rows * (h + pad), pad:pad + cols * (w + pad)]
        view = body.reshape(rows, h + pad, cols, w + pad, c)
        view[:, :h, :, :w] = pixels[:k].reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4)
        return out
    for i in range(k):
        r, q = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        out[y:y + h, x:x + w] = pixels[i]
    return out


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of uint8 [H, W, C] by an integer factor."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def save_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write uint8 [H, W, 1|3] as PNG with Pillow (gray or RGB), atomically (explorer.io.exports.write_png).

    Raises explorer.io.exports.ExportError (an OSError) with one line when the file cannot be written.
    """
    from explorer.io.exports import write_png

    write_png(image, path)


def dimension_variance(model: LoadedModel, z: np.ndarray | None = None, *, step: float = 0.5) -> tuple[np.ndarray, str]:
    """Per-dimension importance [D] used to order sliders, and where it came from.

    With a VAE atlas: the variance of the encoder means over the test set (what the data uses).
    Otherwise: how much the image moves when each dimension of ``z`` [D] is nudged by ``step``.
    """
    d = model.latent_dim
    if model.atlas_path is not None:
        try:
            atlas = contract.Atlas.load(model.atlas_path)
            if atlas.mu.shape[1] == d:
                return atlas.mu.var(axis=0), "atlas variance"
        except ContractError:
            pass
    z = np.zeros(d, np.float32) if z is None else np.asarray(z, np.float32)
    batch = np.repeat(z[None], d + 1, axis=0)
    batch[np.arange(1, d + 1), np.arange(d)] += step
    images = model.to_hwc(model.decode_raw(batch)).astype(np.float32)
    images = np.nan_to_num(images)
    change = ((images[1:] - images[:1]) ** 2).reshape(d, -1).mean(axis=1)
    return change, "image sensitivity"
