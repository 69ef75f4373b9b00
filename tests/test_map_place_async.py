"""Big sets are placed off the GUI thread: while a set of more than POINT_LIMIT points is laid out
(dimensions, projection, indices, range) the window answers keys and clicks, the map says
"Placing…", a newer set or projection makes the older placement stale (never drawn), a session's
range survives the placement, and the first density image is binned on the density worker."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from explorer.core import atlas_data as A
from explorer.core import map_density, map_model
from explorer.core.map_density import POINT_LIMIT
from test_map_big import _big_points, _lasso, _cluster_centre, _zoom_into_points
from test_map_data import shown_map_view, wait_map_drawn
from test_map_defects import _choose


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


class Gate:
    """Holds every placement (``map_model.place``) until ``open()``; records the threads they ran on."""

    def __init__(self, monkeypatch):
        self.event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.entered = threading.Semaphore(0)
        real = map_model.place

        def gated(*args, **kwargs):
            self.threads.append(threading.current_thread())
            self.entered.release()
            assert self.event.wait(20), "the test never opened the gate"
            return real(*args, **kwargs)

        monkeypatch.setattr(map_model, "place", gated)

    def wait_entered(self, timeout=10.0) -> None:
        assert self.entered.acquire(timeout=timeout), "no placement started"

    def open(self) -> None:
        self.event.set()


@pytest.fixture
def view(qtbot, vae_bundle):
    v = shown_map_view(qtbot, vae_bundle)
    wait_map_drawn(qtbot, v)
    yield v
    v.close()
    v.deleteLater()


def test_a_big_set_is_placed_off_the_gui_thread_while_the_window_answers_keys(view, qtbot, monkeypatch):
    gate = Gate(monkeypatch)
    pts = _big_points()
    view.map_model.set_points(pts)
    gate.wait_entered()
    # placing is held on its job: the GUI thread is free; the map says what it is doing
    assert gate.threads[0] is not threading.main_thread()
    assert view.is_busy() and view.map_model.placing
    assert view.canvas.layers == [] and view.map_model.layers == []
    assert view.canvas.empty_label.isVisible() and "Placing 50,000 points" in view.canvas.empty_label.text()
    assert view.progress_row.isVisible()
    for key, tool in ((Qt.Key.Key_L, "lasso"), (Qt.Key.Key_M, "rect"), (Qt.Key.Key_L, "lasso")):
        QTest.keyClick(view, key)
        qtbot.waitUntil(lambda tool=tool: view.canvas.tool == tool, timeout=2000)
    # a click on the empty map while placing selects nothing and raises nothing
    QTest.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=view.plot.viewport().rect().center())
    assert len(view.map_model.selection) == 0
    gate.open()
    wait_map_drawn(qtbot, view)
    layer = view.canvas.primary()
    assert layer.layer.points is pts and layer.mode == "density"
    assert not view.canvas.empty_label.isVisible() and not view.progress_row.isVisible()
    assert view.map_model.dims == map_model.default_dims(pts.vectors)  # chosen on the job
    assert "50,000 points placed" in view.map_model.last_message
    # and the placed map is the real thing: a lasso around a cluster selects its points
    sel = _lasso(view, qtbot, _cluster_centre(view, 3), 40)
    assert len(sel) > 500 and np.all(pts.labels[sel] == 3)


def test_a_newer_set_makes_the_placement_in_progress_stale(view, qtbot, monkeypatch):
    gate = Gate(monkeypatch)
    first, second = _big_points(seed=1), _big_points(n=30_000, seed=2)
    drawn = []
    view.map_model.projection_changed.connect(lambda: drawn.append(view.map_model.primary.points))
    view.map_model.set_points(first)
    gate.wait_entered()
    view.map_model.set_points(second)  # the user loaded another set while the first was placed
    gate.open()  # the job's one thread finishes the first (its answer is dropped), then places the second
    wait_map_drawn(qtbot, view)
    qtbot.wait(100)  # the first placement's answer, had it been delivered, would be in by now
    assert drawn == [second]
    assert view.canvas.primary().layer.points is second
    # a small set after a big one still in progress: drawn at once, the big one never
    gate.event.clear()
    view.map_model.set_points(first)
    gate.wait_entered()
    small = _big_points(n=500, seed=3)
    gate.open()  # the small set's own placement runs inline on this thread
    view.map_model.set_points(small)
    assert view.map_model.primary.points is small
    wait_map_drawn(qtbot, view)
    qtbot.wait(100)
    assert view.map_model.primary.points is small and drawn[-1] is small
    assert [p is first for p in drawn] == [False] * len(drawn)


def test_another_projection_of_a_big_set_keeps_the_drawn_map_until_placed(view, qtbot, monkeypatch):
    pts = _big_points()
    view.map_model.set_points(pts)
    wait_map_drawn(qtbot, view)
    before = view.canvas.primary()
    gate = Gate(monkeypatch)
    _choose(view.proj_combo, "dims")  # passing UMAP on the way: its job is cancelled by the next choice
    gate.wait_entered()
    assert view.canvas.primary() is before and before.mode == "density"  # still drawn, still hoverable
    assert view.map_model.projection_key == "dims" and view.map_model.drawn_key == "pca"
    gate.open()
    qtbot.waitUntil(lambda: view.map_model.drawn_key == "dims", timeout=10000)
    wait_map_drawn(qtbot, view)
    assert view.canvas.primary() is not before


def test_a_sessions_range_survives_the_placement(view, qtbot, monkeypatch):
    gate = Gate(monkeypatch)
    view.map_model.set_points(_big_points())
    gate.wait_entered()
    view.map_model.apply_view_state({"projection": "pca", "range": [[1.0, 3.0], [-2.0, 0.5]]})
    gate.open()
    wait_map_drawn(qtbot, view)
    # the session's range, widened on one axis to the plot's aspect (the map keeps squares square)
    (x0, x1), (y0, y1) = view.map_model.view_range
    assert x0 <= 1.0 + 1e-6 and x1 >= 3.0 - 1e-6 and y0 <= -2.0 + 1e-6 and y1 >= 0.5 - 1e-6
    assert (x0 + x1) / 2 == pytest.approx(2.0, abs=1e-3) and (y0 + y1) / 2 == pytest.approx(-0.75, abs=1e-3)
    assert (x1 - x0) < 3.0 and (y1 - y0) < 3.0  # not the fitted range of the whole cloud (about 19 wide)


def test_the_first_density_image_is_binned_on_the_density_worker(view, qtbot, monkeypatch):
    threads = []
    real = map_density.DensitySource.image

    def recording(self, *args, **kwargs):
        threads.append(threading.current_thread())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(map_density.DensitySource, "image", recording)
    view.map_model.set_points(_big_points())
    wait_map_drawn(qtbot, view)
    assert threads and all(t is not threading.main_thread() for t in threads)
    layer = view.canvas.primary()
    assert layer.rebins >= 1 and layer.reference is not None and layer.density_item.isVisible()
    # zoomed in to points and out again: the density image comes back from the worker, too
    _zoom_into_points(view, qtbot, _cluster_centre(view, 0))
    view.vb.setRange(xRange=view.map_model.fitted_range()[0], yRange=view.map_model.fitted_range()[1], padding=0)
    qtbot.waitUntil(lambda: layer.mode == "density" and not view.canvas.density_busy(), timeout=10000)
    assert all(t is not threading.main_thread() for t in threads)


def test_a_failed_placement_says_why_and_the_window_stays_usable(view, qtbot, monkeypatch):
    real, broken_once = map_model.place, []

    def broken(*args, **kwargs):
        if not broken_once:
            broken_once.append(True)
            raise ValueError("the points could not be laid out: every vector is NaN")
        return real(*args, **kwargs)

    monkeypatch.setattr(map_model, "place", broken)
    view.map_model.set_points(_big_points())
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=10000)
    assert view.map_model.last_message == "the points could not be laid out: every vector is NaN"
    assert view.canvas.empty_label.isVisible() and "NaN" in view.canvas.empty_label.text()
    pts = A.MapPoints(_big_points(n=POINT_LIMIT + 10).vectors, np.zeros(POINT_LIMIT + 10, np.int64),
                      ("one",), source="after", kind="atlas")
    view.map_model.set_points(pts)
    wait_map_drawn(qtbot, view)
    assert view.canvas.primary().layer.points is pts


def test_cancel_while_placing_says_so_and_a_projection_choice_places_the_set(view, qtbot, monkeypatch):
    gate = Gate(monkeypatch)
    pts = _big_points()
    view.map_model.set_points(pts)
    gate.wait_entered()
    assert view.cancel_button.isVisible()
    QTest.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    assert not view.is_busy() and not view.progress_row.isVisible()
    assert "Placing 50,000 points cancelled" in view.canvas.empty_label.text()
    assert view.map_model.last_message == "placing 50,000 points cancelled"
    gate.open()  # the cancelled placement finishes on its thread; its answer is dropped
    qtbot.wait(100)
    assert view.canvas.layers == [] and view.canvas.empty_label.isVisible()
    _choose(view.proj_combo, "dims")
    wait_map_drawn(qtbot, view)
    assert view.map_model.drawn_key == "dims" and view.canvas.primary().layer.points is pts
    assert view.map_model.dims == map_model.default_dims(pts.vectors)


def test_hiding_a_class_of_a_big_set_sorts_nothing_on_the_gui_thread(view, qtbot, monkeypatch):
    view.map_model.set_points(_big_points())
    wait_map_drawn(qtbot, view)
    made_on = []
    real = map_density.SpatialGrid

    class Recording(real):
        def __init__(self, *args, **kwargs):
            made_on.append(threading.current_thread())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(map_density, "SpatialGrid", Recording)
    box = view.panel.legend_boxes[2]
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=box.rect().center())
    assert 2 in view.map_model.hidden_classes
    wait_map_drawn(qtbot, view)
    # zoom into a cluster (part of the points in view): that image needs the visible points' grid
    _zoom_into_points(view, qtbot, _cluster_centre(view, 0))
    view.vb.setRange(xRange=view.map_model.fitted_range()[0], yRange=view.map_model.fitted_range()[1], padding=0)
    wait_map_drawn(qtbot, view)
    assert threading.main_thread() not in made_on


def test_a_lopsided_set_is_binned_once_not_again_and_again(view, qtbot):
    """Points that end inside the view on one side and reach far past its margin on the other (a
    GAN's features with a long tail): one density image serves the view; the map does not bin again
    and again (it did: the image never 'held the view', so each answer asked for the next)."""
    rng = np.random.default_rng(5)
    n = 60_000
    v = np.zeros((n, 6), np.float32)
    v[:, 0] = rng.uniform(0, 10, n)
    v[: n // 100, 0] = rng.uniform(10, 400, n // 100)  # 1 % far to the right
    v[:, 1] = rng.standard_normal(n)
    v[:, 2:] = rng.standard_normal((n, 4)) * 0.01
    pts = A.MapPoints(v, rng.integers(0, 5, n), contract_names(), source="lopsided", kind="atlas")
    view.map_model.set_points(pts)
    wait_map_drawn(qtbot, view, timeout=10_000)
    layer = view.canvas.primary()
    made = layer.rebins
    qtbot.wait(300)
    assert layer.rebins == made and not view.canvas.density_busy()
    assert made <= 2


def contract_names():
    from explorer.io.contract import FASHION_MNIST_CLASSES

    return FASHION_MNIST_CLASSES
