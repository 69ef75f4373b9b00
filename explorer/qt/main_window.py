"""The main window: model panel, sample grid with controls, focused-latent sliders, status bar."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QFileSystemWatcher, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QMenu,
                               QScrollArea, QStackedWidget, QTabWidget, QVBoxLayout, QWidget)

from explorer.core.grid import GridController, SampleGrid
from explorer.core.latents import LatentWalk
from explorer.io.runtime import ModelError, NeedsImageShape
from explorer.core.state import AppState
from explorer.qt.cell_actions import CellActions
from explorer.qt.bridge import ToGui, accept_url_drag, dropped_paths
from explorer.qt.docks import DockPart, LazyPart, install
from explorer.qt.grid_view import GridCanvas, GridControls
from explorer.qt.help_menu import add_help_menu
from explorer.qt.tools_menu import add_tools_menu
from explorer.qt.latent_panel import LatentPanel
from explorer.qt.model_panel import ModelPanel
from explorer.qt.directions_panel import install_directions_dock
from explorer.qt.path_view import install_path_dock
from explorer.qt.session_actions import install_session_actions

MAX_RECENT = 10
SIDE_DOCK_PX = 340  # width of the Model dock (and of the right-hand docks beside the grid)
# The central tabs need this much beside the docks: the map plot wider than its 380 px side panel,
# and the grid's 8 columns at 84 px (699 px) with the scroll area's frame and scroll bar.
CENTRAL_MIN_PX = 940
WALK_INTERVAL_MS = 16
FPS_REFRESH_MS = 500  # the fps readout is refreshed this often, so it reads "— fps" once frames stop


def open_failure(path, exc: BaseException) -> str:
    """One line for an exception that is not a ModelError, raised while opening ``path``: what was
    expected and what was found, in words (never the exception's class name)."""
    name = Path(str(path)).name or str(path)
    if isinstance(exc, MemoryError):
        found = "a model too large to hold in memory"
    elif isinstance(exc, RecursionError):
        found = "data nested too deeply to read"
    else:
        lines = str(exc).strip().splitlines()
        found = f"a model the app could not show ({lines[0][:160] if lines else 'no reason given'})"
    return f"{name}: expected a model the app can show, found {found}; it was not opened"


class MainWindow(CellActions, QMainWindow):
    def __init__(self, state: AppState | None = None, settings: QSettings | None = None, *,
                 interactive: bool = True):
        super().__init__()
        self.setWindowTitle("Latent Explorer")
        self.setObjectName("LatentExplorerMain")
        self.setAcceptDrops(True)
        self.state = state or AppState()
        self.settings = settings
        self.interactive = interactive  # False: never open dialogs (screenshots, tests)
        self.last_message = ""
        self.grid = SampleGrid(8, 8)
        self.to_gui = ToGui(self)
        self.controller = GridController(self.grid, dispatch=self.to_gui.wrap)

        # central: controls over a scrollable canvas (or the empty state)
        self.canvas = GridCanvas(self.grid)
        self.controls = GridControls(self.grid)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.canvas)
        # Top, not centred: a dock appearing below (the path) must not move the cells under the cursor.
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.scroll.setObjectName("gridScroll")
        self.empty = QLabel("No model open\n\nDrop an .onnx file or a bundle folder here,\nor use File → Open…")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setObjectName("emptyState")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.scroll)
        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.controls)
        col.addWidget(self.stack, 1)
        # Two views of the active model: the sample grid and the latent map (explorer/qt/map_view.py).
        # The map (and pyqtgraph under it) is built the first time it is shown or asked for
        # (``map_view``); until then an empty page holds its tab.
        self._map_view = self._path_overlay = None
        self.map_placeholder = QWidget()
        self.map_placeholder.setObjectName("mapPlaceholder")
        self.views = QTabWidget()
        self.views.setDocumentMode(True)
        self.views.addTab(central, "Grid")
        self.views.addTab(self.map_placeholder, "Latent map")
        # A click on the map's tab builds the map before the tab changes (so that focus moves into it
        # as into any page); any other way to the tab (keys, code) builds it on the change.
        self.views.tabBarClicked.connect(self._on_view_tab)
        self.views.currentChanged.connect(self._on_view_tab)
        self.setCentralWidget(self.views)
        self.view_tabs = self.views.tabBar()  # the tour points at it

        self.model_panel = ModelPanel(self.state)
        self.model_panel.setMinimumWidth(300)
        self.latent_panel = LatentPanel(self.grid)
        self.view_menu = None  # built with the menus; docks added after that list themselves in it
        # Every part of the window by name (explorer/qt/docks.py): sessions keep their models, the tour points at them.
        self.docks: dict[str, DockPart] = {}
        self.model_dock = install(self, DockPart("model", "Model", self.model_panel),
                                  Qt.DockWidgetArea.LeftDockWidgetArea).dock
        self.latent_dock = install(self, DockPart("latent", "Focused latent", self.latent_panel),
                                   Qt.DockWidgetArea.RightDockWidgetArea).dock

        # status bar
        self.provider_label = QLabel("—")
        self.decode_label = QLabel("decode —")
        self.fps_label = QLabel("— fps")
        for w in (self.provider_label, self.decode_label, self.fps_label):
            w.setObjectName("statusField")
            self.statusBar().addPermanentWidget(w)

        self._build_menus()
        path = install_path_dock(self)  # Interpolation path dock (explorer/qt/path_view.py)
        self.path_dock, self.path_view, self.path_editor = path.dock, path.widget, path.model
        directions = install_directions_dock(self)  # Directions dock (explorer/qt/directions_panel.py)
        self.directions_dock, self.directions_panel = directions.dock, directions.widget
        # the latent map's view and groups, kept in sessions; built when first needed (_build_map)
        map_part = install(self, LazyPart("map", "Latent map", self._build_map, self.map_placeholder))
        map_part.on_restore_errors = lambda errors: self.show_message("Session: " + "; ".join(errors))
        # a map section waiting for the map belongs to the session's model: another model drops it,
        # as the built map drops its groups when the model changes
        self.state.active_changed.connect(lambda *_: map_part.drop_pending())
        install_session_actions(self)  # File → Save/Open Session (explorer/qt/session_actions.py)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.fileChanged.connect(self._on_file_changed)
        self.walk: LatentWalk | None = None
        self.walk_timer = QTimer(self, interval=WALK_INTERVAL_MS)
        self.walk_timer.timeout.connect(self._walk_tick)
        self._walk_last = 0.0
        self._walk_gen = -1
        self._status_at = 0.0

        # bindings
        self.state.active_changed.connect(self._on_active)
        self.state.model_closed.connect(self._on_model_closed)
        self.state.message.connect(self.show_message)
        self.controller.decoded.connect(self._on_decoded)
        self.controller.error.connect(self.show_message)
        self.controls.saveRequested.connect(self.save_grid_dialog)
        self.controls.walkToggled.connect(self.set_walking)
        self.controls.message.connect(self.show_message)
        from explorer.qt.garment_panel import install_garment_panel

        self.garment_panel = install_garment_panel(self)  # the focused cell's class and blend (garment_panel.py)
        self.controls.cellSizeChanged.connect(self.canvas.set_cell_px)
        self.canvas.cellMenuRequested.connect(self._cell_menu)
        self.canvas.zoomRequested.connect(lambda step: self.controls.cell.stepBy(step))
        self.grid.layout_changed.connect(self._stop_walk_on_layout)
        self.fps_timer = QTimer(self, interval=FPS_REFRESH_MS)
        self.fps_timer.timeout.connect(self._refresh_fps)
        self.fps_timer.start()
        self.grid.focus_changed.connect(self._show_focused_latent)
        self.compact_docks = False  # True: the right-hand docks are tabs of the Model dock (arrange_docks)
        self.resize(1400, 900)
        self.resizeDocks([self.model_dock, self.latent_dock], [SIDE_DOCK_PX, SIDE_DOCK_PX], Qt.Orientation.Horizontal)
        self.canvas.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.canvas.setFocus()
        self._restore()

    # ---- construction -----------------------------------------------------------------------------

    @property
    def map_view(self):
        """The latent map (explorer/qt/map_view.py), built the first time it is shown or asked for."""
        if self._map_view is None:
            self.docks["map"].part  # builds it (_build_map), in the tab the placeholder held
        return self._map_view

    @property
    def path_overlay(self):
        """The path drawn on the latent map, waypoints draggable (explorer/qt/path_overlay.py)."""
        self.map_view  # noqa: B018 (built with the map)
        return self._path_overlay

    def _build_map(self) -> DockPart:
        """Build the latent map, bind it to the window and put it in its tab; its part for ``docks``."""
        from explorer.qt.map_dock import MapDock
        from explorer.qt.map_view import MapView, fill_grid_with
        from explorer.qt.path_overlay import PathOverlay

        view = self._map_view = MapView(interactive=self.interactive)
        self._path_overlay = PathOverlay(view.vb, self.path_editor)
        view.latentProjectionChanged.connect(self._path_overlay.set_projection)
        view.latentForPath.connect(self._add_map_waypoint)
        view.directionMade.connect(lambda d: self.directions_panel.add_directions([d]))
        self.state.active_changed.connect(view.set_model)
        view.message.connect(self.show_message)
        view.latentsForGrid.connect(lambda z: fill_grid_with(self.grid, z))
        view.latentActivated.connect(self._load_map_latent)
        view.probeToGrid.connect(self._probe_to_grid)
        view.selectionToGrid.connect(self._selection_to_grid)
        index, current = self.views.indexOf(self.map_placeholder), self.views.currentIndex()
        self._swapping_tabs = True
        try:
            self.views.removeTab(index)
            self.views.insertTab(index, view, "Latent map")
            self.views.setCurrentIndex(current)
        finally:
            self._swapping_tabs = False
        if self.state.active is not None:
            view.set_model(self.state.active)
        return MapDock(view)

    def _on_view_tab(self, index: int) -> None:
        """The map's tab is being chosen before the map was built: build it there now."""
        if not getattr(self, "_swapping_tabs", False) and self.views.widget(index) is self.map_placeholder:
            self.map_view  # noqa: B018 (builds it)

    def add_dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        """A movable, closable dock (``name`` keys its saved state), toggled from the View menu.

        The building block of ``explorer.qt.docks.install``, which is how parts are added (so that
        sessions and the tour find them in ``self.docks``).
        """
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        if self.view_menu is not None:
            self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def arrange_docks(self, width: int) -> bool:
        """Lay the docks out for a window ``width`` px wide (first run, before the window is shown).

        Where the Model dock, the central tabs (CENTRAL_MIN_PX) and the right-hand docks (Focused
        latent, Directions) do not fit side by side, the right-hand docks become tabs of the Model
        dock: one side column, so the grid shows its columns and the map plot is the widest thing in
        its tab. Returns True for that compact layout."""
        right = [d for d in (self.latent_dock, getattr(self, "directions_dock", None)) if d is not None]
        compact = width < 2 * SIDE_DOCK_PX + CENTRAL_MIN_PX
        if compact:
            # Out of their tab group first (Qt does not tabify a dock that is in one), then into the
            # Model dock's; moving them area by area instead leaves stale tab bars over the menu bar.
            for dock in right:
                self.removeDockWidget(dock)
            for dock in right:
                self.tabifyDockWidget(self.model_dock, dock)
                dock.show()
            self.model_dock.raise_()
        else:
            if self.dockWidgetArea(self.latent_dock) != Qt.DockWidgetArea.RightDockWidgetArea:
                for dock in right:
                    self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
                for dock in right[1:]:
                    self.tabifyDockWidget(right[0], dock)
            self.latent_dock.raise_()
        docks = [self.model_dock] + ([] if compact else right[:1])
        self.resizeDocks(docks, [SIDE_DOCK_PX] * len(docks), Qt.Orientation.Horizontal)
        self.compact_docks = compact
        return compact

    def _show_focused_latent(self, index) -> None:
        """In the compact layout the sliders share a column with the model card: a focused cell brings them forward."""
        if self.compact_docks and index is not None and not self.latent_dock.isHidden():
            self.latent_dock.raise_()

    def landmarks(self) -> dict[str, QWidget]:
        """What the tour can point at, by name: the grid, its controls, the view tabs and every part."""
        marks = {"grid": self.stack, "grid controls": self.controls, "view tabs": self.view_tabs}
        marks.update({key: part.landmark for key, part in self.docks.items()})  # builds nothing
        return marks

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.open_action = QAction("&Open Model…", self, shortcut=QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self.open_dialog)
        self.open_folder_action = QAction("Open &Bundle Folder…", self)
        self.open_folder_action.triggered.connect(self.open_folder_dialog)
        self.recent_menu = QMenu("Open &Recent", self)
        self.save_action = QAction("&Save Grid as PNG…", self, shortcut=QKeySequence.StandardKey.Save)
        self.save_action.triggered.connect(self.save_grid_dialog)
        self.save_cell_action = QAction("Save &Focused Cell as PNG…", self, shortcut=QKeySequence("Ctrl+Shift+E"))
        self.save_cell_action.triggered.connect(self.save_focused_cell_dialog)
        self.close_model_action = QAction("&Close Model", self, shortcut=QKeySequence("Ctrl+W"))
        self.close_model_action.triggered.connect(self.close_active_model)
        quit_action = QAction("&Quit", self)
        # The platform's Quit keys, else Ctrl+Q (some platforms and themes have none for Quit).
        quit_action.setShortcuts(QKeySequence.keyBindings(QKeySequence.StandardKey.Quit) or [QKeySequence("Ctrl+Q")])
        self.quit_action = quit_action
        quit_action.triggered.connect(self.close)
        for a in (self.open_action, self.open_folder_action):
            file.addAction(a)
        file.addMenu(self.recent_menu)
        file.addSeparator()
        file.addAction(self.save_action)
        file.addAction(self.save_cell_action)
        file.addAction(self.close_model_action)
        file.addSeparator()
        file.addAction(quit_action)
        self.models_menu = bar.addMenu("&Models")
        self.state.models_changed.connect(self._rebuild_models_menu)
        view = self.view_menu = bar.addMenu("&View")
        for part in self.docks.values():  # the docks made before the menu; later ones add themselves
            if part.dock is not None:
                view.addAction(part.dock.toggleViewAction())
        view.addSeparator()
        grid_action = view.addAction("Sample &Grid")
        grid_action.setShortcut(QKeySequence("Ctrl+G"))
        grid_action.triggered.connect(lambda: self.views.setCurrentIndex(0))
        map_action = view.addAction("Latent &Map")
        map_action.setShortcut(QKeySequence("Ctrl+M"))
        map_action.triggered.connect(lambda: self.views.setCurrentWidget(self.map_view))
        add_tools_menu(self)  # Tools → Watch Training Run…, Compare (explorer/qt/tools_menu.py)
        add_help_menu(self)  # Help → Tour of the Views, About (explorer/qt/help_menu.py)
        self._rebuild_recent_menu()

    # ---- opening models ---------------------------------------------------------------------------

    def open_paths(self, paths) -> list[str]:
        """Open each path; returns the one-line errors (also shown in the status bar)."""
        errors = []
        opened = 0
        for p in paths:
            err = self.open_path(p, activate=opened == 0)  # the first model opened is the one shown
            if err:
                errors.append(err)
            else:
                opened += 1
        if opened > 1 and not errors:
            names = ", ".join(m.name for m in self.state.models)
            self.show_message(f"Opened {names} (decoding on {self.state.models[-1].provider})")
        elif errors:
            self.show_message(errors[-1] + ("" if len(errors) == 1 else f" (and {len(errors) - 1} more errors)"))
        return errors

    def open_path(self, path, image_shape=None, *, activate: bool = True) -> str | None:
        """Open one model; returns None, or the one-line reason it was refused (also shown).

        Whatever goes wrong (a hostile file can make onnx, onnxruntime or the grid raise anything)
        ends here as one line, and a model that failed half-way is closed again: never half-opened.
        """
        before = list(self.state.models)
        active = self.state.active
        try:
            model = self.state.open(path, image_shape=image_shape, activate=activate)
        except NeedsImageShape as exc:
            if self.interactive:
                shape = self._ask_shape(exc)
                if shape is not None:
                    return self.open_path(path, shape, activate=activate)
            self.show_message(str(exc))
            return str(exc)
        except Exception as exc:  # ModelError, or anything a view raised on the new model
            reason = str(exc) if isinstance(exc, ModelError) else open_failure(path, exc)
            self._undo_open(before, active)
            self.show_message(reason)
            return reason
        self._add_recent(str(Path(path).expanduser().resolve()))
        self.watcher.addPath(str(model.path))
        guesses = list(model.signature.guesses)
        if guesses:
            important = next((g for g in guesses if "normalised" in g or "NaN" in g), guesses[0])
            more = f" (+{len(guesses) - 1} more inferred, see the Model panel)" if len(guesses) > 1 else ""
            self.show_message(f"Opened {model.name} on {model.provider}, no metadata: {important}{more}")
        else:
            notes = list(model.provider_notes)
            self.show_message(f"Opened {model.name} on {model.provider}" + (f" — {notes[-1]}" if notes else ""))
        return None

    def _undo_open(self, before: list, active) -> None:
        """Take out what a failed open added and give the views back the previous model. The list and
        the active model are settled before anyone is told, so no view is handed a model that is gone."""
        added = [m for m in self.state.models if m not in before]
        for model in added:
            self.state.models.remove(model)
        target = active if active in self.state.models else (self.state.models[-1] if self.state.models else None)
        closed = getattr(self.state, "model_closed", None)  # "forget what was kept for it", where the state has it
        announcements = [lambda: self.state.set_active(target), self.state.models_changed.emit]
        announcements += [lambda m=m: closed.emit(m) for m in added] if closed is not None else []
        for announce in announcements:
            try:
                announce()
            except Exception:  # a view failing again on the way back: the state itself is right
                self.state.active = target

    def _ask_shape(self, exc: NeedsImageShape) -> tuple[int, int, int] | None:
        text, ok = QInputDialog.getText(self, "Image shape", f"{exc}\n\nHeight × width × channels, e.g. 32x32x3:")
        if not ok:
            return None
        try:
            h, w, c = (int(t) for t in text.lower().replace("×", "x").split("x"))
            return (c, h, w)
        except ValueError:
            self.show_message(f"expected H x W x C like 32x32x3, found {text!r}")
            return None

    def dialog_dir(self, key: str = "last_dir") -> str:
        """The folder a file dialog starts in: the last one used for ``key`` (kept in the app's settings)."""
        start = str(self.settings.value(key, "") or "") if self.settings is not None else ""
        return start if start and Path(start).is_dir() else ""

    def remember_dir(self, path: str, key: str = "last_dir") -> None:
        if self.settings is not None and path:
            folder = Path(path) if Path(path).is_dir() else Path(path).parent
            self.settings.setValue(key, str(folder))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self.dialog_dir(),
                                              "ONNX models (*.onnx);;All files (*)")
        if path:
            self.remember_dir(path)
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open bundle folder", self.dialog_dir())
        if path:
            self.remember_dir(str(Path(path).parent))
            self.open_path(path)

    def close_active_model(self) -> None:
        model = self.state.active
        if model is None:
            self.show_message("No model open: nothing to close")
            return
        self.state.close(model)
        self.show_message(f"Closed {model.name}" + (f"; showing {self.state.active.name}" if self.state.active else ""))

    def _on_model_closed(self, model) -> None:
        """Forget what was kept for a closed model: its cells, its path, the watch on its file."""
        self.watcher.removePath(str(model.path))
        self.model_panel.missing.discard(str(model.path))
        self.grid.forget(model)
        self.path_editor.forget(model)

    def dragEnterEvent(self, event) -> None:
        accept_url_drag(event)

    def dropEvent(self, event) -> None:
        paths = dropped_paths(event)
        if paths:
            self.open_paths(paths)

    # ---- recent files, settings ---------------------------------------------------------------------

    def recent(self) -> list[str]:
        if self.settings is None:
            return []
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: str) -> None:
        if self.settings is None:
            return
        items = [p for p in self.recent() if p != path]
        self.settings.setValue("recent", [path] + items[:MAX_RECENT - 1])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = self.recent()
        for p in items:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _c=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(items))

    def _rebuild_models_menu(self) -> None:
        self.models_menu.clear()
        for i, m in enumerate(self.state.models):
            act = self.models_menu.addAction(f"{m.name}  ({m.provider})")
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}") if i < 9 else QKeySequence())
            act.triggered.connect(lambda _c=False, m=m: self.state.set_active(m))

    def _restore(self) -> None:
        if self.settings is None:
            return
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        window_state = self.settings.value("window_state")
        if window_state is not None:
            self.restoreState(window_state)
        try:
            rows = int(self.settings.value("grid_rows", 8))
            cols = int(self.settings.value("grid_cols", 8))
            self.grid.set_size(rows, cols)
            cell = int(self.settings.value("cell_px", 84))
            self.controls.cell.setValue(cell)
            self.canvas.set_cell_px(cell)
        except (TypeError, ValueError):
            pass

    def save_settings(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("grid_rows", self.grid.plain_rows)
        self.settings.setValue("grid_cols", self.grid.cols)
        self.settings.setValue("cell_px", self.canvas.cell_px)
        self.settings.sync()

    def closeEvent(self, event) -> None:
        self.set_walking(False)
        self.save_settings()
        if self._map_view is not None:
            self._map_view.close_view()
        self.controller.close()
        super().closeEvent(event)

    def _add_map_waypoint(self, z) -> None:
        from explorer.core.path_editor import PathError

        try:
            self.path_editor.add_waypoint(z, f"map point {len(self.path_editor.waypoints) + 1}")
        except PathError as exc:
            self.show_message(str(exc))

    def _probe_to_grid(self, z) -> None:
        """"Send to grid" on the map: the latent into the grid, and the grid in front."""
        if self._load_map_latent(z):
            self.views.setCurrentIndex(0)
            self.show_message(f"the map's latent is in cell {self.grid.focus} of the grid")

    def _selection_to_grid(self, z) -> None:
        """"Show in grid" on the map: exactly the selection's latents, and the grid in front."""
        from explorer.qt.map_view import show_in_grid  # loaded with the map, which sends this

        line = show_in_grid(self.grid, z)
        if line:
            self.views.setCurrentIndex(0)
            self.show_message(line)

    def _load_map_latent(self, z) -> bool:
        """A latent picked on the map (GAN sample, probe): into the focused cell, else cell 0. True when loaded."""
        if self.grid.model is None or np.shape(z) != (self.grid.model.latent_dim,):
            return False
        index = self.grid.focus if self.grid.focus is not None else 0
        self.grid.set_latent(index, z)
        self.grid.set_focus(index)
        return True

    # ---- model -> view ----------------------------------------------------------------------------

    def _on_active(self, model) -> None:
        self.set_walking(False)
        self.grid.set_model(model)
        self.stack.setCurrentIndex(0 if model is None else 1)
        if model is None:
            self.provider_label.setText("—")
            self.provider_label.setToolTip("")
            self.decode_label.setText("decode —")
            self.fps_label.setText("— fps")
            self.setWindowTitle("Latent Explorer")
            return
        native = max(model.image_shape[1:])
        cell = max(native, round(self.controls.cell.value() / native) * native)
        self.canvas.set_cell_px(cell)
        self.controls.cell.blockSignals(True)
        self.controls.cell.setValue(cell)
        self.controls.cell.blockSignals(False)
        self.provider_label.setText(f"● {model.provider}")
        from explorer.io.providers import provider_setting_hint

        self.provider_label.setToolTip("\n".join([*model.providers, *model.provider_notes, provider_setting_hint()]).strip())
        self.setWindowTitle(f"{model.name} — Latent Explorer")

    def _on_decoded(self, answer) -> None:
        now = time.perf_counter()
        bad = int((~self.grid.finite).sum())
        if bad:
            self.show_message(f"{bad} of {self.grid.count} samples contain NaN/Inf (marked red); "
                              "the model's output is not finite there")
        if now - self._status_at > 0.1 or not self.walk_timer.isActive():
            self._status_at = now
            self.decode_label.setText(f"decode {self.controller.last_decode_s * 1000:.1f} ms")
            text = self._refresh_fps()
            if self.walk_timer.isActive():
                self.controls.walk.setText(f"■ Stop  {text}")

    def _refresh_fps(self) -> str:
        """The fps readout from the frame clock; "— fps" once no frame came for a while (idle)."""
        fps = self.controller.clock.fps_at()
        text = f"{fps:.0f} fps" if fps >= 1.5 else (f"{fps:.1f} fps" if fps else "— fps")
        if self.fps_label.text() != text:
            self.fps_label.setText(text)
        return text

    def _on_file_changed(self, path: str) -> None:
        if not Path(path).is_file():
            self.model_panel.missing.add(path)
            self.model_panel.refresh()
            self.show_message(f"{Path(path).name} was deleted from disk; the open copy keeps working until you close it")

    def show_message(self, text: str) -> None:
        self.last_message = text
        self.statusBar().showMessage(text, 15000)

    # ---- walk -------------------------------------------------------------------------------------

    def set_walking(self, on: bool) -> None:
        if on and self.grid.model is not None:
            self.walk = LatentWalk(self.grid.latents, seed=self.grid.policy.seed,
                                   temperature=self.grid.policy.temperature)
            self._walk_last = time.perf_counter()
            self._walk_gen = -1
            self.walk_timer.start()
        else:
            self.walk_timer.stop()
            self.walk = None
        if self.controls.walk.isChecked() != bool(self.walk_timer.isActive()):
            self.controls.walk.blockSignals(True)
            self.controls.walk.setChecked(self.walk_timer.isActive())
            self.controls.walk.setText("■ Stop" if self.walk_timer.isActive() else "▶ Walk")
            self.controls.walk.blockSignals(False)

    def _stop_walk_on_layout(self) -> None:
        if self.walk is not None and self.walk.z.shape != self.grid.latents.shape:
            self.set_walking(False)

    def _walk_tick(self) -> None:
        if self.walk is None:
            return
        # Pace by the decoder: step again only once the previous frame was painted.
        if self.grid.dirty.any() and time.perf_counter() - self._walk_last < 0.5:
            return
        now = time.perf_counter()
        z = self.walk.step(min(now - self._walk_last, 0.1))
        self._walk_last = now
        self.grid.set_all_latents(z)
