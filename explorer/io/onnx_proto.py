"""ONNX graphs read without importing the ``onnx`` package: the app opens models this way.

``import onnx`` costs about a second of CPU (onnx imports ml_dtypes, whose extension registers its
dtypes' ufunc loops one by one, and numpy 2 compares each new loop with every one before it), more
than the rest of the app's start-up. Opening a model needs only the protobuf messages
(``ModelProto``, ``TensorProto``), which are generated code in ``onnx/onnx_ml_pb2.py`` depending on
protobuf alone. This module loads that file under a private name: with protobuf's upb backend (its
default) the message classes are the very ones ``onnx`` uses (one class per descriptor, one pool),
so a graph read here is an ``onnx.ModelProto`` and a later ``import onnx`` is unaffected. With
another protobuf backend, or when ``onnx`` is already imported, ``onnx`` itself is used.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

_PRIVATE_NAME = "explorer.io._onnx_ml_pb2"  # never imported by that name: only this module loads it
# Extensions that onnx.load reads as text, JSON or ONNX text instead of binary protobuf (onnx/serialization.py).
TEXT_EXTENSIONS = frozenset({".txtpb", ".textproto", ".prototxt", ".pbtxt", ".json", ".onnxjson", ".onnxtxt",
                             ".onnxtext"})
_messages = None


def messages():
    """The module that holds ``ModelProto`` and ``TensorProto`` (onnx's own when onnx is imported)."""
    global _messages
    if _messages is not None:
        return _messages
    if "onnx" in sys.modules or not _upb_backend():
        import onnx

        _messages = onnx
        return onnx
    spec = importlib.util.find_spec("onnx")  # finds the package without running its __init__
    origin = Path(spec.origin).parent / "onnx_ml_pb2.py" if spec is not None and spec.origin else None
    if origin is None or not origin.is_file():
        import onnx  # a layout we do not know: the slow, sure way

        _messages = onnx
        return onnx
    pb2_spec = importlib.util.spec_from_file_location(_PRIVATE_NAME, origin)
    module = importlib.util.module_from_spec(pb2_spec)
    pb2_spec.loader.exec_module(module)
    _messages = module
    return module


def _upb_backend() -> bool:
    try:
        from google.protobuf.internal import api_implementation
    except ImportError:
        return False
    return api_implementation.Type() == "upb"


def load_model_proto(path: str | os.PathLike):
    """``onnx.load(path, load_external_data=False)``, for binary files without importing onnx.

    Raises what onnx.load raises for unreadable data (protobuf's DecodeError and OSError), so callers
    keep their one-line messages."""
    if os.path.splitext(str(path))[1] in TEXT_EXTENSIONS:
        import onnx

        return onnx.load(str(path), load_external_data=False)
    with open(path, "rb") as f:
        data = f.read()
    proto = messages().ModelProto()
    decoded = proto.ParseFromString(data)
    if decoded is not None and decoded != len(data):  # as onnx.serialization checks
        from google.protobuf.message import DecodeError

        raise DecodeError(f"Protobuf decoding consumed too few bytes: {decoded} out of {len(data)}")
    return proto
