"""Sessions in the app: File → Save Session… / Open Session…, and the last session kept on close.

The last session lives in the config folder (explorer.core.session.config_dir), created on the first
close of a new account. When it cannot be written the user is told before the window closes (a
dialog: save it elsewhere, close without it, or stay), because the next start could not read a note
left in a folder that cannot be written either.

The numeric side is explorer/core/session.py; this module hands it the window's models: the app
state, the grid and every part in ``window.docks`` (explorer/qt/docks.py), each of which saves and
restores its own section. A model that moved is asked for with a file dialog, never a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox

from explorer.io.exports import ExportError
from explorer.core.session import (LAST_SESSION_FILE, ModelRef, Session, SessionError, capture, last_session_path,
                                   load_session, restore, save_last_session, save_session)

SESSION_FILTER = "Latent Explorer sessions (*.json)"


def last_session_file() -> Path:
    """Next to an isolated settings file (tests, screenshots) or in the user's config folder."""
    from explorer.qt.qapp import ENV_SETTINGS

    iso = os.environ.get(ENV_SETTINGS)
    return Path(iso).expanduser().parent / LAST_SESSION_FILE if iso else last_session_path()


def window_session(window) -> Session:
    """Everything the window holds, as a Session: the models, the grid, each part's section, the cell size."""
    return capture(window.state, window.grid, parts=window.docks, view={"cell_px": window.canvas.cell_px})


def apply_session(window, session: Session) -> str:
    """Restore into the window; returns the status line (missing models and parts not restored named, nothing fatal)."""

    def locate(ref: ModelRef) -> str | None:
        if not window.interactive:
            return None
        answer = QMessageBox.question(
            window, "Model not found",
            f"The session used “{ref.name or Path(ref.path).name}” from\n{ref.path}\nwhich is no longer there. "
            "Locate it?")
        if answer != QMessageBox.StandardButton.Yes:
            return None
        path, _ = QFileDialog.getOpenFileName(window, f"Locate {ref.name}", str(Path(ref.path).parent),
                                              "ONNX models (*.onnx)")
        return path or None

    report = restore(session, window.state, window.grid, parts=window.docks, locate=locate)
    try:
        if session.view.get("cell_px"):
            window.controls.cell.setValue(int(session.view["cell_px"]))
    except (TypeError, ValueError):
        pass
    return report.summary()


class _CloseWatcher(QObject):
    """Keeps the last session when an interactive window closes; a failure is said before it closes."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window and event.type() == QEvent.Type.Close and self.window.interactive:
            if not self.keep_last_session():
                event.ignore()  # the user chose to stay: the window and everything in it remain
                return True
        return False

    def keep_last_session(self) -> bool:
        """Save the last session; True when the window may close (saved, or the user said so)."""
        try:
            save_last_session(window_session(self.window), last_session_file())
            return True
        except (ExportError, OSError) as exc:
            return ask_close_without_session(self.window, str(exc))


def ask_close_without_session(window, reason: str) -> bool:
    """The last session could not be kept: save it elsewhere, close without it, or stay. True = close."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Session not kept", "", parent=window)
    box.setObjectName("sessionNotKept")
    box.setText("Latent Explorer could not keep this session for next time, so it would not reopen.")
    box.setInformativeText(f"{reason}\n\nSave the session somewhere else, or close without it?")
    save_as = box.addButton("Save Session As…", QMessageBox.ButtonRole.AcceptRole)
    close = box.addButton("Close Without It", QMessageBox.ButtonRole.DestructiveRole)
    stay = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(save_as)
    box.setEscapeButton(stay)
    box.exec()
    clicked = box.clickedButton()
    box.deleteLater()
    if clicked is close:
        return True
    if clicked is save_as:
        path, _ = QFileDialog.getSaveFileName(window, "Save session", str(Path.home() / "session.json"),
                                              SESSION_FILTER)
        return bool(path) and save_session_to(window, path)
    return False


def install_session_actions(window) -> None:
    """File → Save Session… / Open Session…; the last session is saved when the window closes."""
    save = QAction("Save &Session…", window)
    save.triggered.connect(lambda: save_session_dialog(window))
    load = QAction("Open S&ession…", window)
    load.triggered.connect(lambda: open_session_dialog(window))
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "File":
            menu = action.menu()
            first = menu.actions()[3] if len(menu.actions()) > 3 else None
            menu.insertAction(first, load)
            menu.insertAction(first, save)
            break
    latents = QAction("Export Grid &Latents…", window)
    latents.triggered.connect(lambda: export_grid_latents_dialog(window))
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "File":
            menu = action.menu()
            save_grid = window.save_action
            idx = menu.actions().index(save_grid) + 1 if save_grid in menu.actions() else len(menu.actions())
            menu.insertAction(menu.actions()[idx] if idx < len(menu.actions()) else None, latents)
            break
    window.save_session_action, window.open_session_action = save, load
    window._session_close_watcher = _CloseWatcher(window)
    window.installEventFilter(window._session_close_watcher)


def save_session_dialog(window) -> None:
    if not window.interactive:
        return
    path, _ = QFileDialog.getSaveFileName(window, "Save session", "session.json", SESSION_FILTER)
    if path:
        save_session_to(window, path)


def save_session_to(window, path: str) -> bool:
    session = window_session(window)
    try:
        save_session(session, path)
    except ExportError as exc:
        window.show_message(str(exc))
        return False
    window.show_message(f"Saved session {Path(path).name}" + "".join(f"; {note}" for note in session.notes))
    return True


def open_session_dialog(window) -> None:
    if not window.interactive:
        return
    path, _ = QFileDialog.getOpenFileName(window, "Open session", "", SESSION_FILTER)
    if path:
        open_session_from(window, path)


def open_session_from(window, path: str) -> bool:
    try:
        session = load_session(path)
    except SessionError as exc:
        window.show_message(str(exc))
        return False
    window.show_message(f"Session {Path(path).name}: {apply_session(window, session)}")
    return True


def reopen_last_session(window) -> bool:
    """At start with no models named: reopen the last session when there is one that opens a model."""
    file = last_session_file()
    if not file.is_file():
        return False
    try:
        session = load_session(file)
    except SessionError as exc:
        window.show_message(f"last session not reopened: {exc}")
        return False
    if not session.models:
        return False
    summary = apply_session(window, session)
    window.show_message(f"Reopened the last session: {summary}")
    return bool(window.state.models)


def export_grid_latents(window, path: str) -> bool:
    """The grid's latents [rows*cols, D] as .npy or JSON (kind from the suffix)."""
    from explorer.io import exports

    if window.grid.model is None:
        window.show_message("No model open: no latents to export")
        return False
    z = window.grid.latents
    try:
        if exports.export_kind(path) == "npy":
            exports.write_npy(z, path)
        else:
            exports.write_json(exports.latents_json(z, model=window.grid.model.name, rows=window.grid.rows,
                                                    cols=window.grid.cols), path)
    except ExportError as exc:
        window.show_message(str(exc))
        return False
    window.show_message(f"Saved {len(z)} latents to {Path(path).name}")
    return True


def export_grid_latents_dialog(window) -> None:
    if not window.interactive or window.grid.model is None:
        return
    path, _ = QFileDialog.getSaveFileName(window, "Export grid latents", f"{window.grid.model.name}-latents.npy",
                                          "NumPy array (*.npy);;JSON (*.json)")
    if path:
        if Path(path).suffix.lower() not in (".npy", ".json"):
            path += ".npy"
        export_grid_latents(window, path)
