"""The latent map's side panel, bound to a MapModel: legend, preview, image in, selection and groups.

Thin: every card shows what :class:`explorer.core.map_model.MapModel` (and its decodes) announce,
and every control calls a model setter. The buttons that leave the map ("Send to grid", "Add to
path", "Show in grid", "Direction A → B") are connected by :class:`explorer.qt.map_view.MapView`.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (QCheckBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QSpinBox, QVBoxLayout, QWidget)

from explorer.core.map_model import MapModel
from explorer.io.pixels import tile, upscale
from explorer.qt.bridge import qimage_copy
from explorer.qt.map_canvas import BG, GREY, class_color
from explorer.qt import theme

SELECTION_SHOWN = 32  # decodings of a selection drawn in the panel


class ImagePane(QLabel):
    """A fixed-size image cell with a caption under it."""

    def __init__(self, size: int, caption: str = "", parent=None):
        super().__init__(parent)
        self.side = size
        self.setFixedSize(size, size)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet(f"background: {BG}; border: 1px solid {theme.LINE}; border-radius: 3px; color: {theme.DISABLED};")
        self.setText(caption)
        self.image: np.ndarray | None = None

    def set_image(self, image: np.ndarray | None, text: str = "") -> None:
        """uint8 [H, W, C], scaled to the pane without smoothing; None shows ``text``."""
        self.image = image
        if image is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            pix = QPixmap.fromImage(qimage_copy(image))
            side = min(self.width(), self.height()) - 4
            self.setPixmap(pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.FastTransformation))


class ClassMix(QWidget):
    """Horizontal bars: how many selected points per class."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, int, str]] = []
        self.setMinimumHeight(20)

    def set_rows(self, rows: list[tuple[str, int, str]]) -> None:
        """(class name, count, colour) rows, the first ten drawn."""
        self.rows = rows[:10]
        self.setFixedHeight(max(20, 17 * len(self.rows) + 4))
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        total = sum(r[1] for r in self.rows) or 1
        w = self.width()
        for i, (name, count, color) in enumerate(self.rows):
            y = 2 + i * 17
            p.setPen(QColor(theme.SOFT))
            p.drawText(QRectF(0, y, 96, 15), Qt.AlignmentFlag.AlignVCenter, name[:14])
            bar = (w - 150) * count / total
            p.fillRect(QRectF(100, y + 2, max(bar, 1), 11), QColor(color))
            p.setPen(QColor(theme.MUTED))
            share = 100 * count / total
            p.drawText(QRectF(104 + bar, y, 60, 15), Qt.AlignmentFlag.AlignVCenter,
                       f"{share:.0f} %" if share >= 1 else "< 1 %")
        p.end()


def _card(title: str) -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("mapCard")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(10, 8, 10, 8)
    lay.setSpacing(5)
    t = QLabel(title)
    t.setObjectName("mapTitle")
    lay.addWidget(t)
    return frame, lay


def _caption(text: str = "", wrap: bool = False) -> QLabel:
    lab = QLabel(text)
    lab.setObjectName("mapCaption")
    lab.setWordWrap(wrap)
    return lab


class MapSidePanel(QScrollArea):
    """Cards beside the map plot; bound to ``model`` at construction."""

    def __init__(self, model: MapModel, parent=None):
        super().__init__(parent)
        self.model = model
        self.legend_boxes: dict[int, QCheckBox] = {}
        self._shown_probe = None
        side = QWidget()
        col = QVBoxLayout(side)
        col.setContentsMargins(4, 0, 0, 0)
        col.setSpacing(8)
        col.addWidget(self._build_legend())
        col.addWidget(self._build_preview())
        col.addWidget(self._build_image_in())
        col.addWidget(self._build_selection())
        col.addStretch(1)
        self.setWidget(side)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumWidth(360)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._bind()

    # ---- construction --------------------------------------------------------------------------

    def _build_legend(self) -> QFrame:
        legend, lay = _card("Classes")
        self.legend_grid = QGridLayout()
        self.legend_grid.setHorizontalSpacing(10)
        self.legend_grid.setVerticalSpacing(2)
        lay.addLayout(self.legend_grid)
        # what the map draws now: "density of 1,000,000 points" zoomed out, "12,345 points" zoomed in
        self.drawn_caption = _caption()
        self.drawn_caption.setObjectName("mapDrawn")
        self.drawn_caption.setStyleSheet(f"color: {theme.MUTED};")
        lay.addWidget(self.drawn_caption)
        return legend

    def show_drawn(self, line: str) -> None:
        """The legend's line saying what the map draws (the canvas's ``drawn_changed``)."""
        self.drawn_caption.setText(f"Drawn: {line}" if line else "")

    def _build_preview(self) -> QFrame:
        """The probed position, with its nearest real images."""
        prev, lay = _card("Preview")
        row = QHBoxLayout()
        self.preview = ImagePane(132, "click or drag\non the map")
        row.addWidget(self.preview)
        nn = QVBoxLayout()
        self.nearest_title = _caption("Nearest real images", wrap=True)
        nn.addWidget(self.nearest_title)
        nn_grid = QGridLayout()
        nn_grid.setSpacing(3)
        self.nearest_panes = [ImagePane(42) for _ in range(8)]
        for k, pane in enumerate(self.nearest_panes):
            nn_grid.addWidget(pane, k // 4, k % 4)
        nn.addLayout(nn_grid)
        nn.addStretch(1)
        self.to_grid_button = QPushButton("Send to grid", toolTip="load this latent into the sample grid")
        self.to_path_button = QPushButton("Add to path", toolTip="make this latent a waypoint of the interpolation path")
        self.enable_probe_actions(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.to_grid_button)
        buttons.addWidget(self.to_path_button)
        nn.addLayout(buttons)
        row.addLayout(nn, 1)
        lay.addLayout(row)
        self.preview_caption = _caption(wrap=True)
        lay.addWidget(self.preview_caption)
        return prev

    def _build_image_in(self) -> QFrame:
        """Original | reconstruction, scores as percentiles of the test split."""
        self.image_card, lay = _card("Image in")
        row = QHBoxLayout()
        self.image_in = ImagePane(84, "drop an\nimage")
        self.image_recon = ImagePane(84, "")
        self.image_text = _caption("Drop an image file on the map, or encode a Fashion-MNIST test image.", wrap=True)
        row.addWidget(self.image_in)
        row.addWidget(self.image_recon)
        row.addWidget(self.image_text, 1)
        lay.addLayout(row)
        self.open_image_button = QPushButton("Open image…", toolTip="encode an image file (or drop one on the map)")
        self.test_image_button = QPushButton("Test image", toolTip="encode a Fashion-MNIST test image")
        self.test_index = QSpinBox(minimum=-1, maximum=9999, value=-1, toolTip="which test image (random by default)")
        self.test_index.setSpecialValueText("random")
        self.test_index.setFixedWidth(84)
        self.test_image_button.clicked.connect(
            lambda: self.model.images_in.probe_test_image(None if self.test_index.value() < 0 else self.test_index.value()))
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_image_button)
        buttons.addWidget(self.test_image_button)
        buttons.addWidget(self.test_index)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        return self.image_card

    def _build_selection(self) -> QFrame:
        sel, lay = _card("Selection")
        self.selection_caption = _caption("Draw a rectangle or lasso on the map")
        lay.addWidget(self.selection_caption)
        self.class_mix = ClassMix()
        lay.addWidget(self.class_mix)
        self.selection_pane = ImagePane(8 * 29 + 2)
        self.selection_pane.setFixedSize(8 * 29 + 2, 4 * 29 + 2)
        self.selection_pane.setVisible(False)
        lay.addWidget(self.selection_pane)
        self.selection_to_grid = QPushButton("Show in grid", toolTip="decode the selection in the sample grid")
        self.selection_to_grid.setEnabled(False)
        lay.addWidget(self.selection_to_grid)
        # Two kept selections make a named direction (group A -> group B) for the Directions panel.
        groups = QHBoxLayout()
        self.keep_a_button = QPushButton("Keep as A", toolTip="remember this selection as group A")
        self.keep_b_button = QPushButton("Keep as B", toolTip="remember this selection as group B")
        self.direction_button = QPushButton("Direction A → B",
                                            toolTip="the vector from group A's mean latent to group B's, as a direction")
        self.keep_a_button.clicked.connect(lambda: self.model.keep_group("A"))
        self.keep_b_button.clicked.connect(lambda: self.model.keep_group("B"))
        self.direction_button.clicked.connect(self.model.make_group_direction)
        for b in (self.keep_a_button, self.keep_b_button, self.direction_button):
            b.setEnabled(False)
            groups.addWidget(b)
        lay.addLayout(groups)
        self.groups_caption = _caption()
        lay.addWidget(self.groups_caption)
        return sel

    def _bind(self) -> None:
        m, d = self.model, self.model.decodes
        m.model_changed.connect(self._model_changed)
        m.points_changed.connect(self._points_changed)
        m.hidden_changed.connect(self._hidden_changed)
        m.selection_changed.connect(self._selection_changed)
        m.groups_changed.connect(self._groups_changed)
        m.images_in.probe_changed.connect(self._probe_changed)
        d.probe_decoded.connect(self._probe_decoded)
        d.gan_sample_probed.connect(self._gan_sample_probed)
        d.nearest_ready.connect(self._nearest_ready)
        d.probe_latent_changed.connect(lambda z: self.enable_probe_actions(z is not None))
        d.selection_images.connect(self._selection_images)

    # ---- model -> cards ------------------------------------------------------------------------

    def enable_probe_actions(self, enabled: bool) -> None:
        self.to_grid_button.setEnabled(enabled)
        self.to_path_button.setEnabled(enabled)

    def _model_changed(self, model) -> None:
        self._reset()
        if model is None:
            return
        vae = not self.model.is_gan
        self.image_card.setVisible(vae)
        for w in (self.open_image_button, self.test_image_button, self.test_index):
            w.setEnabled(vae and self.model.encoder is not None)

    def _reset(self) -> None:
        self.preview.set_image(None, "click or drag\non the map")
        self.preview_caption.setText("")
        self.nearest_title.setText("Nearest real images")
        for pane in self.nearest_panes:
            pane.set_image(None)
        self._selection_changed(np.zeros(0, np.int64))

    def _points_changed(self) -> None:
        self._reset()
        self._rebuild_legend()

    def _rebuild_legend(self) -> None:
        while self.legend_grid.count():
            w = self.legend_grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.legend_boxes = {}
        pts = self.model.points
        labels = np.unique(pts.labels)
        counts = np.bincount(pts.labels[pts.labels >= 0], minlength=1)
        names = pts.class_names
        entries = [(int(l), names[l] if 0 <= l < len(names) else ("unlabelled" if l < 0 else f"class {l}"))
                   for l in labels]
        for i, (lab, name) in enumerate(entries):
            n = int(counts[lab]) if 0 <= lab < len(counts) else int((pts.labels == lab).sum())
            box = QCheckBox(f"{name}  ({n:,})")
            box.setChecked(lab not in self.model.hidden_classes)
            color = class_color(lab)
            box.setStyleSheet(f"QCheckBox::indicator:checked {{ background: {color}; border-color: {color}; }}"
                              f"QCheckBox {{ color: {theme.TEXT}; }}")
            box.toggled.connect(lambda on, lab=lab: self.model.set_class_visible(lab, on))
            self.legend_grid.addWidget(box, i // 2, i % 2)
            self.legend_boxes[lab] = box
        if self.model.background is not None:
            grey = QLabel(f"● real images ({len(self.model.background):,}, grey)")
            grey.setStyleSheet(f"color: {GREY};")
            self.legend_grid.addWidget(grey, (len(entries) + 1) // 2, 0, 1, 2)

    def _hidden_changed(self, label: int, on: bool) -> None:
        box = self.legend_boxes.get(label)
        if box is not None and box.isChecked() != on:
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)

    def _probe_decoded(self, answer) -> None:
        self.preview.set_image(answer.images.pixels[0])
        x, y = self.model.decodes.probe_pos or (0, 0)
        bad = "" if answer.images.finite[0] else " · the decoder output NaN/Inf here"
        self.preview_caption.setText(f"map ({x:.2f}, {y:.2f}) · decoded via {self.model.decodes.probe_how} · "
                                     f"{answer.images.seconds * 1000:.1f} ms{bad}")

    def _gan_sample_probed(self, i: int) -> None:
        m = self.model
        pts = m.primary.points
        if pts.images is not None:  # a big gan:N set keeps latents only: its decode fills the preview
            self.preview.set_image(pts.images[i])
        self.preview_caption.setText(f"generated sample {i} · classified as {pts.class_names[pts.labels[i]]} · "
                                     "click it (or Send to grid) to load its latent into the grid")
        if m.gan_map is not None:
            idx, dist = m.gan_map.nearest_real(i, len(self.nearest_panes))
            which = "training images" if m.gan_map.searches_training_images else "images"
            self.nearest_title.setText(f"Nearest real {which} in classifier features (memorisation check; "
                                       f"closest {dist[0]:.2f})")
            for pane, j in zip(self.nearest_panes, idx):
                pane.set_image(m.gan_map.real.images[j])

    def _nearest_ready(self, title: str, images: np.ndarray) -> None:
        self.nearest_title.setText(title)
        for pane, im in zip(self.nearest_panes, images):
            pane.set_image(im)

    def _probe_changed(self, probe) -> None:
        if probe is None:
            return
        self.image_in.set_image(probe.image)
        self.image_recon.set_image(probe.recon)

        def pct(v):
            return "percentile: computing…" if v is None else f"{v:.0f}th percentile of the test split"

        note = f"<br><i>{html.escape(probe.note)}</i>" if probe.note else ""
        self.image_text.setText(
            f"<b>{html.escape(probe.name or 'image')}</b>{note}<br>original | reconstruction<br>"
            f"−ELBO <b>{probe.neg_elbo:.1f}</b> nats: {pct(probe.neg_elbo_pct)}<br>"
            f"reconstruction error <b>{probe.recon_error:.4f}</b>: {pct(probe.recon_error_pct)}")
        if probe is not self._shown_probe:  # a new image (not only its percentiles arriving)
            self._shown_probe = probe
            self.preview.set_image(probe.recon)
            self.preview_caption.setText(f"{probe.name or 'encoded image'}: decoded from its encoder mean (★ on the map)")

    def _selection_changed(self, selection: np.ndarray) -> None:
        n = len(selection)
        layer = self.model.primary
        for b in (self.selection_to_grid, self.keep_a_button, self.keep_b_button):
            b.setEnabled(n > 0)
        if layer is None or n == 0:
            self.class_mix.set_rows([])
            self.selection_pane.setVisible(False)
            self.selection_caption.setText("Draw a rectangle or lasso on the map")
            return
        pts = layer.points
        names = list(pts.class_names)
        self.class_mix.set_rows([(name, count, class_color(names.index(name)) if name in names else GREY)
                                 for name, count in pts.class_mix(selection)])
        shown = len(self.model.selection_sample())
        self.selection_caption.setText(f"{n:,} points selected · decodings of "
                                       + (f"{min(shown, SELECTION_SHOWN)} of them" if n > SELECTION_SHOWN else "all"))

    def _selection_images(self, pixels: np.ndarray) -> None:
        if len(self.model.selection) == 0:
            return
        pixels = pixels[:SELECTION_SHOWN]
        rows = max(1, -(-len(pixels) // 8))
        mosaic = tile(pixels, rows, 8, pad=1, fill=30)
        img = upscale(mosaic, max(1, 28 // max(pixels.shape[1], 1)))
        self.selection_pane.setFixedSize(img.shape[1] + 2, img.shape[0] + 2)
        self.selection_pane.setPixmap(QPixmap.fromImage(qimage_copy(img)))
        self.selection_pane.image = img
        self.selection_pane.setVisible(True)

    def _groups_changed(self, groups: dict) -> None:
        sizes = ", ".join(f"{k}: {len(v):,} points" for k, v in sorted(groups.items()))
        self.groups_caption.setText(f"kept {sizes}" if sizes else "")
        self.direction_button.setEnabled(self.model.can_make_direction)
