"""The sample grid: a canvas that paints the tiled uint8 buffer, and its control bar.

In the style x garment mode the canvas has a column of row labels on its left (the class names).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QPainter, QPen
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton,
                               QSizePolicy, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from explorer.core.grid import MAX_SIDE, MIXED_CLASSES, NO_CLASSES, SampleGrid, cell_label
from explorer.core.latents import SamplingPolicy
from explorer.io.classes import describe_weights
from explorer.io.model_error import ModelError
from explorer.qt.bridge import fill_rgb32, rgb32_image

PAD = 1  # native pixels between cells
BACKGROUND = QColor(24, 26, 30)
GAP_GRAY = 44
FOCUS = QColor(255, 176, 32)
HOVER = QColor(255, 255, 255, 90)
BAD = QColor(230, 60, 60)
ROW_LABEL = QColor(200, 206, 214)
LABEL_GAP = 8  # px between a row label and its row's first cell


class GridCanvas(QWidget):
    """Paints SampleGrid pixels with nearest-neighbour scaling; click focuses a cell.

    The tiled image lives in one uint8 buffer that is rewritten in place, converted to an RGB32
    buffer that a QImage shares (Qt scales RGB32 without a format conversion), so a frame costs a
    strided copy, one pass of integer arithmetic and one drawImage.
    """

    cellMenuRequested = Signal(int, QPoint)  # cell index, global position
    zoomRequested = Signal(int)  # +1 / -1 cell-size steps (Ctrl + wheel)

    def __init__(self, grid: SampleGrid, parent=None):
        super().__init__(parent)
        self.grid = grid
        self.cell_px = 84
        self._buffer: np.ndarray | None = None  # uint8 [H, W, C]: the tiled cells
        self._rgb32: np.ndarray | None = None  # uint32 [H, W]: what the QImage shows
        self._qimage = None
        self._hover: int | None = None
        self.gutter = 0  # px left of the cells for the row labels (the style x garment mode)
        self.paint_count = 0
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        grid.images_changed.connect(self._on_images)
        grid.layout_changed.connect(self._on_layout)
        grid.focus_changed.connect(lambda _i: self.update())
        self._on_layout()

    def disconnect_model(self) -> None:
        self.grid.images_changed.disconnect(self._on_images)
        self.grid.layout_changed.disconnect(self._on_layout)

    # ---- geometry ---------------------------------------------------------------------------------

    @property
    def native(self) -> tuple[int, int]:
        h, w = self.grid.pixels.shape[1:3]
        return int(h), int(w)

    @property
    def scale(self) -> int:
        h, w = self.native
        return max(1, round(self.cell_px / max(h, w)))

    def set_cell_px(self, px: int) -> None:
        self.cell_px = int(px)
        self.updateGeometry()
        self.resize(self.sizeHint())
        self.update()

    def sizeHint(self) -> QSize:
        if self._buffer is None:
            return QSize(200, 200)
        s = self.scale
        return QSize(self.gutter + self._buffer.shape[1] * s, self._buffer.shape[0] * s)

    def cell_rect(self, index: int) -> QRect:
        h, w = self.native
        s = self.scale
        r, q = divmod(index, self.grid.cols)
        return QRect(self.gutter + (PAD + q * (w + PAD)) * s, (PAD + r * (h + PAD)) * s, w * s, h * s)

    def row_rect(self, row: int) -> QRect:
        """Where row ``row``'s label is painted (left of its first cell)."""
        first = self.cell_rect(row * self.grid.cols)
        return QRect(0, first.top(), max(0, self.gutter - LABEL_GAP), first.height())

    def cell_at(self, pos: QPoint) -> int | None:
        h, w = self.native
        s = self.scale
        x, y = (pos.x() - self.gutter) / s - PAD, pos.y() / s - PAD
        if x < 0 or y < 0:
            return None
        q, r = int(x // (w + PAD)), int(y // (h + PAD))
        if q >= self.grid.cols or r >= self.grid.rows or x - q * (w + PAD) >= w or y - r * (h + PAD) >= h:
            return None
        return r * self.grid.cols + q

    # ---- model -> view ------------------------------------------------------------------------------

    def _on_layout(self) -> None:
        n, h, w, c = self.grid.pixels.shape
        shape = (self.grid.rows * (h + PAD) + PAD, self.grid.cols * (w + PAD) + PAD, c)
        self._buffer = np.full(shape, GAP_GRAY, np.uint8)
        self._rgb32, self._qimage = rgb32_image(shape[:2])
        names = self.grid.row_names()
        self.gutter = (max(self.fontMetrics().horizontalAdvance(n) for n in names) + 2 * LABEL_GAP) if names else 0
        self._refresh()
        self.updateGeometry()
        self.resize(self.sizeHint())
        self.update()

    def _refresh(self) -> None:
        self.grid.tiled(pad=PAD, out=self._buffer)
        fill_rgb32(self._rgb32, self._buffer)

    def _on_images(self, _indices) -> None:
        self._refresh()
        self.update()

    # ---- painting and mouse -------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        self.paint_count += 1
        p = QPainter(self)
        if self.grid.model is None or self._qimage is None:
            p.fillRect(event.rect(), BACKGROUND)
            p.end()
            return
        s = self.scale
        target = QRect(self.gutter, 0, self._buffer.shape[1] * s, self._buffer.shape[0] * s)
        if not target.contains(event.rect()):  # the image is opaque: fill only what it leaves uncovered
            p.fillRect(event.rect(), BACKGROUND)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # crisp nearest neighbour
        p.drawImage(target, self._qimage)
        names = self.grid.row_names()
        if names and self.gutter:
            p.setPen(ROW_LABEL)
            for r, name in enumerate(names):
                p.drawText(self.row_rect(r), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
        for i in np.flatnonzero(~self.grid.finite):
            rect = self.cell_rect(int(i))
            p.fillRect(rect, QColor(90, 20, 20))
            p.setPen(QPen(BAD, max(2, s)))
            p.drawRect(rect.adjusted(1, 1, -1, -1))
            p.drawLine(rect.topLeft(), rect.bottomRight())
            p.drawLine(rect.topRight(), rect.bottomLeft())
            p.setPen(QColor(255, 255, 255))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "NaN")
        if self._hover is not None and self._hover < self.grid.count and self._hover != self.grid.focus:
            p.setPen(QPen(HOVER, 1))
            p.drawRect(self.cell_rect(self._hover).adjusted(-1, -1, 0, 0))
        if self.grid.focus is not None:
            p.setPen(QPen(FOCUS, 2))
            p.drawRect(self.cell_rect(self.grid.focus).adjusted(-1, -1, 0, 0))
        p.end()

    def mousePressEvent(self, event) -> None:
        index = self.cell_at(event.position().toPoint())
        if index is None:
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self.grid.set_focus(None if index == self.grid.focus else index)
        elif event.button() == Qt.MouseButton.RightButton:
            self.grid.set_focus(index)
            self.cellMenuRequested.emit(index, event.globalPosition().toPoint())

    def mouseMoveEvent(self, event) -> None:
        index = self.cell_at(event.position().toPoint())
        if index != self._hover:
            self._hover = index
            # the cell's number as the focused-latent panel and the messages name it (counted from 1)
            self.setToolTip("" if index is None else self.cell_tip(index))
            self.update()

    def cell_tip(self, index: int) -> str:
        """The cell's number, and its garment type (or blend) for a class-conditional model."""
        text = cell_label(index, self.grid.cols)
        if self.grid.classes is not None:
            names = list(self.grid.model.class_names) or [f"class {k}" for k in range(self.grid.num_classes)]
            text += f" · {describe_weights(self.grid.weights[index], names)}"
        return text

    def keyPressEvent(self, event) -> None:
        """Arrow keys move the focused cell; Escape clears it."""
        key = event.key()
        moves = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0)}
        if key == Qt.Key.Key_Escape:
            self.grid.set_focus(None)
        elif key in moves and self.grid.model is not None:
            if self.grid.focus is None:
                self.grid.set_focus(0)
                return
            r, c = divmod(self.grid.focus, self.grid.cols)
            dr, dc = moves[key]
            r = min(max(r + dr, 0), self.grid.rows - 1)
            c = min(max(c + dc, 0), self.grid.cols - 1)
            self.grid.set_focus(r * self.grid.cols + c)
        else:
            super().keyPressEvent(event)

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoomRequested.emit(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
        else:
            super().wheelEvent(event)

    def leaveEvent(self, event) -> None:
        self._hover = None
        self.update()


def _label(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setObjectName("controlLabel")
    return lab


class GridControls(QWidget):
    """Rows, columns, cell size, seed, re-roll, temperature, truncation, class, walk, save."""

    saveRequested = Signal()
    walkToggled = Signal(bool)
    cellSizeChanged = Signal(int)
    message = Signal(str)  # one line for the status bar

    def __init__(self, grid: SampleGrid, parent=None):
        super().__init__(parent)
        self.grid = grid
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.setSpacing(4)

        self.rows = QSpinBox(minimum=1, maximum=MAX_SIDE, value=grid.rows, toolTip="rows (1–32)")
        self.cols = QSpinBox(minimum=1, maximum=MAX_SIDE, value=grid.cols, toolTip="columns (1–32)")
        self.cell = QSpinBox(minimum=8, maximum=512, value=84, singleStep=28, suffix=" px",
                             toolTip="cell size on screen (integer multiples stay crisp)")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=grid.policy.seed, toolTip="random seed")
        self.reroll = QPushButton("Re-roll", toolTip="next seed (R)")
        self.temperature = QDoubleSpinBox(minimum=0.05, maximum=3.0, singleStep=0.05, decimals=2,
                                          value=grid.policy.temperature, toolTip="scales every latent")
        self.trunc_on = QCheckBox("Truncate", toolTip="redraw coordinates with |z| above the threshold")
        self.truncation = QDoubleSpinBox(minimum=0.1, maximum=4.0, singleStep=0.1, decimals=1, value=2.0)
        self.truncation.setEnabled(False)
        self.klass = QComboBox(toolTip="class given to the class-conditional model")
        self.klass_label = _label("Class")
        self.walk = QToolButton(text="▶ Walk", checkable=True, toolTip="animated random walk on the prior's shell (W)")
        self.garments = QToolButton(text="Style × garment", checkable=True)
        self.garments.setObjectName("garmentToggle")
        # R and W are actions of this widget, not the buttons' own shortcuts: a button's setText
        # ("■ Stop", the fps readout) replaces its shortcut with the text's mnemonic, so W worked once.
        self.reroll_action = self._key_action("Re-roll", "R", self.reroll.click)
        self.walk_action = self._key_action("Walk", "W", self.walk.toggle)
        self.garment_action = self._key_action("Style × garment grid", "G", self.toggle_garments)
        self.save = QPushButton("Save PNG…", toolTip="save the whole grid")

        for w, width in ((self.rows, 56), (self.cols, 56), (self.cell, 84), (self.seed, 96),
                         (self.temperature, 66), (self.truncation, 56)):
            w.setFixedWidth(width)
        self.klass.setMaximumWidth(170)
        top = QHBoxLayout()
        for widget in (_label("Grid"), self.rows, _label("×"), self.cols, _spacer(), _label("Cell"), self.cell):
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.garments)
        top.addWidget(self.walk)
        top.addWidget(self.save)
        bottom = QHBoxLayout()
        for widget in (_label("Seed"), self.seed, self.reroll, _spacer(), _label("Temperature"), self.temperature,
                       _spacer(), self.trunc_on, self.truncation, _spacer(), self.klass_label, self.klass):
            bottom.addWidget(widget)
        bottom.addStretch(1)
        lay.addLayout(top)
        lay.addLayout(bottom)

        # view -> model
        self.rows.valueChanged.connect(lambda _v: grid.set_size(self.rows.value(), self.cols.value()))
        self.cols.valueChanged.connect(lambda _v: grid.set_size(self.rows.value(), self.cols.value()))
        self.cell.valueChanged.connect(self.cellSizeChanged.emit)
        self.seed.valueChanged.connect(lambda _v: self._push_policy())
        self.temperature.valueChanged.connect(lambda _v: self._push_policy())
        self.truncation.valueChanged.connect(lambda _v: self._push_policy())
        self.trunc_on.toggled.connect(self._on_trunc_toggled)
        self.reroll.clicked.connect(grid.reroll)
        self.klass.currentIndexChanged.connect(self._on_class)
        self.walk.toggled.connect(self._on_walk)
        self.garments.clicked.connect(lambda checked: self.set_garments(checked))
        self.save.clicked.connect(self.saveRequested.emit)
        # model -> view
        grid.policy_changed.connect(self._pull_policy)
        grid.layout_changed.connect(self._pull_layout)
        grid.mode_changed.connect(lambda _on: self._pull_layout())
        self._pull_layout()

    def _key_action(self, text: str, key: str, slot) -> QAction:
        """A one-key shortcut, live while these controls are on screen (the Grid tab)."""
        action = QAction(text, self, shortcut=QKeySequence(key))
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def toggle_garments(self) -> None:
        """G: the style x garment grid on or off (for a model without classes, the reason in the status bar)."""
        self.set_garments(not self.grid.garment_mode)

    def set_garments(self, on: bool) -> None:
        try:
            self.grid.set_garment_mode(on)
        except ModelError as exc:
            self.message.emit(str(exc))
        self._pull_layout()
        if self.grid.garment_mode and on:
            self.message.emit(f"Style × garment: one row per class ({self.grid.rows}), one style per column; "
                              "Re-roll draws new styles, a slider moves a style in every row")

    def _push_policy(self) -> None:
        trunc = self.truncation.value() if self.trunc_on.isChecked() else None
        policy = SamplingPolicy(self.seed.value(), self.temperature.value(), trunc)
        if policy != self.grid.policy:
            self.grid.set_policy(policy)

    def _on_trunc_toggled(self, on: bool) -> None:
        self.truncation.setEnabled(on)
        self._push_policy()

    def _pull_policy(self, policy: SamplingPolicy) -> None:
        for w, v in ((self.seed, policy.seed), (self.temperature, policy.temperature)):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)
        self.trunc_on.blockSignals(True)
        self.trunc_on.setChecked(policy.truncation is not None)
        self.trunc_on.blockSignals(False)
        self.truncation.setEnabled(policy.truncation is not None)
        if policy.truncation is not None:
            self.truncation.blockSignals(True)
            self.truncation.setValue(policy.truncation)
            self.truncation.blockSignals(False)

    def _pull_layout(self) -> None:
        for w, v in ((self.rows, self.grid.rows), (self.cols, self.grid.cols)):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)
        model = self.grid.model
        names = model.class_names if model is not None else ()
        self.klass.blockSignals(True)
        self.klass.clear()
        if names:
            self.klass.addItem("Mixed (one per row)", MIXED_CLASSES)
            for i, name in enumerate(names):
                self.klass.addItem(name, i)
            idx = self.klass.findData(self.grid.class_choice)
            self.klass.setCurrentIndex(max(0, idx))
        self.klass.blockSignals(False)
        garments = self.grid.garment_mode
        self.klass.setVisible(bool(names) and not garments)
        self.klass_label.setVisible(bool(names) and not garments)
        conditional = model is not None and bool(model.signature.num_classes)
        self.garments.setEnabled(conditional)
        self.garments.setChecked(garments)
        self.garments.setToolTip("rows are garment types (classes), columns are styles (latents) (G)" if conditional
                                 else ("Not available: " + NO_CLASSES if model is not None else "open a model first"))
        self.rows.setEnabled(not garments)
        self.rows.setToolTip("rows (1–32)" if not garments else "one row per class in the style × garment grid")
        if model is not None:
            native = max(model.image_shape[1:])
            self.cell.blockSignals(True)
            self.cell.setSingleStep(native)
            self.cell.setMinimum(native)
            self.cell.setMaximum(native * 16)
            self.cell.blockSignals(False)

    def _on_class(self, _index: int) -> None:
        data = self.klass.currentData()
        if data is not None:
            self.grid.set_class_choice(int(data))

    def _on_walk(self, on: bool) -> None:
        self.walk.setText("■ Stop" if on else "▶ Walk")
        self.walkToggled.emit(on)


def _spacer() -> QWidget:
    w = QWidget()
    w.setFixedWidth(10)
    return w
