"""The interpolation path: editor (no Qt) and the Qt strip/playback view."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.core.path_editor import PathEditor
from explorer.io.runtime import open_model

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


@pytest.fixture
def editor(gan_bundle):
    ed = PathEditor(features=lambda px: px.reshape(len(px), -1).astype(np.float32) / 255.0)
    ed.set_model(open_model(gan_bundle))
    yield ed
    ed.close()


def test_editor_needs_two_waypoints_and_compares_slerp_with_lerp(editor):
    editor.add_random()
    editor.decode_now()
    assert editor.pixels is None and "at least 2 waypoints" in editor.problem
    editor.add_random()
    editor.set_steps(7)
    editor.decode_now()
    assert editor.pixels.shape == (7, 8, 8, 1) and editor.latents.shape == (7, 8)
    assert "slerp" in editor.readout and "lerp" in editor.readout and "path length" in editor.readout
    lengths = editor.lengths()
    assert set(lengths) == {"slerp", "lerp"} and all(v > 0 for v in lengths.values())


def test_editor_async_answers_arrive_and_stale_ones_are_dropped(gan_bundle):
    answers = []
    ed = PathEditor(dispatch=lambda receive: answers.append)  # answers kept, not applied
    ed.set_model(open_model(gan_bundle))
    ed.add_random()
    ed.add_random()
    ed.set_steps(5)
    assert ed.decoder.wait(10)
    assert answers and ed.receive(answers[-1]) and ed.pixels.shape[0] == 5
    assert not ed.receive(answers[0]) or len(answers) == 1
    ed.close()


def test_view_shows_plays_and_exports(qtbot, editor, tmp_path):
    from PIL import Image

    from explorer.qt.path_view import PathView

    view = PathView(editor, interactive=False)
    qtbot.addWidget(view)
    assert not view.play_btn.isEnabled() and "waypoints" in view.readout.text()
    editor.add_random()
    editor.add_random()
    editor.decode_now()
    assert len(view.strip._images) == editor.steps and view.strip._waypoints == [0, editor.steps - 1]
    view.mode.setCurrentText("lerp")  # widget -> editor
    assert editor.mode == "lerp"
    editor.set_easing("ease-in-out")  # editor -> widget, without looping back
    assert view.easing.currentText() == "ease-in-out"
    editor.decode_now()
    view.set_playing(True)
    assert view.timer.isActive()
    for _ in range(editor.steps + 3):  # ping-pong past the end
        view.tick()
    assert 0 <= view.frame < editor.steps and view.direction == -1
    view.set_playing(False)
    view.resize(900, 220)
    view.grab().save(str(tmp_path / "view.png"))
    assert "Saved" in view.export(str(tmp_path / "p.gif"))
    with Image.open(tmp_path / "p.gif") as im:
        assert im.n_frames == editor.steps
    view.export(str(tmp_path / "p.npy"))
    assert np.load(tmp_path / "p.npy", allow_pickle=False).shape == (editor.steps, 8)


def test_grid_endpoints_become_waypoints_in_the_window(qtbot, window):
    view = window.path_view
    window.add_endpoint(0)
    window.add_endpoint(3)
    assert len(window.path_editor.waypoints) == 2
    qtbot.waitUntil(lambda: window.path_editor.pixels is not None, timeout=5000)
    assert len(view.strip._images) == window.path_editor.steps
    window.state.clear_endpoints()
    window.add_endpoint(5)
    assert len(window.path_editor.waypoints) == 3


def test_dropped_images_become_waypoints_on_a_vae_only(qtbot, vae_bundle, gan_bundle, tmp_path):
    from PIL import Image

    from explorer.qt.path_view import PathView

    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "big.png")
    ed = PathEditor()
    ed.set_model(open_model(vae_bundle))
    view = PathView(ed, interactive=False)
    qtbot.addWidget(view)
    messages = []
    view.message.connect(messages.append)
    assert view.add_images([str(tmp_path / "a.png")]) == 1
    assert ed.waypoints[0].name == "image a.png" and ed.waypoints[0].z.shape == (6,)
    assert view.add_images([str(tmp_path / "big.png")]) == 0 and "resize it first" in messages[-1]
    ed.set_model(open_model(gan_bundle))
    assert view.add_images([str(tmp_path / "a.png")]) == 0 and "only VAE bundles" in messages[-1]
    ed.close()


def test_path_overlay_draws_the_path_and_dragging_moves_a_waypoint(qtbot, vae_bundle):
    import pyqtgraph as pg
    from PySide6.QtCore import QPointF

    from explorer.io import contract
    from explorer.core.projection import PCAPlane
    from explorer.qt.path_overlay import PathOverlay

    atlas = contract.Atlas.load(vae_bundle / contract.ATLAS_FILE)
    plane = PCAPlane.fit(atlas.mu)
    ed = PathEditor()
    ed.set_model(open_model(vae_bundle))
    plot = pg.GraphicsView()
    qtbot.addWidget(plot)
    vb = pg.ViewBox(enableMenu=False)  # no context menus: they would outlive the test as top-level widgets
    plot.setCentralItem(vb)
    overlay = PathOverlay(vb, ed)
    overlay.set_projection(plane)
    ed.add_waypoint(atlas.mu[0], "map point 0")
    ed.add_waypoint(atlas.mu[1], "map point 1")
    ed.set_steps(9)
    ed.decode_now()
    xs, ys = overlay.line.getData()
    assert len(xs) == 9 and len(overlay.targets) == 2
    assert np.allclose([xs[0], ys[0]], plane.forward(atlas.mu[:1])[0], atol=1e-5)
    before = ed.waypoints[1].z.copy()
    target = plane.forward(atlas.mu[:1])[0] + np.array([1.0, -0.5], np.float32)
    overlay.targets[1].setPos(QPointF(float(target[0]), float(target[1])))
    overlay._drag_finished(1, overlay.targets[1])  # what sigPositionChangeFinished calls
    moved = ed.waypoints[1].z
    assert np.allclose(plane.forward(moved[None])[0], target, atol=1e-4)
    off_plane = (before - moved) - ((before - moved) @ plane.components.T) @ plane.components
    assert np.allclose(off_plane, 0, atol=1e-5)  # only the part the map shows moved
    ed.remove_waypoint(0)
    assert len(overlay.targets) == 1
    overlay.remove()
    ed.close()
