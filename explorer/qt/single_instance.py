"""One running app per user: a second launch hands its model paths to the first and exits.

Double-clicking an ``.onnx`` file while the app runs opens it in the running window
(QLocalServer/QLocalSocket). The message is one line of JSON: ``{"paths": [absolute paths]}``;
an empty list (the app icon clicked again) just raises the window. Set
``LATENT_EXPLORER_NEW_INSTANCE=1`` to always start a separate app.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

ENV_NEW_INSTANCE = "LATENT_EXPLORER_NEW_INSTANCE"
TIMEOUT_MS = 1000


def server_name() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return f"latent-explorer-{''.join(c for c in user if c.isalnum()) or 'user'}"


def forward_to_running(paths, name: str | None = None) -> bool:
    """Send ``paths`` to a running app; True when one took them (then this process should exit)."""
    if os.environ.get(ENV_NEW_INSTANCE):
        return False
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(TIMEOUT_MS):
        return False
    absolute = [str(Path(p).expanduser().resolve()) for p in paths]
    socket.write((json.dumps({"paths": absolute}) + "\n").encode())
    ok = socket.waitForBytesWritten(TIMEOUT_MS)
    # Wait for the running app to answer "ok", so the message is never lost to an early exit.
    ok = ok and socket.waitForReadyRead(TIMEOUT_MS) and bytes(socket.readAll()).startswith(b"ok")
    socket.disconnectFromServer()
    return bool(ok)


def _someone_listens(name: str) -> bool:
    socket = QLocalSocket()
    socket.connectToServer(name)
    alive = socket.waitForConnected(TIMEOUT_MS)
    socket.abort()
    return alive


class InstanceServer(QObject):
    """Listens for later launches; ``received`` carries their paths (list of str, maybe empty)."""

    received = Signal(list)

    def __init__(self, parent=None, name: str | None = None):
        super().__init__(parent)
        self.name = name or server_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._on_connection)
        self._buffers: dict[int, bytes] = {}

    def listen(self) -> bool:
        """Start listening; a socket file left by a crashed app is removed first.

        False when another app answers on the name (a separate app, ``LATENT_EXPLORER_NEW_INSTANCE=1``):
        its socket is left alone, so later launches still reach it.
        """
        # Asked first: with UserAccessOption Qt binds elsewhere and renames over the name, which
        # would silently take a running app's socket.
        if _someone_listens(self.name):
            return False
        QLocalServer.removeServer(self.name)  # a crashed app's socket file: nobody answers on it
        return self.server.listen(self.name)

    def close(self) -> None:
        self.server.close()

    def _on_connection(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._on_ready(s))
            socket.disconnected.connect(socket.deleteLater)

    def _on_ready(self, socket) -> None:
        key = id(socket)
        data = self._buffers.get(key, b"") + bytes(socket.readAll())
        if not data.endswith(b"\n"):
            self._buffers[key] = data
            return
        self._buffers.pop(key, None)
        try:
            paths = [str(p) for p in json.loads(data.decode()).get("paths", [])]
        except (ValueError, AttributeError):
            socket.write(b"error\n")
            return
        socket.write(b"ok\n")
        socket.flush()
        self.received.emit(paths)


class FileOpenEvents(QObject):
    """macOS: Finder sends double-clicked files as QFileOpenEvent to the application, not as argv."""

    received = Signal(list)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.FileOpen and event.file():
            self.received.emit([event.file()])
            return True
        return False
