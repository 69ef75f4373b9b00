"""MapView driven with pytest-qt: hover and click decode paths, stale drops, selection -> grid, sweep,
legend toggles, user folders encoded end to end, the GAN map of a two-class generator, bad bundles."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.io import contract
from explorer.core.projection import PCAPlane
from explorer.io.runtime import open_model
from test_map_data import _two_class_world, make_encoder, write_images


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def make_view(qtbot):
    from explorer.qt.qapp import ensure_app
    from explorer.qt.map_view import MapView

    ensure_app()
    views = []

    def make(model, **kw):
        view = MapView(model, interactive=False, **kw)
        view.resize(1200, 800)
        view.show()
        views.append(view)
        return view

    yield make
    for v in views:
        v.close()
        v.deleteLater()


def _wait_jobs(qtbot, view, timeout=60000):
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=timeout)


def test_vae_atlas_map_is_drawn_with_pca(make_view, vae_bundle):
    model = open_model(vae_bundle)
    view = make_view(model)
    assert view.projection.name == "PCA" and len(view.layers) == 1
    layer = view.layers[0]
    assert len(layer.item.data) == 50 and sorted(layer.brushes) == [0, 1, 2]
    assert len({id(b) for b in layer.item.data["brush"]}) == 3  # one shared brush per class, not per point
    assert sorted(view.panel.legend_boxes) == [0, 1, 2]
    np.testing.assert_allclose(layer.xy, PCAPlane.fit(view.points.vectors).forward(view.points.vectors), atol=1e-5)


def test_click_in_empty_space_decodes_that_position(make_view, vae_bundle, qtbot):
    model = open_model(vae_bundle)
    view = make_view(model)
    x, y = 50.0, -40.0  # far from every point
    view.probe_at(x, y, clicked=True)
    qtbot.waitUntil(lambda: view.panel.preview.image is not None, timeout=5000)
    z = view.projection.inverse(np.array([[x, y]], np.float32)).z
    np.testing.assert_array_equal(view.panel.preview.image, model.decode(z).pixels[0])
    assert "exact inverse" in view.panel.preview_caption.text()
    assert view.canvas.cursor_item.data["x"][0] == x


def test_dragging_drops_stale_decodes(make_view, vae_bundle, qtbot):
    model = open_model(vae_bundle)
    view = make_view(model)
    answers = []
    decodes = view.map_model.decodes
    decodes.probe_decoded.connect(lambda a: answers.append(decodes.probe_decoder.is_current(a)))
    positions = [(float(i) * 0.3, float(-i) * 0.2) for i in range(40)]
    for x, y in positions:  # a drag: many positions, faster than anything is painted
        view.probe_at(x, y)
    gen = view.map_model.decodes.probe_decoder.generation
    qtbot.waitUntil(lambda: any(answers) and view.panel.preview.image is not None, timeout=5000)
    qtbot.wait(50)
    z = view.projection.inverse(np.array([positions[-1]], np.float32)).z
    np.testing.assert_array_equal(view.panel.preview.image, model.decode(z).pixels[0])
    assert len(answers) < len(positions) and view.map_model.decodes.probe_decoder.generation == gen


def test_drag_events_through_the_viewbox_use_the_tool(make_view, vae_bundle, qtbot):
    from PySide6.QtCore import QPointF

    view = make_view(open_model(vae_bundle))
    view.set_tool("rect")
    xy = view.layers[0].xy
    lo, hi = xy.min(axis=0) - 1, xy.max(axis=0) + 1
    view.canvas.tool_drag(QPointF(float(lo[0]), float(lo[1])), True, False)
    assert view.canvas.rect_item.isVisible()
    view.canvas.tool_drag(QPointF(float(hi[0]), float(hi[1])), False, True)
    assert len(view.map_model.selection) == 50 and view.canvas.rect_item.isVisible()  # the outline stays
    view.clear_selection()
    assert not view.canvas.rect_item.isVisible()


def test_hover_shows_a_decoded_thumbnail(make_view, vae_bundle, qtbot):
    model = open_model(vae_bundle)
    view = make_view(model)
    layer = view.layers[0]
    x, y = layer.xy[3]
    hit = view.hover_at(float(x), float(y))
    assert hit == (0, 3)
    qtbot.waitUntil(lambda: view.canvas.hover_card.isVisible(), timeout=5000)
    assert not view.canvas.hover_card.pixmap().isNull() and view.canvas.hover_latency
    assert view.canvas.hover_item.data["x"][0] == pytest.approx(x)
    # far away: nothing hovered
    assert view.hover_at(1e4, 1e4) is None and not view.canvas.hover_card.isVisible()
    # hovers decode on the worker thread (never on the GUI thread): the answer arrives queued
    gen = view.map_model.decodes.hover_decoder.generation
    x, y = layer.xy[7]
    assert view.hover_at(float(x), float(y)) == (0, 7)
    assert view.map_model.decodes.hover_decoder.generation == gen + 1
    assert not view.canvas.hover_card.isVisible()  # nothing drawn until the worker answers
    qtbot.waitUntil(lambda: view.canvas.hover_card.isVisible(), timeout=5000)
    assert "#7" in view.canvas.hover_card.toolTip()


def test_hidden_classes_are_neither_hovered_nor_selected(make_view, vae_bundle):
    view = make_view(open_model(vae_bundle))
    view.panel.legend_boxes[0].setChecked(False)
    layer = view.layers[0]
    visible = layer.item.data["visible"]
    assert not visible[view.points.labels == 0].any() and visible[view.points.labels != 0].all()
    i0 = int(np.flatnonzero(view.points.labels == 0)[0])
    hit = view.hover_at(*map(float, layer.xy[i0]))
    assert hit is None or view.points.labels[hit[1]] != 0
    sel = view.select_rect(-1e3, -1e3, 1e3, 1e3)
    assert len(sel) == int((view.points.labels != 0).sum())


def test_selection_feeds_the_grid_and_class_mix(make_view, vae_bundle, qtbot):
    from explorer.core.grid import GridController, SampleGrid
    from explorer.qt.map_view import fill_grid_with

    model = open_model(vae_bundle)
    view = make_view(model)
    grid = SampleGrid(4, 4)
    grid.set_model(model)
    controller = GridController(grid)
    view.latentsForGrid.connect(lambda z: fill_grid_with(grid, z))
    poly = np.array([[-100, -100], [100, -100], [100, 100], [-100, 100]], np.float32)
    sel = view.select_polygon(poly)  # the lasso path around everything
    assert len(sel) == 50
    chosen = view.selection_latents()
    assert chosen.shape == (50, 6)
    np.testing.assert_array_equal(grid.latents, chosen[np.resize(np.arange(50), 16)])
    controller.decode_now()
    assert not grid.dirty.any()
    assert sum(r[1] for r in view.panel.class_mix.rows) == 50 and {r[0] for r in view.panel.class_mix.rows} == {"a", "b", "c"}
    qtbot.waitUntil(lambda: view.panel.selection_pane.isVisible(), timeout=5000)
    controller.close()
    view.clear_selection()
    assert view.panel.class_mix.rows == [] and not view.panel.selection_to_grid.isEnabled()


def test_two_dimensions_projection_and_sweep(make_view, vae_bundle, qtbot):
    model = open_model(vae_bundle)
    view = make_view(model)
    view.dim_x.setValue(2)
    view.dim_y.setValue(4)
    view.set_projection("Two dimensions")
    assert view.projection.axis_labels == ("z2", "z4")
    np.testing.assert_array_equal(view.layers[0].xy, view.points.vectors[:, [2, 4]])
    view.sweep_n.setValue(5)
    view.set_sweep(True)
    qtbot.waitUntil(lambda: view.canvas.sweep_item.image is not None, timeout=5000)
    _, _, _, _, rows, cols = view.map_model.decodes.sweep_box
    assert min(rows, cols) == 5 and view.canvas.sweep_item.image.shape == (8 * rows, 8 * cols)
    (x0, x1), (y0, y1) = view.vb.viewRange()
    top_left = view.projection.inverse(np.array([[x0 + (x1 - x0) / (2 * cols), y1 - (y1 - y0) / (2 * rows)]],
                                                np.float32)).z
    np.testing.assert_array_equal(view.canvas.sweep_item.image[:8, :8], model.decode(top_left).pixels[0, ..., 0])
    first = view.map_model.decodes.sweep_decoder.generation
    view.vb.translateBy(x=0.5)  # panning re-decodes the mosaic
    qtbot.waitUntil(lambda: view.map_model.decodes.sweep_decoder.generation > first, timeout=3000)
    view.set_sweep(False)
    assert not view.canvas.sweep_item.isVisible()


def test_image_in_shows_reconstruction_scores_and_marker(make_view, vae_bundle, tmp_path, qtbot):
    make_encoder(vae_bundle)
    model = open_model(vae_bundle)
    view = make_view(model)
    folder = write_images(tmp_path / "imgs", n=2)
    probe = view.probe_file(str(folder / "img000.png"))
    assert probe is not None and view.panel.image_in.image is not None and view.panel.image_recon.image is not None
    assert "−ELBO" in view.panel.image_text.text()
    assert len(view.canvas.marker_item.data) == 1
    np.testing.assert_allclose([view.canvas.marker_item.data["x"][0], view.canvas.marker_item.data["y"][0]],
                               view.projection.forward(probe.mu[None])[0], atol=1e-5)
    assert view.probe_file(str(tmp_path / "missing.png")) is None and "not a file" in view.last_message


def test_user_folder_encoded_end_to_end_hover_shows_original_and_reconstruction(make_view, vae_bundle, tmp_path,
                                                                                 qtbot):
    make_encoder(vae_bundle)
    model = open_model(vae_bundle)
    view = make_view(model)
    folder = write_images(tmp_path / "mine", n=30)
    assert view.use_source("folder", str(folder)) is not None  # the encode job's generation
    _wait_jobs(qtbot, view)
    assert view.points.kind == "user" and len(view.points) == 30 and "30 images encoded" in view.last_message
    assert view.panel.legend_boxes.keys() == {-1}  # unlabelled: one grey class
    x, y = view.layers[0].xy[4]
    view.hover_at(float(x), float(y))
    qtbot.waitUntil(lambda: view.canvas.hover_card.isVisible(), timeout=5000)
    assert "original | decoded" in view.canvas.hover_card.toolTip()
    pix = view.canvas.hover_card.pixmap()
    assert pix.width() > 1.8 * pix.height()  # two images side by side


def test_bad_folder_keeps_the_previous_map(make_view, vae_bundle, tmp_path, qtbot):
    make_encoder(vae_bundle)
    view = make_view(open_model(vae_bundle))
    empty = tmp_path / "empty"
    empty.mkdir()
    view.use_source("folder", str(empty))
    _wait_jobs(qtbot, view)
    assert "no images found" in view.last_message and "\n" not in view.last_message
    assert view.points.kind == "atlas" and view.layers  # the atlas map is still there


def test_nan_encoder_and_missing_pieces(make_view, vae_bundle, tmp_path, qtbot):
    make_encoder(vae_bundle, nan=True)
    view = make_view(open_model(vae_bundle))
    folder = write_images(tmp_path / "x", n=2)
    assert view.probe_file(str(folder / "img000.png")) is None
    assert "NaN/Inf" in view.last_message
    view.close()
    (vae_bundle / "encoder.onnx").unlink()
    (vae_bundle / contract.ATLAS_FILE).unlink()
    view2 = make_view(open_model(vae_bundle))
    assert not view2.layers and view2.canvas.empty_label.isVisible()
    assert "no atlas.npz" in view2.canvas.empty_label.text()
    assert not view2.panel.open_image_button.isEnabled()
    assert view2.probe_at(0.0, 0.0) is None  # nothing to decode through, no crash


def test_gan_map_shows_a_two_class_generator_and_click_loads_latent(make_view, tmp_path, qtbot, monkeypatch):
    from explorer.core import atlas_data as A

    gen, clf_dir, real = _two_class_world(tmp_path)
    monkeypatch.setattr(A, "fashion_set", lambda split="all", data_dir=None: real)
    model = open_model(gen)
    view = make_view(model, classifier=clf_dir)
    _wait_jobs(qtbot, view, 120000)
    assert view.map_model.gan_map is not None and len(view.layers) == 2
    real_layer, samples = view.layers
    assert not real_layer.coloured and len(real_layer.xy) == len(real.images)
    counts = samples.class_counts()
    top2 = sorted(counts, key=lambda k: -counts[k])[:2]
    assert set(top2) == {1, 7} and counts[1] + counts[7] > 0.75 * len(samples.xy)  # the map shows two classes
    assert not view.sweep_button.isEnabled()
    got = []
    view.latentActivated.connect(got.append)
    i = 5
    view.probe_at(*map(float, samples.xy[i]), clicked=True)
    assert len(got) == 1 and np.array_equal(got[0], view.points.latents[i])
    assert view.panel.preview.image is not None and "in classifier features" in view.panel.nearest_title.text()
    hit = view.hover_at(*map(float, samples.xy[i]))
    assert hit == (1, i) and view.canvas.hover_card.isVisible()
    # a real click right on a drawn sample (under the hover ring) picks it, as a click anywhere does
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtTest import QTest

    qtbot.waitExposed(view)
    j = 11
    pixel = view.plot.mapFromScene(view.vb.mapViewToScene(QPointF(*map(float, samples.xy[j]))))
    view.hover_at(*map(float, samples.xy[j]))
    QTest.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(pixel.x(), pixel.y()))
    assert len(got) == 2
    picked = samples.nearest(*view.map_model.decodes.probe_pos, radius=np.inf)
    assert np.array_equal(got[1], view.points.latents[picked])
    assert np.hypot(*(samples.xy[picked] - samples.xy[j])) < 0.02 * np.ptp(samples.xy[:, 0])


def test_gan_without_classifier_says_so(make_view, gan_bundle, tmp_path):
    view = make_view(open_model(gan_bundle), classifier=tmp_path / "nothing-here")
    assert not view.layers and "needs a classifier" in view.last_message


def test_render_map_screenshot(vae_bundle, tmp_path, settings_file):
    from PIL import Image

    from explorer.qt.map_screenshot import render_map_screenshot

    out = tmp_path / "map.png"
    assert render_map_screenshot([str(vae_bundle)], str(out), size=(1000, 700)) == 0
    w, h = Image.open(out).size
    assert h == 700 and w >= 1000  # the toolbar sets a minimum width


def test_umap_projection_in_the_background_with_nearest_fallback(make_view, vae_bundle, qtbot, monkeypatch):
    from explorer.core import umap_worker
    from explorer.core.projection import UMAPMap

    calls = []

    def fake_umap(data, progress=None, cancelled=lambda: False, **kw):
        calls.append(len(data))
        progress(0.5, "UMAP layout: 50 % of epochs")
        return UMAPMap(source=data, embedding=(data[:, :2] * 3).astype(np.float32))

    monkeypatch.setattr(umap_worker, "compute_umap", fake_umap)
    model = open_model(vae_bundle)
    view = make_view(model)
    view.set_projection("UMAP")
    assert view.progress_row.isVisible() or not view.is_busy()
    _wait_jobs(qtbot, view)
    assert calls == [50] and view.projection.name == "UMAP" and "UMAP of 50 points ready" in view.last_message
    np.testing.assert_allclose(view.layers[0].xy, view.points.vectors[:, :2] * 3)
    assert not view.sweep_button.isEnabled()
    x, y = view.layers[0].xy[9]
    view.probe_at(float(x) + 1e-3, float(y))
    qtbot.waitUntil(lambda: view.panel.preview.image is not None, timeout=5000)
    assert "nearest data point" in view.panel.preview_caption.text()
    np.testing.assert_array_equal(view.panel.preview.image, model.decode(view.points.vectors[9:10]).pixels[0])


def test_cancelled_umap_keeps_the_previous_projection(make_view, vae_bundle, qtbot, monkeypatch):
    import threading

    from explorer.core import umap_worker
    from explorer.core.atlas_data import Cancelled

    started = threading.Event()

    def slow_umap(data, progress=None, cancelled=lambda: False, **kw):
        started.set()
        while not cancelled():
            threading.Event().wait(0.01)
        raise Cancelled()

    monkeypatch.setattr(umap_worker, "compute_umap", slow_umap)
    view = make_view(open_model(vae_bundle))
    view.start_job("umap", lambda p, c: umap_worker.compute_umap(view.points.vectors, progress=p, cancelled=c))
    assert started.wait(5) and view.progress_row.isVisible()
    view.cancel_button.click()
    assert view.map_model.jobs.wait(5) and not view.is_busy() and not view.progress_row.isVisible()
    assert view.projection.name == "PCA" and view.layers


def test_real_mouse_drag_on_the_plot_probes_live(make_view, vae_bundle, qtbot):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    model = open_model(vae_bundle)
    view = make_view(model)
    qtbot.waitExposed(view)
    vp = view.plot.viewport()
    rect = vp.rect()
    a = QPoint(rect.width() // 3, rect.height() // 2)
    b = QPoint(rect.width() // 2, rect.height() // 3)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, 11):
        p = a + (b - a) * (k / 10)
        QTest.mouseMove(vp, p)
        qtbot.wait(5)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    qtbot.waitUntil(lambda: view.panel.preview.image is not None and view.map_model.decodes.probe_pos is not None, timeout=5000)
    want = view.vb.mapSceneToView(view.plot.mapToScene(b))
    assert view.map_model.decodes.probe_pos == pytest.approx((want.x(), want.y()), abs=0.05 * (view.vb.viewRange()[0][1]
                                                                            - view.vb.viewRange()[0][0]))
    assert view.map_model.decodes.probe_decoder.generation >= 2  # it decoded while dragging, not only at the end



def test_gan_map_with_an_incompatible_classifier_fails_fast_in_one_line(make_view, tmp_path, qtbot, monkeypatch):
    import model_factory

    from explorer.core import atlas_data as A

    _, clf_dir, real = _two_class_world(tmp_path)  # a 28x28 classifier
    monkeypatch.setattr(A, "fashion_set", lambda split="all", data_dir=None: real)
    gen = model_factory.make_generator(tmp_path / "g16" / "gen.onnx", latent_dim=8, height=16, width=16,
                                       activation="tanh")
    view = make_view(open_model(gen), classifier=clf_dir)
    _wait_jobs(qtbot, view)
    assert "classifier expects 28x28 images" in view.last_message and "\n" not in view.last_message
    assert not view.layers and view.canvas.empty_label.isVisible()


def test_a_one_dimensional_latent_space_says_why_there_is_no_map(make_view, tmp_path):
    import model_factory

    folder = tmp_path / "vae1"
    model_factory.make_contract_vae(folder, latent_dim=1)
    view = make_view(open_model(folder))
    assert not view.layers and "cannot draw a PCA map" in view.last_message


def test_a_two_dimensional_latent_space_is_its_own_map(make_view, tmp_path, qtbot):
    import model_factory

    folder = tmp_path / "vae2"
    model_factory.make_contract_vae(folder, latent_dim=2)
    model = open_model(folder)
    view = make_view(model)
    assert view.projection.name == "Latent plane"
    np.testing.assert_array_equal(view.layers[0].xy, view.points.vectors)
    view.probe_at(1.5, -0.5)
    qtbot.waitUntil(lambda: view.panel.preview.image is not None, timeout=5000)
    np.testing.assert_array_equal(view.panel.preview.image, model.decode(np.array([[1.5, -0.5]], np.float32)).pixels[0])


def test_render_map_screenshot_of_a_gan(tmp_path, monkeypatch, settings_file):
    from PIL import Image

    from explorer.core import atlas_data as A
    from explorer.qt.map_screenshot import render_map_screenshot

    gen, clf_dir, real = _two_class_world(tmp_path)
    monkeypatch.setattr(A, "fashion_set", lambda split="all", data_dir=None: real)
    out = tmp_path / "gan-map.png"
    assert render_map_screenshot([str(gen)], str(out), size=(1100, 700), classifier=clf_dir) == 0
    assert Image.open(out).size[1] == 700
    assert render_map_screenshot([str(tmp_path / "missing")], str(tmp_path / "x.png")) == 2
