"""Where the app finds its bundled models (one place for this fact).

Search order: ``$LATENT_EXPLORER_MODELS``, then ``assets/models`` of the source tree (next to the
package), then ``assets/models`` inside a PyInstaller build (``sys._MEIPASS``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_MODELS = "LATENT_EXPLORER_MODELS"
# The bundles the app opens with no arguments, in this order (generators first; the classifier is
# used by other views, never by the sample grid).
DEFAULT_BUNDLES = ("fashion-vae", "fashion-gan")
CLASSIFIER_BUNDLE = "fashion-classifier"


def models_dir() -> Path | None:
    """The first existing folder of bundled models, or None when there is none."""
    candidates: list[Path] = []
    env = os.environ.get(ENV_MODELS)
    if env:
        candidates.append(Path(env).expanduser())
    candidates.append(Path(__file__).resolve().parent.parent / "assets" / "models")
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        candidates.append(Path(meipass) / "assets" / "models")
    for folder in candidates:
        if folder.is_dir():
            return folder
    return None


def bundled_models() -> list[Path]:
    """Bundle folders of the default generators that exist, in DEFAULT_BUNDLES order."""
    root = models_dir()
    if root is None:
        return []
    return [root / name for name in DEFAULT_BUNDLES if (root / name).is_dir() and any((root / name).glob("*.onnx"))]
