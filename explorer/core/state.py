"""App-level state: the open models, which one is active, and the path endpoints (Qt-free)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.core.events import Signal
from explorer.io.runtime import LoadedModel, ModelError, open_model


def file_stem(name: str) -> str:
    """A file name part made from a display name: lowercase letters, digits, dots and dashes, no spaces
    ("fashion-mnist gan" -> "fashion-mnist-gan"), so a suggested file name works in any shell or upload."""
    stem = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-.")
    return stem or "model"


@dataclass(frozen=True)
class PathEndpoint:
    """A latent picked as an interpolation endpoint: z float32 [D] of the model named ``model``
    (``weights`` float32 [K]: its class weights, for a class-conditional model)."""

    model: str
    z: np.ndarray
    label: int | None = None
    weights: np.ndarray | None = None


class AppState:
    def __init__(self) -> None:
        self.models_changed = Signal()     # ()
        self.active_changed = Signal()     # (model or None)
        self.endpoints_changed = Signal()  # ()
        self.message = Signal()            # (one line for the status bar)
        self.model_closed = Signal()       # (model): forget what was kept for it (grid cells, path)
        self.models: list[LoadedModel] = []
        self.active: LoadedModel | None = None
        self.path_endpoints: list[PathEndpoint] = []

    def open(self, path: str | os.PathLike, *, activate: bool = True, **kwargs) -> LoadedModel:
        """Open (or re-activate, when already open) a model; raises ModelError with one line."""
        resolved = Path(path).expanduser()
        for m in self.models:
            if resolved.resolve() in (m.path.resolve(), m.path.parent.resolve()) and m.path.is_file():
                if activate:
                    self.set_active(m)
                return m
        model = open_model(resolved, **kwargs)
        self.models.append(model)
        self.models_changed.emit()
        if activate or self.active is None:
            self.set_active(model)
        return model

    def set_active(self, model: LoadedModel | None) -> None:
        if model is not None and model not in self.models:
            raise ModelError(f"{model.name}: not open")
        if model is not self.active:
            self.active = model
            self.active_changed.emit(model)

    def close(self, model: LoadedModel) -> None:
        """Close ``model``; when it was the active one, the last open model (or none) becomes active.

        Every list and the active model are settled before anything is announced, so a view that
        redraws on ``models_changed`` never sees an active model that is no longer open.
        """
        if model not in self.models:
            return
        index = self.models.index(model)
        self.models.remove(model)
        was_active = self.active is model
        if was_active:  # the neighbour that took its place in the list, else the one before it
            self.active = self.models[min(index, len(self.models) - 1)] if self.models else None
        self.models_changed.emit()
        if was_active:
            self.active_changed.emit(self.active)
        self.model_closed.emit(model)

    def add_endpoint(self, model: LoadedModel, z: np.ndarray, label: int | None = None,
                     weights: np.ndarray | None = None) -> None:
        self.path_endpoints.append(PathEndpoint(model.name, np.array(z, np.float32), label,
                                                None if weights is None else np.array(weights, np.float32)))
        self.endpoints_changed.emit()

    def clear_endpoints(self) -> None:
        self.path_endpoints.clear()
        self.endpoints_changed.emit()
