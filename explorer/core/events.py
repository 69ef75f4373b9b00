"""A minimal synchronous signal for the numeric models (Qt-free, so models never know a view exists)."""

from __future__ import annotations

from typing import Callable


class Signal:
    """Callbacks called in connection order with the emitted arguments."""

    def __init__(self) -> None:
        self._slots: list[Callable] = []

    def connect(self, slot: Callable) -> Callable:
        self._slots.append(slot)
        return slot

    def disconnect(self, slot: Callable | None = None) -> None:
        if slot is None:
            self._slots.clear()
        elif slot in self._slots:
            self._slots.remove(slot)

    def emit(self, *args) -> None:
        for slot in list(self._slots):
            slot(*args)
