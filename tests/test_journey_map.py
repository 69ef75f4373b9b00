"""A researcher's journey on the latent map, through Qt's own event path: launch the window, open the map
tab, click a drawn point at its pixel, see its image and nearest images, send it to the grid; draw a box,
"Show in grid". Every step is a real click or a menu action, never a handler called directly."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _action(menu, text: str):
    return next(a for a in menu.actions() if a.text().replace("&", "") == text)


def _pixel(view, x: float, y: float) -> QPoint:
    """Where the map position (x, y) is drawn, in the plot's viewport pixels."""
    p = view.plot.mapFromScene(view.vb.mapViewToScene(QPointF(x, y)))
    return QPoint(int(round(p.x())), int(round(p.y())))


def _open_map_of_the_vae(window, qtbot):
    vae = next(i for i, m in enumerate(window.state.models) if m.card is not None and m.card.family == "vae")
    window.models_menu.actions()[vae].trigger()  # Models → the VAE
    _action(window.view_menu, "Latent Map").trigger()  # View → Latent Map
    view = window.map_view
    assert window.views.currentWidget() is view
    qtbot.waitUntil(lambda: bool(view.layers) and view.model is window.state.active, timeout=10000)
    qtbot.waitExposed(view)
    last = None
    for _ in range(50):  # the layout settles (the tab was just shown): wait for the view range to stop moving
        qtbot.wait(30)
        now = (view.vb.viewRange(), view.plot.viewport().size().toTuple())
        if now == last:
            break
        last = now
    return view


def test_click_a_point_see_it_and_its_neighbours_then_send_it_to_the_grid(window, qtbot):
    from explorer.qt.app import wait_for_grid

    view = _open_map_of_the_vae(window, qtbot)
    model = window.state.active
    layer = view.canvas.primary()
    i = int(np.argmin(np.hypot(*(layer.xy - np.median(layer.xy, axis=0)).T)))  # a point inside the cloud
    at = _pixel(view, *map(float, layer.xy[i]))
    assert view.plot.viewport().rect().contains(at)
    QTest.mouseMove(view.plot.viewport(), at)
    QTest.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    panel = view.panel
    qtbot.waitUntil(lambda: panel.preview.image is not None and panel.nearest_panes[0].image is not None,
                    timeout=5000)
    z = view.map_model.decodes.probe_z
    assert z is not None and z.shape == (model.latent_dim,)
    np.testing.assert_array_equal(panel.preview.image, model.decode(z[None]).pixels[0])  # the clicked position
    x, y = view.map_model.decodes.probe_pos
    assert np.hypot(x - layer.xy[i, 0], y - layer.xy[i, 1]) < 0.02 * np.ptp(layer.xy[:, 0])
    assert all(p.image is not None for p in panel.nearest_panes) and "Nearest" in panel.nearest_title.text()
    assert panel.to_grid_button.isEnabled()

    QTest.mouseClick(panel.to_grid_button, Qt.MouseButton.LeftButton)
    assert window.views.currentIndex() == 0, "Send to grid left the map in front"
    assert window.stack.currentWidget() is window.scroll and window.scroll.isVisible()
    cell = window.grid.focus
    assert cell is not None
    np.testing.assert_array_equal(window.grid.latents[cell], z)
    assert wait_for_grid(window)
    np.testing.assert_array_equal(window.grid.pixels[cell], model.decode(z[None]).pixels[0])
    assert f"cell {cell}" in window.last_message


def test_box_select_then_show_in_grid_shows_what_it_says(window, qtbot):
    from explorer.qt.app import wait_for_grid

    view = _open_map_of_the_vae(window, qtbot)
    window.grid.set_size(4, 6)  # a grid of another size than the selection
    QTest.mouseClick(view.tool_buttons["rect"], Qt.MouseButton.LeftButton)
    assert view.canvas.tool == "rect"
    vp = view.plot.viewport()
    layer = view.canvas.primary()
    lo, hi = np.percentile(layer.xy, 5, axis=0), np.percentile(layer.xy, 95, axis=0)
    a, b = _pixel(view, float(lo[0]), float(hi[1])), _pixel(view, float(hi[0]), float(lo[1]))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, 9):
        QTest.mouseMove(vp, a + (b - a) * (k / 8))
        qtbot.wait(5)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    selected = view.map_model.selection
    assert 3 <= len(selected) <= 64 and view.panel.selection_to_grid.isEnabled()
    want = view.map_model.selection_latents()
    QTest.mouseClick(view.panel.selection_to_grid, Qt.MouseButton.LeftButton)
    assert window.views.currentIndex() == 0, "Show in grid left the map in front"
    k = len(want)
    assert window.grid.count >= k and window.grid.count - k < window.grid.cols  # room for exactly the selection
    np.testing.assert_array_equal(window.grid.latents[:k], want)
    assert f"{k} selected latents in the grid ({window.grid.rows} × {window.grid.cols})" in window.last_message
    assert wait_for_grid(window)


def test_grid_shape_for_a_selection():
    from explorer.qt.map_view import grid_shape_for

    assert grid_shape_for(64) == (8, 8) and grid_shape_for(24) == (4, 6) and grid_shape_for(7) == (1, 7)
    assert grid_shape_for(1) == (1, 1) and grid_shape_for(13) == (2, 7)
    for k in range(1, 65):
        r, c = grid_shape_for(k)
        assert r * c >= k and r * c - k < c and max(r, c) <= 8
