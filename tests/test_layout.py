"""Layout on a laptop (1366x768) and a desktop (1920x1080) screen, as a first-run user sees it.

Each screen size is its own child process (tests/layout_probe.py): Qt's offscreen platform takes the
screen's size from a config file when the application starts. The bundled models open in a first-run
window (empty settings, empty home), then the window is maximised; the assertions are on widget
geometry: the grid shows all 8 columns at the default cell size without scrolling sideways, the map
plot is the widest thing in its tab and wider than any dock beside it, and the first window fits the
screen. A dock appearing under the grid (the path) leaves the cells under the cursor where they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from screen_probe import run_screen_probe

PROBE = Path(__file__).with_name("layout_probe.py")


def _probe(tmp_path: Path, width: int, height: int) -> dict:
    return run_screen_probe(tmp_path, width, height, PROBE)


def _check_grid(m: dict) -> None:
    g = m["grid"]
    assert (g["rows"], g["cols"], g["cell_px"]) == (8, 8, 84)  # the default grid at the default cell size
    assert g["hscroll_max"] == 0, f"the grid scrolls sideways: {g}"
    assert g["canvas"]["w"] <= g["viewport"]["w"] and 0 < g["last_column_right"] < g["viewport"]["w"], g


def _check_map(m: dict) -> None:
    mp = m["map"]
    plot = mp["plot"]["w"]
    assert plot > mp["panel"]["w"], f"the map's side panel is wider than its plot: {mp}"
    for key, dock in mp["docks"].items():
        assert plot > dock["w"], f"the {key} dock is wider than the map plot: {mp}"
    assert plot >= 0.5 * mp["tab"]["w"], mp


def _check_fits(m: dict) -> None:
    x, y, w, h = m["frame"]
    sx, sy, sw, sh = m["screen"]
    assert sx <= x and sy <= y and x + w <= sx + sw and y + h <= sy + sh, f"the window leaves the screen: {m}"


@pytest.mark.parametrize("width,height", [(1366, 768), (1920, 1080)])
def test_first_window_and_maximised_window_give_the_grid_and_the_map_the_room(tmp_path, width, height):
    got = _probe(tmp_path, width, height)
    for which in ("first", "maximised"):
        m = got[which]
        _check_fits(m)
        _check_grid(m)
        _check_map(m)
    first = got["first"]["frame"]
    assert first[2] >= 0.85 * width and first[3] >= 0.85 * height  # the first window uses the screen it opens on


def test_the_path_dock_appearing_leaves_the_cells_under_the_cursor(window, qtbot):
    """Right-click a cell → "Use as path endpoint": the path dock appears under the grid; the cell under
    the pointer is still the one it was, where it was."""
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    assert window.path_dock.isHidden()
    cell = 27
    centre = window.canvas.cell_rect(cell).center()
    QTest.mouseMove(window.canvas, centre)
    pointer = window.canvas.mapToGlobal(centre)
    before = window.canvas.mapToGlobal(window.canvas.cell_rect(cell).topLeft())
    menu = window.cell_menu(cell)
    action = next(a for a in menu.actions() if a.text() == "Use as path endpoint")
    action.trigger()
    menu.deleteLater()
    qtbot.waitUntil(lambda: window.path_dock.isVisible(), timeout=5000)
    for _ in range(5):
        qtbot.wait(10)
    after = window.canvas.mapToGlobal(window.canvas.cell_rect(cell).topLeft())
    assert window.canvas.cell_at(window.canvas.mapFromGlobal(pointer)) == cell
    assert after.y() == before.y(), f"the grid moved {after.y() - before.y()} px up or down"
    assert abs(after.x() - before.x()) <= window.scroll.verticalScrollBar().sizeHint().width()
    assert np.array_equal(window.grid.latents[cell], window.state.path_endpoints[-1].z)
