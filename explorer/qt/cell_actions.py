"""What a person does with grid cells: the cell menu, copying a latent or an image, saving cells and the grid.

A mixin of :class:`explorer.qt.main_window.MainWindow` (it uses the window's ``grid``, ``canvas``,
``state``, ``show_message``, ``interactive``, ``dialog_dir`` and ``remember_dir``); kept apart so the
window module holds the window and this one the cell actions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu

from explorer.core.grid import cell_label, cell_number
from explorer.core.state import file_stem
from explorer.io.exports import write_png
from explorer.io.pixels import mark_bad_cells, upscale
from explorer.qt.bridge import qimage_copy
from explorer.qt.grid_view import GAP_GRAY, PAD


class CellActions:
    """The main window's cell and grid actions (menus, clipboard, PNG files)."""

    def _cell_menu(self, index: int, pos) -> None:
        menu = self.cell_menu(index)
        menu.exec(pos)
        menu.deleteLater()

    def cell_menu(self, index: int) -> QMenu:
        menu = QMenu(self)
        menu.addAction("Save cell as PNG…", lambda: self.save_cell_dialog(index))
        menu.addAction("Copy latent vector", lambda: self.copy_latent(index))
        menu.addAction("Copy image", lambda: self.copy_image(index))
        self.add_garment_menu(menu, index)
        menu.addSeparator()
        menu.addAction("Use as path endpoint", lambda: self.add_endpoint(index))
        return menu

    def add_garment_menu(self, menu: QMenu, index: int) -> None:
        """"Garment ▸": the classes of a class-conditional model; choosing one keeps the cell's style
        (its latent) and decodes it as that class. Nothing for a model without classes."""
        grid = self.grid
        if grid.model is None or not grid.num_classes:
            return
        names = list(grid.model.class_names) or [f"class {k}" for k in range(grid.num_classes)]
        sub = menu.addMenu("Garment (keep the style)")
        sub.setObjectName("garmentMenu")
        weights = grid.weights[index]
        one = np.isclose(weights.max(), 1.0) and np.isclose(np.abs(weights).sum(), 1.0)
        for k, name in enumerate(names):
            action = sub.addAction(name, lambda k=k: self.change_garment(index, k))
            action.setCheckable(True)
            action.setChecked(bool(one and int(weights.argmax()) == k))

    def change_garment(self, index: int, klass: int) -> None:
        """Keep the style, change the garment: the same latent decoded as class ``klass``."""
        self.grid.set_cell_class(index, klass)
        names = list(self.grid.model.class_names) or [f"class {k}" for k in range(self.grid.num_classes)]
        self.show_message(f"{cell_label(index, self.grid.cols)} is now a {names[klass]}, in the same style")

    def copy_latent(self, index: int) -> str:
        text = json.dumps([round(float(v), 6) for v in self.grid.latents[index]])
        QGuiApplication.clipboard().setText(text)
        self.show_message(f"Copied the {self.grid.model.latent_dim}-d latent of cell {cell_number(index)}")
        return text

    def copy_image(self, index: int) -> None:
        QGuiApplication.clipboard().setImage(qimage_copy(upscale(self.grid.pixels[index], self.canvas.scale)))

    def add_endpoint(self, index: int) -> None:
        labels, classes = self.grid.labels, self.grid.classes
        self.state.add_endpoint(self.grid.model, self.grid.latents[index],
                                None if labels is None else int(labels[index]),
                                None if classes is None else classes[index])
        self.show_message(f"Cell {cell_number(index)} added as path endpoint {len(self.state.path_endpoints)}")

    def save_cell(self, index: int, path: str) -> None:
        written = write_png(upscale(self.grid.pixels[index], self.canvas.scale), path)
        self.show_message(f"Saved {cell_label(index, self.grid.cols).lower()} as {written.name} in {written.parent}")

    def grid_image(self) -> np.ndarray:
        """The grid as shown (uint8 [H, W, C]), NaN cells marked, at the display scale."""
        image = upscale(self.grid.tiled(pad=PAD, fill=GAP_GRAY), self.canvas.scale)  # separators as on screen
        if not self.grid.finite.all():
            _, h, w = self.grid.model.image_shape
            image = mark_bad_cells(image, self.grid.finite, self.grid.rows, self.grid.cols, (h, w), PAD,
                                   self.canvas.scale)
        return image

    def save_grid(self, path: str) -> None:
        written = write_png(self.grid_image(), path)
        self.show_message(f"Saved the grid as {written.name} in {written.parent}")

    def _save_dialog(self, title: str, name: str) -> str | None:
        """Ask where to save a PNG, starting in the folder the last image went to; None when cancelled."""
        if not self.interactive:
            return None
        start = str(Path(self.dialog_dir("last_save_dir")) / name) if self.dialog_dir("last_save_dir") else name
        path, _ = QFileDialog.getSaveFileName(self, title, start, "PNG images (*.png)")
        if path and not path.lower().endswith(".png"):
            path += ".png"
        if path:
            self.remember_dir(path, "last_save_dir")
        return path or None

    def save_focused_cell_dialog(self) -> None:
        """File → Save Focused Cell as PNG…: the focused cell, or a hint when none is focused."""
        if self.grid.model is None:
            self.show_message("No model open: nothing to save")
        elif self.grid.focus is None:
            self.show_message("Click a cell first: the focused cell (orange frame) is the one saved")
        else:
            self.save_cell_dialog(self.grid.focus)

    def save_cell_dialog(self, index: int) -> None:
        if self.grid.model is None:
            return
        path = self._save_dialog("Save cell", f"{file_stem(self.grid.model.name)}-cell-{cell_number(index)}.png")
        if path:
            try:
                self.save_cell(index, path)
            except OSError as exc:
                self.show_message(f"cannot write {path}: {exc.strerror or exc}")

    def save_grid_dialog(self) -> None:
        if self.grid.model is None:
            self.show_message("No model open: nothing to save")
            return
        path = self._save_dialog("Save grid", f"{file_stem(self.grid.model.name)}-grid.png")
        if path:
            try:
                self.save_grid(path)
            except OSError as exc:
                self.show_message(f"cannot write {path}: {exc.strerror or exc}")
