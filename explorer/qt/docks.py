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
    it (it was never looked at, so a restore leaves it at what it shows when built); a session that
    has a section for it builds it, so that what cannot be restored is said at once, as for any part.
    """

    def __init__(self, key: str, title: str, build: Callable[[], DockPart], placeholder: QWidget) -> None:
        self.key = key
        self.title = title
        self.dock = None  # lazily built parts live in the central tabs, not in docks
        self.placeholder = placeholder
        self._build = build
        self._part: DockPart | None = None

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

    def save_state(self) -> dict:
        return self._part.save_state() if self._part is not None else {}

    def restore_state(self, state: dict) -> list[str]:
        return self.part.restore_state(state) if state else []


def install(window, part: DockPart, area=None) -> DockPart:
    """Add ``part`` to ``window.docks``; with a dock ``area``, in a movable dock named ``<key>Dock``
    (the name keys the saved window layout) that the View menu toggles."""
    if part.key in window.docks:
        raise ValueError(f"the window already has a part named {part.key!r}")
    if area is not None:
        part.dock = window.add_dock(part.title, f"{part.key}Dock", part.widget, area)
    window.docks[part.key] = part
    return part
