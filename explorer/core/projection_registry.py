"""One spec per map projection: the latent map iterates this registry, never display names.

A :class:`ProjectionSpec` says everything the map needs to offer and make a projection: its key
(saved in sessions), its label (shown in the projection control), whether it is made at once on
the GUI thread or as a background job on the map's worker, which optional package it needs, when
it is offered, where the points land (``place``) and what its inverse does (the map's caption).

Adding a projection is one :func:`register` call (see tests/test_map_model.py for a toy one).
Numeric core: numpy only; umap-learn runs in a child process (``explorer.core.umap_worker``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from explorer.core.projection import DimPair, LatentPlane, PCAPlane


@dataclass(frozen=True)
class ProjectionInput:
    """What a projection is made from.

    vectors float32 [N, D]: the coloured points; background float32 [R, D] or None (GAN map: real
    images, grey); dims (x, y): the latent dimensions chosen for two-dimension maps; is_gan: the
    points are classifier features, not latents (no decoding through an inverse); folder: the
    model's folder (where a shipped or cached layout is looked for), or None.
    """

    vectors: np.ndarray
    background: np.ndarray | None = None
    dims: tuple[int, int] = (0, 1)
    is_gan: bool = False
    folder: Path | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def both(self) -> np.ndarray:
        """Points then background: float32 [N + R, D]."""
        return self.vectors if self.background is None else np.concatenate([self.vectors, self.background])


Progress = Callable[[float, str], None]
Make = Callable[[ProjectionInput, Progress, Callable[[], bool]], Any]


def _forward_places(projection, data: ProjectionInput) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions float32 [N, 2] (and [R, 2] for the background) through ``projection.forward``."""
    xy = projection.forward(data.vectors)
    return xy, (projection.forward(data.background) if data.background is not None else None)


@dataclass(frozen=True)
class ProjectionSpec:
    """One projection the map offers.

    make(data, progress, cancelled) -> projection (``forward``, ``inverse``, ``axis_labels``,
    ``exact``); raise ValueError with a one-line reason when it cannot be made for ``data``.
    background: True runs ``make`` as a job on the map's worker (progress shown, cancellable),
    False makes it at once. unavailable(data) -> the reason it is not offered for ``data`` (the
    control greys it out), or None. place(projection, data) -> (xy [N, 2], xy_background [R, 2] or
    None). uses_dims: the dimension pickers apply. inverse: the caption's words for what a click
    decodes (latent maps; GAN feature maps have no inverse). needs: an optional package it imports.
    preferred(data): the map starts with this projection for such data. describe(projection): a
    note for the line that says a background projection is ready. estimate(data): the seconds a
    background one usually takes uncached (said when it starts), or None.
    """

    key: str
    label: str
    make: Make
    background: bool = False
    unavailable: Callable[[ProjectionInput], str | None] = lambda data: None
    place: Callable[[Any, ProjectionInput], tuple[np.ndarray, np.ndarray | None]] = _forward_places
    uses_dims: bool = False
    inverse: str = "exact inverse: every position decodes"
    needs: str | None = None
    preferred: Callable[[ProjectionInput], bool] = lambda data: False  # the default for such data
    describe: Callable[[Any], str] = lambda projection: ""  # a note for the "ready" line of background ones
    estimate: Callable[[ProjectionInput], float | None] = lambda data: None  # seconds, uncached (background ones)


_REGISTRY: dict[str, ProjectionSpec] = {}
DEFAULT_KEY = "pca"


def register(spec: ProjectionSpec) -> ProjectionSpec:
    """Add (or replace) a projection; the map offers them in registration order."""
    _REGISTRY[spec.key] = spec
    return spec


def unregister(key: str) -> None:
    _REGISTRY.pop(key, None)


def projection_specs() -> list[ProjectionSpec]:
    return list(_REGISTRY.values())


def projection_spec(key_or_label: str) -> ProjectionSpec:
    """The spec by key, or by its label (sessions saved before keys existed stored labels)."""
    spec = _REGISTRY.get(key_or_label)
    if spec is None:
        spec = next((s for s in _REGISTRY.values() if s.label == key_or_label), None)
    if spec is None:
        raise KeyError(f"no projection {key_or_label!r}; known: {', '.join(_REGISTRY)}")
    return spec


def default_spec(data: ProjectionInput) -> ProjectionSpec:
    """The first preferred spec offered for ``data``, else PCA."""
    for spec in _REGISTRY.values():
        if spec.preferred(data) and spec.unavailable(data) is None:
            return spec
    return _REGISTRY[DEFAULT_KEY]


# ---- the built-in projections ---------------------------------------------------------------------

def _make_pca(data: ProjectionInput, progress, cancelled):
    # A GAN map's PCA is fitted on the real images, so the samples are laid out in their space.
    return PCAPlane.fit(data.background if data.background is not None else data.vectors)


def _make_umap(data: ProjectionInput, progress, cancelled):
    from explorer.core import umap_worker  # looked up at call time (tests replace compute_umap)

    return umap_worker.compute_umap(data.both, folder=data.folder, progress=progress, cancelled=cancelled)


def _umap_estimate(data: ProjectionInput) -> float | None:
    from explorer.core import umap_worker

    if umap_worker.has_layout(data.both, data.folder):
        return None  # shipped or cached: it opens at once
    return umap_worker.estimate_seconds(len(data.both))


def _umap_describe(projection) -> str:
    origin = getattr(projection, "origin", "")
    if origin == "shipped":
        return "the layout shipped with the model"
    return getattr(projection, "note", "") or ("from the cache" if origin == "cache" else "")


def _umap_places(projection, data: ProjectionInput):
    # UMAP's forward() of new vectors only averages neighbours: the fitted embedding is exact.
    n = len(data.vectors)
    return projection.embedding[:n], (projection.embedding[n:] if data.background is not None else None)


def _make_dims(data: ProjectionInput, progress, cancelled):
    return DimPair(int(data.dims[0]), int(data.dims[1]), data.vectors.mean(axis=0))


def _plane_unavailable(data: ProjectionInput) -> str | None:
    if data.is_gan:
        return "a GAN map shows classifier features, not latents"
    if data.dim != 2:
        return f"the latent plane needs a 2-d latent space, this one has {data.dim}"
    return None


register(ProjectionSpec("pca", "PCA", _make_pca))
register(ProjectionSpec("umap", "UMAP", _make_umap, background=True, place=_umap_places, needs="umap-learn",
                        estimate=_umap_estimate, describe=_umap_describe,
                        inverse="UMAP: a position decodes as the blend of its nearest points' latents "
                                "(the nearest point in empty space)"))
register(ProjectionSpec("dims", "Two dimensions", _make_dims, uses_dims=True,
                        unavailable=lambda d: "a GAN map shows classifier features, not latents" if d.is_gan else None))
register(ProjectionSpec("plane", "Latent plane", lambda data, p, c: LatentPlane(), unavailable=_plane_unavailable,
                        preferred=lambda d: d.dim == 2 and not d.is_gan))
