"""The interpolation path drawn on a map plot, with waypoints you can drag (for the latent map).

Drop-in for explorer/qt/map_view.py: ``PathOverlay(view_box, editor)`` then ``set_projection(proj)``
whenever the map's projection changes (anything with ``forward(z [N, D]) -> [N, 2]`` and
``inverse(p [M, 2]) -> MapInverse``, see explorer/core/projection.py). The overlay only shows the editor
(explorer/core/path_editor.py) and writes ``editor.move_waypoint`` when a drag ends.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

from explorer.core.path_editor import PathEditor

LINE_PEN = pg.mkPen((255, 196, 0, 220), width=2)
FRAME_BRUSH = pg.mkBrush(255, 196, 0, 160)
WAYPOINT_PEN = pg.mkPen((255, 255, 255), width=2)
WAYPOINT_BRUSH = pg.mkBrush(255, 140, 0, 230)


class PathOverlay:
    def __init__(self, view_box, editor: PathEditor):
        self.view_box = view_box
        self.editor = editor
        self.projection = None
        self.line = pg.PlotDataItem(pen=LINE_PEN, symbol="o", symbolSize=5, symbolBrush=FRAME_BRUSH, symbolPen=None)
        self.line.setZValue(50)
        view_box.addItem(self.line)
        self.targets: list[pg.TargetItem] = []
        self._dragging = False
        editor.waypoints_changed.connect(self.redraw)
        editor.frames_changed.connect(self.redraw)

    def set_projection(self, projection) -> None:
        self.projection = projection
        self.redraw()

    def _forward(self, z: np.ndarray) -> np.ndarray | None:
        if self.projection is None or z is None or len(z) == 0:
            return None
        try:
            return np.asarray(self.projection.forward(np.asarray(z, np.float32)), np.float64)
        except ValueError:  # another model's latent size: nothing to draw
            return None

    def redraw(self, *_args) -> None:
        if self._dragging:
            return
        e = self.editor
        frames = self._forward(e.latents) if e.latents is not None else None
        if frames is None:
            self.line.setData([], [])
        else:
            self.line.setData(frames[:, 0], frames[:, 1])
        points = self._forward(np.stack([w.z for w in e.waypoints])) if e.waypoints else None
        n = 0 if points is None else len(points)
        while len(self.targets) > n:
            self.view_box.removeItem(self.targets.pop())
        while len(self.targets) < n:
            i = len(self.targets)
            t = pg.TargetItem(pos=(0, 0), size=14, movable=True, pen=WAYPOINT_PEN, brush=WAYPOINT_BRUSH,
                              label=str(i + 1), labelOpts={"color": (255, 255, 255), "offset": (8, -14)})
            t.setZValue(60)
            t.sigPositionChangeFinished.connect(lambda item, i=i: self._drag_finished(i, item))
            self.view_box.addItem(t)
            self.targets.append(t)
        for t, p, w in zip(self.targets, points if points is not None else [], e.waypoints):
            t.blockSignals(True)
            t.setPos(QPointF(float(p[0]), float(p[1])))
            t.blockSignals(False)
            t.setToolTip(f"waypoint: {w.name} (drag to move)")

    def _drag_finished(self, index: int, item) -> None:
        """A waypoint was dropped at a new map position: move its latent there."""
        if self.projection is None or index >= len(self.editor.waypoints):
            return
        pos = item.pos()
        new = np.array([[pos.x(), pos.y()]], np.float32)
        old_z = self.editor.waypoints[index].z
        if getattr(self.projection, "exact", False):
            # a linear map: move the in-plane part only and keep the coordinates the map does not show
            old = self.projection.forward(old_z[None])
            z = old_z + (self.projection.inverse(new).z[0] - self.projection.inverse(old).z[0])
        else:
            z = self.projection.inverse(new).z[0]
        self.editor.move_waypoint(index, z)

    def remove(self) -> None:
        self.editor.waypoints_changed.disconnect(self.redraw)
        self.editor.frames_changed.disconnect(self.redraw)
        for item in [self.line, *self.targets]:
            self.view_box.removeItem(item)
        self.targets.clear()
