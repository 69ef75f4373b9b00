"""The path view: settings row, decoded strip, a large playback frame with speed control, exports.

A thin binder over :class:`explorer.core.path_editor.PathEditor`: widgets write the editor's setters,
the editor's signals repaint the widgets (signals blocked while syncing, so nothing loops).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider,
                               QSpinBox, QVBoxLayout, QWidget)

from explorer.io import exports
from explorer.core.interpolation import EASINGS, MAX_STEPS, MODES, PathError
from explorer.core.path_editor import EXPORT_SCALES, MAX_FPS, PathEditor
from explorer.io.pixels import upscale
from explorer.qt.bridge import accept_url_drag, dropped_paths, qimage_copy
from explorer.qt.docks import DockPart, install
from explorer.qt.latent_panel import CellPreview

STRIP_CELL = 56  # px per frame in the strip
# (filter shown in the export dialog, the suffix its suggested file name gets); the first is the default
EXPORT_FILTERS = (("Animated GIF (*.gif)", ".gif"), ("MP4 video (*.mp4)", ".mp4"), ("PNG strip (*.png)", ".png"),
                  ("Latents (*.npy)", ".npy"), ("Latents JSON (*.json)", ".json"))


def suggested_name(current: str, name_filter: str) -> str:
    """The file name ``current`` with the suffix of ``name_filter`` (one of EXPORT_FILTERS): the suggested
    name follows the format the user picks."""
    suffix = dict(EXPORT_FILTERS).get(name_filter)
    if suffix is None:
        return current
    stem = Path(current).stem if Path(current).suffix.lower() in exports.FORMATS else Path(current).name
    return (stem or "path") + suffix


class PathStrip(QWidget):
    """Every frame of the path side by side; waypoints underlined, the playing frame framed. Click to seek."""

    frameClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._images = []
        self._waypoints: list[int] = []
        self._bad: set[int] = set()
        self.current = 0
        self.setMinimumHeight(STRIP_CELL + 14)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_frames(self, pixels: np.ndarray | None, waypoints: list[int], finite: np.ndarray | None) -> None:
        self._images = [] if pixels is None else [qimage_copy(p) for p in pixels]
        self._waypoints = list(waypoints)
        self._bad = set() if finite is None else {int(i) for i in np.flatnonzero(~finite)}
        self.current = min(self.current, max(0, len(self._images) - 1))
        self.update()

    def cell(self) -> int:
        n = max(1, len(self._images))
        return max(8, min(STRIP_CELL, (self.width() - 4) // n - 2))

    def sizeHint(self) -> QSize:
        return QSize(max(1, len(self._images)) * (STRIP_CELL + 2) + 4, STRIP_CELL + 14)

    def set_current(self, index: int) -> None:
        self.current = index
        self.update()

    def mousePressEvent(self, event) -> None:
        c = self.cell() + 2
        i = int((event.position().x() - 2) // c)
        if 0 <= i < len(self._images):
            self.frameClicked.emit(i)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(32, 32, 36))
        c = self.cell()
        for i, img in enumerate(self._images):
            x = 2 + i * (c + 2)
            p.drawImage(QRect(x, 4, c, c), img)
            if i in self._bad:
                p.setPen(QPen(QColor(220, 40, 40), 2))
                p.drawRect(QRect(x + 1, 5, c - 2, c - 2))
            if i in self._waypoints:
                p.fillRect(QRect(x, c + 7, c, 4), QColor(255, 196, 0))
            if i == self.current:
                p.setPen(QPen(QColor(80, 170, 255), 2))
                p.drawRect(QRect(x, 4, c, c))
        p.end()


class FrameView(CellPreview):
    """One frame, scaled up with whole pixels (the focused-cell preview, sized for the path dock)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(QSize(120, 120))
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)


class PathView(QWidget):
    """Settings row + strip + playback. ``editor`` owns everything; this widget only shows and forwards."""

    message = Signal(str)  # one line for the status bar

    def __init__(self, editor: PathEditor, parent=None, *, interactive: bool = True):
        super().__init__(parent)
        self.editor = editor
        self.interactive = interactive
        self.frame = 0
        self.direction = 1
        self.setObjectName("pathView")

        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.mode.setToolTip("slerp keeps Gaussian latents on their shell; lerp cuts straight through")
        self.steps = QSpinBox(minimum=2, maximum=MAX_STEPS, value=editor.steps, suffix=" frames")
        self.easing = QComboBox()
        self.easing.addItems(EASINGS)
        self.random_btn = QPushButton("+ Random", toolTip="add a random draw from the prior as a waypoint")
        self.undo_btn = QPushButton("− Last", toolTip="remove the last waypoint")
        self.clear_btn = QPushButton("Clear")
        self.export_btn = QPushButton("Export…", toolTip="PNG strip, GIF, MP4, or the latents as .npy/JSON")
        self.export_size = QComboBox()
        self.export_size.setToolTip("size of exported frames (GIF, MP4, PNG strip): the model's image size enlarged "
                                    "with whole pixels")
        for k in EXPORT_SCALES:
            self.export_size.addItem(f"{k}×", k)
        row = QHBoxLayout()
        for w in (QLabel("Mode"), self.mode, self.steps, QLabel("Easing"), self.easing):
            row.addWidget(w)
        row.addStretch(1)
        for w in (self.random_btn, self.undo_btn, self.clear_btn, QLabel("Export size"), self.export_size,
                  self.export_btn):
            row.addWidget(w)

        self.strip = PathStrip()
        self.preview = FrameView()
        self.play_btn = QPushButton("▶ Play", checkable=True)
        self.speed = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=MAX_FPS, value=editor.fps)
        self.speed.setToolTip("playback speed, frames per second (also the GIF/MP4 frame rate)")
        self.speed_label = QLabel(f"{editor.fps} fps")
        self.frame_label = QLabel("—")
        self.readout = QLabel(editor.problem)
        self.readout.setObjectName("pathReadout")
        self.readout.setWordWrap(True)
        self.waypoint_label = QLabel("")
        self.waypoint_label.setWordWrap(True)

        # what an empty dock says: what to do, in a designer's words (not "found 0 waypoints")
        self.empty = QLabel()
        self.empty.setObjectName("pathEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.player = QWidget()  # strip, playback, waypoints and readout: shown once there is a path
        playback = QHBoxLayout()
        for w in (self.play_btn, QLabel("Speed"), self.speed, self.speed_label, self.frame_label):
            playback.addWidget(w)
        playback.addStretch(1)
        shown = QVBoxLayout(self.player)
        shown.setContentsMargins(0, 0, 0, 0)
        shown.addWidget(self.strip)
        shown.addLayout(playback)
        shown.addWidget(self.waypoint_label)
        shown.addWidget(self.readout)
        left = QVBoxLayout()
        left.addLayout(row)
        left.addWidget(self.empty)
        left.addWidget(self.player)
        left.addStretch(1)
        # as tall as the strip and playback it stands for: the dock keeps its height when the path appears
        self.empty.setMinimumHeight(max(STRIP_CELL + 14, self.player.sizeHint().height()))
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addLayout(left, 1)
        outer.addWidget(self.preview, 0)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.setAcceptDrops(True)  # image files dropped here are encoded by the VAE into waypoints

        # widget -> editor
        self.mode.currentTextChanged.connect(self._guard(editor.set_mode))
        self.steps.valueChanged.connect(self._guard(editor.set_steps))
        self.easing.currentTextChanged.connect(self._guard(editor.set_easing))
        self.random_btn.clicked.connect(self._guard(lambda *_: editor.add_random()))
        self.undo_btn.clicked.connect(self._guard(lambda *_: editor.remove_waypoint(len(editor.waypoints) - 1)
                                                  if editor.waypoints else None))
        self.clear_btn.clicked.connect(lambda *_: editor.clear())
        self.export_btn.clicked.connect(self.export_dialog)
        self.export_size.currentIndexChanged.connect(
            self._guard(lambda i: editor.set_export_scale(self.export_size.itemData(i)) if i >= 0 else None))
        self.export_file_dialog: QFileDialog | None = None
        self._export_filter = EXPORT_FILTERS[0][0]  # the format picked last, offered first next time
        self._export_folder = str(Path.home())  # then the folder exported to last
        self.play_btn.toggled.connect(self.set_playing)
        self.speed.valueChanged.connect(self._guard(editor.set_fps))
        self.strip.frameClicked.connect(self.show_frame)
        # editor -> widget
        editor.frames_changed.connect(self._on_frames)
        editor.readout_changed.connect(self.readout.setText)
        editor.settings_changed.connect(self._sync_settings)
        editor.waypoints_changed.connect(self._on_waypoints)
        self._sync_settings()
        self._on_waypoints()
        self._on_frames()

    def _guard(self, fn):
        def call(*args):
            try:
                fn(*args)
            except PathError as exc:
                self.message.emit(str(exc))
        return call

    # ---- editor -> widgets -------------------------------------------------------------------------

    def _sync_settings(self) -> None:
        for w, v in ((self.mode, self.editor.mode), (self.easing, self.editor.easing)):
            w.blockSignals(True)
            w.setCurrentText(v)
            w.blockSignals(False)
        for w, v in ((self.steps, self.editor.steps), (self.speed, self.editor.fps)):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)
        self._speed_changed(self.editor.fps)
        self._sync_export_size()

    def _sync_export_size(self) -> None:
        """The size choices in pixels of the open model ("4× · 112×112 px"), the editor's choice selected."""
        box = self.export_size
        box.blockSignals(True)
        for i in range(box.count()):
            k = box.itemData(i)
            size = self.editor.export_size(k)
            box.setItemText(i, f"{k}× · {size[0]}×{size[1]} px" if size else f"{k}×")
        box.setCurrentIndex(max(0, box.findData(self.editor.export_scale)))
        box.blockSignals(False)

    def _on_waypoints(self) -> None:
        names = [w.name for w in self.editor.waypoints]
        self.waypoint_label.setText("Waypoints: " + " → ".join(names))
        self.undo_btn.setEnabled(bool(names))
        self.clear_btn.setEnabled(bool(names))
        self._sync_empty()
        self._sync_export_size()

    def _sync_empty(self) -> None:
        """Fewer than two waypoints: the dock says what to do instead of showing an empty strip and an error."""
        e = self.editor
        n = len(e.waypoints)
        vae = e.model is not None and e.model.card is not None and e.model.card.family == "vae"
        drop = " You can also drop image files here." if vae else ""
        if e.model is None:
            text = "Open a model, then pick two garments in the grid to animate between them."
        elif n == 0:
            text = ("Animate from one garment to another: right-click a garment in the grid and choose "
                    "“Use as path endpoint”, then do the same with a second one — or press + Random twice." + drop)
        elif n == 1:
            text = (f"Start: {e.waypoints[0].name}. Now right-click a second garment in the grid and choose "
                    "“Use as path endpoint” (or press + Random) to see the animation." + drop)
        else:
            text = ""
        self.empty.setText(text)
        self.empty.setVisible(bool(text))
        self.player.setVisible(not text)
        self.preview.setVisible(not text)

    def _on_frames(self) -> None:
        e = self.editor
        try:
            marks = e.path().waypoint_frames() if e.pixels is not None else []
        except PathError:
            marks = []
        self.strip.set_frames(e.pixels, marks, e.finite)
        self._sync_empty()
        self._sync_export_size()
        ready = e.pixels is not None
        self.export_btn.setEnabled(ready)
        self.export_btn.setToolTip("PNG strip, GIF, MP4, or the latents as .npy/JSON" if ready else
                                   "Not available yet: pick two or more waypoints first")
        self.play_btn.setEnabled(ready)
        if e.pixels is None:
            self.set_playing(False)
            self.preview.set_pixels(None)
            self.frame_label.setText("—")
            self.readout.setText(e.problem)
            return
        self.show_frame(min(self.frame, len(e.pixels) - 1))

    def show_frame(self, index: int) -> None:
        pixels = self.editor.pixels
        if pixels is None:
            return
        self.frame = int(index)
        self.preview.set_pixels(pixels[self.frame])
        self.strip.set_current(self.frame)
        self.frame_label.setText(f"frame {self.frame + 1}/{len(pixels)}")

    # ---- dropped images -----------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        accept_url_drag(event)

    def dropEvent(self, event) -> None:
        self.add_images(dropped_paths(event))

    def add_images(self, paths) -> int:
        """Encode image files with the VAE's encoder and add them as waypoints; returns how many were added."""
        from explorer.core.atlas_data import MapDataError, encoder_for, read_image_for

        model = self.editor.model
        if model is None:
            self.message.emit("open a VAE first: images become waypoints through its encoder")
            return 0
        added = 0
        try:
            encoder = encoder_for(model)
            for p in paths:
                mu, _ = encoder.encode(read_image_for(encoder, p)[None])
                self.editor.add_waypoint(mu[0], f"image {Path(p).name}")
                added += 1
        except (MapDataError, PathError) as exc:
            self.message.emit(str(exc))
        return added

    # ---- playback ----------------------------------------------------------------------------------

    def _speed_changed(self, fps: int) -> None:
        """The editor's speed changed: label and a running playback follow."""
        self.speed_label.setText(f"{fps} fps")
        if self.timer.isActive():
            self.timer.start(int(1000 / fps))

    def set_playing(self, on: bool) -> None:
        on = bool(on) and self.editor.pixels is not None
        if on:
            self.timer.start(int(1000 / self.editor.fps))
        else:
            self.timer.stop()
        self.play_btn.blockSignals(True)
        self.play_btn.setChecked(on)
        self.play_btn.setText("■ Pause" if on else "▶ Play")
        self.play_btn.blockSignals(False)

    def tick(self) -> None:
        pixels = self.editor.pixels
        if pixels is None or len(pixels) < 2:
            return
        nxt = self.frame + self.direction
        if not 0 <= nxt < len(pixels):  # ping-pong: no jump from the last frame back to the first
            self.direction = -self.direction
            nxt = self.frame + self.direction
        self.show_frame(nxt)

    # ---- exports -----------------------------------------------------------------------------------

    def export(self, path: str) -> str:
        """Write the path to ``path`` (kind from the suffix); returns the status line. ExportError on failure."""
        e = self.editor
        if e.pixels is None:
            raise exports.ExportError(f"nothing to export: {e.problem}")
        kind = exports.export_kind(path)
        scale = e.export_scale
        fps = e.fps
        if kind == "png":
            exports.write_png(exports.strip_image(e.pixels, scale=scale, pad=2 if scale < 4 else 1), path)
        elif kind == "gif":
            exports.write_gif(np.stack([upscale(p, scale) for p in e.pixels]), path, fps=fps)
        elif kind == "mp4":
            exports.write_mp4(np.stack([upscale(p, scale) for p in e.pixels]), path, fps=fps)
        elif kind == "npy":
            exports.write_npy(e.latents, path)
        else:  # the frames' class weights too, when the path moves them
            extra = {} if e.weights is None else {"class_weights": e.weights.astype(float).tolist()}
            exports.write_json(exports.latents_json(e.latents, model=e.model.name, path=e.path().to_json(), **extra),
                               path)
        w, h = e.export_size()
        size = f", {w}×{h} px" if kind in ("png", "gif", "mp4") else ""
        return f"Saved {Path(path).name} ({len(e.pixels)} frames{size})"

    def export_dialog(self) -> None:
        """Ask where to export (a window-modal dialog, the GUI keeps running); the suggested name has no spaces
        and its suffix follows the format picked in the dialog."""
        if not self.interactive or self.editor.pixels is None:
            return
        suffix = dict(EXPORT_FILTERS)[self._export_filter]
        name = exports.safe_file_name(f"{self.editor.model.name}-path{suffix}")
        # Qt's own dialog: native ones differ in whether the name follows the chosen filter
        dlg = QFileDialog(self, "Export path", self._export_folder)
        dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dlg.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dlg.setNameFilters([f for f, _ in EXPORT_FILTERS])
        dlg.selectNameFilter(self._export_filter)
        dlg.setDefaultSuffix(suffix.lstrip("."))
        dlg.selectFile(name)

        def follow(name_filter: str) -> None:
            current = dlg.selectedFiles()[0] if dlg.selectedFiles() else name
            dlg.setDefaultSuffix(dict(EXPORT_FILTERS).get(name_filter, suffix).lstrip("."))
            dlg.selectFile(suggested_name(Path(current).name, name_filter))

        dlg.filterSelected.connect(follow)
        dlg.fileSelected.connect(lambda path: self._export_chosen(path, dlg.selectedNameFilter()))
        dlg.finished.connect(lambda *_: self._dialog_closed(dlg))
        self.export_file_dialog = dlg
        dlg.open()

    def _dialog_closed(self, dlg: QFileDialog) -> None:
        if self.export_file_dialog is dlg:
            self.export_file_dialog = None
        dlg.deleteLater()

    def _export_chosen(self, path: str, name_filter: str) -> None:
        self._export_filter = name_filter if name_filter in dict(EXPORT_FILTERS) else self._export_filter
        self._export_folder = str(Path(path).parent)
        try:
            self.message.emit(self.export(path))
        except exports.ExportError as exc:
            self.message.emit(str(exc))

    def closeEvent(self, event) -> None:
        self.timer.stop()
        super().closeEvent(event)


# ---- the main window's Path dock ---------------------------------------------------------------------

def _bundled_classifier_features():
    """Features from the bundled classifier, loaded on first use; None when there is none."""
    from explorer.io.paths import bundled_model

    folder = bundled_model("classifier")
    if not folder.is_dir() or not any(folder.glob("*.onnx")):
        return None
    cache = {}

    def features(pixels):
        from explorer.core.monitor import Classifier
        from explorer.core.path_editor import classifier_features

        if "fn" not in cache:
            cache["fn"] = classifier_features(Classifier(folder))
        return cache["fn"](pixels)

    return features


def install_path_dock(window) -> DockPart:
    """Add the Path dock (part ``path``, its model the PathEditor) to a MainWindow: follows the active
    model, takes the grid's path endpoints.

    One call from MainWindow.__init__; everything else about paths lives here.
    """
    from explorer.qt.bridge import ToGui

    to_gui = ToGui(window)
    editor = PathEditor(dispatch=to_gui.wrap, features=_bundled_classifier_features())
    view = PathView(editor, interactive=window.interactive)
    view.message.connect(window.show_message)
    part = install(window, DockPart("path", "Interpolation path", view, model=editor),
                   Qt.DockWidgetArea.BottomDockWidgetArea)
    dock = part.dock
    # Hidden until there is a path to show, so the grid gets the room on first start; View menu toggles it.
    dock.hide()
    editor.waypoints_changed.connect(lambda: dock.show() if editor.waypoints and dock.isHidden() else None)
    synced = {"n": 0}

    def on_active(model):
        editor.set_model(model)
        synced["n"] = len(window.state.path_endpoints)

    def on_endpoints():
        eps = window.state.path_endpoints
        if len(eps) < synced["n"]:
            synced["n"] = 0
        for e in eps[synced["n"]:]:
            if editor.model is not None and e.model == editor.model.name and e.z.size == editor.model.latent_dim:
                try:
                    editor.add_waypoint(e.z, f"endpoint {len(editor.waypoints) + 1}", getattr(e, "weights", None))
                except PathError as exc:
                    window.show_message(str(exc))
        synced["n"] = len(eps)
        if editor.waypoints:
            dock.show()
            dock.raise_()

    window.state.active_changed.connect(on_active)
    window.state.endpoints_changed.connect(on_endpoints)
    on_active(window.state.active)
    window.destroyed.connect(lambda *_: editor.close())
    return part
