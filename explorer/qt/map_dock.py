"""The latent map as a window part: its session section is the map's view and its kept groups A / B.

An adapter over MapView's four session hooks (``view_state()``, ``apply_view_state(dict)``,
``set_groups(dict)``, ``groupsChanged``) until the map's own Qt-free model takes their place.
"""

from __future__ import annotations

from explorer.qt.docks import DockPart


class MapDock(DockPart):
    """Section ``map``: ``view`` {projection, dims, range} and ``groups`` {name: [point indices]}."""

    def __init__(self, map_view) -> None:
        super().__init__("map", "Latent map", map_view)
        self.groups: dict[str, list[int]] = {}  # the kept groups as the map last announced them
        map_view.groupsChanged.connect(self._on_groups)

    def _on_groups(self, groups: dict) -> None:
        self.groups = {str(k): [int(i) for i in v] for k, v in groups.items()}

    def save_state(self) -> dict:
        state = {"view": self.widget.view_state()}
        if self.groups:
            state["groups"] = dict(self.groups)
        return state

    def restore_state(self, state: dict) -> list[str]:
        notes = []
        groups = state.get("groups")
        if groups:
            try:
                groups = {str(k): [int(i) for i in v] for k, v in dict(groups).items()}
            except (TypeError, ValueError) as exc:
                notes.append(f"map groups not restored ({exc})")
            else:
                self.groups = groups  # kept even while the map has no points yet (it applies them when they come)
                self.widget.set_groups(groups)
        if state.get("view"):
            try:
                self.widget.apply_view_state(dict(state["view"]))
            except (TypeError, ValueError, KeyError) as exc:
                notes.append(f"map view not restored ({type(exc).__name__}: {exc})")
        return notes
