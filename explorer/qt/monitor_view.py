"""The live mode-collapse monitor: a QWidget the main window can add as a tab, or run on its own.

    view = MonitorView(classifier="assets/models/fashion-classifier", n=1000, seed=0)
    view.snapshot_activated.connect(main_window_open_snapshot)   # str: RUN_DIR/snapshots/epoch-NNNN
    view.set_run("runs/gan")

The view is thin: :class:`explorer.core.monitor_controller.MonitorController` owns the run's state
(:class:`explorer.core.monitor.RunMonitor`) and evaluates snapshots on the one latest-only worker
(newest first, BLAS at one thread); its answers come back to the GUI thread through
``explorer.qt.bridge.ToGui``. This widget watches the folder (QFileSystemWatcher plus a 1 s polling
fallback), tells the controller to poll, and draws what the controller announces. Which metrics,
plots and alarms exist comes from ``explorer.core.diversity_metrics``.
"""

from __future__ import annotations

import html
import math
import os
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QFileSystemWatcher, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QListWidget,
                               QListWidgetItem, QSplitter, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from explorer.core import diversity as D
from explorer.core.classifier import DEFAULT_N, DEFAULT_SEED
from explorer.core.diversity_metrics import METRICS, alarm_title, alarmed_metrics, diversity_plots
from explorer.core.evaluation import SnapshotResult
from explorer.core.monitor import CURVE_PLOTS, RunMonitor
from explorer.core.monitor_controller import MonitorController
from explorer.qt.bridge import ToGui, qimage_copy
from explorer.qt.monitor_plots import COLORS, PLOT_BG, STYLE, TEXT, MetricPlot, delete_menus, fmt_value, pen
from explorer.qt.refcount_guard import pin_singletons
from explorer.qt import theme

POLL_MS = 1000  # polling fallback (network folders, missed watcher events)
STRIP_ICON = 112  # film-strip thumbnail side in pixels


class MonitorView(QWidget):
    """Live monitor of one training RUN_DIR.

    Constructor: ``MonitorView(run_dir=None, *, classifier=None, n=DEFAULT_N, seed=DEFAULT_SEED,
    data_dir=None, parent=None)``. ``classifier``: classifier bundle folder or .onnx whose
    ``real-reference.npz`` gives the floors (built once from Fashion-MNIST when missing); None: curves,
    film strip and sharpness only. ``set_run(path)`` switches runs at any time; ``close_monitor()``
    stops the worker (also done on close).

    Signals:
      snapshot_activated(str) — the user clicked an epoch in the film strip; the argument is the
          absolute path of that snapshot's bundle folder (``RUN_DIR/snapshots/epoch-NNNN``), which
          ``explorer.io.runtime.open_model`` and ``MainWindow.open_paths([...])`` accept.
      updated() — the view redrew after the run changed (tests and screenshots wait on it).
    """

    snapshot_activated = Signal(str)
    updated = Signal()

    def __init__(self, run_dir: str | os.PathLike | None = None, *, classifier: str | os.PathLike | None = None,
                 n: int = DEFAULT_N, seed: int = DEFAULT_SEED, data_dir=None, parent: QWidget | None = None):
        pin_singletons()  # PySide6 6.12 on Python 3.11 leaks None/True references: see refcount_guard
        super().__init__(parent)
        self.setObjectName("MonitorView")
        self.setStyleSheet(STYLE)
        self.selected_epoch: int | None = None
        # epoch -> {"seen": when the monitor first saw the snapshot (its one appearance time),
        #           "strip", "full": when this view first drew its film strip / full evaluation}, time.time()
        self.timeline: dict[int, dict[str, float]] = {}
        self._items: dict[int, tuple[QListWidgetItem, tuple]] = {}
        self._refresh_pending = False
        self._closed = False

        self._to_gui = ToGui(self)
        self.controller = MonitorController(classifier, n=n, seed=seed, data_dir=data_dir, dispatch=self._to_gui.wrap)
        self.controller.changed.connect(self._schedule_refresh)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._on_fs_event)
        self._watcher.fileChanged.connect(self._on_fs_event)
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_MS)
        self._poll_timer.timeout.connect(self.poll)

        self._build()
        if run_dir is not None:
            self.set_run(run_dir)

    # ---- building

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(10, 8, 10, 8)
        root.setSpacing(6)
        head = QHBoxLayout()
        self.title = QLabel("No run open")
        self.title.setObjectName("monitorTitle")
        self.meta = QLabel("")
        self.meta.setObjectName("monitorMeta")
        self.status = QLabel("")
        self.status.setObjectName("monitorStatus")
        self.status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        head.addWidget(self.title)
        head.addSpacing(12)
        head.addWidget(self.meta, 1)
        head.addWidget(self.status)
        root.addLayout(head)

        self.banner = QLabel("Waiting for the first snapshot…")
        self.banner.setObjectName("alarmBanner")
        self.banner.setProperty("state", "wait")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        root.addWidget(self.banner)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.tabs = QTabWidget()
        self.div_plots = pg.GraphicsLayoutWidget()
        self.div_plots.setBackground(PLOT_BG)
        self.curve_plots = pg.GraphicsLayoutWidget()
        self.curve_plots.setBackground(PLOT_BG)
        self.tabs.addTab(self.div_plots, "Diversity vs real floor")
        self.tabs.addTab(self.curve_plots, "Training curves")
        split.addWidget(self.tabs)

        side = QWidget()
        side_col = QVBoxLayout(side)
        side_col.setContentsMargins(0, 0, 0, 0)
        self.table_title = QLabel("Latest snapshot")
        self.table_title.setObjectName("monitorMeta")
        self.table_title.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("metricTable")
        self.table.setHorizontalHeaderLabels(["metric", "value", "real floor"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        side_col.addWidget(self.table_title)
        side_col.addWidget(self.table, 1)
        side.setMinimumWidth(320)
        side.setMaximumWidth(420)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([1080, 340])
        root.addWidget(split, 1)

        strip_head = QLabel("Fixed latents, one cell per epoch — click an epoch to open that snapshot")
        strip_head.setObjectName("monitorMeta")
        root.addWidget(strip_head)
        self.strip = QListWidget()
        self.strip.setObjectName("filmStrip")
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setMovement(QListWidget.Movement.Static)
        self.strip.setIconSize(QSize(STRIP_ICON, STRIP_ICON))
        self.strip.setGridSize(QSize(STRIP_ICON + 18, STRIP_ICON + 34))
        self.strip.setFixedHeight(STRIP_ICON + 56)
        self.strip.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.strip.itemClicked.connect(self._on_strip_clicked)
        root.addWidget(self.strip)
        self.notes = QLabel("")
        self.notes.setObjectName("monitorNotes")
        self.notes.setWordWrap(True)
        self.notes.setVisible(False)
        root.addWidget(self.notes)

        self._div = {}  # metric keys -> their plot, one per diversity_metrics plot (three per row)
        plots = diversity_plots()
        for i, (spec, keys) in enumerate(plots):
            self._div[keys] = MetricPlot(self.div_plots, i // 3, i % 3, spec.title, ylim=spec.ylim)
        self._sharp = MetricPlot(self.div_plots, len(plots) // 3, len(plots) % 3, "Sharpness vs real (1 = as sharp)",
                                 ylim=(0.0, None))
        self._curves: dict[str, MetricPlot] = {}
        self._kl_plot = None
        self._curve_family = None

    # ---- what the controller holds

    @property
    def monitor(self) -> RunMonitor | None:
        return self.controller.monitor

    @property
    def note(self) -> str:
        """Why diversity metrics are off, or that the reference is being built ("" otherwise)."""
        return self.controller.note

    @property
    def classifier(self) -> str | os.PathLike | None:
        return self.controller.classifier

    @property
    def n(self) -> int:
        return self.controller.n

    @property
    def seed(self) -> int:
        return self.controller.seed

    # ---- run lifecycle

    def set_run(self, run_dir: str | os.PathLike) -> None:
        """Monitor ``run_dir`` (finished or running; it may even be empty still)."""
        self.selected_epoch = None
        self.timeline.clear()
        self.strip.clear()
        self._items.clear()
        self.controller.set_run(run_dir)
        self._rewatch()
        self._poll_timer.start()
        self._schedule_refresh()

    def close_monitor(self) -> None:
        """Stop watching and stop the worker thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._poll_timer.stop()
        self.controller.close()
        plots = list(self._div.values()) + [self._sharp] + list(self._curves.values())
        for plot in plots + ([self._kl_plot] if self._kl_plot else []):
            delete_menus(plot.menus)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.close_monitor()
        super().closeEvent(event)

    def is_idle(self) -> bool:
        """True when every snapshot seen so far is evaluated or skipped and the worker waits."""
        return self.monitor is not None and not self.monitor.pending() and self.controller.is_idle()

    # ---- watching

    def _rewatch(self) -> None:
        """Watch the run folder, snapshots/ and metrics.jsonl (re-added: atomic rewrites drop them)."""
        if self.monitor is None:
            return
        folder = self.monitor.folder
        wanted = [str(p) for p in (folder.root, folder.snapshots, folder.metrics) if p.exists()]
        have = set(self._watcher.files()) | set(self._watcher.directories())
        missing = [p for p in wanted if p not in have]
        if missing:
            self._watcher.addPaths(missing)

    def _on_fs_event(self, _path: str) -> None:
        self.poll()

    def poll(self) -> None:
        """Rescan the run now (the watcher and the fallback timer call this)."""
        if self.monitor is None or self._closed:
            return
        self._rewatch()
        self.controller.poll()

    # ---- drawing

    def _schedule_refresh(self) -> None:
        if not self._refresh_pending:
            self._refresh_pending = True
            QTimer.singleShot(0, self.refresh)

    def refresh(self) -> None:
        """Redraw everything from ``self.monitor`` (cheap: a few dozen points per plot)."""
        self._refresh_pending = False
        mon = self.monitor
        if mon is None or self._closed:
            return
        self._draw_header(mon)
        self._draw_banner(mon)
        self._draw_diversity(mon)
        self._draw_curves(mon)
        self._draw_strip(mon)
        self._draw_table(mon)
        self._draw_notes(mon)
        self.updated.emit()

    def _draw_header(self, mon: RunMonitor) -> None:
        self.title.setText(f"Monitor · {mon.run_dir.name}")
        fam = mon.family.upper() if mon.family != "unknown" else "run"
        logged = len(mon.rows)
        total = mon.total_epochs
        state = "finished" if mon.finished else "in progress"
        self.meta.setText(f"{fam} · epoch {logged}" + (f" of {total}" if total else "") + f" · {state} · "
                          f"{len(mon.seen)} snapshot(s) · N = {self.n}, bank seed {self.seed}")
        self.meta.setToolTip(str(mon.run_dir) + (f"\njudged by {mon.judged_by}" if mon.judged_by else ""))
        done = mon.finished and not mon.pending() and self.controller.is_idle()
        self.status.setText("run finished · all snapshots evaluated" if done and mon.seen else mon.status)

    def _draw_banner(self, mon: RunMonitor) -> None:
        """Alarms (red), measured and fine (green), not measured and why (amber), or waiting (grey).

        The reason for "not measured" is ``mon.not_measured()``, the line the table's header shows too."""
        alarms = mon.hard_alarms()  # alarms graded inconclusive (too little evidence) do not turn it red
        latest = mon.latest()
        reason = mon.not_measured()
        doubts = mon.inconclusive()
        if not alarms and doubts:
            graded = "".join(f"<li><b>{html.escape(alarm_title(a.name))}</b> (inconclusive) — {html.escape(a.detail)}</li>"
                             for a in mon.alarms() if not a.hard)
            text = (f"<b>Inconclusive at epoch {latest.epoch}</b> — too little evidence for a verdict: "
                    f"{html.escape('; '.join(doubts))}<ul style='margin:2px 0 0 -20px'>{graded}</ul>")
            state = "unmeasured"
        elif alarms:
            where = f" at epoch {latest.epoch}" if latest else ""
            lines = "".join(f"<li><b>{html.escape(alarm_title(a.name))}</b> — {html.escape(a.detail)}</li>"
                            for a in alarms)
            if reason:
                lines += f"<li><b>Diversity not measured</b> — {html.escape(reason)}</li>"
            text = (f"<b>⚠ {len(alarms)} alarm{'s' if len(alarms) > 1 else ''}{where}</b>"
                    f"<ul style='margin:2px 0 0 -20px'>{lines}</ul>")
            state = "alarm"
        elif latest is not None:
            text = (f"<b>✓ No alarm at epoch {latest.epoch}</b> — no sign of mode collapse and the training "
                    "curves look healthy (distances to the real floors below measure sample quality)")
            state = "ok"
        elif self.controller.building:
            text = html.escape(self.note[:1].upper() + self.note[1:]) + "…"
            state = "wait"
        elif reason:
            curves = " · training curves: no alarm" if mon.rows else ""
            text = f"<b>Not measured</b> — {html.escape(reason)}{curves}"
            state = "unmeasured"
        elif mon.seen:
            text = f"Evaluating the first snapshot… ({mon.status})" if mon.status else "Evaluating the first snapshot…"
            state = "wait"
        else:
            text = "Waiting for the first snapshot…"
            state = "wait"
        self.banner.setText(text)
        if self.banner.property("state") != state:
            self.banner.setProperty("state", state)
            self.banner.style().unpolish(self.banner)
            self.banner.style().polish(self.banner)

    def _draw_diversity(self, mon: RunMonitor) -> None:
        all_x = []
        for plot in list(self._div.values()) + [self._sharp] + list(self._curves.values()):
            plot.x_hint = mon.total_epochs or 10
        for keys, plot in self._div.items():
            xs = []
            for i, k in enumerate(keys):
                e, v, f, sd = mon.series(k)
                xs.append(e)
                col = COLORS[i % len(COLORS)]
                plot.series(k, METRICS[k].label, col).setData(e, v)
                floor_label = "real floor" if len(keys) == 1 else ("real floors" if i == len(keys) - 1 else "")
                plot.series(k + ":floor", floor_label, col, dashed=True).setData(e, f)
                if len(keys) == 1:
                    lo, hi, _ = plot.band(k, col)
                    lo.setData(e, f - 3 * sd)
                    hi.setData(e, f + 3 * sd)
            x = np.concatenate(xs) if xs else np.zeros(0)
            all_x.append(x)
            plot.finish(x)
        e, r = mon.sharpness_series()
        self._sharp.series("sharp", "samples", COLORS[0]).setData(e, r)
        self._sharp.series("real", "real", COLORS[2], dashed=True).setData(e, np.ones_like(e))
        self._sharp.finish(e)
        self._mark_selected()

    def _draw_curves(self, mon: RunMonitor) -> None:
        fam = mon.family
        if fam != self._curve_family:
            for plot in list(self._curves.values()) + ([self._kl_plot] if self._kl_plot else []):
                delete_menus(plot.menus)
            self.curve_plots.clear()
            self._curves.clear()
            self._kl_plot = None
            self._curve_family = fam
            for i, (title, keys) in enumerate(CURVE_PLOTS.get(fam, ())):
                ylim = (0.0, 1.0) if title.startswith("Discriminator") else (0.0, None) \
                    if title.startswith("Active") else None
                self._curves[title] = MetricPlot(self.curve_plots, 0, i, title, ylim=ylim)
            if fam == "vae":
                self._kl_plot = MetricPlot(self.curve_plots, 1, 0, "KL per latent dimension (latest epoch, nats)", colspan=2)
                self._kl_plot.item.setLabel("bottom", "latent dimension", color=theme.MUTED)
                self._kl_bars = pg.BarGraphItem(x=[], height=[], width=0.75, brush=COLORS[0])
                self._kl_plot.item.addItem(self._kl_bars)
                self._kl_line = pg.InfiniteLine(pos=D.KL_DIM_ACTIVE, angle=0,
                                                pen=pen(theme.ALARM, 1.5, dashed=True),
                                                label=f"in use ≥ {D.KL_DIM_ACTIVE} nats",
                                                labelOpts={"color": theme.ALARM, "position": 0.85})
                self._kl_plot.item.addItem(self._kl_line)
                self.curve_plots.ci.layout.setRowStretchFactor(0, 1)
                self.curve_plots.ci.layout.setRowStretchFactor(1, 1)
        for title, keys in CURVE_PLOTS.get(fam, ()):
            plot = self._curves[title]
            xs = []
            for i, (k, label) in enumerate(keys):
                e, v = mon.curve(k)
                if len(e) or k in plot.curves:
                    plot.series(k, label, COLORS[i % len(COLORS)], symbols=len(e) <= 60).setData(e, v)
                xs.append(e)
            plot.finish(np.concatenate(xs) if xs else np.zeros(0))
        if self._kl_plot is not None:
            epoch, kl = mon.kl_per_dim()
            self._kl_bars.setOpts(x=np.arange(len(kl)), height=kl, width=0.75)
            self._kl_plot.item.setTitle(f"KL per latent dimension, epoch {epoch} (nats)" if epoch else
                                        "KL per latent dimension (no epoch logged yet)", color=theme.TEXT, size="10pt")
            if len(kl):
                self._kl_plot.item.setXRange(-0.6, len(kl) - 0.4, padding=0)

    def _mark_selected(self) -> None:
        for plot in list(self._div.values()) + [self._sharp] + list(self._curves.values()):
            if self.selected_epoch is None:
                plot.marker.setVisible(False)
            else:
                plot.marker.setPos(self.selected_epoch)
                plot.marker.setVisible(True)

    def _strip_state(self, r: SnapshotResult) -> tuple:
        alarms = tuple(a.name for a in r.evaluation.alarms) if r.evaluation is not None else ()
        return (r.stage, id(r.strip), alarms, r.error)

    def _draw_strip(self, mon: RunMonitor) -> None:
        now = time.time()
        for epoch in sorted(mon.results):
            r = mon.results[epoch]
            state = self._strip_state(r)
            known = self._items.get(epoch)
            if known is not None and known[1] == state:
                continue
            if known is None:
                item = QListWidgetItem()
                row = next((i for i in range(self.strip.count())
                            if self.strip.item(i).data(Qt.ItemDataRole.UserRole + 1) > epoch), self.strip.count())
                self.strip.insertItem(row, item)
            else:
                item = known[0]
            item.setData(Qt.ItemDataRole.UserRole, str(r.path))
            item.setData(Qt.ItemDataRole.UserRole + 1, epoch)
            item.setIcon(self._icon(r))
            if r.stage == "skipped":
                item.setText(f"epoch {epoch} · skipped")
                item.setToolTip(f"{r.path}\nskipped: {r.error}")
                item.setForeground(QColor(theme.NOTE))
            elif r.stage == "full":
                alarms = r.evaluation.alarms if r.evaluation is not None else []
                flag = " ⚠" if alarms else ""
                item.setText(f"epoch {epoch}{flag}")
                verdict = ("alarms: " + ", ".join(alarm_title(a.name) for a in alarms)) if alarms else \
                    "no alarm" if r.report is not None else \
                    f"not measured: {r.evaluation.note if r.evaluation is not None else 'no classifier'}"
                item.setToolTip(f"{r.path}\n{verdict}\nclick to open this snapshot")
                item.setForeground(QColor(theme.BAD if flag else TEXT))
            else:
                item.setText(f"epoch {epoch} · …")
                item.setToolTip(f"{r.path}\nevaluating")
                item.setForeground(QColor(theme.MUTED))
            self._items[epoch] = (item, state)
            stamps = self.timeline.setdefault(epoch, {})
            stamps.setdefault("seen", r.appeared or now)
            if r.strip is not None:
                stamps.setdefault("strip", now)
            if r.stage in ("full", "skipped"):
                stamps.setdefault("full", now)
        if self.selected_epoch is None and self.strip.count():
            self.strip.scrollToItem(self.strip.item(self.strip.count() - 1))

    def _icon(self, r: SnapshotResult) -> QIcon:
        if r.strip is not None:
            pix = QPixmap.fromImage(qimage_copy(r.strip))
            pix = pix.scaled(STRIP_ICON, STRIP_ICON, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.FastTransformation)
        else:
            pix = QPixmap(STRIP_ICON, STRIP_ICON)
            pix.fill(QColor(theme.SKIPPED_BG if r.stage == "skipped" else theme.PANEL))
        return QIcon(pix)

    def _draw_table(self, mon: RunMonitor) -> None:
        r = mon.results.get(self.selected_epoch) if self.selected_epoch is not None else mon.latest()
        if r is None or r.report is None:
            if r is not None and r.evaluation is not None:  # this snapshot's own reason (NaN outputs, ...)
                why = f"Epoch {r.epoch}: not measured — {r.evaluation.note or 'no classifier'}"
            elif self.controller.building:
                why = self.note
            else:  # the banner's reason, word for word
                reason = mon.not_measured()
                why = f"Not measured — {reason}" if reason else "No evaluated snapshot yet"
            self.table_title.setText(html.escape(why))
            self.table.setRowCount(0)
            return
        rep, ev = r.report, r.evaluation
        self.table_title.setText(f"<b>Epoch {r.epoch}</b>{' (latest)' if self.selected_epoch is None else ''}: "
                                 f"each value next to the same measure on held-out real images at N = {rep.n} "
                                 "(mean ± sd)")
        self.table.setHorizontalHeaderLabels(["metric", "value", f"real floor (N={rep.n})"])
        red = alarmed_metrics(a.name for a in rep.alarms if a.hard)
        rows = [(m.label, rep.metrics.get(m.key), rep.floors.get(m.key), rep.floor_spread.get(m.key), m.key in red)
                for m in METRICS if m.key in rep.metrics or not m.classes]  # no class metrics in the feature-free space
        if math.isfinite(ev.pixel_near_dup):
            rows.append(("pixel near-dups", ev.pixel_near_dup, ev.pixel_near_dup_floor, None, False))
        rows.append(("sharpness vs real", ev.sharpness_ratio, 1.0, None, False))
        self.table_title.setToolTip(f"features: {rep.space}" if rep.space else "")
        self.table.setRowCount(len(rows))
        for i, (label, v, f, sd, bad) in enumerate(rows):
            cells = (label, fmt_value(v), fmt_value(f) + (f" ± {fmt_value(sd)}" if sd else ""))
            for j, text in enumerate(cells):
                item = self.table.item(i, j)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(i, j, item)
                item.setText(text)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setForeground(QColor(theme.BAD if bad and j == 1 else TEXT if j < 2 else theme.MUTED))

    def _draw_notes(self, mon: RunMonitor) -> None:
        notes = []  # what the banner and the table do not say already
        if self.note and not self.controller.building and self.note != mon.not_measured():
            notes.append(self.note)
        for r in mon.skipped():
            notes.append(f"epoch {r.epoch} skipped: {r.error}")
        if mon.metrics.skipped_lines:
            notes.append(f"{mon.metrics.skipped_lines} unreadable line(s) in metrics.jsonl ignored")
        self.notes.setText("\n".join(notes[-4:]))
        self.notes.setVisible(bool(notes))

    # ---- interaction

    def _on_strip_clicked(self, item: QListWidgetItem) -> None:
        self.select_epoch(int(item.data(Qt.ItemDataRole.UserRole + 1)), emit=True)

    def select_epoch(self, epoch: int, *, emit: bool = True) -> None:
        """Show that epoch's metrics, mark it on the plots and (emit) announce its snapshot path."""
        if self.monitor is None or epoch not in self.monitor.results:
            return
        self.selected_epoch = epoch
        item = self._items.get(epoch, (None,))[0]
        if item is not None and not item.isSelected():
            self.strip.blockSignals(True)
            self.strip.setCurrentItem(item)
            self.strip.blockSignals(False)
        self._mark_selected()
        self._draw_table(self.monitor)
        if emit:
            self.snapshot_activated.emit(str(self.monitor.results[epoch].path))


# ---- standalone window -------------------------------------------------------------------------

def wait_until_idle(view: MonitorView, timeout: float = 900.0) -> bool:
    """Process events until every seen snapshot is evaluated (or timeout). For screenshots and tests."""
    from PySide6.QtWidgets import QApplication

    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        QApplication.processEvents()
        if view.is_idle():
            for _ in range(3):
                QApplication.processEvents()
            return True
        time.sleep(0.01)
    return False
