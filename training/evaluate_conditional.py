"""Quality figures of class-conditional models (cgan, cvae), judged by a referee that is not ours.

For every class c of the model: N / K samples asked for c (one-hot class weights, z ~ N(0, I) from a
fixed seed), run through onnxruntime on the exact file that ships, then

- **class accuracy**: the fraction of them that the referee labels c;
- **spread ratio**: mean pairwise pixel distance (L2, pixels in [0, 1]) of those samples divided by
  that of the real test images of class c. One image per class would give 0; real-like variety ~1.

The referee is a scikit-learn ``MLPClassifier`` (784-256-K, ReLU, Adam) on raw pixels, trained on the
data's training split with its own seed: another library, another kind of model and another seed
than the bundled CNN classifier (which the app's monitor uses), so a generator tuned against one is
not graded by it. Its own test accuracy per class is measured on every evaluation and reported next
to the figures, so a bar can be read against what the referee manages on real images.

The trained referee is a plain .npz of its weights (read with ``allow_pickle=False``, no sklearn
needed to use it): ``referee.npz`` beside the model when there is one (the bundled fashion-cgan
ships it), else the user cache, keyed by a hash of the training split; trained there on first use.
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.io import contract
from explorer.io.classes import one_hot
from explorer.io.contract import ContractError, ModelCard
from explorer.io.fashion_data import user_cache_dir

from .data import load_dataset
from .files import atomic_write_bytes

REFEREE_FILE = "referee.npz"
REFEREE_SEED = 2024  # its own seed: not the models' 0
REFEREE_HIDDEN = 256
REFEREE_EPOCHS = 15
SPREAD_SAMPLES = 500  # per class, for the mean pairwise distance (real and generated alike)
# The bars of the bundled fashion-cgan (issue 15).
BARS = {"mean_class_accuracy": 0.88, "min_class_accuracy": 0.60, "min_spread_ratio": 0.6}


@dataclass
class Referee:
    """A ReLU MLP on flattened pixels in [0, 1]: logits = relu(x W1 + b1) W2 + b2."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    seed: int
    path: Path | None = None

    def predict(self, images01: np.ndarray, batch: int = 2000) -> np.ndarray:
        """int [N]: the referee's label of each image (float [N, C, H, W] in [0, 1])."""
        if tuple(images01.shape[1:]) != self.image_shape:
            raise ContractError(f"the referee classifier takes images {list(self.image_shape)}, "
                                f"found {list(images01.shape[1:])}")
        x = images01.reshape(len(images01), -1).astype(np.float32)
        out = [np.maximum(x[i:i + batch] @ self.w1 + self.b1, 0) @ self.w2 + self.b2
               for i in range(0, len(x), batch)]
        return np.concatenate(out).argmax(1) if out else np.zeros(0, np.int64)

    def save(self, path: Path) -> None:
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, w1=self.w1, b1=self.b1, w2=self.w2, b2=self.b2,
                            image_shape=np.array(self.image_shape, np.int64),
                            class_names=np.array(self.class_names, dtype=np.str_), seed=np.array(self.seed),
                            kind=np.array("scikit-learn MLPClassifier"))
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> "Referee":
        try:
            with np.load(path, allow_pickle=False) as d:
                return cls(w1=d["w1"].astype(np.float32), b1=d["b1"].astype(np.float32),
                           w2=d["w2"].astype(np.float32), b2=d["b2"].astype(np.float32),
                           image_shape=tuple(int(v) for v in d["image_shape"]),
                           class_names=tuple(str(c) for c in d["class_names"]), seed=int(d["seed"]), path=path)
        except (OSError, KeyError, ValueError) as exc:
            raise ContractError(f"{path}: not a readable referee classifier ({type(exc).__name__}); "
                                "delete it to train it again") from None


def train_referee(images01: np.ndarray, labels: np.ndarray, class_names, *, seed: int = REFEREE_SEED,
                  epochs: int = REFEREE_EPOCHS) -> Referee:
    """Fit the referee on (images [N, C, H, W] in [0, 1], labels [N]). Minutes on Fashion-MNIST's 60k."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise ContractError("conditional evaluation trains its referee classifier with scikit-learn, which is "
                            "not installed (pip install scikit-learn)") from None
    clf = MLPClassifier(hidden_layer_sizes=(REFEREE_HIDDEN,), alpha=1e-4, batch_size=128, max_iter=epochs,
                        random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of epochs, on purpose
        clf.fit(images01.reshape(len(images01), -1), labels)
    k = len(class_names)
    if list(clf.classes_) != list(range(k)):  # a class absent from the training split
        raise ContractError(f"the referee's training split lacks classes (has {list(clf.classes_)}, needs 0..{k - 1})")
    (w1, w2), (b1, b2) = clf.coefs_, clf.intercepts_
    return Referee(w1=w1.astype(np.float32), b1=b1.astype(np.float32), w2=w2.astype(np.float32),
                   b2=b2.astype(np.float32), image_shape=tuple(int(v) for v in images01.shape[1:]),
                   class_names=tuple(class_names), seed=seed)


def _cache_path(train_images: np.ndarray, train_labels: np.ndarray, seed: int) -> Path:
    h = hashlib.sha1(np.ascontiguousarray(train_images).tobytes())
    h.update(np.ascontiguousarray(train_labels).tobytes())
    return user_cache_dir().parent / "referees" / f"referee-{h.hexdigest()[:16]}-seed{seed}.npz"


def referee_for(model_folder: Path, card: ModelCard, data: str | None, *, referee: str | None = None,
                log=None) -> Referee:
    """The referee of ``card``'s data: ``referee`` if given, else ``referee.npz`` beside the model, else
    the cached one of this training split, else a new one (trained now, then cached)."""
    if referee is not None:
        return Referee.load(Path(referee))
    beside = model_folder / REFEREE_FILE
    if beside.is_file():
        return Referee.load(beside)
    train = load_dataset(data, "train", image_size=card.image_height, channels=card.image_channels)
    path = _cache_path(train.images, train.labels, REFEREE_SEED)
    if path.is_file():
        return Referee.load(path)
    if log:
        log(f"training the referee classifier on {len(train)} images (cached as {path})")
    ref = train_referee(train.images.astype(np.float32) / 255.0, train.labels, card.class_names)
    path.parent.mkdir(parents=True, exist_ok=True)
    ref.save(path)
    ref.path = path
    return ref


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean L2 distance over all pairs i < j of the rows of ``x`` [N, ...] (0 for fewer than 2)."""
    x = x.reshape(len(x), -1).astype(np.float64)
    if len(x) < 2:
        return 0.0
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(d2[iu]).mean())


def _session(path: Path, role: str):
    from .evaluate import _session as session

    return session(path, role)


def generate(card: ModelCard, path: Path, z: np.ndarray, weights: np.ndarray, batch: int = 500) -> np.ndarray:
    """Images in [0, 1] of (z, class_weights) through onnxruntime on ``path``."""
    session = _session(path, card.role)
    out = [session.run(None, {"z": z[i:i + batch], contract.CLASS_WEIGHTS: weights[i:i + batch]})[0]
           for i in range(0, len(z), batch)]
    images = np.concatenate(out)
    if not np.isfinite(images).all():
        raise ContractError(f"{path.name}: output holds NaN or Inf")
    return contract.to_unit_range(images, card.value_range)


def evaluate_conditional(cards: dict[str, ModelCard], files: dict[str, Path], data: str | None, n: int, seed: int,
                         *, referee: str | None = None, log=None) -> dict:
    role = "generator" if "generator" in cards else "decoder"
    if role not in cards:
        raise ContractError("conditional evaluation needs the generator (cgan) or decoder (cvae) in the bundle")
    card, path = cards[role], files[role]
    names, k = tuple(card.class_names), len(card.class_names)
    per = max(2, n // k)
    ref = referee_for(path.parent, card, data, referee=referee, log=log)
    if ref.class_names != names:
        raise ContractError(f"the referee knows the classes {', '.join(ref.class_names)}, the model "
                            f"{', '.join(names)}")
    test = load_dataset(data, "test", image_size=card.image_height, channels=card.image_channels)
    x_test = test.images.astype(np.float32) / 255.0
    ref_pred = ref.predict(x_test)
    rng = np.random.default_rng(seed)
    per_class, referee_acc = {}, {}
    for c, name in enumerate(names):
        z = rng.standard_normal((per, card.latent_dim)).astype(np.float32)
        images = generate(card, path, z, one_hot(np.full(per, c), k))
        real = x_test[test.labels == c]
        accuracy = float((ref.predict(images) == c).mean())
        spread = mean_pairwise_distance(images[:SPREAD_SAMPLES])
        real_spread = mean_pairwise_distance(real[:SPREAD_SAMPLES])
        per_class[name] = {"class_accuracy": round(accuracy, 4), "spread": round(spread, 4),
                           "real_spread": round(real_spread, 4),
                           "spread_ratio": round(spread / real_spread, 4) if real_spread > 0 else None}
        if (test.labels == c).any():
            referee_acc[name] = round(float((ref_pred[test.labels == c] == c).mean()), 4)
    accs = [v["class_accuracy"] for v in per_class.values()]
    ratios = [v["spread_ratio"] for v in per_class.values() if v["spread_ratio"] is not None]
    result = {
        "family": card.family, "n": int(per * k), "per_class_n": int(per),
        "mean_class_accuracy": round(float(np.mean(accs)), 4), "min_class_accuracy": round(float(min(accs)), 4),
        "min_class": names[int(np.argmin(accs))],
        "min_spread_ratio": round(float(min(ratios)), 4) if ratios else None,
        "min_spread_class": names[int(np.argmin([v["spread_ratio"] or 0.0 for v in per_class.values()]))],
        "per_class": per_class,
        "referee": {"kind": f"scikit-learn MLPClassifier ({int(np.prod(ref.image_shape))}-{ref.w1.shape[1]}-{k}, "
                            "ReLU, Adam) on raw pixels",
                    "seed": ref.seed, "file": str(ref.path) if ref.path else None,
                    "test_accuracy": round(float((ref_pred == test.labels).mean()), 4),
                    "per_class_test_accuracy": referee_acc},
        "bars": dict(BARS),
    }
    result["meets_bars"] = bool(result["mean_class_accuracy"] >= BARS["mean_class_accuracy"]
                                and result["min_class_accuracy"] >= BARS["min_class_accuracy"]
                                and result["min_spread_ratio"] is not None
                                and result["min_spread_ratio"] >= BARS["min_spread_ratio"])
    return result


def default_log(message: str) -> None:
    print(message, file=sys.stderr)
