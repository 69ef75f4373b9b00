"""The focused cell: a large preview and one slider per latent dimension (drag to move the latent)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (QAbstractScrollArea, QApplication, QGridLayout, QLabel, QPushButton, QScrollArea, QSlider, QVBoxLayout, QWidget,
                               QHBoxLayout)

from explorer.core.grid import SampleGrid, cell_label
from explorer.core.latents import dimension_order
from explorer.io.runtime import dimension_variance
from explorer.qt.bridge import qimage_copy

SLIDER_RANGE = 4.0   # ± standard deviations
SLIDER_STEPS = 400   # per unit: 0.01 resolution
MAX_SLIDERS = 64     # larger latents show the 64 most-used dimensions
ROW_PX = 22          # one slider row: room for the handle, easy to grab
PREVIEW_PX = (96, 168)  # the preview shrinks to its minimum before the sliders lose room


class LatentSlider(QSlider):
    """A latent dimension's slider. The mouse wheel scrolls the list of sliders instead of moving the
    value: scrolling down to z31 must not rewrite z0..z30 on the way (drag or keys change values)."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setFixedHeight(ROW_PX)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event) -> None:
        area = self.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is None:
            event.ignore()
            return
        QApplication.sendEvent(area.verticalScrollBar(), event)  # as the scroll area does with its own wheel
        event.accept()


class CellPreview(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._image = None
        self.setMinimumSize(QSize(168, 168))

    def set_pixels(self, pixels: np.ndarray | None) -> None:
        self._image = None if pixels is None else qimage_copy(pixels)
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.black)
        if self._image is not None:
            side = min(self.width(), self.height())
            s = max(1, side // max(self._image.width(), self._image.height()))
            w, h = self._image.width() * s, self._image.height() * s
            p.drawImage(QRect((self.width() - w) // 2, (self.height() - h) // 2, w, h), self._image)
        p.end()


class FocusPreview(CellPreview):
    """The focused cell, 168 px when there is room; a short dock shrinks it to 96 px before the sliders."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(QSize(PREVIEW_PX[0], PREVIEW_PX[0]))
        self.setMaximumHeight(PREVIEW_PX[1])

    def sizeHint(self) -> QSize:
        return QSize(PREVIEW_PX[1], PREVIEW_PX[1])


class LatentPanel(QWidget):
    """Binds to SampleGrid.focus: sliders write grid.set_dimension, the grid's changes move the sliders."""

    def __init__(self, grid: SampleGrid, parent=None):
        super().__init__(parent)
        self.grid = grid
        self.sliders: dict[int, QSlider] = {}
        self.values: dict[int, QLabel] = {}
        self.order: np.ndarray = np.zeros(0, int)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        self.title = QLabel("Click a cell to focus it")
        self.title.setObjectName("panelTitle")
        self.title.setWordWrap(True)  # wraps rather than cut off in a narrow dock
        self.preview = FocusPreview()
        self.reset = QPushButton("Reset to sample", toolTip="undo slider edits of this cell")
        self.zero = QPushButton("Zero", toolTip="set every dimension to 0 (the prior mean)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset)
        buttons.addWidget(self.zero)
        self.note = QLabel("")
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.holder = QWidget()
        self.form = QGridLayout(self.holder)
        self.form.setContentsMargins(0, 0, 4, 0)
        self.form.setVerticalSpacing(1)
        self.scroll.setWidget(self.holder)
        lay.addWidget(self.title)
        lay.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addLayout(buttons)
        lay.addWidget(self.note)
        lay.addWidget(self.scroll, 3)
        lay.addStretch(0)  # takes the room only while the sliders are hidden (no cell focused)
        self.scroll.setMinimumHeight(4 * ROW_PX)
        self.reset.clicked.connect(self._reset)
        self.zero.clicked.connect(self._zero)
        grid.focus_changed.connect(self._on_focus)
        grid.latents_changed.connect(self._pull_values)
        grid.images_changed.connect(self._on_images)
        grid.layout_changed.connect(self._on_layout)
        self._on_focus(grid.focus)

    def _on_layout(self) -> None:
        self.order = np.zeros(0, int)
        self._rebuild()

    def _rebuild(self) -> None:
        while self.form.count():
            item = self.form.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.sliders.clear()
        self.values.clear()
        model = self.grid.model
        if model is None or self.grid.focus is None:
            return
        d = model.latent_dim
        if not len(self.order):
            if d <= MAX_SLIDERS:
                self.order = np.arange(d)
                self.note.setText(f"{d} dimensions, drag to move this latent")
            else:
                cached = model.extra.get("atlas_slider_order")
                if cached is not None:
                    order, source = cached, "atlas variance"
                else:  # atlas variance is per model; image sensitivity depends on the focused latent
                    var, source = dimension_variance(model, self.grid.latents[self.grid.focus])
                    order = dimension_order(var)[:MAX_SLIDERS]
                    if source == "atlas variance":
                        model.extra["atlas_slider_order"] = order
                self.order = order
                self.note.setText(f"{MAX_SLIDERS} of {d} dimensions, highest {source} first")
        for row, dim in enumerate(self.order):
            name = QLabel(f"z{dim}")
            name.setObjectName("dimLabel")
            slider = LatentSlider()
            slider.setRange(-int(SLIDER_RANGE * 100), int(SLIDER_RANGE * 100))
            slider.setProperty("dim", int(dim))
            slider.valueChanged.connect(lambda v, dim=int(dim): self._on_slider(dim, v))
            value = QLabel("0.00")
            value.setObjectName("dimValue")
            value.setMinimumWidth(38)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.form.addWidget(name, row, 0)
            self.form.addWidget(slider, row, 1)
            self.form.addWidget(value, row, 2)
            self.sliders[int(dim)], self.values[int(dim)] = slider, value
        for r in range(self.form.rowCount()):
            self.form.setRowStretch(r, 0)
        self.form.setRowStretch(len(self.order), 1)  # rows stay compact when there are few dimensions
        self._pull_values()

    def _on_focus(self, index) -> None:
        enabled = index is not None and self.grid.model is not None
        self.reset.setVisible(enabled)
        self.zero.setVisible(enabled)
        self.scroll.setVisible(enabled)
        if not enabled:
            self.title.setText("Click a cell to focus it" if self.grid.model is not None else "No model open")
            self.note.setText("Its latent vector appears here as one slider per dimension; drag a slider and "
                              "the cell updates as you move. Right-click a cell to save it, copy its latent "
                              "or use it as a path endpoint." if self.grid.model is not None else "")
            self.preview.set_pixels(None)
            self.preview.hide()
            self._rebuild()
            return
        self.title.setText(cell_label(index, self.grid.cols))
        self.preview.show()
        if self.grid.model.latent_dim > MAX_SLIDERS:
            self.order = np.zeros(0, int)
        self._rebuild()
        self.preview.set_pixels(self.grid.pixels[index])

    def _pull_values(self) -> None:
        i = self.grid.focus
        if i is None or not self.sliders:
            return
        z = self.grid.latents[i]
        for dim, slider in self.sliders.items():
            v = float(z[dim])
            slider.blockSignals(True)
            slider.setValue(int(round(np.clip(v, -SLIDER_RANGE, SLIDER_RANGE) * 100)))
            slider.blockSignals(False)
            self.values[dim].setText(f"{v:+.2f}")

    def _on_slider(self, dim: int, value: int) -> None:
        if self.grid.focus is None:
            return
        self.values[dim].setText(f"{value / 100:+.2f}")
        self.grid.set_dimension(self.grid.focus, dim, value / 100.0)

    def _on_images(self, indices) -> None:
        i = self.grid.focus
        if i is not None and i in np.asarray(indices):
            self.preview.set_pixels(self.grid.pixels[i])

    def _reset(self) -> None:
        if self.grid.focus is not None:
            self.grid.reset_cell(self.grid.focus)

    def _zero(self) -> None:
        if self.grid.focus is not None:
            self.grid.set_latent(self.grid.focus, np.zeros(self.grid.model.latent_dim, np.float32), edit=True)
