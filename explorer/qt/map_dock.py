"""The latent map as a window part: its session section is the map model's view and kept groups A / B.

Saved and restored from :class:`explorer.core.map_model.MapModel`, never from the widgets; groups
restored before the map has points wait in the model until the points come.
"""

from __future__ import annotations

from explorer.qt.docks import DockPart


class MapDock(DockPart):
    """Section ``map``: ``view`` {projection, dims, range} and ``groups`` {name: [point indices]}."""

    def __init__(self, map_view) -> None:
        super().__init__("map", "Latent map", map_view, model=map_view.map_model)

    def save_state(self) -> dict:
        state = {"view": self.model.view_state()}
        groups = self.model.groups_json()
        if groups:
            state["groups"] = groups
        return state

    def restore_state(self, state: dict) -> list[str]:
        notes = []
        if state.get("groups"):
            try:
                self.model.set_groups(state["groups"])
            except (TypeError, ValueError) as exc:
                notes.append(f"map groups not restored ({exc})")
        if state.get("view"):
            try:
                self.model.apply_view_state(dict(state["view"]))
            except (TypeError, ValueError, KeyError) as exc:
                notes.append(f"map view not restored ({type(exc).__name__}: {exc})")
        return notes
