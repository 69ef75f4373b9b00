"""Parts of the main window: a widget with a name, and the Qt-free model a session keeps for it.

A :class:`DockPart` is what sessions and the tour know about a part of the window, instead of
attribute names on the window:

- ``key``: its section in the session file ("path", "directions", "map") and its name for the tour;
- ``title``: what the dock's title bar and the View menu say;
- ``widget``: the view; ``dock``: the QDockWidget around it once installed (None for a part that
  lives elsewhere, like the latent map in the central tabs);
- ``save_state() -> dict`` and ``restore_state(dict) -> list[str]``: the session's section, read from
  and written to the model behind the part (explorer.core.session.SessionPart), never the widgets.

:func:`install` is the one way to put a part on the main window: it lands in ``window.docks`` and,
when given an area, in a dock listed in the View menu.

A :class:`LazyPart` is built the first time it is needed (shown, or its widget or session state asked
for), so that the first screen costs only what it shows: until then a placeholder stands where it will be.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QDockWidget, QWidget


class DockPart:
    """A part of the window; its session state is ``model``'s (a SessionPart), or nothing without one."""

    def __init__(self, key: str, title: str, widget: QWidget, model=None) -> None:
        self.key = key
        self.title = title
        self.widget = widget
        self.model = model  # PathEditor, DirectionList, ...: what sessions save (None: nothing to keep)
        self.dock: QDockWidget | None = None

    @property
    def frame(self) -> QWidget:
        """What shows the part on screen: its dock, else the widget itself (the tour points at it)."""
        return self.dock if self.dock is not None else self.widget

    @property
    def landmark(self) -> QWidget:
        """What the tour may point at now, without building anything (see LazyPart)."""
        return self.frame

    def save_state(self) -> dict:
        return {} if self.model is None else self.model.save_state()

    def restore_state(self, state: dict) -> list[str]:
        return [] if self.model is None else self.model.restore_state(state)


class LazyPart(DockPart):
    """A part that ``build() -> DockPart`` makes the first time it is needed; ``placeholder`` stands in
    the window where it will be until then (the caller swaps them when building).

    ``widget``, ``model`` and ``frame`` build it. A session saved before it was built keeps nothing for
    it (it was never looked at, so a restore leaves it at what it shows when built). A session that
    has a section for it does not build it either (a start with the last session stays as quick as
    a first start): the section waits and is restored when the part is built (first shown or asked
    for), and a session saved meanwhile writes it back unchanged. What cannot be restored then goes
    to ``on_restore_errors(lines)`` (the window's status line).
    """

    def __init__(self, key: str, title: str, build: Callable[[], DockPart], placeholder: QWidget) -> None:
        self.key = key
        self.title = title
        self.dock = None  # lazily built parts live in the central tabs, not in docks
        self.placeholder = placeholder
        self._build = build
        self._part: DockPart | None = None
        self._pending: dict | None = None  # a session's section, restored when built
        self.on_restore_errors: Callable[[list[str]], None] | None = None

    @property
    def built(self) -> bool:
        return self._part is not None

    @property
    def part(self) -> DockPart:
        if self._part is None:
            part = self._build()
            if part.key != self.key:
                raise ValueError(f"the part built for {self.key!r} is named {part.key!r}")
            self._part = part
            pending, self._pending = self._pending, None
            if pending:
                try:
                    errors = part.restore_state(pending)
                except Exception as exc:  # as for a session restore: the part stays, the reason is said
                    errors = [f"{self.key} not restored ({type(exc).__name__}: {exc})"]
                if errors and self.on_restore_errors is not None:
                    self.on_restore_errors(errors)
        return self._part

    @property
    def widget(self) -> QWidget:
        return self.part.widget

    @property
    def model(self):
        return self.part.model

    @property
    def frame(self) -> QWidget:
        return self.part.frame

    @property
    def landmark(self) -> QWidget:
        return self._part.frame if self._part is not None else self.placeholder

    def drop_pending(self) -> None:
        """Forget a section waiting to be restored (what it restores no longer applies)."""
        self._pending = None

    def save_state(self) -> dict:
        if self._part is not None:
            return self._part.save_state()
        return dict(self._pending) if self._pending else {}

    def restore_state(self, state: dict) -> list[str]:
        if self._part is not None:
            return self._part.restore_state(state) if state else []
        self._pending = dict(state) if state else None  # restored when built (see the class)
        return []


def install(window, part: DockPart, area=None) -> DockPart:
    """Add ``part`` to ``window.docks``; with a dock ``area``, in a movable dock named ``<key>Dock``
    (the name keys the saved window layout) that the View menu toggles."""
    if part.key in window.docks:
        raise ValueError(f"the window already has a part named {part.key!r}")
    if area is not None:
        part.dock = window.add_dock(part.title, f"{part.key}Dock", part.widget, area)
    window.docks[part.key] = part
    return part
