"""The one ONNX opener (explorer/io/onnx_file.py): every role goes through it, and external data that
leaves the model's folder (``..``, absolute, a symbolic link or a hard link pointing out) is refused in
one line, through the map's encoder, ``latent-explorer info``, the monitor's Classifier and
``latent-explorer diversity --classifier``; external data inside the folder still opens."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import model_factory as mf
from explorer.cli.main import main
from explorer.core import atlas_data as A
from explorer.core.monitor import Classifier, MonitorError
from explorer.io import contract
from explorer.io.contract import ModelCard
from explorer.io.model_error import ModelError
from explorer.io.onnx_file import check_external_data, open_onnx
from explorer.io.runtime import open_model

OUTSIDE = "outside the model folder"
HARD_LINK = "hard link to a file outside the model folder"


def make_classifier(path: Path, *, size=8, classes=("a", "b", "c"), features=6) -> Path:
    """A contract classifier: features = flatten(image) @ W1, logits = features @ W2."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((size * size, features)).astype(np.float32), "W1"),
             numpy_helper.from_array(rng.standard_normal((features, len(classes))).astype(np.float32), "W2")]
    nodes = [helper.make_node("Flatten", ["image"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "W1"], ["features"]),
             helper.make_node("MatMul", ["features", "W2"], ["logits"])]
    graph = helper.make_graph(
        nodes, "clf", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(classes)]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", features])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", contract.OPSET)])
    model.ir_version = contract.IR_VERSION
    contract.write_metadata(model, ModelCard(role="classifier", family="classifier", image_channels=1,
                                             image_height=size, image_width=size, value_range=(0.0, 1.0),
                                             latent_dim=None, latent_prior=None, class_names=tuple(classes),
                                             feature_dim=features))
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def externalise(path: Path, how: str, outside: Path) -> Path:
    """Re-save ``path`` with its weights in a separate file, placed ``how``:

    "inside": weights.bin next to the model; "dotdot": ../weights.bin; "absolute": an absolute path;
    "symlink": weights.bin is a symbolic link to a file outside; "hardlink": weights.bin is a hard link
    to a file outside; "hardlink-inside": weights.bin and a second name both inside the folder.
    """
    proto = onnx.load(str(path))
    folder = path.parent
    onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    weights = folder / "weights.bin"
    assert weights.is_file()
    if how == "inside":
        return path
    if how == "hardlink-inside":
        try:
            os.link(weights, folder / "weights-copy.bin")
        except OSError as exc:
            pytest.skip(f"cannot make a hard link here ({exc})")
        return path
    outside.parent.mkdir(parents=True, exist_ok=True)
    weights.replace(outside)
    try:
        if how == "symlink":
            weights.symlink_to(outside)
            return path
        if how == "hardlink":
            os.link(outside, weights)
            return path
    except OSError as exc:  # e.g. Windows without the symlink privilege
        pytest.skip(f"cannot make a {how} here ({exc})")
    location = {"dotdot": os.path.relpath(outside, folder), "absolute": str(outside)}[how]
    assert location.startswith("..") or os.path.isabs(location)
    evil = onnx.load(str(path), load_external_data=False)
    for t in evil.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(evil, str(path))
    return path


POINTING_OUT = ["dotdot", "absolute", "symlink", "hardlink"]


def _expected(how: str) -> str:
    return HARD_LINK if how == "hardlink" else OUTSIDE


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


# ---- a VAE bundle's encoder ----------------------------------------------------------------------

@pytest.mark.parametrize("how", POINTING_OUT)
def test_map_encoder_with_weights_outside_its_folder_is_refused(vae_bundle, tmp_path, how):
    model = open_model(vae_bundle)  # opened while the bundle was intact
    externalise(vae_bundle / "encoder.onnx", how, tmp_path / "elsewhere" / "weights.bin")
    with pytest.raises(A.MapDataError, match=_expected(how)) as err:
        A.encoder_for(model)  # what the map calls before encoding an image set
    assert "\n" not in str(err.value) and "encoder.onnx" in str(err.value)
    with pytest.raises(A.MapDataError, match=_expected(how)):
        A.VAEEncoder(vae_bundle / "encoder.onnx")


@pytest.mark.parametrize("how", POINTING_OUT)
def test_info_refuses_a_vae_bundle_whose_encoder_points_outside(vae_bundle, tmp_path, capsys, how):
    externalise(vae_bundle / "encoder.onnx", how, tmp_path / "elsewhere" / "weights.bin")
    for target in (vae_bundle, vae_bundle / "decoder.onnx", vae_bundle / "encoder.onnx"):
        assert main(["info", str(target)]) == 2
        err = _one_line(capsys)
        assert "encoder.onnx" in err and _expected(how) in err


@pytest.mark.parametrize("how", ["inside", "hardlink-inside"])
def test_vae_bundle_with_weights_inside_its_folder_still_opens(vae_bundle, tmp_path, capsys, how):
    externalise(vae_bundle / "encoder.onnx", how, tmp_path / "unused.bin")
    assert main(["info", str(vae_bundle)]) == 0
    assert "decoder.onnx" in capsys.readouterr().out
    encoder = A.encoder_for(open_model(vae_bundle))
    mu, logvar = encoder.encode(np.zeros((2, 8, 8, 1), np.uint8))
    assert mu.shape == (2, 6) and np.isfinite(mu).all()


# ---- a --classifier file -------------------------------------------------------------------------

@pytest.mark.parametrize("how", POINTING_OUT)
def test_classifier_with_weights_outside_its_folder_is_refused(tmp_path, how):
    path = externalise(make_classifier(tmp_path / "clf" / "classifier.onnx"), how, tmp_path / "elsewhere" / "w.bin")
    for given in (path, path.parent):  # the file, or its bundle folder
        with pytest.raises(MonitorError, match=_expected(how)) as err:
            Classifier(given)
        assert "\n" not in str(err.value) and "classifier.onnx" in str(err.value)


@pytest.mark.parametrize("how", POINTING_OUT)
def test_diversity_cli_refuses_a_classifier_pointing_outside(gan_bundle, tmp_path, capsys, how):
    path = externalise(make_classifier(tmp_path / "clf" / "classifier.onnx"), how, tmp_path / "elsewhere" / "w.bin")
    assert main(["diversity", str(gan_bundle), "--classifier", str(path), "--n", "16"]) == 2
    err = _one_line(capsys)
    assert err.startswith("latent-explorer diversity: error:") and _expected(how) in err


@pytest.mark.parametrize("how", ["inside", "hardlink-inside"])
def test_classifier_with_weights_inside_its_folder_opens_and_classifies(tmp_path, how):
    path = externalise(make_classifier(tmp_path / "clf" / "classifier.onnx"), how, tmp_path / "unused.bin")
    clf = Classifier(path)
    logits, feats = clf.classify(np.zeros((3, 1, 8, 8), np.float32))
    assert logits.shape == (3, 3) and feats.shape == (3, 6) and clf.class_names == ("a", "b", "c")
    assert clf.folder == path.parent


# ---- the opener itself ---------------------------------------------------------------------------

def test_every_role_opens_through_the_opener_and_reports_its_providers(vae_bundle, tmp_path):
    clf = make_classifier(tmp_path / "clf" / "classifier.onnx")
    for path, roles, want in ((vae_bundle, ("decoder", "generator"), "decoder"),
                              (vae_bundle / "encoder.onnx", ("encoder",), "encoder"),
                              (vae_bundle / "decoder.onnx", ("encoder",), "encoder"),  # the sibling
                              (clf.parent, ("classifier",), "classifier")):
        opened = open_onnx(path, roles)
        assert opened.card.role == want and opened.providers == opened.session.get_providers()
        assert opened.providers[-1] == "CPUExecutionProvider"


def test_the_wrong_role_and_a_card_less_classifier_are_one_line(vae_bundle, tmp_path):
    with pytest.raises(ModelError, match="expected a classifier, found a decoder"):
        open_onnx(vae_bundle / "decoder.onnx", ("classifier",))
    foreign = mf.make_generator(tmp_path / "foreign" / "g.onnx")
    with pytest.raises(ModelError, match="expected a classifier with Latent Explorer metadata") as err:
        open_onnx(foreign, ("classifier",))
    assert "\n" not in str(err.value)
    with pytest.raises(ModelError, match="expected a classifier .onnx file or bundle folder, found nothing"):
        open_onnx(tmp_path / "nope", ("classifier",))


def test_external_data_in_a_subgraph_is_checked_too(tmp_path):
    """An If node's branch holds a Constant whose tensor names a file outside: refused like an initializer."""
    def branch(name, location):
        value = numpy_helper.from_array(np.ones(4, np.float32), "c")
        if location:
            value.ClearField("raw_data")
            value.data_location = TensorProto.EXTERNAL
            entry = value.external_data.add()
            entry.key, entry.value = "location", location
        node = helper.make_node("Constant", [], [name + "_out"], value=value)
        return helper.make_graph([node], name, [], [helper.make_tensor_value_info(name + "_out", TensorProto.FLOAT, [4])])

    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch("then", "../secret.bin"),
                            else_branch=branch("else", None))
    proto = helper.make_model(helper.make_graph([node], "g", [cond], [out]))
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(ModelError, match="'c' point outside the model folder"):
        check_external_data(proto, folder, "g.onnx")
