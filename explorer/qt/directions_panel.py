"""Directions panel: make (class → class, PCA, SeFa), save and load directions; move the focused
latent along one with a slider; A − B + C on grid cells.

Binds to a SampleGrid (explorer/core/grid.py) and a DirectionList (explorer/core/directions.py), the model
that sessions keep; the map adds lasso-selection directions through ``add_directions``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QFrame, QGridLayout, QGroupBox, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QPushButton, QScrollArea, QSizePolicy, QSlider, QVBoxLayout,
                               QWidget)

from explorer.io import contract
from explorer.io.contract import ContractError
from explorer.core.directions import (Direction, DirectionError, DirectionList, ModelKey, VectorArithmetic,
                                      class_direction, hidden_summary, load_directions, pca_directions,
                                      save_directions, sefa_directions)
from explorer.io.exports import ExportError, safe_file_name
from explorer.core.grid import SampleGrid
from explorer.qt.docks import DockPart, install

SLIDER_STEPS = 100  # per latent unit
SOURCE_LABELS = {"class": "class → class", "selection": "map selection", "pca": "PCA of the atlas",
                 "sefa": "SeFa", "user": "loaded"}
# What each button does, shown as its tooltip while it can be used; a disabled one says why it cannot.
TIPS = {"class": "mean atlas latent of B minus that of A", "pca": "top 5 principal axes of the atlas latents",
        "sefa": "closed-form directions of a GAN whose first layer is linear in z"}


def _wrapping(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wrap, never widen the dock
    return label


class DirectionsPanel(QWidget):
    message = Signal(str)
    directions_changed = Signal()

    def __init__(self, grid: SampleGrid, directions: DirectionList | None = None, parent=None, *,
                 interactive: bool = True):
        super().__init__(parent)
        self.grid = grid
        self.direction_list = directions if directions is not None else DirectionList()
        self.arithmetic = VectorArithmetic()
        self.interactive = interactive
        self._atlas: contract.Atlas | None = None
        self._key: ModelKey | None = None
        self._layout: tuple | None = None  # (model key, rows, cols) the A − B + C picks were made in
        self._offered: list[Direction] = []
        self._base: np.ndarray | None = None  # the focused latent before the slider moved it
        self._base_cell: int | None = None
        self._moving = False

        self.list = QListWidget()
        self.list.setMinimumHeight(110)
        # entries wrap at the dock's width instead of running off its edge
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.hidden_note = _wrapping()
        self.hidden_note.setObjectName("directionsHidden")
        self.hidden_note.hide()

        make = QGroupBox("Make")
        mk = QVBoxLayout(make)
        self.class_row = QWidget()
        cr = QGridLayout(self.class_row)
        cr.setContentsMargins(0, 0, 0, 0)
        self.class_a, self.class_b = QComboBox(), QComboBox()
        for box in (self.class_a, self.class_b):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(6)
            box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.class_a.setToolTip("from this class")
        self.class_b.setToolTip("to this class")
        self.class_btn = QPushButton("Class → class", toolTip=TIPS["class"])
        cr.addWidget(QLabel("From"), 0, 0)
        cr.addWidget(self.class_a, 0, 1)
        cr.addWidget(QLabel("to"), 0, 2)
        cr.addWidget(self.class_b, 0, 3)
        cr.addWidget(self.class_btn, 1, 1, 1, 3)
        cr.setColumnStretch(1, 1)
        cr.setColumnStretch(3, 1)
        self.no_classes = _wrapping()
        self.no_classes.setObjectName("directionsNoClasses")
        self.pca_btn = QPushButton("PCA of atlas", toolTip=TIPS["pca"])
        self.sefa_btn = QPushButton("SeFa", toolTip=TIPS["sefa"])
        buttons = QHBoxLayout()
        buttons.addWidget(self.pca_btn)
        buttons.addWidget(self.sefa_btn)
        self.why = _wrapping()  # why the greyed-out buttons cannot be used with this model
        self.why.setObjectName("directionsWhy")
        mk.addWidget(self.class_row)
        mk.addWidget(self.no_classes)
        mk.addLayout(buttons)
        mk.addWidget(self.why)

        files = QHBoxLayout()
        self.save_btn, self.load_btn, self.remove_btn = QPushButton("Save…"), QPushButton("Load…"), QPushButton("Remove")
        self.load_btn.setToolTip("add directions from a .json file saved earlier")
        for b in (self.save_btn, self.load_btn, self.remove_btn):
            files.addWidget(b)

        self.amount = QSlider(Qt.Orientation.Horizontal, minimum=-6 * SLIDER_STEPS, maximum=6 * SLIDER_STEPS, value=0)
        self.amount.setToolTip("move the focused cell along the selected direction (latent units)")
        self.amount_label = QLabel("0.00")
        self.target = _wrapping("Click a grid cell, pick a direction, drag the slider")
        move = QHBoxLayout()
        move.addWidget(QLabel("Amount"))
        move.addWidget(self.amount, 1)
        move.addWidget(self.amount_label)

        arith = QGroupBox("Vector arithmetic: A − B + C")
        ar = QGridLayout(arith)
        ar.addWidget(_wrapping("Click a cell in the grid, then A, B or C to use it."), 0, 0, 1, 3)
        self.pick_buttons: dict[str, QPushButton] = {}
        self.pick_labels: dict[str, QLabel] = {}
        for col, slot in enumerate(VectorArithmetic.SLOTS):
            btn = QPushButton(slot)
            btn.clicked.connect(lambda *_, s=slot: self.pick_focused(s))
            label = _wrapping("not picked")
            label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.pick_buttons[slot], self.pick_labels[slot] = btn, label
            ar.addWidget(btn, 1, col)
            ar.addWidget(label, 2, col)
        self.arith_btn = QPushButton("= A − B + C into the focused cell")
        ar.addWidget(self.arith_btn, 3, 0, 1, 3)

        # everything scrolls when the dock is short (a laptop screen), nothing is squeezed until it clips
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        self.scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(self.list)
        lay.addWidget(self.hidden_note)
        lay.addLayout(files)
        lay.addWidget(make)
        lay.addWidget(self.target)
        lay.addLayout(move)
        lay.addWidget(arith)
        lay.addStretch(1)
        # room for the scroll bar too, so the content is never cut at the right edge
        self.scroll.setMinimumWidth(body.minimumSizeHint().width() + self.scroll.verticalScrollBar().sizeHint().width())

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
        grid.focus_changed.connect(lambda *_: self._sync_arithmetic())
        grid.latents_changed.connect(self._on_latents)
        self.direction_list.changed.connect(self._on_directions)
        self.arithmetic.changed.connect(self._sync_arithmetic)
        self._on_model()

    @property
    def directions(self) -> list[Direction]:
        """All directions, in order, those of other models included (read-only use: edit through
        ``add_directions`` and friends); :attr:`offered` is what the list shows."""
        return self.direction_list.items

    @property
    def offered(self) -> list[Direction]:
        """The directions made on the open model (same file), in the list's order."""
        return self._offered

    def _on_directions(self) -> None:
        self._refresh_list()
        self.directions_changed.emit()

    # ---- model -----------------------------------------------------------------------------------

    def _on_model(self) -> None:
        model = self.grid.model
        key = ModelKey.of(model)
        layout = (key, self.grid.rows, self.grid.cols)
        if layout != self._layout:
            self.arithmetic.clear()  # picks of another model or grid layout name cells that are not there now
        same_model = key is not None and key == self._key
        self._key, self._layout = key, layout
        if not same_model:  # a new grid size keeps the atlas and the classes picked
            self._load_atlas(model)
        names = list(self._atlas.class_names) if self._atlas is not None else []
        has_atlas = self._atlas is not None
        name = model.name if model is not None else ""
        # a model without classes gets a line instead of two empty, greyed-out class boxes
        self.class_row.setVisible(len(names) > 1)
        self.no_classes.setVisible(len(names) <= 1)
        if model is None:
            self.no_classes.setText("Open a model to make directions.")
        elif not names and getattr(model, "class_names", ()):
            self.no_classes.setText(f"Class → class needs an atlas of encoded images; {name} has none.")
        elif not names:
            self.no_classes.setText("This model has no classes, so there is no class → class direction.")
        else:
            self.no_classes.setText(f"Class → class needs two classes; {name}'s atlas has one.")
        is_gan = model is not None and model.card is not None and model.card.family == "gan"
        reasons = {}
        if model is None:
            reasons = {"class": "open a model first", "pca": "open a model first", "sefa": "open a model first"}
        else:
            if not has_atlas:
                reasons["class"] = f"class → class needs an atlas of encoded images; {name} has none"
                reasons["pca"] = f"PCA needs an atlas of encoded images (VAE bundles have one); {name} has none"
            if not is_gan:
                reasons["sefa"] = f"SeFa needs a GAN generator; {name} is not one"
        for key_, btn in (("class", self.class_btn), ("pca", self.pca_btn), ("sefa", self.sefa_btn)):
            btn.setEnabled(key_ not in reasons)
            btn.setToolTip(TIPS[key_] if key_ not in reasons else f"Not available: {reasons[key_]}")
        for box in (self.class_a, self.class_b):
            box.setEnabled(has_atlas)
        why = [reasons[k] for k in ("pca", "sefa") if k in reasons and model is not None]
        self.why.setText("Greyed out: " + "; ".join(why) + "." if why else "")
        self.why.setVisible(bool(why))
        self._refresh_list()
        self._rebase()
        self._sync_arithmetic()

    def _load_atlas(self, model) -> None:
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
            for i, n in enumerate(names):
                box.setItemData(i, n, Qt.ItemDataRole.ToolTipRole)
        if len(names) > 3:
            self.class_b.setCurrentIndex(3)  # T-shirt/top → Dress on Fashion-MNIST
        elif len(names) > 1:
            self.class_b.setCurrentIndex(1)

    def _refresh_list(self) -> None:
        self._offered, hidden = self.direction_list.offered(self._key)
        self.list.blockSignals(True)
        self.list.clear()
        for d in self._offered:
            source = SOURCE_LABELS.get(d.source, d.source)
            item = QListWidgetItem(f"{d.name} · {d.detail}" if d.detail else d.name)
            item.setToolTip(f"{d.name}\n{source}{': ' + d.detail if d.detail else ''}"
                            + (f"\nmade on {d.model}" if d.model else ""))
            self.list.addItem(item)
        self.list.blockSignals(False)
        if self.list.count():
            self.list.setCurrentRow(self.list.count() - 1)
        summary = hidden_summary(hidden) if self._key is not None else ""
        self.hidden_note.setText(summary)
        self.hidden_note.setVisible(bool(summary))
        has = bool(self._offered)
        for btn, tip in ((self.save_btn, "save these directions to a .json file"),
                         (self.remove_btn, "remove the selected direction")):
            btn.setEnabled(has)
            btn.setToolTip(tip if has else "Not available: make or load a direction first")

    def selected(self) -> Direction | None:
        row = self.list.currentRow()
        return self._offered[row] if 0 <= row < len(self._offered) else None

    def _stamp(self, directions) -> list[Direction]:
        """Directions made on the open model remember its file, so they are offered for it alone."""
        key = self._key
        if key is None:
            return list(directions)
        return [dataclasses.replace(d, fingerprint=key.fingerprint)
                if not d.fingerprint and d.model == key.name and d.dim == key.dim else d for d in directions]

    def add_directions(self, directions) -> None:
        """Add directions made on the open model (the map calls this for lasso selections A → B)."""
        self.direction_list.add(self._stamp(directions))

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
            made = pca_directions(self._atlas.mu, 5, model=self._model_name())
            self.add_directions(made)
            self.message.emit(f"{len(made)} PCA directions of {self._model_name()} added")

    def make_sefa(self) -> None:
        model = self.grid.model
        if model is None:
            return
        try:
            made = sefa_directions(model.path, 5, model=model.name)
        except DirectionError as exc:
            self.message.emit(str(exc))
            return
        self.add_directions(made)
        self.message.emit(f"{len(made)} SeFa directions of {model.name} added")

    def remove_selected(self) -> None:
        d = self.selected()
        if d is not None:
            self.direction_list.remove(d)

    # ---- moving the focused latent -----------------------------------------------------------------------

    def _cell_label(self, cell: int | None) -> str:
        """A cell as the grid shows it: row and column, counted from 1 (as the focused-cell title)."""
        if cell is None:
            return ""
        r, c = divmod(int(cell), max(1, self.grid.cols))
        return f"row {r + 1}, column {c + 1}"

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
            self.target.setText("Click a grid cell, pick a direction, drag the slider")
        elif d is None:
            self.target.setText(f"The cell at {self._cell_label(self._base_cell)}: make or load a direction first")
        else:
            self.target.setText(f"The cell at {self._cell_label(self._base_cell)}, along {d.name}")

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

    # ---- A − B + C -----------------------------------------------------------------------------------

    def pick_focused(self, slot: str) -> None:
        """Use the focused grid cell (its latent now) as A, B or C."""
        g = self.grid
        if g.model is None or g.focus is None:
            self.message.emit(f"Click a cell in the grid first, then {slot} to use it")
            return
        pick = self.arithmetic.pick(slot, g.focus, g.cols, g.latents[g.focus])
        self.message.emit(f"{slot} is the cell at {pick.label}")

    def _sync_arithmetic(self) -> None:
        focused = self.grid.model is not None and self.grid.focus is not None
        for slot, btn in self.pick_buttons.items():
            pick = self.arithmetic.picks.get(slot)
            self.pick_labels[slot].setText(pick.label if pick is not None else "not picked")
            btn.setEnabled(focused)
            btn.setToolTip(f"use the focused cell ({self._cell_label(self.grid.focus)}) as {slot}" if focused
                           else f"Not available: click a cell in the grid first, then {slot} to use it")
        missing = self.arithmetic.missing()
        ready = focused and not missing
        self.arith_btn.setEnabled(ready)
        if ready:
            self.arith_btn.setToolTip(f"put A − B + C into the focused cell ({self._cell_label(self.grid.focus)})")
        elif missing:
            self.arith_btn.setToolTip(f"Not available: pick {' and '.join(missing)} first")
        else:
            self.arith_btn.setToolTip("Not available: click the grid cell that should get the result")

    def apply_arithmetic(self) -> None:
        g = self.grid
        if g.model is None or g.focus is None:
            self.message.emit("Click the grid cell that should get the result first")
            return
        try:
            z = self.arithmetic.result()
        except DirectionError as exc:
            self.message.emit(str(exc))
            return
        g.set_latent(g.focus, z)
        self._rebase()
        p = self.arithmetic.picks
        self.message.emit(f"The cell at {self._cell_label(g.focus)} = ({p['A'].label}) − ({p['B'].label}) "
                          f"+ ({p['C'].label})")

    # ---- files -------------------------------------------------------------------------------------------

    def save_dialog(self) -> None:
        """Save the directions of the open model (those the list shows) to a file the user names."""
        if not self.interactive or not self._offered:
            return
        name = safe_file_name(f"{self._model_name() or 'latent'}-directions.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save directions", name, "Directions (*.json)")
        if path:
            try:
                save_directions(self._offered, path)
                self.message.emit(f"Saved {len(self._offered)} directions of {self._model_name()} to {path}")
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
        self.direction_list.add(loaded)  # as saved: a file says which model it was made on, or nothing
        _, hidden = DirectionList(loaded).offered(self._key)
        self.message.emit(f"Loaded {len(loaded)} directions" + (f"; {hidden_summary(hidden)}" if hidden else ""))


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
