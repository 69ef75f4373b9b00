"""The focused cell's garment: its class picker and the blend between two garment types.

A thin binder over :class:`explorer.core.grid.SampleGrid` (``set_cell_class``, ``set_cell_blend``,
``cell_blend``, ``blend_stops``) and :class:`explorer.core.garments.StopPreviews`: the widgets write
the grid's setters, the grid's signals move the widgets (signals blocked while syncing). Shown for a
class-conditional model with a focused cell; for a model that takes one class per image the blend
controls are disabled and the panel says why (``model.blend_note``).
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider,
                               QVBoxLayout, QWidget)

from explorer.core.garments import BLEND_STOPS, StopPreviews, snap_to_stop
from explorer.core.grid import SampleGrid
from explorer.io.classes import describe_weights, is_one_hot
from explorer.io.model_error import ModelError
from explorer.qt.bridge import ToGui
from explorer.qt.latent_panel import CellPreview

STOP_PX = 56  # each stop's preview
BLENDED = "a blend (see below)"  # what the garment picker reads while the cell shows a blend


class StopView(CellPreview):
    """One stop of the three-stop mode; a click moves the blend slider to it."""

    clicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(STOP_PX, STOP_PX)
        self.setFixedSize(STOP_PX, STOP_PX)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()


class GarmentPanel(QWidget):
    """Class picker ("keep the style, change the garment") and blend slider of the focused cell."""

    message = Signal(str)  # one line for the status bar

    def __init__(self, grid: SampleGrid, parent=None):
        super().__init__(parent)
        self.grid = grid
        self.setObjectName("garmentPanel")
        self.to_gui = ToGui(self)
        self.previews = StopPreviews(dispatch=self.to_gui.wrap)
        self.title = QLabel("Garment")
        self.title.setObjectName("controlLabel")
        self.klass = QComboBox(toolTip="this cell's garment type: the same style (latent), decoded as another class")
        self.a = QComboBox(toolTip="blend from this garment type")
        self.b = QComboBox(toolTip="blend towards this garment type")
        self.mix = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.mix.setToolTip("how much of the second garment type: 0 % is all the first, 100 % all the second")
        self.mix.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.mix.setTickInterval(10)
        self.mix_label = QLabel("")
        self.mix_label.setObjectName("hint")
        self.stops = QCheckBox("3 stops", toolTip="the slider snaps to 10 / 50 / 90 %, and the three mixes are "
                                                  "shown side by side (click one to use it)")
        self.stop_views = [StopView() for _ in BLEND_STOPS]
        self.stop_captions = [QLabel(f"{round(s * 100)} %") for s in BLEND_STOPS]
        self.note = QLabel("")
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        for box in (self.klass, self.a, self.b):
            box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            box.setMinimumWidth(60)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 4)
        lay.setSpacing(3)
        form = QGridLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(6)
        form.setVerticalSpacing(3)
        form.addWidget(self.title, 0, 0)
        form.addWidget(self.klass, 0, 1, 1, 3)
        self.blend_label = QLabel("Blend")
        self.blend_label.setObjectName("controlLabel")
        form.addWidget(self.blend_label, 1, 0)
        form.addWidget(self.a, 1, 1)
        form.addWidget(QLabel("→"), 1, 2)
        form.addWidget(self.b, 1, 3)
        form.addWidget(self.mix, 2, 0, 1, 3)
        form.addWidget(self.stops, 2, 3)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        lay.addLayout(form)
        lay.addWidget(self.mix_label)
        self.stop_row = QWidget()
        row = QHBoxLayout(self.stop_row)
        row.setContentsMargins(0, 0, 0, 0)
        for view, caption in zip(self.stop_views, self.stop_captions):
            col = QVBoxLayout()
            col.setSpacing(1)
            caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            caption.setObjectName("hint")
            col.addWidget(view, 0, Qt.AlignmentFlag.AlignHCenter)
            col.addWidget(caption)
            row.addLayout(col)
        row.addStretch(1)
        lay.addWidget(self.stop_row)
        lay.addWidget(self.note)

        # widgets -> grid
        self.klass.activated.connect(self._on_class)
        self.a.activated.connect(lambda _i: self._push_blend())
        self.b.activated.connect(lambda _i: self._push_blend())
        self.mix.valueChanged.connect(lambda _v: self._push_blend())
        self.stops.toggled.connect(grid.set_blend_stops)
        for view, stop in zip(self.stop_views, BLEND_STOPS):
            view.clicked.connect(lambda stop=stop: self.mix.setValue(round(stop * 100)))
        # grid -> widgets
        grid.focus_changed.connect(lambda _i: self.refresh())
        grid.layout_changed.connect(self.refresh)
        grid.latents_changed.connect(self.refresh)
        grid.mode_changed.connect(lambda _on: self.refresh())
        self.previews.changed.connect(self._show_stops)
        self.previews.error.connect(self.message.emit)
        self.destroyed.connect(lambda *_: self.previews.close())
        self.refresh()

    # ---- grid -> widgets ---------------------------------------------------------------------------

    @property
    def can_blend(self) -> bool:
        return self.grid.model is not None and self.grid.model.can_blend

    def refresh(self) -> None:
        grid, model, i = self.grid, self.grid.model, self.grid.focus
        shown = model is not None and grid.num_classes > 0 and i is not None
        self.setVisible(shown)
        if not shown:
            self.previews.clear()
            return
        names = list(model.class_names) or [f"class {k}" for k in range(grid.num_classes)]
        a, b, t = grid.cell_blend(i)
        w = grid.weights[i]
        single = bool(is_one_hot(w[None])[0])
        picker = names + [BLENDED]  # the last entry only reads out a blend; it cannot be chosen
        for box, items, current in ((self.klass, picker, int(w.argmax()) if single else len(names)),
                                    (self.a, names, a), (self.b, names, b)):
            with QSignalBlocker(box):
                if [box.itemText(k) for k in range(box.count())] != items:
                    box.clear()
                    box.addItems(items)
                    if box is self.klass:
                        box.model().item(len(names)).setEnabled(False)
                box.setCurrentIndex(current)
        with QSignalBlocker(self.mix):
            self.mix.setValue(round(t * 100))
        blend_ok = self.can_blend
        with QSignalBlocker(self.stops):
            self.stops.setChecked(grid.blend_stops and blend_ok)
        for w in (self.a, self.b, self.mix, self.stops, self.blend_label):
            w.setEnabled(blend_ok)
        reason = model.blend_note or ""
        for w in (self.a, self.b, self.mix, self.stops):
            w.setToolTip(w.toolTip() if blend_ok else f"Blends are off for this model: {reason}")
        described = describe_weights(grid.weights[i], names)
        self.mix_label.setText(f"Shows {described}")
        self.note.setText("" if blend_ok else f"No blends: {reason}")
        self.note.setVisible(not blend_ok)
        three = blend_ok and grid.blend_stops
        self.stop_row.setVisible(three)
        if three:
            self.previews.request(model, grid.latents[i], a, b)
            for caption, stop in zip(self.stop_captions, BLEND_STOPS):
                caption.setText(f"{round(stop * 100)} % {names[b]}")
        else:
            self.previews.clear()

    def _show_stops(self) -> None:
        pixels = self.previews.pixels
        for k, view in enumerate(self.stop_views):
            view.set_pixels(None if pixels is None else pixels[k])

    # ---- widgets -> grid ---------------------------------------------------------------------------

    def _on_class(self, index: int) -> None:
        if self.grid.focus is None or not 0 <= index < self.grid.num_classes:
            return
        try:
            self.grid.set_cell_class(self.grid.focus, index)
        except ModelError as exc:
            self.message.emit(str(exc))

    def _push_blend(self) -> None:
        i = self.grid.focus
        if i is None or not self.can_blend:
            return
        t = self.mix.value() / 100.0
        if self.grid.blend_stops:
            t = snap_to_stop(t)
            if round(t * 100) != self.mix.value():
                with QSignalBlocker(self.mix):
                    self.mix.setValue(round(t * 100))
        a, b = self.a.currentIndex(), self.b.currentIndex()
        try:
            self.grid.set_cell_blend(i, a, b, t)
        except ModelError as exc:
            self.message.emit(str(exc))


def install_garment_panel(window) -> GarmentPanel:
    """Put the garment controls in the Focused latent panel, under its Reset / Zero buttons."""
    panel = GarmentPanel(window.grid)
    lay = window.latent_panel.layout()
    lay.insertWidget(lay.indexOf(window.latent_panel.note), panel)
    panel.message.connect(window.show_message)
    return panel
