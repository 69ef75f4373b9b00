"""Semantic directions in latent space: class-to-class, selection A → B, PCA, SeFa; saved as JSON.

Numbers only (numpy + onnx for reading weights): no Qt, no torch, nothing unpickled.
A :class:`Direction` is a unit vector [D] with a name and where it came from. Moving a latent along
it: ``z + amount * direction.vector`` (amount in latent units; the prior's shell has radius √D).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.core.events import Signal

DIRECTIONS_FORMAT = "latent-explorer-directions"
DIRECTIONS_VERSION = 1


class DirectionError(ValueError):
    """A direction cannot be made or read. ``str()`` is one line: what was expected, what was found."""


@dataclass(frozen=True, eq=False)  # identity: == on the vectors would be ambiguous (and "SeFa 1" repeats)
class Direction:
    """A named unit vector float32 [D].

    source: "class", "selection", "pca", "sefa" or "user"; detail: a short human note (e.g. the
    explained variance or singular value); model: the model name it was made for (latent spaces of
    different models are unrelated); fingerprint: :func:`model_fingerprint` of the file it was made
    on ("" when unknown, e.g. an older file), so a direction is offered only for that model and not
    for another of the same latent size (see :meth:`DirectionList.offered`).
    """

    name: str
    vector: np.ndarray = field(repr=False)
    source: str = "user"
    detail: str = ""
    model: str = ""
    fingerprint: str = ""

    def __post_init__(self) -> None:
        v = np.array(self.vector, dtype=np.float64).reshape(-1)
        if v.size == 0 or not np.isfinite(v).all():
            raise DirectionError(f"direction {self.name!r}: expected a finite vector, found {v.size} values")
        n = np.linalg.norm(v)
        if n < 1e-9:
            raise DirectionError(f"direction {self.name!r} has length 0 (the two ends are the same point)")
        u = (v / n).astype(np.float32)
        u.setflags(write=False)
        object.__setattr__(self, "vector", u)
        if not str(self.name).strip():
            raise DirectionError("a direction needs a name")

    @property
    def dim(self) -> int:
        return self.vector.size

    def move(self, z: np.ndarray, amount: float) -> np.ndarray:
        """z float32 [D] or [N, D] moved by ``amount`` latent units along the direction."""
        z = np.asarray(z, np.float32)
        if z.shape[-1] != self.dim:
            raise DirectionError(f"direction {self.name!r} is {self.dim}-d, the latent is {z.shape[-1]}-d")
        return (z + np.float32(amount) * self.vector).astype(np.float32)

    def to_json(self) -> dict:
        return {"name": self.name, "source": self.source, "detail": self.detail, "model": self.model,
                "fingerprint": self.fingerprint, "vector": [float(x) for x in self.vector]}

    @classmethod
    def from_json(cls, data: dict) -> "Direction":
        try:
            return cls(str(data["name"]), np.asarray(data["vector"], np.float64), str(data.get("source", "user")),
                       str(data.get("detail", "")), str(data.get("model", "")), str(data.get("fingerprint") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DirectionError):
                raise
            raise DirectionError(f"not a readable direction ({type(exc).__name__}: {exc})") from None


# ---- which model a direction belongs to --------------------------------------------------------

_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def model_fingerprint(path: str | os.PathLike) -> str:
    """sha256 (16 hex digits) of a model file, cached by (path, size, mtime): which file a direction was
    made on. Two files with the same latent size are still unrelated latent spaces. "" when unreadable."""
    from explorer.core.diversity import file_fingerprint

    try:
        st = os.stat(path)
    except OSError:
        return ""
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FINGERPRINTS:
        try:
            _FINGERPRINTS[key] = file_fingerprint(path)
        except OSError:
            return ""
    return _FINGERPRINTS[key]


@dataclass(frozen=True)
class ModelKey:
    """What a direction is checked against: the open model's name, latent size and file fingerprint."""

    name: str
    dim: int
    fingerprint: str = ""

    @classmethod
    def of(cls, model) -> "ModelKey | None":
        """The key of an open model (explorer.io.runtime.LoadedModel), None for no model."""
        if model is None:
            return None
        return cls(model.name, int(model.latent_dim), model_fingerprint(model.path))


def why_not_offered(direction: Direction, key: ModelKey | None) -> str | None:
    """None when ``direction`` applies to the model ``key``; else a short reason ("made on fashion gan")."""
    if key is None:
        return "no model is open"
    if direction.dim != key.dim:
        return f"for {direction.dim}-d latents (this model takes {key.dim}-d)"
    made_on = direction.model or "another model"
    if direction.fingerprint and key.fingerprint:
        if direction.fingerprint == key.fingerprint:
            return None
        if direction.model == key.name:
            return f"made on another file named {made_on}"
        return f"made on {made_on}"
    # no fingerprint (an older file, or one written by hand): the model name is all there is to go on
    if direction.model and direction.model != key.name:
        return f"made on {made_on}"
    return None


def hidden_summary(reasons: list[str]) -> str:
    """One line for the directions not offered: "3 more not shown, they belong to other models: 2 made on X;
    1 for 6-d latents (this model takes 8-d)"."""
    if not reasons:
        return ""
    counts: dict[str, int] = {}
    for r in reasons:
        counts[r] = counts.get(r, 0) + 1
    parts = [f"{n} {r}" for r, n in counts.items()]
    return f"{len(reasons)} more not shown, they belong to other models: " + "; ".join(parts)


class DirectionList:
    """The directions the user made or loaded, in order (the model behind the Directions dock).

    ``changed`` is emitted after every edit; views subscribe and never keep a copy.
    """

    def __init__(self, directions=()) -> None:
        self.changed = Signal()  # ()
        self.items: list[Direction] = list(directions)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def add(self, directions) -> None:
        self.items.extend(directions)
        self.changed.emit()

    def replace(self, directions) -> None:
        self.items = list(directions)
        self.changed.emit()

    def remove(self, direction: Direction) -> None:
        # by identity: two directions may share a name ("SeFa 1" of two models), and == on vectors is ambiguous
        self.items = [d for d in self.items if d is not direction]
        self.changed.emit()

    def offered(self, key: ModelKey | None) -> tuple[list[Direction], list[str]]:
        """(the directions that apply to the model ``key``, in order; one reason per direction that does not)."""
        usable, reasons = [], []
        for d in self.items:
            why = why_not_offered(d, key)
            if why is None:
                usable.append(d)
            else:
                reasons.append(why)
        return usable, reasons

    # ---- sessions (explorer.core.session.SessionPart) -------------------------------------------

    def save_state(self) -> dict:
        """JSON-ready: ``directions`` [{name, source, detail, model, vector}]."""
        return {"directions": [d.to_json() for d in self.items]}

    def restore_state(self, state: dict) -> list[str]:
        """Replace the list with the saved directions (none saved: the list stays as it is).

        A direction that cannot be read is left out with one line; the others come back.
        """
        saved, notes = [], []
        for data in state.get("directions") or []:
            try:
                saved.append(Direction.from_json(data))
            except DirectionError as exc:
                notes.append(f"a direction was not restored: {exc}")
        if saved:
            self.replace(saved)
        return notes


# ---- making directions ---------------------------------------------------------------------------

def class_direction(mu: np.ndarray, labels: np.ndarray, a: int, b: int, class_names=(), *, model: str = "") -> Direction:
    """Mean latent of class b minus mean of class a (e.g. "T-shirt/top → Dress"). mu [N, D], labels [N]."""
    mu = np.asarray(mu, np.float64)
    labels = np.asarray(labels)
    names = list(class_names)

    def name(k):
        return names[k] if 0 <= k < len(names) else f"class {k}"

    ia, ib = labels == a, labels == b
    if a == b:
        raise DirectionError(f"pick two different classes, found {name(a)} twice")
    for k, mask in ((a, ia), (b, ib)):
        if not mask.any():
            raise DirectionError(f"no atlas points of {name(k)}; pick a class the atlas holds")
    return Direction(f"{name(a)} → {name(b)}", mu[ib].mean(0) - mu[ia].mean(0), "class",
                     f"{int(ia.sum())} → {int(ib.sum())} points", model)


def selection_direction(vectors: np.ndarray, group_a, group_b, name: str = "", *, model: str = "") -> Direction:
    """Mean of group B minus mean of group A (two lasso selections: index arrays into vectors [N, D])."""
    v = np.asarray(vectors, np.float64)
    ia = np.asarray(group_a, np.int64).reshape(-1)
    ib = np.asarray(group_b, np.int64).reshape(-1)
    if ia.size == 0 or ib.size == 0:
        raise DirectionError(f"both selections need points, found A {ia.size} and B {ib.size}; lasso both groups")
    return Direction(name or f"selection A ({ia.size}) → B ({ib.size})", v[ib].mean(0) - v[ia].mean(0),
                     "selection", f"{ia.size} → {ib.size} points", model)


def pca_directions(vectors: np.ndarray, k: int = 5, *, model: str = "") -> list[Direction]:
    """Top-k principal axes of vectors [N, D] (e.g. the atlas means), with explained variance.

    The sign of each axis is fixed so its largest component is positive (stable across runs).
    """
    x = np.asarray(vectors, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise DirectionError(f"PCA needs at least 2 points [N, D], found shape {list(x.shape)}")
    x = x - x.mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    var = s ** 2
    share = var / var.sum() if var.sum() > 0 else var
    out = []
    for i in range(min(k, len(s))):
        v = vt[i] * np.sign(vt[i][np.argmax(np.abs(vt[i]))])
        out.append(Direction(f"PC{i + 1}", v, "pca", f"{share[i] * 100:.1f} % of variance", model))
    return out


def sefa_from_weight(weight: np.ndarray, k: int = 5, *, latent_axis: int = 0, normalize_rows: bool = False,
                     model: str = "") -> list[Direction]:
    """Closed-form directions (SeFa, Shen & Zhou 2021): top eigenvectors of AᵀA, A [K, D].

    weight: the first linear layer's matrix; ``latent_axis`` says which axis has length D (0 for an
    ONNX MatMul z @ W with W [D, K]; 1 for a PyTorch Linear weight [K, D]). The direction that
    changes the first layer's output most comes first. ``normalize_rows`` scales every output unit's
    weights to length 1 first, as the SeFa reference code does for style layers.
    """
    w = np.asarray(weight, np.float64)
    if w.ndim != 2:
        raise DirectionError(f"expected a 2-d weight matrix, found shape {list(w.shape)}")
    a = w.T if latent_axis == 0 else w  # A [K, D]: image-side rows, latent-side columns
    if normalize_rows:
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    vals, vecs = np.linalg.eigh(a.T @ a)
    order = np.argsort(-vals)
    out = []
    for rank, i in enumerate(order[:k]):
        v = vecs[:, i] * np.sign(vecs[:, i][np.argmax(np.abs(vecs[:, i]))])
        out.append(Direction(f"SeFa {rank + 1}", v, "sefa", f"eigenvalue {vals[i]:.3g}", model))
    return out


def first_linear_weight(onnx_path: str | os.PathLike, latent_input: str = "z") -> tuple[np.ndarray, int]:
    """The weight of the first layer applied to z, read from the ONNX initialisers.

    Returns (weight, latent_axis) for :func:`sefa_from_weight`. Follows z through Flatten/Reshape/
    Identity/Unsqueeze/Squeeze; the first node after that must be MatMul or Gemm with a constant
    weight, else DirectionError (SeFa only applies to a generator whose first layer is linear in z).
    """
    import onnx
    from onnx import numpy_helper

    path = Path(onnx_path)
    try:
        proto = onnx.load(str(path))
    except Exception as exc:
        raise DirectionError(f"{path.name}: not a readable ONNX file ({type(exc).__name__})") from None
    inits = {i.name: i for i in proto.graph.initializer}
    consts = {}
    for node in proto.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = attr.t
    inputs = [i.name for i in proto.graph.input if i.name not in inits]
    current = latent_input if latent_input in inputs else (inputs[0] if inputs else latent_input)
    passthrough = {"Flatten", "Reshape", "Identity", "Unsqueeze", "Squeeze", "Cast"}
    for _ in range(16):
        users = [n for n in proto.graph.node if current in n.input]
        if len(users) != 1:
            break
        node = users[0]
        if node.op_type in passthrough:
            current = node.output[0]
            continue
        if node.op_type in ("MatMul", "Gemm"):
            other = node.input[1] if node.input[0] == current else node.input[0]
            tensor = inits.get(other) or consts.get(other)
            if tensor is None:
                break
            w = numpy_helper.to_array(tensor)
            if node.op_type == "MatMul":
                return (w, 0) if node.input[0] == current else (w, 1)
            attrs = {a.name: a.i for a in node.attribute}
            if node.input[0] != current:
                break
            return (w, 1) if attrs.get("transB", 0) else (w, 0)
        break
    raise DirectionError(f"{path.name}: the first layer on z is not a constant MatMul/Gemm; "
                         "closed-form (SeFa) directions need a generator that is linear in z at its first layer")


def sefa_directions(onnx_path: str | os.PathLike, k: int = 5, *, model: str = "") -> list[Direction]:
    """SeFa directions of a generator file (see :func:`first_linear_weight`)."""
    w, axis = first_linear_weight(onnx_path)
    return sefa_from_weight(w, k, latent_axis=axis, model=model)


@dataclass(frozen=True)
class CellPick:
    """A grid cell picked for A − B + C: its index, its place as the grid shows it, and its latent then."""

    cell: int
    row: int  # 0-based; shown 1-based, as the focused-cell title shows it ("row 2, column 3")
    col: int
    z: np.ndarray = field(repr=False)

    @property
    def label(self) -> str:
        return f"row {self.row + 1}, column {self.col + 1}"


class VectorArithmetic:
    """The three cells of A − B + C, picked by focusing grid cells (the model behind that part of the dock).

    A pick keeps the latent the cell had when it was picked, so a re-roll does not change the sum.
    """

    SLOTS = ("A", "B", "C")

    def __init__(self) -> None:
        self.changed = Signal()  # ()
        self.picks: dict[str, CellPick] = {}

    def pick(self, slot: str, cell: int, cols: int, z: np.ndarray) -> CellPick:
        if slot not in self.SLOTS:
            raise DirectionError(f"slot must be one of {', '.join(self.SLOTS)}, found {slot!r}")
        r, c = divmod(int(cell), max(1, int(cols)))
        z = np.array(z, np.float32).reshape(-1)
        z.setflags(write=False)
        self.picks[slot] = CellPick(int(cell), r, c, z)
        self.changed.emit()
        return self.picks[slot]

    def clear(self) -> None:
        if self.picks:
            self.picks = {}
            self.changed.emit()

    def missing(self) -> list[str]:
        return [s for s in self.SLOTS if s not in self.picks]

    def result(self) -> np.ndarray:
        """A − B + C, float32 [D]; DirectionError (one line) while a cell is not picked yet."""
        missing = self.missing()
        if missing:
            raise DirectionError(f"pick {' and '.join(missing)} first: focus a grid cell, then press its button")
        return arithmetic(*(self.picks[s].z for s in self.SLOTS))


def arithmetic(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """A − B + C on latents [D] (the "king − man + woman" analogy), float32 [D]."""
    a, b, c = (np.asarray(x, np.float32) for x in (a, b, c))
    if not (a.shape == b.shape == c.shape):
        raise DirectionError(f"A, B and C must have one shape, found {a.shape}, {b.shape}, {c.shape}")
    return (a - b + c).astype(np.float32)


# ---- saving ----------------------------------------------------------------------------------------

def directions_to_json(directions) -> dict:
    return {"format": DIRECTIONS_FORMAT, "version": DIRECTIONS_VERSION,
            "directions": [d.to_json() for d in directions]}


def directions_from_json(data: dict, *, source: str = "directions") -> list[Direction]:
    if not isinstance(data, dict) or data.get("format") != DIRECTIONS_FORMAT:
        raise DirectionError(f"{source}: not a Latent Explorer directions file (format {DIRECTIONS_FORMAT!r} missing)")
    version = data.get("version")
    if not isinstance(version, int) or version > DIRECTIONS_VERSION:
        raise DirectionError(f"{source}: directions version {version!r} is newer than this app understands "
                             f"({DIRECTIONS_VERSION}); update Latent Explorer")
    return [Direction.from_json(d) for d in data.get("directions", [])]


def save_directions(directions, path: str | os.PathLike) -> Path:
    """Write directions as readable JSON, atomically."""
    from explorer.io.exports import write_json

    return write_json(directions_to_json(directions), path)


def load_directions(path: str | os.PathLike) -> list[Direction]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DirectionError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DirectionError(f"{path.name}: not readable JSON ({type(exc).__name__})") from None
    return directions_from_json(data, source=path.name)
