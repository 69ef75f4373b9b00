"""The latent map's Qt-free model (no GUI): points, projections from the registry, selection, groups,
hidden classes, view state, jobs with progress; and a toy projection that only registers a spec,
then is offered, chosen with a real key press and drawn by the map view."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from explorer.core.map_jobs import MapJobs
from explorer.core.map_model import MapModel
from explorer.core.projection import MapInverse, EXACT
from explorer.core.projection_registry import ProjectionSpec, projection_specs, register, unregister
from explorer.core.worker import Cancelled
from explorer.io.runtime import open_model


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@dataclass(frozen=True)
class SwappedPlane:
    """A toy projection: dimensions 1 and 0 as the axes, mirrored (x = -z1, y = -z0); exact inverse."""

    base: np.ndarray = field(compare=False)
    exact = True
    axis_labels = ("−z1 (toy)", "−z0 (toy)")

    def forward(self, x) -> np.ndarray:
        x = np.asarray(x, np.float32).reshape(-1, len(self.base))
        return np.ascontiguousarray(-x[:, [1, 0]])

    def inverse(self, p) -> MapInverse:
        p = np.asarray(p, np.float32).reshape(-1, 2)
        z = np.repeat(self.base[None].astype(np.float32), len(p), axis=0)
        z[:, 1], z[:, 0] = -p[:, 0], -p[:, 1]
        return MapInverse(z, np.full(len(p), EXACT, dtype=object), np.full(len(p), -1, np.int64))


@pytest.fixture
def toy_projection():
    """Registers one projection spec for the test, and removes it afterwards."""
    spec = register(ProjectionSpec("toy-swap", "Toy: swapped dims",
                                   lambda data, progress, cancelled: SwappedPlane(data.vectors.mean(axis=0))))
    yield spec
    unregister(spec.key)
    assert "toy-swap" not in [s.key for s in projection_specs()]


@pytest.fixture
def map_model(vae_bundle):
    model = MapModel()  # dispatch=None: answers are handled on the worker threads
    model.set_model(open_model(vae_bundle))
    yield model
    model.close()


def test_atlas_with_the_default_projection_and_a_view_state_round_trip(map_model, vae_bundle):
    m = map_model
    assert m.projection_key == "pca" and len(m.layers) == 1 and len(m.primary.xy) == 50
    m.set_dims(2, 4)
    m.set_projection("dims")
    np.testing.assert_array_equal(m.primary.xy, m.points.vectors[:, [2, 4]])
    m.set_view_range([[-1.0, 2.0], [-3.0, 0.5]])
    state = json.loads(json.dumps(m.view_state()))  # JSON-ready
    assert state == {"projection": "dims", "dims": [2, 4], "range": [[-1.0, 2.0], [-3.0, 0.5]]}

    other = MapModel()
    other.set_model(open_model(vae_bundle))
    assert other.projection_key == "pca"
    other.apply_view_state(state)
    assert other.projection_key == "dims" and other.dims == (2, 4) and other.view_range == state["range"]
    np.testing.assert_array_equal(other.primary.xy, m.primary.xy)
    other.apply_view_state({"projection": "PCA"})  # sessions from before registry keys stored the label
    assert other.projection_key == "pca"
    other.close()


def test_selection_hidden_classes_and_groups(map_model):
    m = map_model
    seen = []
    m.groups_changed.connect(seen.append)
    assert len(m.select_rect(-1e3, -1e3, 1e3, 1e3)) == 50
    m.set_class_visible(0, False)
    assert 0 in m.hidden_classes and not m.primary.visible_mask[m.points.labels == 0].any()
    sel = m.select_rect(-1e3, -1e3, 1e3, 1e3)
    assert len(sel) == int((m.points.labels != 0).sum())
    m.keep_group("A")
    m.set_selection(np.flatnonzero(m.points.labels == 2)[:5])
    m.keep_group("B")
    assert seen[-1] == {"A": sel.tolist(), "B": np.flatnonzero(m.points.labels == 2)[:5].tolist()}
    made = []
    m.direction_made.connect(made.append)
    assert m.can_make_direction and m.make_group_direction() is made[0]
    m.set_groups({"A": [1, 2, 999], "lasso 1": [-1, 3]})  # out-of-range indices are dropped
    assert m.groups_json() == {"A": [1, 2], "lasso 1": [3]} and not m.can_make_direction


def test_groups_restored_before_the_points_arrive_wait_for_them(vae_bundle):
    m = MapModel()
    m.set_groups({"A": [0, 1], "B": [4]})  # e.g. a session opened before the map has points
    assert m.groups == {} and m.groups_json() == {"A": [0, 1], "B": [4]}  # a session saved now keeps them
    with pytest.raises(ValueError):
        m.set_groups({"A": ["x"]})
    m.set_model(open_model(vae_bundle))
    assert m.groups_json() == {"A": [0, 1], "B": [4]}
    m.close()


def test_an_unavailable_projection_falls_back_to_pca_and_says_why(map_model):
    map_model.set_projection("plane")
    assert map_model.projection_key == "pca"
    assert "needs a 2-d latent space, this one has 6; using PCA" in map_model.last_message
    map_model.set_projection("no-such-projection")
    assert "no projection 'no-such-projection'" in map_model.last_message and map_model.projection_key == "pca"


def test_a_background_projection_reports_real_progress_and_a_failure_keeps_the_previous(map_model):
    m = map_model
    progress = []
    m.jobs.progress.connect(lambda name, f, msg: progress.append((name, f, msg)))

    def slow(data, report, cancelled):
        for k in range(1, 4):
            report(k / 4, f"toy layout: {k} of 4")
        return SwappedPlane(data.vectors.mean(axis=0))

    def broken(data, report, cancelled):
        raise ValueError("toy layout cannot place these points")

    register(ProjectionSpec("toy-slow", "Toy slow", slow, background=True))
    register(ProjectionSpec("toy-broken", "Toy broken", broken, background=True))
    try:
        m.set_projection("toy-slow")
        assert m.jobs.wait(60) and not m.is_busy
        assert progress == [("toy-slow", k / 4, f"toy layout: {k} of 4") for k in range(1, 4)]
        assert m.projection_key == "toy-slow" and isinstance(m.projection, SwappedPlane)
        assert "Toy slow of 50 points ready" in m.last_message
        chosen = []
        m.projection_chosen.connect(chosen.append)
        m.set_projection("toy-broken")
        assert m.jobs.wait(60)
        assert m.last_message == "toy layout cannot place these points"
        assert chosen == ["toy-broken", "toy-slow"] and isinstance(m.projection, SwappedPlane)
    finally:
        unregister("toy-slow")
        unregister("toy-broken")


def test_hovers_and_probes_decode_on_the_worker_thread(map_model):
    m = map_model
    caller = threading.get_ident()
    hovered, probed = [], []
    m.decodes.hover_ready.connect(lambda hit, images: hovered.append((hit, images, threading.get_ident())))
    m.decodes.probe_decoded.connect(lambda answer: probed.append(answer))
    m.decodes.hover((0, 7))
    assert m.decodes.hover_decoder.wait(5)
    (hit, images, thread), = hovered
    assert hit == (0, 7) and thread != caller  # decoded off the caller's thread
    np.testing.assert_array_equal(images[0], m.model.decode(m.points.vectors[7:8]).pixels[0])
    for k in range(20):  # a drag: only the newest position's decode is delivered
        m.decodes.probe_at(0.1 * k, -0.1 * k)
    assert m.decodes.probe_decoder.wait(5)
    assert probed and len(probed) < 20 and probed[-1].generation == m.decodes.probe_decoder.generation
    z = m.projection.inverse(np.array([[1.9, -1.9]], np.float32)).z
    np.testing.assert_array_equal(probed[-1].images.pixels[0], m.model.decode(z).pixels[0])
    np.testing.assert_allclose(m.decodes.probe_z, z[0])


def test_jobs_of_one_name_supersede_each_other_and_cancel_drops_answers():
    jobs = MapJobs()
    answers, started = [], threading.Event()

    def blocking(progress, cancelled):
        started.set()
        while not cancelled():
            threading.Event().wait(0.005)
        raise Cancelled()

    jobs.start("encode", blocking, answers.append)
    assert started.wait(5)
    jobs.start("encode", lambda progress, cancelled: "second", answers.append)
    assert jobs.wait(5)
    assert [a.value for a in answers] == ["second"] and not jobs.busy
    started.clear()
    jobs.start("umap", blocking, answers.append)
    assert started.wait(5) and jobs.running == ["umap"]
    jobs.cancel_all()
    assert jobs.wait(5) and len(answers) == 1 and not jobs.busy
    jobs.close()


def test_a_registered_toy_projection_is_offered_chosen_by_key_press_and_drawn(toy_projection, vae_bundle, qtbot):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtTest import QTest

    from explorer.qt.qapp import ensure_app
    from explorer.qt.map_view import MapView

    ensure_app()
    model = open_model(vae_bundle)
    view = MapView(model, interactive=False)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    qtbot.waitExposed(view)
    combo = view.proj_combo
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels[-1] == "Toy: swapped dims" and combo.itemData(combo.count() - 1) == "toy-swap"
    assert view.projection.name == "PCA"
    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_End)  # the last offered item (the toy; the 2-d plane is greyed out here)
    assert view.map_model.projection_key == "toy-swap" and isinstance(view.projection, SwappedPlane)
    xy = view.layers[0].xy
    np.testing.assert_array_equal(xy, -view.points.vectors[:, [1, 0]])
    np.testing.assert_array_equal(np.column_stack([view.layers[0].item.data["x"], view.layers[0].item.data["y"]]),
                                  xy)
    assert "Toy: swapped dims" in view.caption.text() and "exact inverse" in view.caption.text()
    assert view.plot.getAxis("bottom").labelText == "−z1 (toy)"
    assert view.view_state()["projection"] == "toy-swap"
    # a click where point 3 is drawn decodes that position through the toy's inverse
    qtbot.waitUntil(lambda: view.vb.viewRange()[0][1] - view.vb.viewRange()[0][0] > 0, timeout=2000)
    scene = view.vb.mapViewToScene(QPointF(float(xy[3, 0]), float(xy[3, 1])))
    pixel = view.plot.mapFromScene(scene)
    QTest.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(pixel.x(), pixel.y()))
    qtbot.waitUntil(lambda: view.panel.preview.image is not None, timeout=5000)
    x, y = view.map_model.decodes.probe_pos
    assert np.hypot(x - xy[3, 0], y - xy[3, 1]) < 0.05 * (view.vb.viewRange()[0][1] - view.vb.viewRange()[0][0])
    z = view.projection.inverse(np.array([[x, y]], np.float32)).z
    np.testing.assert_array_equal(view.panel.preview.image, model.decode(z).pixels[0])
    view.close()
