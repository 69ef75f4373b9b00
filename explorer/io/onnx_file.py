"""The one way to open an ONNX file, for every role: generator, decoder, encoder, classifier.

``open_onnx(path, roles)`` takes a model file or a bundle folder and

1. resolves the file: a folder is read as a bundle and the file of the first wanted role is taken
   (a foreign generator alone in its folder is taken as it is);
2. reads the graph without its weights and the card (contract metadata) when there is one; only a
   generator or decoder may come without a card, the other roles cannot be driven without one;
3. checks the role: a file of another role that names a sibling of a wanted role (an encoder that
   names its decoder) is replaced by that sibling, anything else is refused;
4. checks the graph against the contract (mismatches become notes, not refusals, as before);
5. refuses external data that leaves the model's folder (see :func:`check_external_data`), in the
   file and in every sibling its card names (a bundle is opened whole or not at all);
6. creates the onnxruntime session with the provider policy (``explorer/io/providers.py``).

Every failure is one :class:`ModelError` line. onnx and onnxruntime are imported when a file is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from explorer.io import contract
from explorer.io.contract import ContractError, MetadataUnreadable, ModelCard
from explorer.io.model_error import ModelError, first_line
from explorer.io.providers import ProviderPlan, create_session, plan_providers, trt_profiles
from explorer.io.time_limit import PROBE_SECONDS, run_with_limit

DECODING_ROLES = ("decoder", "generator")
# Roles that can be driven without a card: a generator's signature is inferred from its graph
# (explorer/io/signature.py); an encoder's or classifier's output names and ranges cannot be.
CARDLESS_ROLES = DECODING_ROLES
# When the external-data file has more than one name, how many folder entries we look through to
# find them all before giving up (and refusing): model folders hold a handful of files.
HARDLINK_SCAN_LIMIT = 10_000


@dataclass
class OnnxFile:
    """An opened ONNX file.

    path: the .onnx file the session reads (after bundle and sibling resolution).
    card: its contract card, None for a foreign generator.
    session: the onnxruntime InferenceSession.
    notes: one line each: contract-check findings and provider fallbacks, for the user.
    proto: the graph without its weights (onnx.ModelProto), for signature inference; drop it when done.
    """

    path: Path
    card: ModelCard | None
    session: object
    notes: tuple[str, ...]
    proto: object | None = None
    metadata_note: str | None = None  # why the metadata was not read (MetadataUnreadable), when it was not

    @property
    def providers(self) -> list[str]:
        """What onnxruntime runs the session on, best first (``session.get_providers()``)."""
        return list(self.session.get_providers())


def role_words(roles: tuple[str, ...]) -> str:
    """'a decoder or generator', 'an encoder', 'a classifier': the roles as a message says them."""
    first = roles[0]
    return ("an " if first[0] in "aeiou" else "a ") + " or ".join(roles)


def open_onnx(path: str | os.PathLike, roles: tuple[str, ...], *, plan: ProviderPlan | None = None) -> OnnxFile:
    """Open ``path`` (an .onnx file or a bundle folder) as one of ``roles``. Raises ModelError (one line).

    Whatever onnx, protobuf or onnxruntime raise on a hostile file becomes a ModelError too (see
    :func:`refusal`): nothing else leaves this function, so no caller needs a catch-all.
    """
    try:
        file = resolve_onnx_file(path, roles)
        return _open_file(file, roles, plan, followed_sibling=False)
    except ModelError:
        raise
    except Exception as exc:
        raise refusal(Path(path).name or str(path), f"{role_words(roles)} ONNX file", exc) from None


def refusal(source: str, expected: str, exc: BaseException) -> ModelError:
    """One line for an exception that a hostile file raised somewhere below us: what was expected and,
    in words rather than an exception's name, what was found."""
    if isinstance(exc, UnicodeError):
        found = "text that is not valid UTF-8 (a name or metadata string)"
    elif isinstance(exc, RecursionError):
        found = "structures nested too deeply to read"
    elif isinstance(exc, MemoryError):
        found = "sizes too large to allocate"
    elif isinstance(exc, OverflowError):
        found = "a number too large to use"
    else:
        found = f"data the ONNX reader could not use: {first_line(exc)}"
    return ModelError(f"{source}: expected {expected}, found {found}")


def _open_file(file: Path, roles: tuple[str, ...], plan: ProviderPlan | None, *, followed_sibling: bool) -> OnnxFile:
    proto = load_graph(file)
    source = file.name
    notes: list[str] = []
    try:
        card = card_of(proto, source)
    except MetadataUnreadable as exc:
        if not set(roles) & set(CARDLESS_ROLES):
            raise ModelError(str(exc)) from None
        # The graph may well be fine: open it as a model without metadata, and say why.
        card = None
        notes.append(f"{exc}; opened as a model without metadata (its layout is inferred)")
    metadata_note = notes[0] if notes else None
    if card is None and not set(roles) & set(CARDLESS_ROLES):
        raise ModelError(f"{source}: expected {role_words(roles)} with Latent Explorer metadata, found a "
                         "file without it (export it with latent-train, which writes the card)")
    if card is not None and card.role not in roles:
        # A file of another role of the same bundle (an encoder opened on its own): open the sibling.
        for role in roles:
            sibling = card.siblings.get(role)
            if sibling and not followed_sibling and (file.parent / sibling).is_file():
                return _open_file(file.parent / sibling, roles, plan, followed_sibling=True)
        raise ModelError(f"{source}: expected {role_words(roles)}, found a {card.role}")
    if card is not None:
        try:
            contract.check_model_proto(proto, card, source=source)
        except ContractError as exc:
            notes.append(f"contract check: {exc}")
    check_external_data(proto, file.parent, source)
    if card is not None:
        check_siblings(file, card)
    plan = plan or plan_providers()
    profiles = trt_profiles(proto) if "TensorrtExecutionProvider" in plan.requested else None
    session, provider_notes = create_session(file, plan, profiles)
    if card is not None and card.role not in DECODING_ROLES:
        probe_image_model(session, card, source)  # decoders are probed by open_model, with their signature
    return OnnxFile(path=file, card=card, session=session, notes=tuple(notes[1:] if metadata_note else notes)
                    + tuple(provider_notes), proto=proto, metadata_note=metadata_note)


def probe_image_model(session, card: ModelCard, source: str) -> None:
    """Run an encoder or classifier once on a blank image under PROBE_SECONDS: a graph that loops for
    ever, or that cannot take the image its card promises, is refused here rather than in a map job."""
    import numpy as np

    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{source}: expected {role_words((card.role,))} with one image input, "
                         f"found {len(inputs)} inputs")
    image = np.zeros((1,) + card.image_shape, np.float32)
    run_with_limit(session, None, {inputs[0].name: image}, seconds=PROBE_SECONDS, source=source,
                   what=f"a probe run on a blank {card.image_channels}x{card.image_height}x{card.image_width} image")


def check_siblings(file: Path, card: ModelCard) -> None:
    """Refuse a bundle when any sibling file its card names keeps weights outside the folder.

    A bundle is one unit: opening its decoder must not succeed when its encoder would read data from
    elsewhere, or the map (which opens the encoder later) would be the first to find out.
    """
    for name in card.siblings.values():
        sibling = file.parent / name
        if sibling != file and sibling.is_file():
            check_external_data(load_graph(sibling), file.parent, sibling.name)


def resolve_onnx_file(path: str | os.PathLike, roles: tuple[str, ...]) -> Path:
    """The .onnx file to open for ``path``: the file itself, or the file of a wanted role in a bundle folder."""
    path = Path(path).expanduser()
    if not path.is_dir():
        if not path.exists():
            if set(roles) & set(DECODING_ROLES):
                raise ModelError(f"{path}: no such file or folder")
            raise ModelError(f"{path}: expected {role_words(roles)} .onnx file or bundle folder, found nothing there")
        return path
    onnx_files = sorted(path.glob("*.onnx"))
    if not onnx_files:
        raise ModelError(f"{path}: expected a bundle folder with .onnx files, found none")
    try:
        bundle = contract.open_bundle(path)
    except ContractError as exc:
        if len(onnx_files) == 1 and set(roles) & set(CARDLESS_ROLES):
            return onnx_files[0]  # a foreign model in its own folder
        raise ModelError(str(exc)) from None
    for role in roles:
        if role in bundle.files:
            return bundle.files[role]
    raise ModelError(f"{path.name}: expected {role_words(roles)}, this bundle holds {', '.join(sorted(bundle.cards))}")


def load_graph(path: Path):
    """The ModelProto of ``path`` without its external weights; ModelError when it is not an ONNX model."""
    from explorer.io.onnx_proto import load_model_proto

    if not path.exists():
        raise ModelError(f"{path}: no such file or folder")
    if not path.is_file():
        raise ModelError(f"{path}: expected an .onnx file or a bundle folder, found something else")
    if path.stat().st_size == 0:
        raise ModelError(f"{path.name}: expected an ONNX model, found an empty file")
    try:
        proto = load_model_proto(path)  # onnx.load(path, load_external_data=False), without importing onnx
    except Exception as exc:
        raise ModelError(f"{path.name}: expected an ONNX model, found unreadable data "
                         "(not ONNX, or truncated)") from None
    if not proto.graph.output or not proto.graph.node:
        raise ModelError(f"{path.name}: expected an ONNX model with a graph, found none (not ONNX or truncated)")
    return proto


def card_of(proto, source: str) -> ModelCard | None:
    """The contract card in the graph's metadata; None when it has none of our keys; ModelError when bad."""
    props = contract.metadata_dict(proto, source)  # MetadataUnreadable for a key that is not UTF-8
    if not any(k.startswith(contract.KEY_PREFIX) for k in props):
        return None
    try:
        return ModelCard.from_metadata(props, source=source)
    except MetadataUnreadable:
        raise
    except ContractError as exc:
        raise ModelError(str(exc)) from None


# ---- external data ---------------------------------------------------------------------------------

def _all_tensors(graph):
    """Every TensorProto of ``graph`` and its subgraphs (If/Loop/Scan bodies): initializers, sparse
    initializers and tensor attributes; any of them may keep its bytes in an external file."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices
            if attr.HasField("g"):
                yield from _all_tensors(attr.g)
            for sub in attr.graphs:
                yield from _all_tensors(sub)


def check_external_data(model_proto, folder: Path, source: str) -> None:
    """Refuse tensors whose external-data file is missing or lies outside the model's ``folder``.

    "Outside" means any of:

    * an absolute location, or one that climbs out with ``..``;
    * a location that, with every symbolic link on the way resolved, ends outside ``folder``
      (a link inside the folder that points out is as good as naming the outside file);
    * a hard link: a file whose inode has more names (``st_nlink``) than we find inside ``folder``
      (walking it without following links). A hard link has no direction, so we cannot tell the
      copy from the original; the rule is that every name of the data must be inside the folder.
      A file hard-linked between two model folders is therefore refused too (copy it instead).
    """
    from explorer.io.onnx_proto import messages

    onnx = messages()  # TensorProto, without importing onnx (explorer/io/onnx_proto.py)

    root = folder.resolve()
    for t in _all_tensors(model_proto.graph):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        if not isinstance(location, str) or "\0" in location:
            raise ModelError(f"{source}: weights of '{t.name}' name an external file {location!r}, "
                             "expected a plain file name next to the model; refusing to read them")
        target = (root / location).resolve()
        if os.path.isabs(location) or (target != root and root not in target.parents):
            raise ModelError(f"{source}: weights of '{t.name}' point outside the model folder "
                             f"({location!r}); refusing to read them")
        if not target.is_file():
            raise ModelError(f"{source}: external weights file {location!r} is missing next to the model")
        names = os.stat(target).st_nlink
        if names > 1 and _names_inside(root, target) < names:
            raise ModelError(f"{source}: weights file {location!r} is a hard link to a file outside the model "
                             "folder; refusing to read it (copy the file into the folder instead)")


def _names_inside(root: Path, target: Path) -> int:
    """How many directory entries under ``root`` name the same inode as ``target`` (0 when the folder
    is too big to look through, so that the caller refuses)."""
    want = os.stat(target)
    found = seen = 0
    for dirpath, _dirnames, filenames in os.walk(root):  # does not follow symbolic links
        for name in filenames:
            seen += 1
            if seen > HARDLINK_SCAN_LIMIT:
                return 0
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if st.st_ino == want.st_ino and st.st_dev == want.st_dev:
                found += 1
    return found
