"""Where things live: the bundled models (one place for that fact)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_MODELS = "LATENT_EXPLORER_MODELS"
BUNDLED = {"vae": "fashion-vae", "gan": "fashion-gan", "classifier": "fashion-classifier"}


def bundled_models_dir() -> Path:
    """Folder of the bundled model bundles: $LATENT_EXPLORER_MODELS, else the repo's (or frozen app's) assets/models."""
    env = os.environ.get(ENV_MODELS)
    if env:
        return Path(env).expanduser()
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "assets" / "models"
    return Path(__file__).resolve().parent.parent / "assets" / "models"


def bundled_model(family: str) -> Path:
    """The bundle folder of a bundled model family ("vae", "gan", "classifier")."""
    return bundled_models_dir() / BUNDLED[family]
