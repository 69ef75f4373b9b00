"""Directions panel: make (class → class, PCA, SeFa), save and load directions; move the focused
latent along one with a slider; A − B + C on grid cells.

Binds to a SampleGrid (explorer/core/grid.py) and a DirectionList (explorer/core/directions.py), the model
that sessions keep; the map adds lasso-selection directions through ``add_directions``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget,
                               QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget)

from explorer.io import contract
from explorer.io.contract import ContractError
from explorer.core.directions import (Direction, DirectionError, DirectionList, arithmetic, class_direction,
                                      load_directions, pca_directions, save_directions, sefa_directions)
from explorer.io.exports import ExportError
from explorer.core.grid import SampleGrid
from explorer.qt.docks import DockPart, install

SLIDER_STEPS = 100  # per latent unit


class DirectionsPanel(QWidget):
    message = Signal(str)
    directions_changed = Signal()

    def __init__(self, grid: SampleGrid, directions: DirectionList | None = None, parent=None, *,
                 interactive: bool = True):
        super().__init__(parent)
        self.grid = grid
        self.direction_list = directions if directions is not None else DirectionList()
        self.interactive = interactive
        self._atlas: contract.Atlas | None = None
        self._base: np.ndarray | None = None  # the focused latent before the slider moved it
        self._base_cell: int | None = None
        self._moving = False

        self.list = QListWidget()
        self.list.setMinimumHeight(110)
        make = QGroupBox("Make")
        mk = QGridLayout(make)
        self.class_a, self.class_b = QComboBox(), QComboBox()
        self.class_btn = QPushButton("Class → class", toolTip="mean atlas latent of B minus that of A")
        self.pca_btn = QPushButton("PCA of atlas", toolTip="top 5 principal axes of the atlas latents")
        self.sefa_btn = QPushButton("SeFa", toolTip="closed-form directions of a GAN whose first layer is linear in z")
        mk.addWidget(self.class_a, 0, 0)
        mk.addWidget(QLabel("→"), 0, 1)
        mk.addWidget(self.class_b, 0, 2)
        mk.addWidget(self.class_btn, 0, 3)
        mk.addWidget(self.pca_btn, 1, 0, 1, 2)
        mk.addWidget(self.sefa_btn, 1, 2, 1, 2)
        files = QHBoxLayout()
        self.save_btn, self.load_btn, self.remove_btn = QPushButton("Save…"), QPushButton("Load…"), QPushButton("Remove")
        for b in (self.save_btn, self.load_btn, self.remove_btn):
            files.addWidget(b)

        self.amount = QSlider(Qt.Orientation.Horizontal, minimum=-6 * SLIDER_STEPS, maximum=6 * SLIDER_STEPS, value=0)
        self.amount.setToolTip("move the focused cell along the selected direction (latent units)")
        self.amount_label = QLabel("0.00")
        self.target = QLabel("Focus a grid cell, pick a direction, drag the slider")
        self.target.setWordWrap(True)
        move = QHBoxLayout()
        move.addWidget(QLabel("Amount"))
        move.addWidget(self.amount, 1)
        move.addWidget(self.amount_label)

        arith = QGroupBox("Vector arithmetic (grid cells)")
        ar = QHBoxLayout(arith)
        self.cell_a, self.cell_b, self.cell_c = (QSpinBox(minimum=0, maximum=1023) for _ in range(3))
        self.cell_b.setValue(1)
        self.cell_c.setValue(2)
        self.arith_btn = QPushButton("= into focus")
        for w in (self.cell_a, QLabel("−"), self.cell_b, QLabel("+"), self.cell_c, self.arith_btn):
            ar.addWidget(w)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(self.list)
        lay.addLayout(files)
        lay.addWidget(make)
        lay.addWidget(self.target)
        lay.addLayout(move)
        lay.addWidget(arith)
        lay.addStretch(1)

        self.class_btn.clicked.connect(self.make_class_direction)
        self.pca_btn.clicked.connect(self.make_pca)
        self.sefa_btn.clicked.connect(self.make_sefa)
        self.save_btn.clicked.connect(self.save_dialog)
        self.load_btn.clicked.connect(self.load_dialog)
        self.remove_btn.clicked.connect(self.remove_selected)
        self.amount.valueChanged.connect(self._amount_changed)
        self.list.currentRowChanged.connect(lambda *_: self._rebase())
        self.arith_btn.clicked.connect(self.apply_arithmetic)
        grid.layout_changed.connect(self._on_model)
        grid.focus_changed.connect(lambda *_: self._rebase())
        grid.latents_changed.connect(self._on_latents)
        self.direction_list.changed.connect(self._on_directions)
        self._on_model()

    @property
    def directions(self) -> list[Direction]:
        """The model's directions, in order (read-only use: edit through ``add_directions`` and friends)."""
        return self.direction_list.items

    def _on_directions(self) -> None:
        self._refresh_list()
        self.directions_changed.emit()

    # ---- model -----------------------------------------------------------------------------------

    def _on_model(self) -> None:
        model = self.grid.model
        self._atlas = None
        if model is not None and model.atlas_path is not None:
            try:
                atlas = contract.Atlas.load(model.atlas_path)
                if atlas.mu.shape[1] == model.latent_dim:
                    self._atlas = atlas
            except ContractError:
                pass
        names = list(self._atlas.class_names) if self._atlas is not None else []
        for box in (self.class_a, self.class_b):
            box.clear()
            box.addItems(names)
        if len(names) > 3:
            self.class_b.setCurrentIndex(3)  # T-shirt/top → Dress on Fashion-MNIST
        has_atlas = self._atlas is not None
        for w in (self.class_a, self.class_b, self.class_btn, self.pca_btn):
            w.setEnabled(has_atlas)
        self.sefa_btn.setEnabled(model is not None and model.card is not None and model.card.family == "gan")
        for box in (self.cell_a, self.cell_b, self.cell_c):
            box.setMaximum(max(0, self.grid.count - 1))
        self._refresh_list()
        self._rebase()

    def _usable(self) -> list[int]:
        d = self.grid.model.latent_dim if self.grid.model is not None else -1
        return [i for i, x in enumerate(self.directions) if x.dim == d]

    def _refresh_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for i in self._usable():
            d = self.directions[i]
            self.list.addItem(f"{d.name}   ({d.source}{', ' + d.detail if d.detail else ''})")
        self.list.blockSignals(False)
        if self.list.count():
            self.list.setCurrentRow(self.list.count() - 1)

    def selected(self) -> Direction | None:
        row = self.list.currentRow()
        usable = self._usable()
        return self.directions[usable[row]] if 0 <= row < len(usable) else None

    def add_directions(self, directions) -> None:
        """Add directions (the map calls this for lasso selections A → B)."""
        self.direction_list.add(directions)

    def set_directions(self, directions) -> None:
        self.direction_list.replace(directions)

    # ---- making --------------------------------------------------------------------------------------

    def _model_name(self) -> str:
        return self.grid.model.name if self.grid.model is not None else ""

    def make_class_direction(self) -> None:
        if self._atlas is None:
            return
        try:
            d = class_direction(self._atlas.mu, self._atlas.labels, self.class_a.currentIndex(),
                                self.class_b.currentIndex(), self._atlas.class_names, model=self._model_name())
        except DirectionError as exc:
            self.message.emit(str(exc))
            return
        self.add_directions([d])
        self.message.emit(f"Direction {d.name} added")

    def make_pca(self) -> None:
        if self._atlas is not None:
            self.add_directions(pca_directions(self._atlas.mu, 5, model=self._model_name()))

    def make_sefa(self) -> None:
        model = self.grid.model
        if model is None:
            return
        try:
            self.add_directions(sefa_directions(model.path, 5, model=model.name))
        except DirectionError as exc:
            self.message.emit(str(exc))

    def remove_selected(self) -> None:
        d = self.selected()
        if d is not None:
            self.direction_list.remove(d)

    # ---- moving the focused latent -----------------------------------------------------------------------

    def _rebase(self) -> None:
        """A new focus or direction: the slider starts from the cell's current latent."""
        self._base_cell = self.grid.focus
        self._base = None if self.grid.focus is None or self.grid.model is None else \
            self.grid.latents[self.grid.focus].copy()
        self.amount.blockSignals(True)
        self.amount.setValue(0)
        self.amount.blockSignals(False)
        self.amount_label.setText("0.00")
        d = self.selected()
        if self._base is None:
            self.target.setText("Focus a grid cell, pick a direction, drag the slider")
        elif d is None:
            self.target.setText(f"Cell {self._base_cell}: make or load a direction first")
        else:
            self.target.setText(f"Cell {self._base_cell} along {d.name}")

    def _on_latents(self) -> None:
        """The focused latent was changed elsewhere (dimension sliders, reroll): start the slider from there."""
        if self._moving or self._base is None or self.grid.focus is None or self.grid.model is None:
            return
        d = self.selected()
        expected = self._base if d is None else d.move(self._base, self.amount.value() / SLIDER_STEPS)
        if self.grid.latents.shape[1] != expected.size or not np.allclose(self.grid.latents[self.grid.focus], expected):
            self._rebase()

    def _amount_changed(self, value: int) -> None:
        amount = value / SLIDER_STEPS
        self.amount_label.setText(f"{amount:+.2f}")
        d = self.selected()
        if d is None or self._base is None or self._base_cell != self.grid.focus:
            return
        self._moving = True
        try:
            self.grid.set_latent(self._base_cell, d.move(self._base, amount))
        finally:
            self._moving = False

    def apply_arithmetic(self) -> None:
        g = self.grid
        if g.model is None or g.focus is None:
            self.message.emit("Focus a grid cell first: the result goes there")
            return
        a, b, c = self.cell_a.value(), self.cell_b.value(), self.cell_c.value()
        z = arithmetic(g.latents[a], g.latents[b], g.latents[c])
        g.set_latent(g.focus, z)
        self._rebase()
        self.message.emit(f"Cell {g.focus} = cell {a} − cell {b} + cell {c}")

    # ---- files -------------------------------------------------------------------------------------------

    def save_dialog(self) -> None:
        if not self.interactive or not self.directions:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save directions", "directions.json", "Directions (*.json)")
        if path:
            try:
                save_directions(self.directions, path)
                self.message.emit(f"Saved {len(self.directions)} directions to {path}")
            except ExportError as exc:
                self.message.emit(str(exc))

    def load_dialog(self) -> None:
        if not self.interactive:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load directions", "", "Directions (*.json)")
        if path:
            self.load(path)

    def load(self, path: str) -> None:
        try:
            loaded = load_directions(path)
        except DirectionError as exc:
            self.message.emit(str(exc))
            return
        self.add_directions(loaded)
        d = self.grid.model.latent_dim if self.grid.model is not None else None
        other = sum(1 for x in loaded if x.dim != d)
        self.message.emit(f"Loaded {len(loaded)} directions" + (f" ({other} for another latent size, hidden)" if other else ""))


def install_directions_dock(window) -> DockPart:
    """Add the Directions dock (part ``directions``, its model a DirectionList) to a MainWindow,
    tabbed with the focused-latent dock."""
    directions = DirectionList()
    panel = DirectionsPanel(window.grid, directions, interactive=window.interactive)
    panel.message.connect(window.show_message)
    part = install(window, DockPart("directions", "Directions", panel, model=directions),
                   Qt.DockWidgetArea.RightDockWidgetArea)
    latent = window.docks.get("latent")
    if latent is not None and latent.dock is not None:
        window.tabifyDockWidget(latent.dock, part.dock)
        latent.dock.raise_()
    return part
