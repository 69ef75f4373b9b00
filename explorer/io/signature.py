"""How to drive a generator: its :class:`Signature`, read from the card or inferred from the graph.

Foreign generators (no card) are inspected: latent layout, image layout, class input and count are
guessed, and every guess is a line in ``Signature.guesses`` so the UI can say so. numpy only (the
session and graph are handed in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explorer.io.contract import CLASS_WEIGHTS, MAX_CLASSES, MAX_IMAGE_SIDE, MAX_LATENT_DIM, ModelCard
from explorer.io.model_error import ModelError
from explorer.io.time_limit import PROBE_SECONDS, run_with_limit

# A fixed batch is padded on every decode: a graph asking for 10^9 rows would allocate them.
MAX_FIXED_BATCH = 4096
# numpy dtypes of the float latent inputs onnxruntime may declare; latents are cast to the declared one.
FLOAT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64"}


class NeedsImageShape(ModelError):
    """The output is flat and does not factor into a square image: the caller must give (C, H, W)."""

    def __init__(self, message: str, values_per_sample: int):
        super().__init__(message)
        self.values_per_sample = values_per_sample


@dataclass(frozen=True)
class Signature:
    """How to feed a generator and read its images.

    latent_layout: "flat" ([N, D]) or "nchw" ([N, D, 1, 1]).
    output_layout: "nchw", "nhwc", "hw" ([N, H, W]) or "flat" ([N, H*W*C]).
    value_range: pixel range mapped to [0, 1]; value_range_source: "metadata", "probe" or "normalised".
    fixed_batch: the batch size the graph requires (decode loops over chunks), None when dynamic.
    label_name / num_classes: the integer class input, when there is one.
    weights_name / num_classes: the float class-weights input [N, K] (cgan / cvae), when there is one.
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
    latent_dtype: str = "float32"  # what the graph's latent input takes (float16, float64 graphs exist)
    weights_name: str | None = None
    weights_dtype: str = "float32"

    @property
    def class_kind(self) -> str | None:
        """"weights" (blends possible), "label" (one class per image) or None (not conditional)."""
        return "weights" if self.weights_name else "label" if self.label_name else None

    @property
    def can_blend(self) -> bool:
        return self.weights_name is not None

    def describe_io(self) -> dict[str, str]:
        c, h, w = self.image_shape
        batch = str(self.fixed_batch) if self.fixed_batch else "N"
        z = f"{batch}, {self.latent_dim}" + (", 1, 1" if self.latent_layout == "nchw" else "")
        out = {"nchw": f"{batch}, {c}, {h}, {w}", "nhwc": f"{batch}, {h}, {w}, {c}",
               "hw": f"{batch}, {h}, {w}", "flat": f"{batch}, {h * w * c}"}[self.output_layout]
        io = {"input " + self.latent_name: f"{self.latent_dtype} [{z}]"}
        if self.label_name:
            io["input " + self.label_name] = f"{self.label_dtype} [{batch}{', 1' if self.label_rank == 2 else ''}]"
        if self.weights_name:
            io["input " + self.weights_name] = f"{self.weights_dtype} [{batch}, {self.num_classes}] (class weights)"
        io["output " + self.output_name] = f"float32 [{out}] ({self.output_layout.upper()})"
        return io


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


_WEIGHT_WORDS = ("class", "label", "cond", "onehot", "one_hot", "weight", "y")


def _split_weights(floats, card, source, expected, found, guesses):
    """Two float inputs: which is the latent and which the class weights [N, K]."""
    named = [i for i in floats if i.name == CLASS_WEIGHTS]
    if card is not None or named:
        if not named:
            raise ModelError(f"{source}: metadata describes a conditional model but no input is named "
                             f"{CLASS_WEIGHTS}; found inputs {found}")
        weights = named[0]
    else:
        by_name = [i for i in floats if any(w in i.name.lower() for w in _WEIGHT_WORDS)]
        if len(by_name) == 1:
            weights = by_name[0]
            guesses.append(f"input {weights.name} read as class weights (by its name)")
        else:
            weights = floats[1]
            guesses.append(f"second float input {weights.name} read as class weights")
    z_in = floats[0] if floats[1] is weights else floats[1]
    if len(_dims(weights.shape)) != 2:
        raise ModelError(f"{source}: {expected}; found inputs {found}")
    return z_in, weights


def infer_signature(session, proto, card: ModelCard | None, source: str,
                    image_shape: tuple[int, int, int] | None = None) -> Signature:
    """Read (card) or infer (no card) how to drive the session. Value range: see ``probe_value_range``."""
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    found = ", ".join(f"{i.name} {i.type[7:-1]} {list(i.shape)}" for i in inputs)
    expected = ("expected a generator: one float latent input [N, D] or [N, D, 1, 1] "
                "(optionally an integer class label [N] or float class weights [N, K])")
    floats = [i for i in inputs if _is_float(i.type)]
    ints = [i for i in inputs if _is_int(i.type)]
    if not 1 <= len(floats) <= 2 or len(ints) > 1 or len(inputs) != len(floats) + len(ints) \
            or (len(floats) == 2 and ints):
        raise ModelError(f"{source}: {expected}; found inputs {found}")
    guesses: list[str] = []
    weights_in = None
    if len(floats) == 2:
        z_in, weights_in = _split_weights(floats, card, source, expected, found, guesses)
    else:
        z_in = floats[0]
    zdims = _dims(z_in.shape)
    batch_axis = list(z_in.shape)[:1]
    if batch_axis and isinstance(batch_axis[0], int) and batch_axis[0] <= 0:
        raise ModelError(f"{source}: expected a batch axis that is dynamic or at least 1 on {z_in.name}, "
                         f"found {batch_axis[0]}")
    if len(zdims) == 2 and zdims[1]:
        layout, dim = "flat", zdims[1]
    elif len(zdims) == 4 and zdims[1] and zdims[2] == 1 and zdims[3] == 1:
        layout, dim = "nchw", zdims[1]
        guesses.append(f"latent input {z_in.name} is [N, {dim}, 1, 1] (DCGAN style)")
    else:
        raise ModelError(f"{source}: {expected}; found inputs {found}")
    if card is not None and card.latent_dim is not None and card.latent_dim != dim:
        raise ModelError(f"{source}: metadata says latent_dim {card.latent_dim}, the graph takes {dim}")
    if dim > MAX_LATENT_DIM:
        raise ModelError(f"{source}: expected a latent of at most {MAX_LATENT_DIM:,} dimensions, "
                         f"found {z_in.name} with {dim:,}")
    latent_dtype = FLOAT_DTYPES[z_in.type]
    if latent_dtype != "float32":
        guesses.append(f"latent input {z_in.name} is {latent_dtype}: latents are cast to it")
    fixed = zdims[0]
    if fixed is not None and fixed > MAX_FIXED_BATCH:
        raise ModelError(f"{source}: expected a dynamic batch or a fixed one of at most {MAX_FIXED_BATCH}, "
                         f"found {z_in.name} fixed at {fixed:,}")
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
        rows = _embedding_rows(proto, lab.name)
        if card is not None and card.class_names:
            num_classes = len(card.class_names)
            if rows and rows != num_classes:
                raise ModelError(f"{source}: metadata lists {num_classes} class names, the graph's class "
                                 f"embedding has {rows} rows; expected one name per row")
        else:
            num_classes = rows
            if num_classes and num_classes > MAX_CLASSES:
                raise ModelError(f"{source}: expected at most {MAX_CLASSES:,} classes, found an embedding "
                                 f"of {num_classes:,} rows")
            if num_classes:
                guesses.append(f"class input {lab.name}: {num_classes} classes (embedding table rows)")
            else:
                num_classes = 10
                guesses.append(f"class input {lab.name}: class count unknown, offering 10")
    weights_name, weights_dtype = None, "float32"
    if card is not None and card.conditional != (weights_in is not None):
        raise ModelError(f"{source}: metadata says family {card.family}, which "
                         f"{'takes' if card.conditional else 'has no'} a {CLASS_WEIGHTS} input; found inputs {found}")
    if weights_in is not None:
        wdims = _dims(weights_in.shape)
        k = wdims[1]
        if card is not None and card.class_names:
            if k is not None and k != len(card.class_names):
                raise ModelError(f"{source}: metadata lists {len(card.class_names)} class names, the graph's "
                                 f"{weights_in.name} input has {k} columns; expected one name per column")
            k = len(card.class_names)
        if k is None:
            raise ModelError(f"{source}: class weights input {weights_in.name} {list(weights_in.shape)} has no "
                             "fixed class count; expected [N, K]")
        if k > MAX_CLASSES or k < 1:
            raise ModelError(f"{source}: expected 1..{MAX_CLASSES:,} classes, found {weights_in.name} with {k:,}")
        weights_name, weights_dtype, num_classes = weights_in.name, FLOAT_DTYPES[weights_in.type], k

    if len(outputs) < 1:
        raise ModelError(f"{source}: expected an image output, found none")
    out = outputs[0]
    if not _is_float(out.type):
        raise ModelError(f"{source}: expected a float image output, found {out.name} {out.type}")
    odims = _dims(out.shape)
    if any(d is None for d in odims[1:]):
        odims = [None] + list(_probe_shape(session, z_in, layout, dim, fixed, label_name, label_rank, label_dtype,
                                           latent_dtype, source, weights_name, weights_dtype, num_classes))
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
                         tuple(guesses), latent_dtype=latent_dtype, weights_name=weights_name,
                         weights_dtype=weights_dtype)

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
    check_image_size(shape, source)
    return Signature(z_in.name, dim, layout, out.name, out_layout, shape, (0.0, 1.0), "probe",
                     fixed if fixed and fixed > 0 else None, label_name, label_dtype, label_rank, num_classes,
                     tuple(guesses), latent_dtype=latent_dtype, weights_name=weights_name,
                     weights_dtype=weights_dtype)


def check_image_size(shape: tuple[int, int, int], source: str) -> None:
    """Refuse images larger than the app can hold a grid of (MAX_IMAGE_SIDE on each side)."""
    c, h, w = shape
    if min(h, w) < 1 or max(h, w) > MAX_IMAGE_SIDE:
        raise ModelError(f"{source}: expected images of 1..{MAX_IMAGE_SIDE} pixels a side, found {h}x{w}")


def _probe_shape(session, z_in, layout, dim, fixed, label_name, label_rank, label_dtype, latent_dtype, source,
                 weights_name=None, weights_dtype="float32", num_classes=None):
    n = fixed or 1
    z = np.zeros((n, dim) + ((1, 1) if layout == "nchw" else ()), latent_dtype)
    feed = {z_in.name: z}
    if label_name:
        feed[label_name] = np.zeros((n,) + ((1,) if label_rank == 2 else ()), label_dtype)
    if weights_name:
        w = np.zeros((n, num_classes), weights_dtype)
        w[:, 0] = 1
        feed[weights_name] = w
    out = run_with_limit(session, None, feed, seconds=PROBE_SECONDS, source=source)[0]
    return list(out.shape[1:])
