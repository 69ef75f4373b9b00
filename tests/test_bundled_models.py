"""The bundled models in assets/models: they satisfy the contract and meet the quality bars.

Quality bars (issue: training toolkit): classifier >= 0.93 test accuracy; VAE test -ELBO <= 236
nats/image; GAN samples cover all 10 classes, KL(class histogram || uniform) <= 0.03, no class < 5 %.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from explorer.io import contract
from explorer.io.paths import bundled_model
from training.evaluate import evaluate


@pytest.fixture(scope="module", params=["vae", "gan", "classifier"])
def bundle(request):
    folder = bundled_model(request.param)
    assert folder.is_dir(), f"bundled {request.param} missing at {folder}"
    return request.param, contract.open_bundle(folder)


def test_bundle_satisfies_contract(bundle):
    family, b = bundle
    expected_roles = {"vae": {"decoder", "encoder"}, "gan": {"generator"}, "classifier": {"classifier"}}[family]
    assert set(b.cards) == expected_roles
    for role, card in b.cards.items():
        model = onnx.load(str(b.files[role]))
        onnx.checker.check_model(model, full_check=True)
        contract.check_model_proto(model, card, source=b.files[role].name)
        assert card.dataset == "fashion-mnist" and card.class_names == contract.FASHION_MNIST_CLASSES
        assert card.image_shape == (1, 28, 28)
        # A few MB each, small enough for git: the largest, the VAE encoder, is 5.3 MB.
        assert b.files[role].stat().st_size < 6 * 2**20, "bundled models must stay a few MB each"
    if family == "vae":
        atlas = contract.Atlas.load(b.folder / contract.ATLAS_FILE)
        assert atlas.mu.shape == (10000, b.cards["decoder"].latent_dim)
        assert set(np.unique(atlas.labels)) == set(range(10))


def test_bundle_decodes_in_onnxruntime(bundle):
    family, b = bundle
    role = b.primary_role
    card = b.cards[role]
    session = ort.InferenceSession(str(b.files[role]), providers=["CPUExecutionProvider"])
    if card.input_names == ("z",):
        x = np.random.default_rng(0).standard_normal((5, card.latent_dim)).astype(np.float32)
    else:
        x = np.random.default_rng(0).random((5, *card.image_shape), dtype=np.float32)
    outputs = session.run(None, {card.input_names[0]: x})
    assert all(np.isfinite(o).all() and o.shape[0] == 5 for o in outputs)
    if card.input_names == ("z",):
        low, high = card.value_range
        assert outputs[0].min() >= low - 1e-6 and outputs[0].max() <= high + 1e-6


@pytest.mark.slow
def test_quality_bars():
    clf = evaluate(bundled_model("classifier"))
    assert clf["test_accuracy"] >= 0.93, clf
    vae = evaluate(bundled_model("vae"))
    assert vae["test_neg_elbo"] <= 236.0, {k: vae[k] for k in ("test_neg_elbo", "test_reconstruction", "test_kl")}
    gan = evaluate(bundled_model("gan"), n=10000)
    summary = json.dumps({k: gan[k] for k in ("class_histogram", "modes_covered", "kl_to_uniform")})
    assert gan["modes_covered"] == 10, summary
    assert gan["kl_to_uniform"] <= 0.03, summary
    assert gan["min_class_share"] >= 0.05, summary
