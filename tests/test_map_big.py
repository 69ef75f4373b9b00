"""Big maps through the event path: the density image zoomed out, the real points zoomed in (wheel
events at a drawn pixel), hover and lasso on both sides of the switch, hidden classes, and --points
(a folder encoded, gan:N generated and decoded on hover, the command line)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from explorer.core import atlas_data as A
from explorer.core.map_density import POINT_LIMIT
from explorer.core.projection import points_in_polygon
from explorer.io import contract
from explorer.io.runtime import open_model
from explorer.qt.map_canvas import BG, class_color
from test_map_data import _two_class_world, shown_map_view, wait_map_drawn, write_images

N = 50_000  # more than POINT_LIMIT: drawn as a density image zoomed out


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _big_points(n=N, dim=6, seed=0) -> A.MapPoints:
    """Five well separated clusters (on a ring in dims 0 and 1; PCA finds that plane)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    angle = labels * 2 * np.pi / 5
    v = rng.standard_normal((n, dim)).astype(np.float32) * 0.05
    v[:, 0] += 8 * np.cos(angle) + rng.standard_normal(n) * 0.7
    v[:, 1] += 8 * np.sin(angle) + rng.standard_normal(n) * 0.7
    return A.MapPoints(v, labels, contract.FASHION_MNIST_CLASSES, source="big test set", kind="atlas")


@pytest.fixture
def big_view(qtbot, vae_bundle):
    view = shown_map_view(qtbot, vae_bundle)
    view.map_model.set_points(_big_points())
    wait_map_drawn(qtbot, view)
    qtbot.wait(20)
    yield view
    view.close()
    view.deleteLater()


def _pixel(view, x: float, y: float) -> QPoint:
    p = view.plot.mapFromScene(view.vb.mapViewToScene(QPointF(float(x), float(y))))
    return QPoint(int(round(p.x())), int(round(p.y())))


def _at(view, pixel: QPoint) -> tuple[float, float]:
    p = view.vb.mapSceneToView(view.plot.mapToScene(pixel))
    return p.x(), p.y()


def _wheel(view, pixel: QPoint, notches: int) -> None:
    vp = view.plot.viewport()
    ev = QWheelEvent(QPointF(pixel), QPointF(vp.mapToGlobal(pixel)), QPoint(0, 0), QPoint(0, 120 * notches),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)


def _painted(view, pixel: QPoint) -> QColor:
    return view.plot.viewport().grab().toImage().pixelColor(pixel)


def _zoom_into_points(view, qtbot, centre) -> None:
    """Wheel in at the pixel of ``centre`` (a drawn point), a notch at a time, until real points are drawn."""
    for _ in range(30):
        if view.canvas.primary().mode == "points":
            return
        _wheel(view, _pixel(view, *centre), 1)
        qtbot.waitUntil(lambda: not view.canvas.density_busy(), timeout=10000)
    raise AssertionError(f"still {view.canvas.primary().mode} after 30 wheel notches")


def _in_view(view) -> np.ndarray:
    (x0, x1), (y0, y1) = view.vb.viewRange()
    xy = view.canvas.primary().xy
    vis = view.canvas.primary().layer.visible_mask
    return np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1) & vis)


def _cluster_centre(view, label: int) -> tuple[float, float]:
    layer = view.canvas.primary()
    xy = layer.xy[layer.layer.labels == label]
    return tuple(float(v) for v in np.median(xy, axis=0))


def test_zoomed_out_a_density_image_is_drawn_and_the_wheel_switches_to_real_points(big_view, qtbot):
    view = big_view
    canvas, layer = view.canvas, view.canvas.primary()
    assert layer.mode == "density" and layer.density_item.isVisible() and not layer.item.isVisible()
    assert view.panel.drawn_caption.text() == f"Drawn: density of {N:,} points"
    centre = _cluster_centre(view, 2)
    # the cluster is painted in its class colour (brightened by density), empty space stays background
    got = _painted(view, _pixel(view, *centre))
    want = QColor(class_color(2))
    assert abs(got.hueF() - want.hueF()) < 0.05 and got.saturationF() > 0.2
    empty = _pixel(view, 0.0, 0.0)  # the ring's middle holds no point
    assert _painted(view, empty).name() == QColor(BG).name()

    _zoom_into_points(view, qtbot, centre)
    in_view = _in_view(view)
    assert 0 < len(in_view) <= POINT_LIMIT
    assert layer.item.isVisible() and not layer.density_item.isVisible()
    assert view.panel.drawn_caption.text() == f"Drawn: {len(in_view):,} points" == f"Drawn: {canvas.drawn_line}"
    assert set(in_view) <= set(layer.shown.tolist())  # every point in view is drawn (and a margin around it)
    # a drawn point's pixel is painted in its class colour
    i = int(in_view[len(in_view) // 2])
    assert abs(_painted(view, _pixel(view, *layer.xy[i])).hueF() - want.hueF()) < 0.05

    for _ in range(30):  # and back out
        _wheel(view, _pixel(view, *centre), -1)
        qtbot.waitUntil(lambda: not canvas.density_busy(), timeout=10000)
        if layer.mode == "density":
            break
    assert layer.mode == "density" and view.panel.drawn_caption.text() == f"Drawn: density of {N:,} points"


def _hover_and_check(view, qtbot, pixel: QPoint) -> int:
    """Move the mouse to ``pixel``: the hovered point is the nearest visible one to that map position."""
    vp = view.plot.viewport()
    QTest.mouseMove(vp, pixel + QPoint(30, 30))
    qtbot.wait(40)  # pyqtgraph's scene passes on at most one move per frame
    QTest.mouseMove(vp, pixel)
    x, y = _at(view, pixel)
    layer = view.canvas.primary()
    j = int(np.argmin(np.hypot(layer.xy[:, 0] - x, layer.xy[:, 1] - y)))
    qtbot.waitUntil(lambda: view.map_model.decodes.hover_index == (0, j) and view.canvas.hover_card.isVisible()
                    and view.canvas.hover_card.toolTip().startswith(f"#{j} "), timeout=5000)
    hx, hy = view.canvas.hover_item.data["x"][0], view.canvas.hover_item.data["y"][0]
    assert (hx, hy) == pytest.approx(tuple(layer.xy[j]))  # the ring is drawn on the hovered point
    return j


def test_hover_finds_the_point_under_the_mouse_on_both_sides_of_the_switch(big_view, qtbot):
    view = big_view
    layer = view.canvas.primary()
    centre = _cluster_centre(view, 3)
    edge = int(np.argmax(np.where(layer.layer.labels == 3, layer.xy[:, 0], -np.inf)))  # an outlying point
    px = _pixel(view, *layer.xy[edge])
    assert layer.mode == "density" and _painted(view, px).alpha() > 0 and _painted(view, px).name() != "#000000"
    _hover_and_check(view, qtbot, px)
    _zoom_into_points(view, qtbot, centre)
    i = int(_in_view(view)[0])
    _hover_and_check(view, qtbot, _pixel(view, *layer.xy[i]))


def _lasso(view, qtbot, centre, radius_px: int) -> np.ndarray:
    """Draw a lasso (an octagon of ``radius_px``) around ``centre`` with the mouse; the selection."""
    QTest.mouseClick(view.tool_buttons["lasso"], Qt.MouseButton.LeftButton)
    vp = view.plot.viewport()
    c = _pixel(view, *centre)
    ring = [c + QPoint(int(radius_px * np.cos(a)), int(radius_px * np.sin(a)))
            for a in np.linspace(0, 2 * np.pi, 17)]
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, ring[0])
    for p in ring[1:]:
        QTest.mouseMove(vp, p)
        qtbot.wait(5)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, ring[-1])
    sel = view.map_model.selection
    polygon = np.array(view.canvas._lasso, np.float32)
    layer = view.canvas.primary()
    want = np.flatnonzero(points_in_polygon(layer.xy, polygon) & layer.layer.visible_mask)
    np.testing.assert_array_equal(sel, want)
    # everything well inside the drawn ring is selected, nothing far outside it
    x0, y0 = _at(view, c - QPoint(radius_px // 2, radius_px // 2))
    x1, y1 = _at(view, c + QPoint(radius_px // 2, radius_px // 2))
    core = np.flatnonzero((layer.xy[:, 0] >= min(x0, x1)) & (layer.xy[:, 0] <= max(x0, x1))
                          & (layer.xy[:, 1] >= min(y0, y1)) & (layer.xy[:, 1] <= max(y0, y1)))
    assert len(core) and set(core) <= set(sel.tolist())
    far = np.hypot(*(layer.xy[sel] - np.array(centre, np.float32)).T)
    reach = np.hypot(*(np.array(_at(view, c + QPoint(radius_px + 2, 0))) - np.array(centre)))
    assert far.max() <= reach * 1.01
    return sel


def test_lasso_selects_the_points_inside_on_both_sides_of_the_switch(big_view, qtbot):
    view = big_view
    centre = _cluster_centre(view, 1)
    assert view.canvas.primary().mode == "density"
    sel = _lasso(view, qtbot, centre, 40)
    assert len(sel) > 1000  # a dense cluster's core, drawn as density
    assert np.all(view.points.labels[sel] == 1)
    view.clear_selection()
    _zoom_into_points(view, qtbot, centre)
    sel = _lasso(view, qtbot, centre, 60)
    assert 0 < len(sel) <= POINT_LIMIT


def test_hidden_classes_leave_the_density_image_and_the_count(big_view, qtbot):
    view = big_view
    centre = _cluster_centre(view, 4)
    assert _painted(view, _pixel(view, *centre)).alpha() > 0
    before = _painted(view, _pixel(view, *centre)).name()
    box = view.panel.legend_boxes[4]
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    qtbot.waitUntil(lambda: not view.canvas.density_busy(), timeout=10000)
    hidden = int((view.points.labels == 4).sum())
    assert view.panel.drawn_caption.text() == f"Drawn: density of {N - hidden:,} points"
    assert before != QColor(BG).name() and _painted(view, _pixel(view, *centre)).name() == QColor(BG).name()


def test_points_folder_is_encoded_on_the_worker(qtbot, vae_bundle, tmp_path):
    view = shown_map_view(qtbot, vae_bundle)
    folder = write_images(tmp_path / "mine", n=30)
    assert view.load_points(str(folder)) is not None
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=30000)
    assert len(view.points) == 30 and view.points.kind == "user" and view.source_combo.currentData() == "folder"
    assert view.load_points("gan:100") is None and "needs a GAN" in view.last_message


def test_gan_points_keep_latents_only_and_decode_on_hover(qtbot, tmp_path, monkeypatch):
    from explorer.core.latents import SamplingPolicy, sample_latents
    from explorer.qt.map_view import MapView

    gen, clf_dir, real = _two_class_world(tmp_path)
    monkeypatch.setattr(A, "fashion_set", lambda split="all", data_dir=None: real)
    model = open_model(gen)
    view = MapView(model, classifier=clf_dir, interactive=False)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    qtbot.waitExposed(view)
    progress = []
    view.map_model.jobs.progress.connect(lambda name, f, m: progress.append(m))
    assert view.load_points("gan:4500") is not None
    qtbot.waitUntil(lambda: not view.is_busy() and view.map_model.gan_map is not None, timeout=120000)
    samples = view.points
    assert len(samples) == 4500 and samples.images is None and samples.latents.shape == (4500, 8)
    np.testing.assert_array_equal(samples.latents[:50], sample_latents(50, 8, SamplingPolicy(0)))
    assert any("of 4,500 samples" in m for m in progress)  # made in chunks, with progress
    assert view.source_combo.currentData() == "gan-n"
    xy = view.layers[1].xy
    i = 7
    hit = view.hover_at(*map(float, xy[i]))
    qtbot.waitUntil(lambda: view.canvas.hover_card.isVisible(), timeout=5000)
    assert hit[0] == 1
    j = hit[1]
    img = view.canvas.hover_card.pixmap().toImage()
    assert not img.isNull() and view.canvas.hover_card.toolTip().startswith(f"#{j} ")
    view.probe_at(*map(float, xy[j]), clicked=False)
    qtbot.waitUntil(lambda: view.panel.preview.image is not None, timeout=5000)
    np.testing.assert_array_equal(view.panel.preview.image, model.decode(samples.latents[j:j + 1]).pixels[0])
    view.close()


def test_map_command_rejects_bad_points_in_one_line(vae_bundle, tmp_path):
    for spec, said in [("gan:lots", "whole number"), ("gan:100", "needs a GAN"), (str(tmp_path / "nope"), "no such")]:
        r = subprocess.run([sys.executable, "-m", "explorer.cli.main", "map", str(vae_bundle), "--points", spec],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and said in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_map_command_draws_a_folder_of_points(vae_bundle, tmp_path):
    from test_map_data import make_encoder

    make_encoder(vae_bundle)
    folder = write_images(tmp_path / "mine", n=25)
    out = tmp_path / "map.png"
    r = subprocess.run([sys.executable, "-m", "explorer.cli.main", "map", str(vae_bundle), "--points", str(folder),
                        "--screenshot", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.stat().st_size > 1000 and "25 images encoded" in r.stdout


def test_probe_click_decodes_the_clicked_position_on_both_sides_of_the_switch(big_view, qtbot):
    view = big_view
    model = view.model
    vp = view.plot.viewport()
    centre = _cluster_centre(view, 0)
    for side in ("density", "points"):
        if side == "points":
            _zoom_into_points(view, qtbot, centre)
        assert view.canvas.primary().mode == side
        px = _pixel(view, *centre) + QPoint(7, -5)
        before = view.map_model.decodes.probe_decoder.generation
        QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, px)
        qtbot.waitUntil(lambda: view.map_model.decodes.probe_decoder.generation > before
                        and view.panel.preview.image is not None, timeout=5000)
        qtbot.waitUntil(lambda: view.map_model.decodes.probe_pos == pytest.approx(_at(view, px), abs=1e-6),
                        timeout=5000)
        z = view.projection.inverse(np.array([_at(view, px)], np.float32)).z
        qtbot.waitUntil(lambda: np.array_equal(view.panel.preview.image, model.decode(z).pixels[0]), timeout=5000)
