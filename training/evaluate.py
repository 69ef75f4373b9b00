"""Quality figures of exported models, computed through onnxruntime on exactly the files that ship.

classifier: test accuracy. VAE: test -ELBO, reconstruction, KL (nats/image). GAN: class histogram of N
samples under the classifier, modes covered, KL to uniform, Frechet distance in classifier features with
the real-vs-real floor at the same N.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.io import contract
from explorer.core import metrics
from explorer.io.contract import ContractError, ModelCard
from explorer.io.model_error import ModelError
from explorer.io.onnx_file import open_onnx
from explorer.core.own_data import choose_classifier, trained_on
from explorer.io.providers import ProviderPlan

from .data import load_dataset


# CPU on purpose: the figures must not depend on the machine, and 10k small images take seconds.
_CPU_ONLY = ProviderPlan(("CPUExecutionProvider",))


def _session(path: Path, role: str):
    """An onnxruntime session on ``path`` opened as ``role`` through the app's one ONNX opener (card,
    role and external data checked exactly as the app checks the file it will ship)."""
    try:
        return open_onnx(path, (role,), plan=_CPU_ONLY).session
    except ModelError as exc:
        raise ContractError(str(exc)) from None


def _run(session, name: str, x: np.ndarray, batch: int = 1000) -> list[np.ndarray]:
    outs = [session.run(None, {name: x[i:i + batch]}) for i in range(0, len(x), batch)]
    return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]


def resolve(model: str | Path) -> tuple[dict[str, ModelCard], dict[str, Path]]:
    """Cards and files of a bundle folder, or of one .onnx file plus the siblings it names."""
    path = Path(model)
    if not path.exists():
        raise ContractError(f"{path}: no such file or folder (expected an .onnx file or a bundle folder)")
    if path.is_dir():
        bundle = contract.open_bundle(path)
        return bundle.cards, bundle.files
    card = contract.read_card(path)
    cards, files = {card.role: card}, {card.role: path}
    for role, name in card.siblings.items():
        if (path.parent / name).is_file():
            cards[role], files[role] = contract.read_card(path.parent / name), path.parent / name
    return cards, files


def _test_images(card: ModelCard, data: str | None, split: str = "test"):
    test = load_dataset(data, split, image_size=card.image_height, channels=card.image_channels)
    return test.images.astype(np.float32) / 255.0, test.labels


def evaluate_classifier(card: ModelCard, path: Path, data: str | None) -> dict:
    x, y = _test_images(card, data)
    logits, _ = _run(_session(path, "classifier"), "image", contract.from_unit_range(x, card.value_range))
    pred = logits.argmax(1)
    per_class = {name: float((pred[y == k] == k).mean()) for k, name in enumerate(card.class_names) if (y == k).any()}
    return {"family": "classifier", "test_accuracy": float((pred == y).mean()), "n": int(len(y)),
            "per_class_accuracy": per_class}


def evaluate_vae(cards: dict[str, ModelCard], files: dict[str, Path], data: str | None, seed: int) -> dict:
    if "encoder" not in files or "decoder" not in files:
        raise ContractError("VAE evaluation needs both encoder.onnx and decoder.onnx in the bundle")
    card = cards["decoder"]
    x, _ = _test_images(card, data)
    mu, logvar = _run(_session(files["encoder"], "encoder"), "image", x)
    eps = np.random.default_rng(seed).standard_normal(mu.shape).astype(np.float32)
    (recon,) = _run(_session(files["decoder"], "decoder"), "z", (mu + np.exp(0.5 * logvar) * eps).astype(np.float32))
    p = np.clip(recon.astype(np.float64), 1e-7, 1 - 1e-7)
    xd = x.astype(np.float64)
    rec = -(xd * np.log(p) + (1 - xd) * np.log1p(-p)).reshape(len(x), -1).sum(1)
    kl_dims = 0.5 * (mu.astype(np.float64) ** 2 + np.exp(logvar) - 1.0 - logvar)
    kl = kl_dims.sum(1)
    return {"family": "vae", "n": int(len(x)), "test_neg_elbo": float((rec + kl).mean()),
            "test_reconstruction": float(rec.mean()), "test_kl": float(kl.mean()),
            "kl_per_dim": [round(float(v), 4) for v in kl_dims.mean(0)],
            "active_units": int((mu.var(0) > 0.01).sum()), "units": "nats/image"}


def evaluate_gan(card: ModelCard, path: Path, data: str | None, classifier: str | None, n: int, seed: int) -> dict:
    if classifier is None:  # the classifier of the model's own data (explorer.core.own_data), else the bundled one
        choice = choose_classifier(path)
        if choice.path is None:
            raise ContractError(f"no classifier given: {choice.why}; or pass --classifier MODEL")
        classifier = choice.path
    clf_cards, clf_files = resolve(classifier)
    if "classifier" not in clf_cards:
        raise ContractError(f"{classifier}: no classifier in it")
    clf_card, clf = clf_cards["classifier"], _session(clf_files["classifier"], "classifier")
    if clf_card.image_shape != card.image_shape:
        raise ContractError(f"classifier expects images {clf_card.image_shape}, generator makes {card.image_shape}")
    z = np.random.default_rng(seed).standard_normal((n, card.latent_dim)).astype(np.float32)
    (images,) = _run(_session(path, "generator"), "z", z, batch=500)
    if not np.isfinite(images).all():
        raise ContractError(f"{path.name}: generator output holds NaN or Inf")
    unit = contract.to_unit_range(images, card.value_range)
    logits, feats = _run(clf, "image", contract.from_unit_range(unit, clf_card.value_range))
    stats = metrics.class_stats(metrics.softmax(logits))
    # Frechet distance at this N against real test features, with the real-vs-real floor at the same N.
    x_test, _ = _test_images(clf_card, data, "test")
    x_train, _ = _test_images(clf_card, data, "train")
    rng = np.random.default_rng(seed + 1)
    m = min(n, len(x_test), len(x_train))
    real_a = _run(clf, "image", contract.from_unit_range(x_test[rng.permutation(len(x_test))[:m]], clf_card.value_range))[1]
    real_b = _run(clf, "image", contract.from_unit_range(x_train[rng.permutation(len(x_train))[:m]], clf_card.value_range))[1]
    class_names = list(clf_card.class_names)
    return {
        "family": "gan", "n": int(n), "classifier": str(clf_files["classifier"]),
        "class_histogram": dict(zip(class_names, stats["histogram"])),
        "modes_covered": stats["modes_covered"], "num_classes": len(class_names),
        "kl_to_uniform": stats["kl_to_uniform"], "min_class_share": stats["min_share"],
        "entropy": stats["entropy"], "mean_confidence": stats["mean_confidence"],
        "frechet_distance": metrics.frechet_distance_features(feats[:m], real_a),
        "frechet_distance_real_floor": metrics.frechet_distance_features(real_b, real_a),
        "frechet_n": int(m),
    }


def evaluate(model: str | Path, *, data: str | None = None, classifier: str | None = None, n: int = 10000,
             seed: int = 0) -> dict:
    """One dict of quality figures for an .onnx file or bundle folder."""
    cards, files = resolve(model)
    if data is None:  # a model in a run folder: the data its config.json records (None: Fashion-MNIST)
        found = trained_on(model)
        data = found.data if found is not None else None
    if any(card.conditional for card in cards.values()):  # cgan / cvae: training/evaluate_conditional.py
        from .evaluate_conditional import default_log, evaluate_conditional

        result = evaluate_conditional(cards, files, data, n, seed, log=default_log)
    elif "classifier" in cards and len(cards) == 1:
        result = evaluate_classifier(cards["classifier"], files["classifier"], data)
    elif "decoder" in cards or "encoder" in cards:
        result = evaluate_vae(cards, files, data, seed)
    elif "generator" in cards:
        result = evaluate_gan(cards["generator"], files["generator"], data, classifier, n, seed)
    else:
        raise ContractError(f"{model}: nothing to evaluate (roles found: {', '.join(cards) or 'none'})")
    card = next(iter(cards.values()))
    result.update({"model": str(model), "dataset": card.dataset, "epoch": card.epoch})
    return result
