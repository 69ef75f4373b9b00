"""The ONNX model contract: the one place that says what a Latent Explorer model file holds.

Both sides use this module: ``training/`` writes files that satisfy it, ``explorer/`` reads them.
The human-readable version is ``docs/onnx-contract.md``; keep the two in step.

This module needs only numpy and onnx (no torch, no Qt), so the app and the trainer can share it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explorer.io.files import atomic_path

FORMAT_NAME = "latent-explorer"
FORMAT_VERSION = 2  # 2: class-conditional families (cvae, cgan) with a class_weights input
# Pinned so that every onnxruntime from 1.16 on loads our files (IR 8 is what opset 17 exports as).
OPSET = 17
IR_VERSION = 8
KEY_PREFIX = "latent_explorer."

ROLES = ("decoder", "encoder", "generator", "classifier")
FAMILIES = ("vae", "gan", "classifier", "cvae", "cgan")
# Class-conditional families: the decoder / generator takes a second input, class_weights.
CONDITIONAL_FAMILIES = ("cvae", "cgan")
CLASS_WEIGHTS = "class_weights"
PRIORS = ("normal",)

# Named inputs and outputs per role: (inputs, outputs). Batch axis 0 is dynamic, named "batch".
#   z        float32 [N, D]          latent vector
#   image    float32 [N, C, H, W]    image, in the file's value_range
#   mu       float32 [N, D]          posterior mean
#   logvar   float32 [N, D]          posterior log-variance (natural log of sigma^2)
#   logits   float32 [N, K]          unnormalised class scores
#   features float32 [N, F]          penultimate-layer features (for Frechet distance, maps, kNN)
#   class_weights float32 [N, K]     conditional decoders/generators only (family cvae / cgan): one row
#                                    per sample, one column per class; a one-hot row asks for one class,
#                                    a row like (0.3, 0.7) for a blend of two. Rows are not renormalised.
IO_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "decoder": (("z",), ("image",)),
    "generator": (("z",), ("image",)),
    "encoder": (("image",), ("mu", "logvar")),
    "classifier": (("image",), ("logits", "features")),
}

# Files inside a bundle folder.
BUNDLE_FILES = {
    "decoder": "decoder.onnx",
    "encoder": "encoder.onnx",
    "generator": "generator.onnx",
    "classifier": "classifier.onnx",
}
ATLAS_VERSION = 1
ATLAS_FILE = "atlas.npz"  # VAE only: encoder outputs of the test split (see Atlas)
UMAP_FILE = "umap.npz"  # optional: a UMAP layout of the atlas (explorer/core/umap_layout.py), shipped by bundles

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


class ContractError(ValueError):
    """A file does not satisfy the contract. The message is one line a user can act on."""


@dataclass(frozen=True)
class ModelCard:
    """Everything the contract stores in ``metadata_props``.

    ``value_range`` is the (low, high) range of image pixels as the model sees or produces them:
    (0, 1) for the VAE and classifier, (-1, 1) for a tanh GAN generator.
    ``siblings`` maps role -> file name (relative, same folder) of the other files of one model.
    ``metrics`` holds key training/evaluation figures (floats) under their names.
    """

    role: str
    family: str
    image_channels: int
    image_height: int
    image_width: int
    value_range: tuple[float, float]
    latent_dim: int | None = None
    latent_prior: str | None = "normal"
    dataset: str = ""
    class_names: tuple[str, ...] = ()
    epoch: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    siblings: dict[str, str] = field(default_factory=dict)
    name: str = ""
    feature_dim: int | None = None  # classifier only
    # The version the file was read with (written: the lowest version that describes the card).
    format_version: int = field(default=FORMAT_VERSION, compare=False)

    def __post_init__(self) -> None:
        validate_card(self)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return (self.image_channels, self.image_height, self.image_width)

    @property
    def conditional(self) -> bool:
        """A class-conditional model (family cvae / cgan)."""
        return self.family in CONDITIONAL_FAMILIES

    @property
    def input_names(self) -> tuple[str, ...]:
        names = IO_NAMES[self.role][0]
        if self.conditional and self.role in ("decoder", "generator"):
            return names + (CLASS_WEIGHTS,)
        return names

    @property
    def output_names(self) -> tuple[str, ...]:
        return IO_NAMES[self.role][1]

    def to_metadata(self) -> dict[str, str]:
        """The string->string pairs stored in ``ModelProto.metadata_props`` (values are JSON)."""
        raw = {
            "format": FORMAT_NAME,
            # The lowest version that describes the file: unconditional files stay readable by apps of version 1.
            "format_version": 2 if self.conditional else 1,
            "role": self.role,
            "family": self.family,
            "latent_dim": self.latent_dim,
            "latent_prior": self.latent_prior,
            "image_channels": self.image_channels,
            "image_height": self.image_height,
            "image_width": self.image_width,
            "value_range": list(self.value_range),
            "dataset": self.dataset,
            "class_names": list(self.class_names),
            "epoch": self.epoch,
            # JSON has no NaN/Infinity: non-finite figures are left out rather than written as invalid JSON.
            "metrics": {k: v for k, v in self.metrics.items() if np.isfinite(v)},
            "siblings": self.siblings,
            "name": self.name,
            "feature_dim": self.feature_dim,
        }
        return {KEY_PREFIX + k: json.dumps(v) for k, v in raw.items()}

    @classmethod
    def from_metadata(cls, props: dict[str, str], *, source: str = "model") -> "ModelCard":
        """Parse metadata_props. Raises ContractError naming the bad key (MetadataUnreadable when a
        value is not JSON); every value is checked in the type it is used in (int sizes, float32 range)."""
        ours = {k[len(KEY_PREFIX):]: v for k, v in props.items() if k.startswith(KEY_PREFIX)}
        if not ours:
            raise ContractError(f"{source}: no Latent Explorer metadata (keys '{KEY_PREFIX}*' missing)")
        values: dict[str, Any] = {}
        for key, text in ours.items():
            values[key] = _json_value(key, text, source)
        if values.get("format") != FORMAT_NAME:
            raise ContractError(f"{source}: metadata format is {_short(values.get('format'))}, "
                                f"expected {FORMAT_NAME!r}")
        version = values.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ContractError(f"{source}: metadata '{KEY_PREFIX}format_version' is {_short(version)}, "
                                "expected a positive integer")
        if version > FORMAT_VERSION:
            raise ContractError(
                f"{source}: contract version {_short(version)} is newer than this app understands "
                f"({FORMAT_VERSION}); update Latent Explorer")
        required = ("role", "family", "image_channels", "image_height", "image_width", "value_range")
        missing = [k for k in required if values.get(k) is None]
        if missing:
            raise ContractError(f"{source}: metadata lacks {', '.join(KEY_PREFIX + k for k in missing)}")
        field_of = _Fields(values, source)
        fields = dict(
            role=field_of.text("role"),
            family=field_of.text("family"),
            image_channels=field_of.integer("image_channels", MAX_IMAGE_SIDE),
            image_height=field_of.integer("image_height", MAX_IMAGE_SIDE),
            image_width=field_of.integer("image_width", MAX_IMAGE_SIDE),
            value_range=field_of.value_range(),
            latent_dim=field_of.integer("latent_dim", MAX_LATENT_DIM, optional=True),
            latent_prior=field_of.text("latent_prior", optional=True),
            dataset=field_of.text("dataset", optional=True) or "",
            class_names=field_of.names("class_names"),
            epoch=field_of.integer("epoch", MAX_EPOCH, optional=True),
            metrics=field_of.mapping("metrics", float),
            siblings=field_of.mapping("siblings", str),
            name=field_of.text("name", optional=True) or "",
            feature_dim=field_of.integer("feature_dim", MAX_LATENT_DIM, optional=True),
            format_version=version,
        )
        try:
            return cls(**fields)
        except ContractError as exc:  # validate_card: the fields disagree with each other
            raise ContractError(f"{source}: {exc}") from None


class MetadataUnreadable(ContractError):
    """Contract metadata that cannot be read at all (not valid UTF-8, not JSON): the file's graph may
    still be fine, so a generator or decoder is opened as a model without metadata, with a note."""


# Bounds on what metadata may ask for, so that a hostile card cannot make the app allocate without
# end: an 8 x 8 grid of 2048 x 2048 RGB float32 images is 3 GiB; latents of 65536 dimensions are the
# most any slider panel or map can use.
MAX_IMAGE_SIDE = 2048
MAX_LATENT_DIM = 65_536
MAX_CLASSES = 100_000
MAX_EPOCH = 10 ** 9
MAX_METADATA_CHARS = 1_000_000
# The value range must survive float32: pixels are mapped with (x - low) / (high - low) in float32.
MIN_VALUE_SPAN = 1e-30


def _short(value: Any, limit: int = 60) -> str:
    """repr() of a metadata value cut to one short piece (a hostile value may be megabytes)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int of more digits than Python prints
        text = f"a {type(value).__name__} too large to print"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _json_value(key: str, text: Any, source: str) -> Any:
    name = f"{KEY_PREFIX}{key}"
    if isinstance(text, bytes):  # protobuf hands back bytes when the string is not UTF-8
        raise MetadataUnreadable(f"{source}: metadata '{name}' is not valid UTF-8 text: {_short(text)}")
    if len(text) > MAX_METADATA_CHARS:
        raise MetadataUnreadable(f"{source}: metadata '{name}' is {len(text):,} characters long, "
                                 f"expected JSON of at most {MAX_METADATA_CHARS:,}")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise MetadataUnreadable(f"{source}: metadata '{name}' is not JSON: {text[:60]!r}") from None
    except ValueError:  # an integer longer than Python's int conversion allows
        raise MetadataUnreadable(f"{source}: metadata '{name}' holds a number too long to read, "
                                 "expected JSON of ordinary numbers") from None
    except RecursionError:
        raise MetadataUnreadable(f"{source}: metadata '{name}' is JSON nested too deeply to read") from None


class _Fields:
    """Typed reads of parsed metadata values; each failure names the key, what was expected and found."""

    def __init__(self, values: dict[str, Any], source: str):
        self.values, self.source = values, source

    def _bad(self, key: str, expected: str) -> ContractError:
        return ContractError(f"{self.source}: malformed metadata: '{KEY_PREFIX}{key}' is "
                             f"{_short(self.values.get(key))}, expected {expected}")

    def integer(self, key: str, most: int, *, optional: bool = False) -> int | None:
        v = self.values.get(key)
        if v is None and optional:
            return None
        if isinstance(v, float) and np.isfinite(v) and v == int(v) and abs(v) <= most:
            v = int(v)  # 28.0 is 28
        if not isinstance(v, int) or isinstance(v, bool):
            raise self._bad(key, f"an integer{'' if not optional else ' or null'}")
        if v > most:
            raise self._bad(key, f"an integer of at most {most:,}")
        return v

    def text(self, key: str, *, optional: bool = False) -> str | None:
        v = self.values.get(key)
        if v is None and optional:
            return None
        if not isinstance(v, str):
            raise self._bad(key, "a string")
        return v

    def value_range(self) -> tuple[float, float]:
        v = self.values.get("value_range")
        if (not isinstance(v, list) or len(v) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
            raise self._bad("value_range", "[low, high], two numbers")
        try:
            return float(v[0]), float(v[1])
        except OverflowError:  # an integer beyond any float
            raise self._bad("value_range", "two numbers a float32 can hold") from None

    def names(self, key: str) -> tuple[str, ...]:
        v = self.values.get(key)
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self._bad(key, "a list of strings")
        if len(v) > MAX_CLASSES:
            raise self._bad(key, f"at most {MAX_CLASSES:,} names")
        return tuple(v)

    def mapping(self, key: str, kind: type) -> dict:
        v = self.values.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise self._bad(key, "an object")
        out = {}
        for k, x in v.items():
            if kind is float:
                if not isinstance(x, (int, float)) or isinstance(x, bool):
                    raise self._bad(key, "an object of numbers")
                try:
                    out[k] = float(x)
                except OverflowError:
                    raise self._bad(key, "an object of numbers a float can hold") from None
            else:
                if not isinstance(x, str):
                    raise self._bad(key, "an object of strings")
                out[k] = x
        return out


def metadata_dict(model, source: str) -> dict[str, Any]:
    """``model.metadata_props`` as {key: value}. A key that is not valid UTF-8 raises MetadataUnreadable
    (it may be one of ours, damaged); values are kept as protobuf hands them over (bytes when not
    UTF-8), so that ``from_metadata`` can name the key."""
    props: dict[str, Any] = {}
    for p in model.metadata_props:
        key = p.key
        if isinstance(key, bytes):
            raise MetadataUnreadable(f"{source}: a metadata key is not valid UTF-8 text: {_short(key)}")
        props[key] = p.value
    return props


def validate_card(card: ModelCard) -> None:
    """Raise ContractError if the card's fields are inconsistent."""
    if card.role not in ROLES:
        raise ContractError(f"role {card.role!r} is not one of {', '.join(ROLES)}")
    if card.family not in FAMILIES:
        raise ContractError(f"family {card.family!r} is not one of {', '.join(FAMILIES)}")
    if min(card.image_channels, card.image_height, card.image_width) <= 0:
        raise ContractError(f"image shape {card.image_shape} must be positive")
    if card.image_channels not in (1, 3):
        raise ContractError(f"image_channels is {card.image_channels}, expected 1 (gray) or 3 (RGB)")
    low, high = card.value_range
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ContractError(f"value_range {card.value_range} must be finite with low < high")
    with np.errstate(over="ignore"):
        low32, high32 = np.float32(low), np.float32(high)
        span = high32 - low32
    if not (np.isfinite(low32) and np.isfinite(high32) and np.isfinite(span) and span >= MIN_VALUE_SPAN):
        raise ContractError(f"value_range [{low:g}, {high:g}] is not usable in float32: expected finite low < high "
                            f"with high - low between {MIN_VALUE_SPAN:g} and {float(np.finfo(np.float32).max):.3g}")
    if card.role in ("decoder", "generator", "encoder"):
        if card.latent_dim is None or card.latent_dim <= 0:
            raise ContractError(f"role {card.role} needs a positive latent_dim, found {card.latent_dim!r}")
        if card.latent_prior not in PRIORS:
            raise ContractError(f"latent_prior {card.latent_prior!r} is not one of {', '.join(PRIORS)}")
    if card.role == "classifier":
        if not card.class_names:
            raise ContractError("a classifier needs class_names")
        if card.feature_dim is None or card.feature_dim <= 0:
            raise ContractError(f"a classifier needs a positive feature_dim, found {card.feature_dim!r}")
    expected_families = {"decoder": ("vae", "cvae"), "encoder": ("vae", "cvae"), "generator": ("gan", "cgan"),
                         "classifier": ("classifier",)}[card.role]
    if card.family not in expected_families:
        raise ContractError(f"role {card.role} belongs to family {' or '.join(map(repr, expected_families))}, "
                            f"found {card.family!r}")
    if card.conditional and len(card.class_names) < 2:
        raise ContractError(f"a {card.family} model needs class_names (at least 2: one per class_weights column), "
                            f"found {len(card.class_names)}")
    for role, name in card.siblings.items():
        if role not in ROLES:
            raise ContractError(f"sibling role {role!r} is not one of {', '.join(ROLES)}")
        if Path(name).name != name or name in ("", ".", ".."):
            raise ContractError(f"sibling file {name!r} must be a plain file name in the same folder")


def _tensor_shape(value_info) -> list[int | str | None]:
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def expected_shapes(card: ModelCard) -> dict[str, list[int | str]]:
    """Name -> expected shape with "batch" as the dynamic axis."""
    c, h, w = card.image_shape
    image = ["batch", c, h, w]
    d = card.latent_dim
    weights = {CLASS_WEIGHTS: ["batch", len(card.class_names)]} if card.conditional else {}
    return {
        "decoder": {"z": ["batch", d], **weights, "image": image},
        "generator": {"z": ["batch", d], **weights, "image": image},
        "encoder": {"image": image, "mu": ["batch", d], "logvar": ["batch", d]},
        "classifier": {"image": image, "logits": ["batch", len(card.class_names)],
                       "features": ["batch", card.feature_dim]},
    }[card.role]


def check_model_proto(model, card: ModelCard, *, source: str = "model") -> None:
    """Check graph inputs/outputs, dtypes, dynamic batch axis, opset, IR version and embedded weights."""
    from explorer.io.onnx_proto import messages

    onnx = messages()  # TensorProto, without importing onnx (explorer/io/onnx_proto.py)

    if model.ir_version > IR_VERSION:
        raise ContractError(f"{source}: IR version {model.ir_version} is newer than the pinned {IR_VERSION}")
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    if opsets.get("ai.onnx") != OPSET:
        raise ContractError(f"{source}: default opset is {opsets.get('ai.onnx')}, contract pins {OPSET}")
    external = [i.name for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ContractError(f"{source}: weights stored outside the file ({external[0]}, ...); "
                            "the contract wants them inside")
    shapes = expected_shapes(card)
    initializers = {i.name for i in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    for kind, expected_names, actual in (
        ("inputs", card.input_names, graph_inputs),
        ("outputs", card.output_names, list(model.graph.output)),
    ):
        names = tuple(v.name for v in actual)
        if names != expected_names:
            raise ContractError(f"{source}: {card.role} {kind} are {names}, contract says {expected_names}")
        for v in actual:
            if v.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
                raise ContractError(f"{source}: {v.name} is not float32")
            got = _tensor_shape(v)
            want = shapes[v.name]
            if len(got) != len(want) or isinstance(got[0], int):
                raise ContractError(f"{source}: {v.name} has shape {got}, contract says {want} (batch dynamic)")
            if [g for g in got[1:]] != [x for x in want[1:]]:
                raise ContractError(f"{source}: {v.name} has shape {got}, contract says {want}")


def write_metadata(model, card: ModelCard) -> None:
    """Replace our keys in ``model.metadata_props`` with the card's (other keys are kept)."""
    keep = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(KEY_PREFIX)]
    del model.metadata_props[:]
    for key, value in keep + sorted(card.to_metadata().items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = model.doc_string or f"Latent Explorer {card.family} {card.role}"


def read_card(path: str | os.PathLike) -> ModelCard:
    """Read and validate the contract metadata of an ONNX file (weights are not loaded)."""
    from explorer.io.onnx_proto import load_model_proto

    path = Path(path)
    if not path.is_file():
        raise ContractError(f"{path}: not a file")
    try:
        model = load_model_proto(path)
    except Exception as exc:  # onnx raises DecodeError and friends for corrupt files
        raise ContractError(f"{path.name}: not a readable ONNX file (expected an ONNX model, found data "
                            "that is not ONNX or is truncated)") from None
    return ModelCard.from_metadata(metadata_dict(model, path.name), source=path.name)


# ---- value ranges -------------------------------------------------------------------------------

def to_unit_range(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Map pixels from ``value_range`` to [0, 1] float32 (clipped)."""
    low, high = value_range
    out = (np.asarray(images, dtype=np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)


def from_unit_range(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Map pixels from [0, 1] to ``value_range`` (float32)."""
    low, high = value_range
    return (np.asarray(images, dtype=np.float32) * np.float32(high - low) + np.float32(low)).astype(np.float32)


# ---- atlas (VAE bundles) ------------------------------------------------------------------------

@dataclass(frozen=True)
class Atlas:
    """Encoder outputs for a labelled image set, ready for the latent map.

    mu, logvar: float32 [N, D]; labels: int64 [N] (-1 = unlabelled); split: "test" etc.
    """

    mu: np.ndarray
    logvar: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    split: str = "test"

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically as an .npz (plain arrays only: loading never unpickles)."""
        with atomic_path(path, ".npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, mu=self.mu.astype(np.float32), logvar=self.logvar.astype(np.float32),
                labels=self.labels.astype(np.int64),
                class_names=np.array(self.class_names, dtype=np.str_), split=np.array(self.split),
                format_version=np.array(ATLAS_VERSION))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Atlas":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                mu, logvar, labels = data["mu"], data["logvar"], data["labels"]
                names = tuple(str(c) for c in data["class_names"])
                split = str(data["split"])
                version = int(data["format_version"]) if "format_version" in data else ATLAS_VERSION
        except FileNotFoundError:
            raise ContractError(f"{path}: atlas file not found") from None
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or ["not an .npz of plain arrays"])[0][:120]
            raise ContractError(f"{path.name}: not a readable atlas (expected an .npz with mu, logvar, labels, "
                                f"class_names and split; {reason})") from None
        if version > ATLAS_VERSION:
            raise ContractError(f"{path.name}: atlas version {version} is newer than this app understands "
                                f"({ATLAS_VERSION}); update Latent Explorer")
        if mu.ndim != 2 or mu.shape != logvar.shape or labels.shape != (mu.shape[0],):
            raise ContractError(
                f"{path.name}: atlas arrays disagree: mu {mu.shape}, logvar {logvar.shape}, labels {labels.shape}")
        return cls(mu=mu.astype(np.float32), logvar=logvar.astype(np.float32), labels=labels.astype(np.int64),
                   class_names=names, split=split)


# ---- bundles -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bundle:
    """A folder holding the ONNX files of one model (and, for a VAE, its atlas)."""

    folder: Path
    cards: dict[str, ModelCard]  # role -> card
    files: dict[str, Path]  # role -> path

    @property
    def family(self) -> str:
        return next(iter(self.cards.values())).family

    @property
    def primary_role(self) -> str:
        """The role the app decodes with: decoder or generator (else whatever is there)."""
        for role in ("generator", "decoder", "classifier", "encoder"):
            if role in self.cards:
                return role
        raise ContractError(f"{self.folder}: bundle is empty")


def open_bundle(folder: str | os.PathLike) -> Bundle:
    """Read the cards of every ONNX file in ``folder``; check siblings point at files that exist."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ContractError(f"{folder}: not a folder")
    onnx_files = sorted(folder.glob("*.onnx"))
    if not onnx_files:
        raise ContractError(f"{folder}: no .onnx files in this folder")
    cards: dict[str, ModelCard] = {}
    files: dict[str, Path] = {}
    for path in onnx_files:
        card = read_card(path)
        if card.role in cards:
            raise ContractError(f"{folder}: two files claim role {card.role}: {files[card.role].name}, {path.name}")
        cards[card.role], files[card.role] = card, path
    by_name = {path.name: role for role, path in files.items()}
    for role, card in cards.items():
        for sib_role, name in card.siblings.items():
            if not (folder / name).is_file():
                raise ContractError(f"{files[role].name}: sibling {sib_role} file {name!r} is missing from {folder}")
            if by_name.get(name, sib_role) != sib_role:
                raise ContractError(f"{files[role].name}: sibling {sib_role} file {name!r} holds a {by_name[name]}")
    families = {c.family for c in cards.values()}
    if len(families) > 1:
        raise ContractError(f"{folder}: files of different families in one bundle: {sorted(families)}")
    return Bundle(folder=folder, cards=cards, files=files)
