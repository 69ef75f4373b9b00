"""explorer.io.contract, from both sides: hand-built files the reader must accept or refuse with a clear
message, and the bundles that a tiny training run exports."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from explorer.io import contract as C
from explorer.io.contract import Atlas, ContractError, ModelCard
from tiny_training import REPO, ort_session, requires_fashion, tiny_run

# ---- cards ---------------------------------------------------------------------------------------

CARDS = {
    "decoder": ModelCard(role="decoder", family="vae", image_channels=1, image_height=8, image_width=8,
                         value_range=(0.0, 1.0), latent_dim=4, dataset="fashion-mnist",
                         class_names=C.FASHION_MNIST_CLASSES, epoch=7, metrics={"test_neg_elbo": 251.5},
                         siblings={"encoder": "encoder.onnx"}, name="tiny vae"),
    "encoder": ModelCard(role="encoder", family="vae", image_channels=1, image_height=8, image_width=8,
                         value_range=(0.0, 1.0), latent_dim=4, siblings={"decoder": "decoder.onnx"}),
    "generator": ModelCard(role="generator", family="gan", image_channels=3, image_height=12, image_width=8,
                           value_range=(-1.0, 1.0), latent_dim=5, dataset="folder:shapes",
                           class_names=("circle", "square"), epoch=None, metrics={"d_x": 0.5, "g_loss": 1.25}),
    "classifier": ModelCard(role="classifier", family="classifier", image_channels=1, image_height=8,
                            image_width=8, value_range=(0.0, 1.0), latent_dim=None, latent_prior=None,
                            class_names=("a", "b", "c"), feature_dim=6, metrics={"test_accuracy": 0.9}),
}


@pytest.mark.parametrize("role", list(CARDS))
def test_card_metadata_round_trip(role):
    card = CARDS[role]
    meta = card.to_metadata()
    assert all(k.startswith(C.KEY_PREFIX) for k in meta)
    for value in meta.values():
        json.loads(value)  # every value is JSON text
    assert json.loads(meta[C.KEY_PREFIX + "format"]) == C.FORMAT_NAME
    assert json.loads(meta[C.KEY_PREFIX + "format_version"]) == 1  # unconditional files stay version 1
    back = ModelCard.from_metadata(meta)
    assert back == card
    assert back.value_range == tuple(float(v) for v in card.value_range)
    assert back.input_names == C.IO_NAMES[role][0] and back.output_names == C.IO_NAMES[role][1]


def test_foreign_keys_are_ignored_and_kept():
    model = make_model("decoder", CARDS["decoder"])
    entry = model.metadata_props.add()
    entry.key, entry.value = "producer.note", "not json {"
    C.write_metadata(model, replace(CARDS["decoder"], epoch=8))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["producer.note"] == "not json {"
    assert ModelCard.from_metadata(props).epoch == 8
    assert sum(k.startswith(C.KEY_PREFIX) for k in props) == len(CARDS["decoder"].to_metadata())


def meta_with(**changes):
    """The decoder card's metadata with some values replaced by raw text (None removes the key)."""
    meta = CARDS["decoder"].to_metadata()
    for key, text in changes.items():
        if text is None:
            meta.pop(C.KEY_PREFIX + key)
        else:
            meta[C.KEY_PREFIX + key] = text
    return meta


@pytest.mark.parametrize("changes, message", [
    ({"role": None, "image_width": None}, "lacks latent_explorer.role, latent_explorer.image_width"),
    ({"value_range": None}, "lacks latent_explorer.value_range"),
    ({"format_version": "3"}, "newer than this app understands (2); update Latent Explorer"),
    ({"format_version": "99"}, "contract version 99 is newer"),
    ({"format_version": None}, "format_version' is None, expected a positive integer"),
    ({"format_version": '"1"'}, "format_version' is '1', expected a positive integer"),
    ({"format_version": "0"}, "expected a positive integer"),
    ({"family": '"gan"'}, "role decoder belongs to family 'vae' or 'cvae', found 'gan'"),
    ({"role": '"discriminator"'}, "role 'discriminator' is not one of"),
    ({"latent_dim": "{not json"}, "metadata 'latent_explorer.latent_dim' is not JSON"),
    ({"format": '"other-tool"'}, "format is 'other-tool', expected 'latent-explorer'"),
    ({"image_channels": "2"}, "image_channels is 2, expected 1 (gray) or 3 (RGB)"),
    ({"value_range": "[1, 0]"}, "must be finite with low < high"),
    ({"value_range": "0.5"}, "malformed metadata"),
    ({"latent_dim": '"many"'}, "malformed metadata"),
    ({"latent_dim": "0"}, "needs a positive latent_dim"),
    ({"metrics": "[1, 2]"}, "malformed metadata"),
    ({"siblings": '["encoder.onnx"]'}, "malformed metadata"),
    ({"siblings": '{"encoder": "../elsewhere/encoder.onnx"}'}, "must be a plain file name"),
    ({"latent_prior": '"uniform"'}, "latent_prior 'uniform' is not one of normal"),
])
def test_bad_metadata_gives_one_clear_line(changes, message):
    with pytest.raises(ContractError) as info:
        ModelCard.from_metadata(meta_with(**changes), source="decoder.onnx")
    text = str(info.value)
    assert message in text
    assert text.startswith("decoder.onnx: ") and "\n" not in text


def test_no_metadata_at_all():
    with pytest.raises(ContractError, match=r"model.onnx: no Latent Explorer metadata \(keys 'latent_explorer\.\*'"):
        ModelCard.from_metadata({"other": "1"}, source="model.onnx")


def test_card_validation_in_python():
    with pytest.raises(ContractError, match="a classifier needs class_names"):
        replace(CARDS["classifier"], class_names=())
    with pytest.raises(ContractError, match="positive feature_dim"):
        replace(CARDS["classifier"], feature_dim=None)
    with pytest.raises(ContractError, match="sibling role 'atlas'"):
        replace(CARDS["decoder"], siblings={"atlas": "atlas.npz"})
    with pytest.raises(ContractError, match="must be positive"):
        replace(CARDS["decoder"], image_height=0)
    with pytest.raises(ContractError, match="finite"):
        replace(CARDS["decoder"], value_range=(0.0, float("inf")))


def test_value_range_conversions_invert_each_other():
    x = np.linspace(-1, 1, 11, dtype=np.float32)
    unit = C.to_unit_range(x, (-1.0, 1.0))
    assert unit.dtype == np.float32 and unit.min() == 0 and unit.max() == 1
    np.testing.assert_allclose(C.from_unit_range(unit, (-1.0, 1.0)), x, atol=1e-6)
    assert C.to_unit_range(np.array([-5.0, 5.0]), (0.0, 1.0)).tolist() == [0.0, 1.0]  # clipped


# ---- graphs --------------------------------------------------------------------------------------

def make_model(role: str, card: ModelCard, *, input_names=None, output_names=None, shapes=None,
               batch="batch", dtype=TensorProto.FLOAT, opset=C.OPSET, ir=C.IR_VERSION) -> onnx.ModelProto:
    """A tiny valid graph for ``role`` (MatMul/Reshape/Identity) whose interface can be bent per test."""
    want = C.expected_shapes(card)
    shapes = dict(want, **(shapes or {}))
    ins = list(input_names or card.input_names)
    outs = list(output_names or card.output_names)
    c, h, w = card.image_shape
    nodes, inits = [], []
    if role in ("decoder", "generator"):
        d = card.latent_dim
        inits += [numpy_helper.from_array(np.zeros((d, c * h * w), np.float32), "W"),
                  numpy_helper.from_array(np.array([-1, c, h, w], np.int64), "shape")]
        nodes += [helper.make_node("MatMul", [ins[0], "W"], ["flat"]),
                  helper.make_node("Reshape", ["flat", "shape"], [outs[0]])]
    else:
        k = card.latent_dim if role == "encoder" else len(card.class_names)
        f = card.latent_dim if role == "encoder" else card.feature_dim
        inits += [numpy_helper.from_array(np.zeros((c * h * w, k), np.float32), "W1"),
                  numpy_helper.from_array(np.zeros((c * h * w, f), np.float32), "W2")]
        nodes += [helper.make_node("Flatten", [ins[0]], ["flat"], axis=1),
                  helper.make_node("MatMul", ["flat", "W1"], [outs[0]]),
                  helper.make_node("MatMul", ["flat", "W2"], [outs[1]])]
    canonical = list(card.input_names) + list(card.output_names)

    def info(name, canonical_name):
        shape = list(shapes[canonical_name])
        return helper.make_tensor_value_info(name, dtype if name in ins else TensorProto.FLOAT,
                                             [batch] + shape[1:])

    graph = helper.make_graph(nodes, role, [info(n, cn) for n, cn in zip(ins, canonical)],
                              [info(n, cn) for n, cn in zip(outs, canonical[len(ins):])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir
    C.write_metadata(model, card)
    return model


@pytest.mark.parametrize("role", list(CARDS))
def test_check_model_proto_accepts_the_contract_and_onnxruntime_runs_it(role, tmp_path):
    card = CARDS[role]
    model = make_model(role, card)
    onnx.checker.check_model(model, full_check=True)
    C.check_model_proto(model, card)
    path = tmp_path / C.BUNDLE_FILES[role]
    onnx.save(model, str(path))
    assert C.read_card(path) == card
    session = ort_session(path)
    feed = np.zeros([5] + C.expected_shapes(card)[card.input_names[0]][1:], np.float32)
    outs = session.run(None, {card.input_names[0]: feed})
    assert [o.shape[0] for o in outs] == [5] * len(card.output_names)


@pytest.mark.parametrize("bend, message", [
    (dict(input_names=["latent"]), "decoder inputs are ('latent',), contract says ('z',)"),
    (dict(output_names=["x"]), "decoder outputs are ('x',), contract says ('image',)"),
    (dict(shapes={"image": ["batch", 1, 8, 9]}), "image has shape ['batch', 1, 8, 9], contract says"),
    (dict(shapes={"z": ["batch", 5]}), "z has shape ['batch', 5]"),
    (dict(batch=1), "(batch dynamic)"),
    (dict(dtype=TensorProto.DOUBLE), "z is not float32"),
    (dict(opset=13), "default opset is 13, contract pins 17"),
    (dict(ir=9), "IR version 9 is newer than the pinned 8"),
])
def test_check_model_proto_catches(bend, message):
    card = CARDS["decoder"]
    if "shapes" in bend and "z" in bend["shapes"]:
        # a 5-wide z cannot feed a 4-row W: declare the wrong shape only (the check reads declarations)
        model = make_model("decoder", card)
        model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 5
    else:
        model = make_model("decoder", card, **bend)
    with pytest.raises(ContractError) as info:
        C.check_model_proto(model, card, source="decoder.onnx")
    assert message in str(info.value) and str(info.value).startswith("decoder.onnx: ")


def test_check_model_proto_catches_wrong_class_count_and_missing_output():
    card = CARDS["classifier"]
    with pytest.raises(ContractError, match=r"logits has shape \['batch', 4\]"):
        C.check_model_proto(make_model("classifier", card, shapes={"logits": ["batch", 4]}), card)
    with pytest.raises(ContractError, match=r"encoder outputs are \('mu',\)"):
        model = make_model("encoder", CARDS["encoder"])
        del model.graph.output[1]
        C.check_model_proto(model, CARDS["encoder"])


def test_check_model_proto_catches_external_weights(tmp_path):
    card = CARDS["generator"]
    model = make_model("generator", card)
    onnx.save(model, str(tmp_path / "g.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="g.weights", size_threshold=0)
    with pytest.raises(ContractError, match="weights stored outside the file"):
        C.check_model_proto(onnx.load(str(tmp_path / "g.onnx"), load_external_data=False), card)


def test_read_card_errors(tmp_path):
    with pytest.raises(ContractError, match="not a file"):
        C.read_card(tmp_path / "none.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage that is not protobuf \xff\xff")
    with pytest.raises(ContractError, match="junk.onnx: not a readable ONNX file"):
        C.read_card(tmp_path / "junk.onnx")
    bare = make_model("decoder", CARDS["decoder"])
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ContractError, match="bare.onnx: no Latent Explorer metadata"):
        C.read_card(tmp_path / "bare.onnx")


def test_contract_module_never_imports_torch_or_qt():
    code = ("import sys, explorer.io.contract; "
            "bad = [m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# ---- atlas ---------------------------------------------------------------------------------------

def test_atlas_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    atlas = Atlas(mu=rng.normal(size=(30, 4)), logvar=rng.normal(size=(30, 4)),  # float64 in, float32 stored
                  labels=np.arange(30, dtype=np.int32) % 3 - 1, class_names=("T-shirt/top", "Trouser", "Überrock"),
                  split="test")
    atlas.save(tmp_path / "atlas.npz")
    back = Atlas.load(tmp_path / "atlas.npz")
    assert back.mu.dtype == np.float32 and back.logvar.dtype == np.float32 and back.labels.dtype == np.int64
    np.testing.assert_array_equal(back.mu, atlas.mu.astype(np.float32))
    np.testing.assert_array_equal(back.logvar, atlas.logvar.astype(np.float32))
    np.testing.assert_array_equal(back.labels, atlas.labels)
    assert back.class_names == atlas.class_names and back.split == "test"
    assert [p.name for p in tmp_path.iterdir()] == ["atlas.npz"]  # no temporary file left
    with np.load(tmp_path / "atlas.npz", allow_pickle=False) as raw:
        assert int(raw["format_version"]) == C.ATLAS_VERSION


def test_atlas_unlabelled_round_trip(tmp_path):
    Atlas(mu=np.zeros((2, 3), np.float32), logvar=np.zeros((2, 3), np.float32), labels=np.full(2, -1),
          class_names=()).save(tmp_path / "a.npz")
    back = Atlas.load(tmp_path / "a.npz")
    assert back.class_names == () and back.labels.tolist() == [-1, -1]


def test_atlas_load_errors(tmp_path):
    with pytest.raises(ContractError, match="atlas file not found"):
        Atlas.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "shapes.npz", mu=np.zeros((3, 2)), logvar=np.zeros((3, 3)), labels=np.zeros(3),
             class_names=np.array([], str), split=np.array("test"))
    with pytest.raises(ContractError, match="atlas arrays disagree"):
        Atlas.load(tmp_path / "shapes.npz")
    np.savez(tmp_path / "pickled.npz", mu=np.array([object()]), logvar=np.zeros(1), labels=np.zeros(1),
             class_names=np.array([], str), split=np.array("test"))
    with pytest.raises(ContractError, match="not a readable atlas"):
        Atlas.load(tmp_path / "pickled.npz")  # loading never unpickles
    np.savez(tmp_path / "nomu.npz", logvar=np.zeros((1, 1)))
    with pytest.raises(ContractError, match="not a readable atlas .*mu"):
        Atlas.load(tmp_path / "nomu.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ContractError, match="junk.npz: not a readable atlas"):
        Atlas.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "future.npz", mu=np.zeros((1, 2)), logvar=np.zeros((1, 2)), labels=np.zeros(1),
             class_names=np.array([], str), split=np.array("test"), format_version=np.array(2))
    with pytest.raises(ContractError, match="atlas version 2 is newer"):
        Atlas.load(tmp_path / "future.npz")


# ---- bundles -------------------------------------------------------------------------------------

def write_bundle(folder: Path, roles=("decoder", "encoder"), cards=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for role in roles:
        card = (cards or {}).get(role, CARDS[role])
        onnx.save(make_model(role, card), str(folder / C.BUNDLE_FILES[role]))
    return folder


def test_open_bundle_vae(tmp_path):
    folder = write_bundle(tmp_path / "vae")
    bundle = C.open_bundle(folder)
    assert bundle.family == "vae" and bundle.primary_role == "decoder"
    assert set(bundle.cards) == {"decoder", "encoder"} and bundle.files["encoder"] == folder / "encoder.onnx"
    Atlas(mu=np.zeros((1, 4)), logvar=np.zeros((1, 4)), labels=np.zeros(1), class_names=()).save(
        folder / C.ATLAS_FILE)
    # the atlas beside the ONNX files is not a role: the bundle reads the same with it
    assert set(C.open_bundle(folder).cards) == {"decoder", "encoder"}
    assert Atlas.load(folder / C.ATLAS_FILE).mu.shape == (1, 4)


def test_open_bundle_errors(tmp_path):
    with pytest.raises(ContractError, match="not a folder"):
        C.open_bundle(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "atlas.npz").write_bytes(b"")
    with pytest.raises(ContractError, match="empty: no .onnx files in this folder"):
        C.open_bundle(tmp_path / "empty")
    lonely = write_bundle(tmp_path / "lonely", roles=("decoder",))
    with pytest.raises(ContractError) as info:
        C.open_bundle(lonely)
    assert "decoder.onnx: sibling encoder file 'encoder.onnx' is missing from" in str(info.value)
    mixed = write_bundle(tmp_path / "mixed", roles=("generator", "classifier"))
    with pytest.raises(ContractError, match=r"different families in one bundle: \['classifier', 'gan'\]"):
        C.open_bundle(mixed)
    twice = write_bundle(tmp_path / "twice", roles=("generator",))
    onnx.save(make_model("generator", CARDS["generator"]), str(twice / "generator-copy.onnx"))
    with pytest.raises(ContractError, match="two files claim role generator"):
        C.open_bundle(twice)
    broken = write_bundle(tmp_path / "broken", roles=("generator",))
    (broken / "z-notes.onnx").write_text("hello")
    with pytest.raises(ContractError, match="z-notes.onnx: not a readable ONNX file"):
        C.open_bundle(broken)


def test_open_bundle_sibling_must_hold_the_named_role(tmp_path):
    cards = {"decoder": replace(CARDS["decoder"], siblings={"encoder": "decoder.onnx"})}
    folder = write_bundle(tmp_path / "self", roles=("decoder", "encoder"), cards=cards)
    with pytest.raises(ContractError, match="sibling encoder file 'decoder.onnx' holds a decoder"):
        C.open_bundle(folder)


def test_open_bundle_ignores_temporary_files(tmp_path):
    """A writer's half-written temp file (see training/files.py) is not part of the bundle."""
    folder = write_bundle(tmp_path / "gan", roles=("generator",))
    (folder / ".generator.onnx.1234.tmp").write_bytes(b"half a file")
    assert set(C.open_bundle(folder).cards) == {"generator"}


# ---- the other side: what training exports -------------------------------------------------------

FAMILY_ROLES = {"vae": ("decoder", "encoder"), "gan": ("generator",), "classifier": ("classifier",)}


@requires_fashion
@pytest.mark.parametrize("family", ["vae", "gan", "classifier"])
def test_exported_bundle_satisfies_the_contract(family, tmp_path_factory):
    from training.train import CARD_METRICS

    run = tiny_run(tmp_path_factory, family)
    bundle = C.open_bundle(run / "model")
    assert bundle.family == family and set(bundle.cards) == set(FAMILY_ROLES[family])
    for role, card in bundle.cards.items():
        path = bundle.files[role]
        assert path.name == C.BUNDLE_FILES[role]
        assert C.read_card(path) == card
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        C.check_model_proto(model, card, source=path.name)
        assert model.ir_version == C.IR_VERSION
        assert card.image_shape == (1, 28, 28) and card.dataset == "fashion-mnist"
        assert card.class_names == C.FASHION_MNIST_CLASSES and card.epoch == 2
        assert set(card.metrics) == set(CARD_METRICS[family])
        assert card.value_range == ((-1.0, 1.0) if role == "generator" else (0.0, 1.0))
        assert card.latent_dim == (None if family == "classifier" else 8)
        assert all((run / "model" / name).is_file() for name in card.siblings.values())
        assert card.siblings == {r: C.BUNDLE_FILES[r] for r in FAMILY_ROLES[family] if r != role}
        # any batch size; outputs inside the declared value range
        session = ort_session(path)
        rng = np.random.default_rng(0)
        for n in (1, 4):
            shape = [n] + C.expected_shapes(card)[card.input_names[0]][1:]
            feed = rng.standard_normal(shape) if card.input_names == ("z",) else rng.random(shape)
            outs = dict(zip(card.output_names, session.run(None, {card.input_names[0]: feed.astype(np.float32)})))
            for name, value in outs.items():
                assert value.shape == tuple([n] + C.expected_shapes(card)[name][1:])
                assert value.dtype == np.float32 and np.isfinite(value).all()
            if "image" in outs:
                low, high = card.value_range
                assert outs["image"].min() >= low and outs["image"].max() <= high
    if family == "vae":
        atlas = Atlas.load(bundle.folder / C.ATLAS_FILE)
        assert atlas.mu.shape == (128, 8) and atlas.labels.shape == (128,)
        assert atlas.class_names == C.FASHION_MNIST_CLASSES and set(atlas.labels.tolist()) <= set(range(10))
