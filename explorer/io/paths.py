"""Where things live: the bundled models (one place for that fact).

Search order: ``$LATENT_EXPLORER_MODELS``, then ``assets/models`` of the source tree (next to the
package), then ``assets/models`` inside a PyInstaller build (``sys._MEIPASS``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_MODELS = "LATENT_EXPLORER_MODELS"
BUNDLED = {"vae": "fashion-vae", "gan": "fashion-gan", "classifier": "fashion-classifier", "cgan": "fashion-cgan"}
# The bundles the app opens with no arguments, in this order (the classifier is used by other
# views, never by the sample grid).
DEFAULT_BUNDLES = (BUNDLED["vae"], BUNDLED["gan"], BUNDLED["cgan"])


def _candidates() -> list[Path]:
    out: list[Path] = []
    env = os.environ.get(ENV_MODELS)
    if env:
        out.append(Path(env).expanduser())
    out.append(Path(__file__).resolve().parents[2] / "assets" / "models")
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        out.append(Path(meipass) / "assets" / "models")
    return out


def models_dir() -> Path | None:
    """The first existing folder of bundled models, or None when there is none."""
    return next((folder for folder in _candidates() if folder.is_dir()), None)


def bundled_models_dir() -> Path:
    """Folder of the bundled model bundles (the first candidate when none exists yet)."""
    return models_dir() or _candidates()[0]


def bundled_model(family: str) -> Path:
    """The bundle folder of a bundled model family ("vae", "gan", "classifier")."""
    return bundled_models_dir() / BUNDLED[family]


def bundled_models() -> list[Path]:
    """Bundle folders of the default generators that exist and hold .onnx files, in DEFAULT_BUNDLES order."""
    root = models_dir()
    if root is None:
        return []
    return [root / name for name in DEFAULT_BUNDLES if (root / name).is_dir() and any((root / name).glob("*.onnx"))]


def app_icon_files() -> list[Path]:
    """The app icon's PNGs (16..512 px), from the source tree or a PyInstaller build; [] when absent."""
    roots = [Path(__file__).resolve().parents[2] / "packaging" / "icons" / "png"]
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        roots.append(Path(meipass) / "icons")
    for root in roots:
        files = sorted(root.glob("latent-explorer-*.png"))
        if files:
            return files
    return []
