"""Class-conditional models at the I/O layer: the class_weights contract, label inputs, blends."""

import numpy as np
import onnx
import pytest

from explorer.io import classes as K
from explorer.io import contract as C
from explorer.io.contract import ContractError, ModelCard
from explorer.io.model_error import ModelError
from explorer.io.runtime import describe, open_model
from tests.model_factory import GARMENTS, card, make_contract_cgan, make_generator


def _pre_activation(model, z, weights):
    """The test model is sigmoid(z W + w E): logit of its output is linear in the weights."""
    x = np.clip(model.decode_raw(z, weights).astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(x / (1 - x))


def test_cgan_card_needs_class_names_and_matching_family():
    with pytest.raises(ContractError, match="needs class_names"):
        card("generator", conditional=True)
    with pytest.raises(ContractError, match="belongs to family 'gan' or 'cgan', found 'cvae'"):
        ModelCard(role="generator", family="cvae", image_channels=1, image_height=8, image_width=8,
                  value_range=(0, 1), latent_dim=4, class_names=("a", "b"))
    c = card("generator", conditional=True, class_names=GARMENTS)
    assert c.conditional and c.input_names == ("z", "class_weights")
    assert C.expected_shapes(c)["class_weights"] == ["batch", 4]
    assert card("encoder", conditional=True, class_names=GARMENTS).input_names == ("image",)  # style encoder


def test_conditional_card_writes_version_2_and_round_trips():
    c = card("decoder", conditional=True, class_names=GARMENTS)
    meta = c.to_metadata()
    assert meta[C.KEY_PREFIX + "format_version"] == "2" and meta[C.KEY_PREFIX + "family"] == '"cvae"'
    assert ModelCard.from_metadata(meta) == c
    assert card("decoder").to_metadata()[C.KEY_PREFIX + "format_version"] == "1"


def test_check_model_proto_accepts_cgan_and_names_a_missing_weights_input(tmp_path):
    path = make_contract_cgan(tmp_path / "b")
    proto = onnx.load(str(path))
    good = C.read_card(path)
    C.check_model_proto(proto, good)
    plain = make_generator(tmp_path / "plain.onnx", latent_dim=8)
    with pytest.raises(ContractError, match=r"inputs are \('z',\), contract says \('z', 'class_weights'\)"):
        C.check_model_proto(onnx.load(str(plain)), good)


def test_open_cgan_blends_are_linear_in_the_weights(tmp_path):
    model = open_model(make_contract_cgan(tmp_path / "b"))
    sig = model.signature
    assert sig.class_kind == "weights" and model.can_blend and model.blend_note is None
    assert model.class_names == GARMENTS and model.conditional
    assert describe(model)["can_blend"] is True
    assert describe(model)["signature"]["input class_weights"] == "float32 [N, 4] (class weights)"
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    # an index and its one-hot row are the same request
    np.testing.assert_array_equal(model.decode_raw(z, np.array([1, 1, 1])),
                                  model.decode_raw(z, K.one_hot(np.array([1, 1, 1]), 4)))
    # 30 % Tee + 70 % Dress sits at that mix of the two (pre-activation) outputs
    mix = np.repeat(K.blend(0, 1, 0.7, 4)[None], 3, axis=0)
    got = _pre_activation(model, z, mix)
    want = 0.3 * _pre_activation(model, z, K.one_hot(np.zeros(3), 4)) + 0.7 * _pre_activation(
        model, z, K.one_hot(np.ones(3), 4))
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert not np.allclose(got, _pre_activation(model, z, K.one_hot(np.ones(3), 4)), atol=1e-2)


def test_cgan_refuses_bad_class_requests(tmp_path):
    model = open_model(make_contract_cgan(tmp_path / "b"))
    z = np.zeros((2, 8), np.float32)
    with pytest.raises(ModelError, match=r"class index 4 is out of range: this model has classes 0..3"):
        model.decode(z, np.array([0, 4]))
    with pytest.raises(ModelError, match=r"expected class weights \[2, 4\], found \[2, 3\]"):
        model.decode(z, np.ones((2, 3), np.float32))
    with pytest.raises(ModelError, match="finite"):
        model.decode(z, np.full((2, 4), np.nan, np.float32))


def test_label_model_takes_one_hot_rows_and_refuses_blends_with_the_reason(tmp_path):
    model = open_model(make_generator(tmp_path / "lab.onnx", label_classes=5))
    assert model.signature.class_kind == "label" and not model.can_blend
    assert "cannot blend classes" in model.blend_note
    z = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_array_equal(model.decode_raw(z, np.array([3, 3])),
                                  model.decode_raw(z, K.one_hot(np.array([3, 3]), 5)))
    with pytest.raises(ModelError, match="cannot blend classes"):
        model.decode(z, np.repeat(K.blend(0, 3, 0.5, 5)[None], 2, axis=0))


def test_foreign_weights_input_found_by_name_in_either_order(tmp_path):
    path = make_generator(tmp_path / "f.onnx", weights_classes=6, weights_name="y_onehot", weights_first=True)
    model = open_model(path)
    sig = model.signature
    assert (sig.latent_name, sig.weights_name, sig.num_classes) == ("z", "y_onehot", 6)
    assert any("y_onehot read as class weights" in g for g in sig.guesses)
    assert model.class_names == tuple(f"class {i}" for i in range(6))
    assert model.decode(np.zeros((2, 8), np.float32), np.array([5, 0])).pixels.shape == (2, 8, 8, 1)


def test_card_and_graph_must_agree_on_the_class_input(tmp_path):
    # metadata says cgan, the graph has no class_weights input
    path = make_generator(tmp_path / "g.onnx", card=card("generator", conditional=True, class_names=GARMENTS))
    with pytest.raises(ModelError, match="family cgan, which takes a class_weights input"):
        open_model(path)
    # metadata lists 4 names, the graph takes 3 columns
    bad = make_generator(tmp_path / "h.onnx", weights_classes=3,
                         card=card("generator", conditional=True, class_names=GARMENTS))
    with pytest.raises(ModelError, match="4 class names, the graph's class_weights input has 3 columns"):
        open_model(bad)


def test_class_index_and_stops():
    assert K.class_index("dress", GARMENTS) == 1 and K.class_index("3", GARMENTS) == 3
    with pytest.raises(ModelError, match="unknown class 'Dres'; valid classes: Tee, Dress, Coat, Boot"):
        K.class_index("Dres", GARMENTS)
    with pytest.raises(ModelError, match="out of range"):
        K.class_index(7, GARMENTS)
    with pytest.raises(ModelError, match="no class input"):
        K.class_index("Dress", ())
    assert K.parse_stops("0.1,0.5,0.9") == [0.1, 0.5, 0.9]
    for bad in ("", "0.1,x", "1.5", "nan"):
        with pytest.raises(ModelError, match="--stops takes mixes between 0 and 1"):
            K.parse_stops(bad)
    assert K.describe_weights(K.blend(0, 1, 0.7, 4), GARMENTS) == "70% Dress + 30% Tee"
    assert K.describe_weights(K.one_hot(np.array([2]), 4)[0], GARMENTS) == "Coat"
    np.testing.assert_allclose(K.blend(2, 3, np.array([0.1, 0.9]), 4),
                               [[0, 0, 0.9, 0.1], [0, 0, 0.1, 0.9]], atol=1e-7)
