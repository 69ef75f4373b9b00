"""Seeded mutations of the bundled models: byte-level and protobuf-level, one function per kind.

``mutate(kind, source_bytes, rng) -> (bytes, detail)``: the same kind, source and seed give the
same bytes on every machine (numpy's PCG64 generator), so a failing case is rerun from its seed.
Every kind is something a file from anywhere may hold: a damaged download, another tool's export,
or a file built to break a reader.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PREFIX = "latent_explorer."


def mark(raw: bytes) -> str:
    """A placeholder as long as ``raw``, replaced by it after serialising (protobuf will not write
    bad UTF-8 itself; same length, so that the length prefixes stay right)."""
    return "\x07" * len(raw)


def _load(data: bytes) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.ParseFromString(data)
    return model


def _save(model: onnx.ModelProto, raw: bytes | None = None) -> bytes:
    data = model.SerializeToString()
    if raw is not None:
        data = data.replace(mark(raw).encode(), raw, 1)
    return data


def _ours(model) -> list:
    return [p for p in model.metadata_props if p.key.startswith(PREFIX)]


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


# ---- byte level ---------------------------------------------------------------------------------

def truncate(data, rng):
    cut = int(rng.integers(1, len(data)))
    return data[:cut], f"cut at byte {cut} of {len(data)}"


def _flip(count):
    def flip(data, rng):
        buf = bytearray(data)
        where = rng.integers(0, len(buf), count)
        for i in where:
            buf[i] ^= int(rng.integers(1, 256))
        return bytes(buf), f"{count} bytes flipped (first at {int(where.min())})"
    flip.__name__ = f"flip{count}"
    return flip


def flip_metadata(data, rng):
    """Flip bytes inside the metadata only (where the byte flips that reached users landed)."""
    model = _load(data)
    entry = _pick(rng, _ours(model) or list(model.metadata_props))
    raw = bytearray(entry.value.encode())
    for i in rng.integers(0, len(raw), 1 + int(rng.integers(3))):
        raw[i] = int(rng.integers(0x80, 0x100))
    entry.value = mark(bytes(raw))
    return _save(model, bytes(raw)), f"{entry.key}: raw bytes {bytes(raw)[:40]!r}"


# ---- metadata ---------------------------------------------------------------------------------------

def meta_not_utf8(data, rng):
    model = _load(data)
    entry = _pick(rng, _ours(model))
    key = entry.key
    raw = _pick(rng, [b'"\xbe\xf7\xff"', b"\xf7", b'["\xc3"]', b"1\xff"])
    entry.value = mark(raw)
    return _save(model, raw), f"{key} value {raw!r} (not UTF-8)"


def meta_key_not_utf8(data, rng):
    model = _load(data)
    entry = _pick(rng, _ours(model))
    old = entry.key
    raw = PREFIX.encode() + b"\xbe\xef" + old[len(PREFIX):].encode()
    entry.key = mark(raw)
    return _save(model, raw), f"key {old} as {raw!r} (not UTF-8)"


def meta_not_json(data, rng):
    model = _load(data)
    entry = _pick(rng, _ours(model))
    entry.value = _pick(rng, ["{not json", "[1, 2", "'single'", "", "NaNa", "\x00"])
    return _save(model), f"{entry.key} = {entry.value!r}"


WRONG_VALUES = ['{"a": 1}', "[1, 2, 3]", '"text"', "true", "null", "-1", "0", "1e999", "-1e999", "NaN",
                "Infinity", "3.5", "1" + "0" * 5000, "[" * 5000 + "]" * 5000, '{"encoder": 5}', "[[1, 2]]",
                str(10 ** 9), "1e308", '["a", 1]']


def meta_wrong_type(data, rng):
    model = _load(data)
    entry = _pick(rng, _ours(model))
    entry.value = _pick(rng, WRONG_VALUES)
    return _save(model), f"{entry.key} = {entry.value[:30]!r}"


def _set(model, key, value: str):
    for p in model.metadata_props:
        if p.key == PREFIX + key:
            p.value = value
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = PREFIX + key, value


def meta_deep_json(data, rng):
    model = _load(data)
    key = _pick(rng, ["metrics", "siblings", "class_names", "value_range", "name"])
    depth = int(rng.integers(1000, 100_000))
    _set(model, key, "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth)
    return _save(model), f"{key} nested {depth} deep"


def meta_huge(data, rng):
    model = _load(data)
    key = _pick(rng, ["name", "dataset", "garbage", "metrics"])
    size = int(rng.integers(1, 4)) * 1_000_000
    _set(model, key, json.dumps("x" * size) if key != "metrics" else "1" * size)
    return _save(model), f"{key}: {size:,} characters"


RANGES = ["[0, 1e39]", "[-1e308, 1e308]", "[0, 1e-40]", "[NaN, 1]", "[0, Infinity]", "[1, 1]", "[2, 1]",
          "[0]", "[0, 1, 2]", '["0", "1"]', "[-1e39, 0]", "[0, 3.4e38]", "[1e38, 3e38]"]


def value_range(data, rng):
    model = _load(data)
    value = _pick(rng, RANGES)
    _set(model, "value_range", value)
    return _save(model), f"value_range = {value}"


def class_names(data, rng):
    model = _load(data)
    n = _pick(rng, [0, 1, 9, 11, 20, 1000, 200_000])
    value = json.dumps([f"c{i}" for i in range(n)]) if rng.random() < 0.8 else '{"0": "a"}'
    _set(model, "class_names", value)
    return _save(model), f"class_names: {n} names"


def meta_sizes(data, rng):
    model = _load(data)
    key = _pick(rng, ["latent_dim", "image_height", "image_width", "image_channels", "feature_dim", "epoch"])
    value = _pick(rng, ["0", "-3", "100000000", "1000000000", "30000", "2", "65537", str(2 ** 63)])
    _set(model, key, value)
    return _save(model), f"{key} = {value}"


def strip_metadata(data, rng):
    model = _load(data)
    del model.metadata_props[:]
    return _save(model), "all metadata removed (a foreign model)"


# ---- graph --------------------------------------------------------------------------------------

def _graph_value(model, rng, *, outputs=False):
    inits = {i.name for i in model.graph.initializer}
    values = [v for v in (model.graph.output if outputs else model.graph.input) if v.name not in inits]
    return _pick(rng, values)


def input_dtype(data, rng):
    model = _load(data)
    v = _graph_value(model, rng)
    dtype = _pick(rng, [TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.STRING,
                        TensorProto.BOOL, TensorProto.UINT8])
    v.type.tensor_type.elem_type = dtype
    return _save(model), f"input {v.name} dtype {TensorProto.DataType.Name(dtype)}"


def output_dtype(data, rng):
    model = _load(data)
    v = _graph_value(model, rng, outputs=True)
    dtype = _pick(rng, [TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT64])
    v.type.tensor_type.elem_type = dtype
    return _save(model), f"output {v.name} dtype {TensorProto.DataType.Name(dtype)}"


def dims(data, rng):
    model = _load(data)
    v = _graph_value(model, rng, outputs=rng.random() < 0.4)
    shape = v.type.tensor_type.shape
    axis = int(rng.integers(len(shape.dim)))
    value = _pick(rng, [0, 1, 3, 10 ** 9, 30000, 10 ** 8, -1])
    shape.dim[axis].Clear()
    shape.dim[axis].dim_value = value
    return _save(model), f"{v.name} axis {axis} = {value}"


def rank(data, rng):
    model = _load(data)
    v = _graph_value(model, rng, outputs=rng.random() < 0.4)
    shape = v.type.tensor_type.shape
    if rng.random() < 0.5 and len(shape.dim) > 1:
        del shape.dim[-1]
        what = "last axis dropped"
    else:
        shape.dim.add().dim_value = int(rng.integers(1, 4))
        what = "axis added"
    return _save(model), f"{v.name}: {what}"


def missing_initializer(data, rng):
    model = _load(data)
    i = int(rng.integers(len(model.graph.initializer)))
    name = model.graph.initializer[i].name
    del model.graph.initializer[i]
    return _save(model), f"initializer {name} removed"


def custom_domain(data, rng):
    model = _load(data)
    node = _pick(rng, list(model.graph.node))
    node.domain = "com.example.evil"
    model.opset_import.add().CopyFrom(helper.make_opsetid("com.example.evil", 1))
    return _save(model), f"node {node.op_type} in a custom domain"


def versions(data, rng):
    model = _load(data)
    if rng.random() < 0.5:
        model.ir_version = _pick(rng, [0, 1, 2, 99, 2 ** 40])
        what = f"ir_version {model.ir_version}"
    else:
        model.opset_import[0].version = _pick(rng, [0, 1, 5, 99, 10 ** 6])
        what = f"opset {model.opset_import[0].version}"
    return _save(model), what


def cycle(data, rng):
    model = _load(data)
    nodes = model.graph.node
    a, b = sorted(int(x) for x in rng.integers(0, len(nodes), 2))
    if nodes[a].input:
        nodes[a].input[0] = nodes[b].output[0]
    return _save(model), f"node {a} reads the output of node {b}"


def loop_huge(data, rng):
    """The first output passes through a Loop of 10^12 or more trips (each adds 0) before it leaves."""
    model = _load(data)
    out = model.graph.output[0]
    inner = out.name + "_pre_loop"
    for node in model.graph.node:
        for k, name in enumerate(node.output):
            if name == out.name:
                node.output[k] = inner
    trips = int(10 ** 12 * (1 + int(rng.integers(1000))))
    body = helper.make_graph(
        [helper.make_node("Add", ["x_in", "zero"], ["x_out"]), helper.make_node("Identity", ["c_in"], ["c_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(0, np.float32), "zero")])
    model.graph.initializer.extend([numpy_helper.from_array(np.array(trips, np.int64), "fuzz_trips"),
                                    numpy_helper.from_array(np.array(True), "fuzz_cond")])
    model.graph.node.append(helper.make_node("Loop", ["fuzz_trips", "fuzz_cond", inner], [out.name], body=body))
    return _save(model), f"Loop of {trips:.3g} trips before {out.name}"


def external_data(data, rng):
    model = _load(data)
    init = _pick(rng, list(model.graph.initializer))
    location = _pick(rng, ["../../../../etc/passwd", "/dev/zero", "/etc/hostname", "missing.bin", "..",
                           "a\x00b", "", "sub/../../x.bin", "~/x.bin"])
    init.ClearField("raw_data")
    del init.float_data[:]
    init.data_location = TensorProto.EXTERNAL
    del init.external_data[:]
    entry = init.external_data.add()
    entry.key, entry.value = "location", location
    return _save(model), f"initializer {init.name} external at {location!r}"


KINDS = {f.__name__: f for f in (
    truncate, _flip(1), _flip(10), _flip(100), flip_metadata, meta_not_utf8, meta_key_not_utf8, meta_not_json,
    meta_wrong_type, meta_deep_json, meta_huge, value_range, class_names, meta_sizes, strip_metadata,
    input_dtype, output_dtype, dims, rank, missing_initializer, custom_domain, versions, cycle, loop_huge,
    external_data)}


def mutate(kind: str, data: bytes, rng) -> tuple[bytes, str]:
    """The mutated file and one line saying what was done."""
    return KINDS[kind](data, rng)


# ---- session files ----------------------------------------------------------------------------------

def session_value(data, rng):
    """One value of a valid session replaced by something of the wrong type or size."""
    session = json.loads(data)
    where = _pick(rng, [("grid", "seed"), ("grid", "rows"), ("grid", "cols"), ("grid", "temperature"),
                        ("grid", "truncation"), ("grid", "latents"), ("grid", "focus"), ("grid", "class_choice"),
                        ("view", "cell_px"), (None, "models"), (None, "active"), (None, "docks"), (None, "version")])
    value = json.loads(_pick(rng, [v for v in WRONG_VALUES if len(v) < 100] + ["1" + "0" * 40, "1e12", "-5"]))
    if where[0] is None:
        session[where[1]] = value
    else:
        session.setdefault(where[0], {})[where[1]] = value
    return json.dumps(session).encode(), f"{'.'.join(w for w in where if w)} = {json.dumps(value)[:30]}"


def session_deep(data, rng):
    session = json.loads(data)
    depth = int(rng.integers(1000, 100_000))
    text = json.dumps(session)
    key = _pick(rng, ["grid", "docks", "view", "models"])
    return text.replace(f'"{key}": ', f'"{key}": ' + "[" * depth + "]" * depth + ', "x": ', 1).encode(), \
        f"{key} nested {depth} deep"


SESSION_KINDS = {f.__name__: f for f in (truncate, _flip(1), _flip(10), session_value, session_deep)}
SESSION_KINDS = {("session_" + k if not k.startswith("session_") else k): f for k, f in SESSION_KINDS.items()}


def mutate_session(kind: str, data: bytes, rng) -> tuple[bytes, str]:
    return SESSION_KINDS[kind](data, rng)
