"""Typed training configuration, recorded in every checkpoint and in RUN_DIR/config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

FAMILIES = ("vae", "gan", "classifier")


@dataclass
class TrainConfig:
    family: str
    epochs: int = 20  # of the whole run; the VAE/classifier learning-rate schedule spans them
    batch_size: int = 128
    lr: float = 1e-3
    latent_dim: int = 32
    image_size: int = 28
    channels: int = 1
    width: int = 32  # base channel count of the conv stacks
    feature_dim: int = 64  # classifier penultimate layer
    seed: int = 0
    limit: int | None = None  # use only the first N training images (smoke runs, tests)
    data: str | None = None  # None: Fashion-MNIST from the default places
    dataset: str = "fashion-mnist"
    class_names: tuple[str, ...] = field(default_factory=tuple)
    snapshot_every: int = 1  # epochs between ONNX snapshots

    def to_dict(self) -> dict:
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["class_names"] = tuple(d.get("class_names") or ())
        return cls(**d)


def default_config(family: str, **overrides) -> TrainConfig:
    """Defaults per family: the settings the bundled models were trained with."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    base = {
        "vae": dict(epochs=40, batch_size=128, lr=1e-3, latent_dim=32, width=32),
        "gan": dict(epochs=20, batch_size=128, lr=2e-4, latent_dim=64, width=32),
        "classifier": dict(epochs=12, batch_size=128, lr=1e-3, latent_dim=0, width=32),
    }[family]
    base.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(family=family, **base)
