"""The latent map's smaller defects from issue 13, each driven through Qt's event path: a box outline after
a projection change, hidden classes in a selection, the projection choice of the last model, the sweep's
tiles over the points, long builds without a time estimate or a word about the cache, cut-off labels."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from explorer.io.runtime import open_model


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def view(qtbot, vae_bundle):
    from explorer.qt.qapp import ensure_app
    from explorer.qt.map_view import MapView

    ensure_app()
    v = MapView(open_model(vae_bundle), interactive=False)
    v.resize(1200, 800)
    v.show()
    qtbot.waitExposed(v)
    qtbot.wait(30)
    yield v
    v.close()
    v.deleteLater()


def _pixel(view, x: float, y: float) -> QPoint:
    p = view.plot.mapFromScene(view.vb.mapViewToScene(QPointF(x, y)))
    return QPoint(int(round(p.x())), int(round(p.y())))


def _drag_box_around_everything(view, qtbot) -> None:
    """A box drag over the whole visible plot (the points a few outliers aside)."""
    QTest.mouseClick(view.tool_buttons["rect"], Qt.MouseButton.LeftButton)
    vp = view.plot.viewport()
    (x0, x1), (y0, y1) = view.vb.viewRange()
    a = _pixel(view, x0 + 0.01 * (x1 - x0), y1 - 0.01 * (y1 - y0))
    b = _pixel(view, x1 - 0.01 * (x1 - x0), y0 + 0.01 * (y1 - y0))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, 7):
        QTest.mouseMove(vp, a + (b - a) * (k / 6))
        qtbot.wait(5)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def _choose(combo, key) -> None:
    """Pick an item of a closed combo box with the arrow keys, as a keyboard user does."""
    combo.setFocus()
    target = combo.findData(key)
    assert target >= 0
    step = Qt.Key.Key_Down if target > combo.currentIndex() else Qt.Key.Key_Up
    while combo.currentIndex() != target:
        QTest.keyClick(combo, step)


def test_a_projection_change_drops_the_box_outline_and_rings_the_points_where_they_are(view, qtbot):
    _drag_box_around_everything(view, qtbot)
    selected = view.map_model.selection.copy()
    assert len(selected) >= 30 and view.canvas.rect_item.isVisible()
    _choose(view.proj_combo, "dims")
    assert view.map_model.drawn_key == "dims"
    assert not view.canvas.rect_item.isVisible() and not view.canvas.lasso_item.isVisible()
    rings = view.canvas.selection_item.data
    assert np.array_equal(view.map_model.selection, selected) and len(rings) == len(selected)
    np.testing.assert_allclose(np.c_[rings["x"], rings["y"]], view.canvas.primary().xy[view.map_model.selection])


def test_hiding_a_class_takes_its_points_out_of_the_selection(view, qtbot):
    _drag_box_around_everything(view, qtbot)
    before = view.map_model.selection.copy()
    labels = view.points.labels
    box = view.panel.legend_boxes[0]
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert not box.isChecked() and 0 in view.map_model.hidden_classes
    sel = view.map_model.selection
    assert (labels[before] == 0).any() and np.array_equal(sel, before[labels[before] != 0])
    assert view.panel.selection_caption.text().startswith(f"{len(sel):,} points selected")
    assert "a" not in {name for name, _, _ in view.panel.class_mix.rows}
    assert sum(r[1] for r in view.panel.class_mix.rows) == len(sel)


def test_the_projection_choice_and_its_job_stay_with_their_model(window, qtbot, monkeypatch):
    from explorer.core import umap_worker
    from explorer.core.atlas_data import Cancelled

    calls, started = [], threading.Event()

    def slow_umap(data, progress=None, cancelled=lambda: False, **kw):
        calls.append(len(data))
        started.set()
        while not cancelled():
            threading.Event().wait(0.01)
        raise Cancelled()

    monkeypatch.setattr(umap_worker, "compute_umap", slow_umap)
    models = window.state.models
    vae = next(i for i, m in enumerate(models) if m.card.family == "vae")
    gan = 1 - vae
    window.models_menu.actions()[vae].trigger()
    window.views.setCurrentWidget(window.map_view)
    view = window.map_view
    qtbot.waitUntil(lambda: bool(view.layers), timeout=5000)
    _choose(view.proj_combo, "umap")
    assert started.wait(5) and view.progress_row.isVisible()
    window.models_menu.actions()[gan].trigger()  # another model while UMAP runs
    assert view.model is models[gan]
    assert view.proj_combo.currentData() != "umap", "the last model's projection is still offered as chosen"
    assert "umap" not in view.map_model.jobs.running and not view.progress_row.isVisible()
    assert view.map_model.jobs.wait(5)
    window.models_menu.actions()[vae].trigger()
    qtbot.waitUntil(lambda: bool(view.layers), timeout=5000)
    assert view.map_model.drawn_key == "pca" and view.proj_combo.currentData() == "pca"
    assert calls == [50] and "umap" not in view.map_model.jobs.running  # no second UMAP started


def test_the_sweep_tiles_do_not_cover_the_points_or_the_star(qtbot, vae_bundle, tmp_path):
    from PIL import Image

    from explorer.qt.map_canvas import class_color
    from test_map_data import shown_map_view

    view = shown_map_view(qtbot, vae_bundle)
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / "bright.png")
    assert view.probe_file(str(tmp_path / "bright.png")) is not None
    QTest.mouseClick(view.sweep_button, Qt.MouseButton.LeftButton)
    assert view.map_model.sweep_on
    qtbot.waitUntil(lambda: view.canvas.sweep_item.image is not None and view.canvas.sweep_item.isVisible(),
                    timeout=5000)
    qtbot.wait(50)
    shot = view.plot.grab().toImage()
    ratio = shot.width() / view.plot.width()
    star = _pixel(view, *view.map_model.images_in.marker_xy())
    assert shot.pixelColor(int(star.x() * ratio), int(star.y() * ratio)).name() == "#ff3d7f"
    layer = view.canvas.primary()
    coloured = 0
    for i in range(len(layer.xy)):
        p = _pixel(view, *map(float, layer.xy[i]))
        if not view.plot.viewport().rect().contains(p) or np.hypot(p.x() - star.x(), p.y() - star.y()) < 20:
            continue
        c = shot.pixelColor(int(p.x() * ratio), int(p.y() * ratio))
        coloured += max(c.red(), c.green(), c.blue()) - min(c.red(), c.green(), c.blue()) > 25  # the mosaic is gray
    assert coloured >= 0.8 * len(layer.xy), f"only {coloured} of {len(layer.xy)} points show over the sweep"
    assert class_color(0) != "#ff3d7f"


def test_a_long_build_says_how_long_and_that_it_is_cached(view, qtbot, monkeypatch):
    from explorer.core import umap_worker
    from explorer.core.projection import UMAPMap

    release = threading.Event()

    def slow_umap(data, progress=None, cancelled=lambda: False, **kw):
        threading.Event().wait(1.2)
        progress(0.4, "UMAP layout: 40 % of epochs")
        release.wait(5)
        return UMAPMap(source=data, embedding=(data[:, :2] * 3).astype(np.float32))

    monkeypatch.setattr(umap_worker, "compute_umap", slow_umap)
    _choose(view.proj_combo, "umap")
    first = view.progress_label.text()
    assert "UMAP of 50 points: starting" in first and "about" in first and "cached" in first, first
    qtbot.waitUntil(lambda: "40 %" in view.progress_label.text(), timeout=5000)
    text = view.progress_label.text()
    assert "left" in text and "about" in text and "cached" in text, text
    release.set()
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=5000)
    assert view.map_model.drawn_key == "umap"


def test_the_data_and_projection_controls_show_every_label_whole(view):
    from PySide6.QtWidgets import QStyle, QStyleOptionComboBox

    for combo in (view.source_combo, view.proj_combo):
        for i in range(combo.count()):
            combo.setCurrentIndex(i)
            opt = QStyleOptionComboBox()
            combo.initStyleOption(opt)
            field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                                 QStyle.SubControl.SC_ComboBoxEditField, combo)
            text = combo.itemText(i)
            assert combo.fontMetrics().horizontalAdvance(text) <= field.width(), f"{text!r} is cut off"
