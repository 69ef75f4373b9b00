"""App-level state: the open models, which one is active, and the path endpoints (Qt-free)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.core.events import Signal
from explorer.io.runtime import LoadedModel, ModelError, open_model


@dataclass(frozen=True)
class PathEndpoint:
    """A latent picked as an interpolation endpoint: z float32 [D] of the model named ``model``."""

    model: str
    z: np.ndarray
    label: int | None = None


class AppState:
    def __init__(self) -> None:
        self.models_changed = Signal()     # ()
        self.active_changed = Signal()     # (model or None)
        self.endpoints_changed = Signal()  # ()
        self.message = Signal()            # (one line for the status bar)
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
        if model in self.models:
            self.models.remove(model)
            self.models_changed.emit()
            if self.active is model:
                self.set_active(self.models[-1] if self.models else None)

    def add_endpoint(self, model: LoadedModel, z: np.ndarray, label: int | None = None) -> None:
        self.path_endpoints.append(PathEndpoint(model.name, np.array(z, np.float32), label))
        self.endpoints_changed.emit()

    def clear_endpoints(self) -> None:
        self.path_endpoints.clear()
        self.endpoints_changed.emit()
