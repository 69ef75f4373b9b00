"""Two models side by side on the same latent bank and N: grids, sharpness, diversity, Fréchet distance.

    view = CompareView(classifier="assets/models/fashion-classifier", n=1000, seed=0)
    view.set_models("assets/models/fashion-vae", "assets/models/fashion-gan")

The work (decode N samples per model, classify, metrics) runs on the one latest-only worker
(``explorer.core.worker.LatestOnly``); answers reach the GUI thread through ``explorer.qt.bridge.ToGui``,
so a newer request wins and an older answer is never drawn.
"""

from __future__ import annotations

import html
import math
import os
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QGridLayout,
                               QHeaderView, QLabel, QPushButton, QSizePolicy, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from explorer.core.classifier import DEFAULT_N, DEFAULT_SEED
from explorer.core.comparison import Comparison, compare_models
from explorer.core.diversity_metrics import METRICS
from explorer.core.evaluation import SnapshotEvaluator, evaluator_for
from explorer.core.own_data import trained_on
from explorer.core.worker import Answer, Cancelled, LatestOnly
from explorer.io.contract import BUNDLE_FILES
from explorer.qt.bridge import ToGui, qimage_copy
from explorer.qt.monitor_plots import COLORS, PLOT_BG, STYLE, TEXT, delete_menus, fmt_value, new_top_level_menus
from explorer.qt.refcount_guard import pin_singletons
from explorer.qt import theme

def model_choice_path(path: str | os.PathLike) -> Path:
    """The path a picker offers for a model: its bundle folder when the file is a bundle's, else the file."""
    p = Path(path).expanduser().resolve()
    return p.parent if p.is_file() and p.name in BUNDLE_FILES.values() else p


class ComparePicker(QDialog):
    """Pick models A and B at once: the open models, the bundled ones, or any file or folder.

    ``ComparePicker(choices, parent)``: ``choices`` is a list of (label, path); A starts on the
    first, B on the second. "File…"/"Folder…" add a model to both lists and select it on that side.
    ``pair()`` gives (path A, path B) once accepted; "Compare" is enabled only for two different models.
    """

    def __init__(self, choices: list[tuple[str, str | os.PathLike]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ComparePicker")
        self.setWindowTitle("Compare two models")
        grid = QGridLayout(self)
        grid.addWidget(QLabel("Both models decode the same latents; pick an open or bundled model, or a file or "
                              "folder."), 0, 0, 1, 4)
        self.combos: list[QComboBox] = []
        self.file_buttons: list[QPushButton] = []
        self.folder_buttons: list[QPushButton] = []
        for side in range(2):
            combo = QComboBox()
            combo.setObjectName(f"compareModel{'AB'[side]}")
            combo.setMinimumContentsLength(40)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.currentIndexChanged.connect(self._update)
            files = QPushButton("File…")
            files.setToolTip(f"Pick an .onnx file as model {'AB'[side]}")
            files.clicked.connect(lambda _=False, s=side: self._browse(s, folder=False))
            folder = QPushButton("Folder…")
            folder.setToolTip(f"Pick a bundle folder as model {'AB'[side]}")
            folder.clicked.connect(lambda _=False, s=side: self._browse(s, folder=True))
            grid.addWidget(QLabel(f"Model {'AB'[side]}"), 1 + side, 0)
            grid.addWidget(combo, 1 + side, 1)
            grid.addWidget(files, 1 + side, 2)
            grid.addWidget(folder, 1 + side, 3)
            self.combos.append(combo)
            self.file_buttons.append(files)
            self.folder_buttons.append(folder)
        self.reason = QLabel("")
        self.reason.setObjectName("compareReason")
        grid.addWidget(self.reason, 3, 0, 1, 4)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.compare_button = self.buttons.addButton("Compare", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        grid.addWidget(self.buttons, 4, 0, 1, 4)
        for label, path in choices:
            self.add_choice(label, path, select=None)
        for side, combo in enumerate(self.combos):
            combo.setCurrentIndex(min(side, combo.count() - 1))
        self._update()

    def add_choice(self, label: str, path: str | os.PathLike, *, select: int | None) -> None:
        """Offer ``path`` on both sides (once); ``select``: the side (0, 1) that switches to it, or None."""
        key = str(model_choice_path(path))
        for combo in self.combos:
            if combo.findData(key) < 0:
                combo.addItem(label, key)
                combo.setItemData(combo.count() - 1, key, Qt.ItemDataRole.ToolTipRole)
        if select is not None:
            self.combos[select].setCurrentIndex(self.combos[select].findData(key))

    def pair(self) -> tuple[str, str] | None:
        """(A, B) as paths, or None unless two different models are chosen."""
        a, b = (c.currentData() for c in self.combos)
        return (a, b) if a and b and a != b else None

    def _update(self, *_args) -> None:
        ok = self.pair() is not None
        self.compare_button.setEnabled(ok)
        if ok:
            self.reason.setText("")
        elif min(c.count() for c in self.combos) == 0:
            self.reason.setText("No model to offer yet: pick a file or a folder")
        else:
            self.reason.setText("Pick two different models")

    def _browse(self, side: int, *, folder: bool) -> None:
        title = f"Model {'AB'[side]}"
        if folder:
            path = QFileDialog.getExistingDirectory(self, f"{title}: a bundle folder")
        else:
            path, _ = QFileDialog.getOpenFileName(self, f"{title}: an .onnx file", "", "ONNX models (*.onnx)")
        if path:
            self.add_choice(f"{Path(path).name} — {path}", path, select=side)


class CompareView(QWidget):
    """Side-by-side comparison widget.

    Constructor: ``CompareView(classifier=None, *, n=DEFAULT_N, seed=DEFAULT_SEED, data_dir=None, parent=None)``.
    ``set_models(a, b)``: model files or bundle folders; the result appears when ready (``updated``
    is emitted; ``comparison`` holds it). Without a classifier only grids and sharpness are compared.
    """

    updated = Signal()

    def __init__(self, classifier: str | os.PathLike | None = None, *, n: int = DEFAULT_N, seed: int = DEFAULT_SEED,
                 data_dir=None, parent: QWidget | None = None):
        pin_singletons()
        super().__init__(parent)
        self.setObjectName("CompareView")
        self.setStyleSheet(STYLE)
        self.classifier_path, self.n, self.seed, self.data_dir = classifier, int(n), int(seed), data_dir
        self.comparison: Comparison | None = None
        self.error = ""
        self._pixmaps: list[QPixmap | None] = [None, None]
        self._evaluator: SnapshotEvaluator | None = None  # made on the worker, on the first request
        self._evaluator_key: str | None = None  # the data set it judges (model A's data id)
        self._to_gui = ToGui(self)
        self.worker = LatestOnly(self._to_gui.wrap(self._on_answer), name="model comparison", blas_threads=1)
        self._build()

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(10, 8, 10, 8)
        self.title = QLabel("Compare two models")
        self.title.setObjectName("monitorTitle")
        self.meta = QLabel("Choose two models")
        self.meta.setObjectName("monitorMeta")
        self.findings = QLabel("")
        self.findings.setObjectName("alarmBanner")
        self.findings.setProperty("state", "wait")
        self.findings.setWordWrap(True)
        self.findings.setTextFormat(Qt.TextFormat.RichText)
        root.addWidget(self.title)
        root.addWidget(self.meta)
        root.addWidget(self.findings)
        grid = QGridLayout()
        self.names = [QLabel(""), QLabel("")]
        self.images = [QLabel(), QLabel()]
        for i in range(2):
            self.names[i].setObjectName("monitorTitle")
            self.names[i].setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.images[i].setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.images[i].setMinimumSize(8 * 29, 8 * 29)
            # Ignored: the pixmap must not drive the layout (it is refitted to the box on resize).
            self.images[i].setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
            self.images[i].setStyleSheet(f"background: {theme.SUNKEN}; border: 1px solid {theme.LINE};")
            grid.addWidget(self.names[i], 0, i)
            grid.addWidget(self.images[i], 1, i)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("metricTable")
        self.table.setHorizontalHeaderLabels(["metric", "A", "B", "real floor"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            self.table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumWidth(380)
        grid.addWidget(self.table, 0, 2, 3, 1)
        self.hist, self._menus = new_top_level_menus(pg.PlotWidget)
        self.hist.setBackground(PLOT_BG)
        self.hist.setMenuEnabled(False)
        self.hist.setMinimumHeight(170)
        self.hist.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        grid.addWidget(self.hist, 2, 0, 1, 2)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 1)
        self.hist.setMaximumHeight(230)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        root.addLayout(grid, 1)

    # ---- requests

    def set_models(self, a: str | os.PathLike, b: str | os.PathLike) -> int:
        """Compare ``a`` and ``b`` in the background (an earlier request becomes stale). Returns its generation."""
        self.comparison, self.error = None, ""
        self.meta.setText(f"Evaluating {Path(a).name} and {Path(b).name} on the same {self.n} latents…")
        a, b = str(a), str(b)
        return self.worker.submit(lambda progress, cancelled: self._compare(a, b, cancelled))

    def _compare(self, a: str, b: str, cancelled) -> Comparison:
        """On the worker: the evaluator (classifier and reference, once), then both models."""
        # The classifier trained on A's data when there is one (explorer.core.own_data), else the one
        # given; without any, the feature-free space of A's data. Kept per data set.
        data = trained_on(a)
        key = data.data_id if data is not None else None
        if self._evaluator is None or self._evaluator_key != key:
            self._evaluator, _ = evaluator_for(a, self.classifier_path, auto=self.classifier_path is not None,
                                               n=self.n, seed=self.seed, data_dir=self.data_dir)
            self._evaluator_key = key
        if cancelled():  # a newer pair was asked for meanwhile
            raise Cancelled
        return compare_models(a, b, self._evaluator)

    def wait(self, timeout: float = 120.0) -> bool:
        """Process events until the latest request is answered (tests, screenshots)."""
        from PySide6.QtWidgets import QApplication

        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            QApplication.processEvents()
            if self.comparison is not None or self.error:
                return True
            time.sleep(0.01)
        return False

    def close_view(self) -> None:
        self.worker.close()
        delete_menus(self._menus)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.close_view()
        super().closeEvent(event)

    # ---- drawing

    def _on_answer(self, answer: Answer) -> None:
        if not self.worker.is_current(answer) or answer.cancelled:
            return
        if answer.error:
            self.error = answer.error
            self.meta.setText(f"Cannot compare: {answer.error}")
            self.updated.emit()
            return
        self.comparison = answer.value
        self._draw(answer.value)
        self.updated.emit()

    def _draw(self, cmp: Comparison) -> None:
        a, b = cmp.a, cmp.b
        self.title.setText(f"{a.name}  vs  {b.name}")
        self.meta.setText(f"Same latent bank (seed {a.seed}) and N = {a.n} samples each · A = {a.path} · B = {b.path}")
        alarm = any(ev.alarms for ev in (a, b))
        measured = all(ev.judged for ev in (a, b))
        items = "".join(f"<li>{html.escape(t)}</li>" for t in cmp.findings())
        self.findings.setText(f"<ul style='margin:0 0 0 -20px'>{items}</ul>")
        self.findings.setProperty("state", "alarm" if alarm else "ok" if measured else "unmeasured")
        self.findings.style().unpolish(self.findings)
        self.findings.style().polish(self.findings)
        for i, ev in enumerate((a, b)):
            flag = " ⚠" if ev.alarms else ""
            self.names[i].setText(f"{'AB'[i]}: {ev.name} ({ev.family.upper()}){flag}")
            self._pixmaps[i] = QPixmap.fromImage(qimage_copy(ev.grid))
        self._fit_images()
        QTimer.singleShot(0, self._fit_images)  # again once the layout has settled
        self._draw_table(cmp)
        self._draw_hist(cmp)

    def _fit_images(self) -> None:
        """Scale the sample grids to fill their boxes (nearest neighbour: pixels stay crisp), never cropping."""
        for label, pix in zip(self.images, self._pixmaps):
            if pix is None:
                continue
            side = max(1, min(label.width(), label.height()) - 2)
            label.setPixmap(pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.FastTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_images()

    def _draw_table(self, cmp: Comparison) -> None:
        a, b = cmp.a, cmp.b
        self.table.setHorizontalHeaderLabels(["metric", "A", "B", f"real floor (N={a.n})"])
        rows = [("sharpness vs real", a.sharpness_ratio, b.sharpness_ratio, 1.0, 0)]
        measured = a.report or b.report  # one model measured: its column has numbers, the other "–"
        if measured is not None:
            rows += [(m.label, a.report.metrics.get(m.key) if a.report else None,
                      b.report.metrics.get(m.key) if b.report else None, measured.floors.get(m.key), m.better)
                     for m in METRICS]
        self.table.setRowCount(len(rows))
        for r, (label, va, vb, floor, better) in enumerate(rows):
            win = _winner(va, vb, floor, better)
            for c, text in enumerate((label, fmt_value(va), fmt_value(vb), fmt_value(floor))):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                col = TEXT if c < 3 else theme.MUTED
                if c in (1, 2) and win == c - 1:
                    col = theme.BETTER
                item.setForeground(QColor(col))
                self.table.setItem(r, c, item)

    def _draw_hist(self, cmp: Comparison) -> None:
        self.hist.clear()
        plot = self.hist.getPlotItem()
        names = cmp.a.class_names or cmp.b.class_names
        if cmp.a.report is None or cmp.b.report is None or not names:
            plot.setTitle("Class histogram needs a classifier", color=theme.MUTED)
            return
        k = len(names)
        x = np.arange(k)
        for i, ev in enumerate((cmp.a, cmp.b)):
            plot.addItem(pg.BarGraphItem(x=x - 0.2 + 0.4 * i, height=np.asarray(ev.report.class_histogram),
                                         width=0.38, brush=COLORS[i]))
        plot.addItem(pg.InfiniteLine(pos=0.1, angle=0, pen=pg.mkPen(theme.MUTED, style=Qt.PenStyle.DashLine)))
        plot.getAxis("bottom").setTicks([[(i, n.split("/")[0]) for i, n in enumerate(names)]])
        for ax in ("left", "bottom"):
            plot.getAxis(ax).setTextPen(theme.MUTED)
        plot.setTitle(f"<span style='color:{theme.TEXT}'>Predicted classes</span>&nbsp;&nbsp;"
                      f"<span style='color:{COLORS[0]}'>■ A</span>&nbsp;<span style='color:{COLORS[1]}'>■ B</span>"
                      f"&nbsp;<span style='color:{theme.MUTED}'>╍ uniform (10 %)</span>", size="9pt")


def _winner(va, vb, floor, better) -> int | None:
    """0 (A) or 1 (B) for the better value, None for a tie or when there is no order."""
    if va is None or vb is None or not (math.isfinite(va) and math.isfinite(vb)) or va == vb:
        return None
    if better == 0:
        if floor is None or not math.isfinite(floor):
            return None
        return 0 if abs(va - floor) < abs(vb - floor) else 1
    return 0 if (va > vb) == (better > 0) else 1


def compare_screenshot(a: str, b: str, out: str, *, classifier: str | None, n: int = DEFAULT_N,
                       seed: int = DEFAULT_SEED) -> bool:
    """Render the comparison offscreen to ``out`` (PNG). True when written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from explorer.qt.qapp import ensure_app, grab_and_close

    app = ensure_app()
    view = CompareView(classifier, n=n, seed=seed)
    view.resize(1440, 900)
    view.set_models(a, b)
    view.show()
    view.wait()
    for _ in range(5):
        app.processEvents()
    return grab_and_close(view, out)
