"""Typed training configuration, recorded in every checkpoint and in RUN_DIR/config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from explorer.io.images import ImageFolderError, background_name, parse_background

FAMILIES = ("vae", "gan", "classifier", "cgan", "cvae")


class ConfigError(ValueError):
    """A setting that makes no sense; ``field`` names it (``batch_size``), the message says what was
    expected and what was found."""

    def __init__(self, field: str, expected: str, found):
        self.field, self.expected, self.found = field, expected, found
        super().__init__(f"{field}: expected {expected}, got {found!r}")

    def for_option(self) -> str:
        """The message with the command-line option's name (``--batch-size``)."""
        return f"--{self.field.replace('_', '-')}: expected {self.expected}, got {self.found!r}"


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    background: str = "black"  # what transparent pixels of an image folder are laid onto: black, white, #rrggbb
    # What the data is, recorded when it is loaded (explorer/io/dataset_id.py): the monitor finds a
    # classifier trained on the same data by data_id, and judges whether a run is too small to judge.
    data_path: str | None = None  # the data folder, resolved (None: Fashion-MNIST from the default places)
    data_id: str = ""  # "fashion-mnist" or "sha256:..." of the folder's content
    train_images: int = 0  # images trained on (after --limit)

    def __post_init__(self) -> None:
        self.validate()
        self.background = background_name(parse_background(self.background))  # one spelling per colour

    def validate(self) -> None:
        """Refuse settings that make no sense (ConfigError), before anything is created or trained."""
        if self.family not in FAMILIES:
            raise ConfigError("family", f"one of {', '.join(FAMILIES)}", self.family)
        for name in ("epochs", "batch_size", "width", "feature_dim", "snapshot_every"):
            value = getattr(self, name)
            if not _whole(value) or value < 1:
                raise ConfigError(name, "a whole number of at least 1", value)
        if self.limit is not None and (not _whole(self.limit) or self.limit < 1):
            raise ConfigError("limit", "a whole number of at least 1 (leave it out to use every image)", self.limit)
        least = 0 if self.family == "classifier" else 1  # the classifier has no latent space
        if not _whole(self.latent_dim) or self.latent_dim < least:
            raise ConfigError("latent_dim", f"a whole number of at least {least}", self.latent_dim)
        if not _whole(self.image_size) or self.image_size < 8 or self.image_size % 4:
            raise ConfigError("image_size", "a multiple of 4 of at least 8", self.image_size)
        if self.channels not in (1, 3):
            raise ConfigError("channels", "1 or 3", self.channels)
        try:
            parse_background(self.background)
        except ImageFolderError:
            raise ConfigError("background", "black, white or #rrggbb", self.background) from None
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or not self.lr > 0 \
                or self.lr == float("inf"):
            raise ConfigError("lr", "a positive number", self.lr)

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
        "cgan": dict(epochs=5, batch_size=128, lr=2e-4, latent_dim=64, width=32),
        "cvae": dict(epochs=40, batch_size=128, lr=1e-3, latent_dim=32, width=32),
    }[family]
    base.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(family=family, **base)
