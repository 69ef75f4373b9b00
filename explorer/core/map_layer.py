"""Points placed on the latent map (Qt-free): positions, visibility by class, nearest-point lookups."""

from __future__ import annotations

import numpy as np

from explorer.core.atlas_data import MapPoints
from explorer.core.map_density import SpatialGrid
from explorer.core.projection import NearestIndex


class MapLayer:
    """Points placed on the map: positions xy float32 [N, 2], which are visible, a nearest-point index.

    ``coloured`` layers are drawn by class (the primary layer); the GAN map's real images are a grey
    background layer. Hidden classes are neither hovered nor selected.
    """

    def __init__(self, points: MapPoints, xy: np.ndarray, *, coloured: bool):
        self.points = points
        self.xy = np.ascontiguousarray(xy, np.float32)
        self.coloured = coloured
        self.visible_mask = np.ones(len(points), bool)
        self.index = NearestIndex(self.xy) if len(self.xy) else None
        self._grid: SpatialGrid | None = None

    @property
    def grid(self) -> SpatialGrid:
        """The points sorted into grid cells: which lie in a box (made when first asked)."""
        if self._grid is None:
            self._grid = SpatialGrid(self.xy)
        return self._grid

    def visible_in(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """int64 [K]: the visible points inside the box, ascending."""
        idx = self.grid.indices_in(x0, x1, y0, y1)
        return idx[self.visible_mask[idx]]

    @property
    def labels(self) -> np.ndarray:
        """int64 [N]: class per point (-1 throughout for a grey layer)."""
        return self.points.labels if self.coloured else np.full(len(self.points), -1)

    def class_counts(self) -> dict[int, int]:
        """Visible points per class label."""
        labs = self.labels[self.visible_mask]
        return {int(k): int((labs == k).sum()) for k in np.unique(labs)}

    def set_class_visible(self, label: int, on: bool) -> bool:
        """Show or hide one class; False when this layer has no such class (nothing changed)."""
        if not self.coloured or not (self.points.labels == label).any():
            return False
        self.visible_mask[self.points.labels == label] = on
        return True

    def nearest(self, x: float, y: float, radius: float) -> int | None:
        """The nearest visible point within ``radius`` map units of (x, y), or None."""
        if self.index is None:
            return None
        idx, dist = self.index.query_one(x, y, k=12)
        for i, d in zip(idx, dist):
            if d > radius:
                break
            if self.visible_mask[i]:
                return int(i)
        return None
