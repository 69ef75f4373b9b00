"""Garment control in the core (no Qt): the style x garment grid, a cell's class, blends, paths that move
the class weights, and sessions that keep all of it. The models are the factory's cgan (class_weights
input, image = sigmoid(z W + w E)) and a foreign generator with an integer label input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import model_factory as mf
from explorer.core.garments import BLEND_STOPS, StopPreviews, snap_to_stop
from explorer.core.grid import NO_CLASSES, GridController, SampleGrid
from explorer.core.latents import SamplingPolicy
from explorer.core.path_editor import PathEditor
from explorer.core.session import Session, capture, restore
from explorer.core.state import AppState
from explorer.io.classes import LABELS_ONLY, blend, one_hot
from explorer.io.model_error import ModelError
from explorer.io.runtime import open_model


@pytest.fixture
def cgan(tmp_path):
    mf.make_contract_cgan(tmp_path / "cgan")
    return open_model(tmp_path / "cgan")


@pytest.fixture
def label_model(tmp_path):
    return open_model(mf.make_generator(tmp_path / "labels.onnx", label_classes=3))


def _grid(model, rows=8, cols=5, seed=3):
    grid = SampleGrid(rows, cols, SamplingPolicy(seed))
    grid.set_model(model)
    controller = GridController(grid)
    # decodes only when the test says so (decode_now): no answer of the worker can land in between
    grid.latents_changed.disconnect(controller.request)
    controller.decode_now()
    return grid, controller


def test_style_x_garment_rows_are_classes_and_columns_share_one_latent(cgan):
    grid, ctl = _grid(cgan)
    plain = grid.latents.copy()
    grid.set_garment_mode(True)
    ctl.decode_now()
    assert (grid.rows, grid.cols) == (4, 5)
    assert grid.row_names() == list(mf.GARMENTS)
    z = grid.latents.reshape(4, 5, -1)
    assert np.array_equal(z, np.broadcast_to(z[0], z.shape))  # one style per column, the same in every row
    assert np.array_equal(grid.labels.reshape(4, 5), np.repeat(np.arange(4)[:, None], 5, axis=1))
    for r in range(4):  # each row is the styles decoded as its class
        expected = cgan.decode(z[0], one_hot(np.full(5, r), 4)).pixels
        assert np.array_equal(grid.pixels.reshape(4, 5, *grid.pixels.shape[1:])[r], expected)
    assert not np.array_equal(grid.pixels[0], grid.pixels[5])  # a Tee and a Dress of the same style differ
    # off again: the ordinary grid comes back as it was
    grid.set_garment_mode(False)
    assert (grid.rows, grid.cols) == (8, 5) and np.array_equal(grid.latents, plain)


def test_reroll_changes_the_styles_and_keeps_the_rows(cgan):
    grid, ctl = _grid(cgan)
    grid.set_garment_mode(True)
    before = grid.latents.copy()
    grid.reroll()
    ctl.decode_now()
    assert not np.allclose(grid.latents, before)
    assert np.array_equal(grid.labels.reshape(4, 5)[:, 0], np.arange(4))
    z = grid.latents.reshape(4, 5, -1)
    assert np.array_equal(z, np.broadcast_to(z[0], z.shape))


def test_a_slider_edit_moves_the_style_of_its_column_in_every_row(cgan):
    grid, ctl = _grid(cgan)
    grid.set_garment_mode(True)
    ctl.decode_now()
    before = grid.latents.copy()
    grid.set_dimension(7, 2, 3.5)  # row 1, column 2
    column = [2, 7, 12, 17]
    assert np.all(grid.latents[column, 2] == 3.5)
    others = [i for i in range(grid.count) if i not in column]
    assert np.array_equal(grid.latents[others], before[others])
    assert sorted(np.flatnonzero(grid.dirty)) == column
    grid.reset_cell(12)
    assert np.array_equal(grid.latents, before)


def test_more_columns_in_the_garment_grid_keep_the_rows_and_the_shown_styles(cgan):
    grid, _ = _grid(cgan)
    grid.set_garment_mode(True)
    before = grid.latents.reshape(4, 5, -1).copy()
    grid.set_size(9, 7)  # the rows are the classes: only the columns change
    assert (grid.rows, grid.cols) == (4, 7)
    z = grid.latents.reshape(4, 7, -1)
    assert np.array_equal(z[:, :5], before) and np.array_equal(z, np.broadcast_to(z[0], z.shape))


def test_keep_the_style_change_the_garment(cgan):
    grid, ctl = _grid(cgan)
    z = grid.latents[6].copy()
    grid.set_cell_class(6, 2)
    ctl.decode_now()
    assert np.array_equal(grid.latents[6], z)
    assert np.array_equal(grid.weights[6], [0, 0, 1, 0])
    assert np.array_equal(grid.pixels[6], cgan.decode(z[None], np.array([2])).pixels[0])


def test_blend_between_two_classes_decodes_the_mix(cgan):
    grid, ctl = _grid(cgan)
    grid.set_cell_blend(4, 1, 3, 0.7)
    ctl.decode_now()
    assert np.allclose(grid.weights[4], [0, 0.3, 0, 0.7])
    assert grid.cell_blend(4) == (1, 3, pytest.approx(0.7))
    expected = cgan.decode(grid.latents[4:5], blend(1, 3, 0.7, 4)[None]).pixels[0]
    assert np.array_equal(grid.pixels[4], expected)
    assert not np.array_equal(expected, cgan.decode(grid.latents[4:5], np.array([3])).pixels[0])


def test_a_label_model_picks_classes_but_refuses_blends_with_the_reason(label_model):
    grid, ctl = _grid(label_model, rows=3, cols=2)
    grid.set_garment_mode(True)
    assert grid.rows == 3
    grid.set_cell_class(0, 2)
    ctl.decode_now()
    assert np.array_equal(grid.pixels[0], label_model.decode(grid.latents[:1], np.array([2])).pixels[0])
    with pytest.raises(ModelError) as exc:
        grid.set_cell_blend(0, 0, 1, 0.5)
    assert str(exc.value) == LABELS_ONLY == label_model.blend_note


def test_a_model_without_classes_has_no_garment_grid(gan_bundle):
    grid, _ = _grid(open_model(gan_bundle))
    with pytest.raises(ModelError, match="not class-conditional"):
        grid.set_garment_mode(True)
    assert str(NO_CLASSES).startswith("this model takes no class")
    assert not grid.garment_mode and grid.classes is None and grid.labels is None


def test_switching_models_keeps_each_models_garment_grid(cgan, gan_bundle):
    gan = open_model(gan_bundle)
    grid, _ = _grid(cgan)
    grid.set_garment_mode(True)
    grid.set_cell_blend(3, 0, 1, 0.4)
    weights = grid.weights.copy()
    grid.set_model(gan)
    assert not grid.garment_mode and grid.rows == 8  # the other model's grid has the ordinary rows
    grid.set_model(cgan)
    assert grid.garment_mode and grid.rows == 4 and np.array_equal(grid.weights, weights)


def test_stops_snap_and_preview_the_three_mixes(cgan):
    assert [snap_to_stop(t) for t in (0.0, 0.3, 0.31, 0.72, 1.0)] == [0.1, 0.1, 0.5, 0.9, 0.9]
    previews = StopPreviews()
    z = np.linspace(-1, 1, cgan.latent_dim).astype(np.float32)
    previews.request(cgan, z, 0, 2)
    previews.decoder.wait(10)
    expected = cgan.decode(np.repeat(z[None], 3, 0), blend(0, 2, np.array(BLEND_STOPS), 4)).pixels
    assert np.array_equal(previews.pixels, expected)
    assert previews.request(cgan, z, 0, 2) is None  # already shown: nothing decoded again
    previews.close()


def _path(model, grid, cells, steps=5):
    editor = PathEditor()
    editor.set_model(model)
    for i in cells:
        editor.add_waypoint(grid.latents[i], f"cell {i + 1}", grid.classes[i])
    editor.set_steps(steps)
    editor.decode_now()
    return editor


def test_a_path_moves_the_class_weights_with_the_latent(cgan):
    grid, _ = _grid(cgan)
    grid.set_garment_mode(True)
    editor = _path(cgan, grid, [0, 6])  # a Tee of style 1 -> a Dress of style 2
    assert np.allclose(editor.weights[:, :2], [[1, 0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0, 1]])
    expected = cgan.decode(editor.latents, editor.weights).pixels
    assert np.array_equal(editor.pixels, expected)
    assert "classes Tee → Dress" in editor.readout
    # the frames' timing is the latent's: ease-in-out moves the weights with the same curve
    editor.set_easing("ease-in-out")
    editor.decode_now()
    from explorer.core.interpolation import ease

    assert np.allclose(editor.weights[1:, 1], ease(np.arange(1, 5) / 4, "ease-in-out"))


def test_a_label_model_path_takes_the_nearer_waypoints_class(label_model):
    grid, _ = _grid(label_model, rows=3, cols=2)
    grid.set_garment_mode(True)
    editor = _path(label_model, grid, [0, 3])  # class 0 -> class 1
    labels = editor.weights.argmax(axis=1)
    assert np.array_equal(editor.pixels, label_model.decode(editor.latents, labels).pixels)
    assert "one class per image" in editor.readout


def test_session_keeps_mode_classes_blends_and_the_paths_weights(cgan):
    grid, _ = _grid(cgan)
    grid.set_garment_mode(True)
    grid.set_cell_blend(2, 0, 3, 0.7)
    grid.set_cell_class(9, 1)
    grid.set_blend_stops(True)
    editor = _path(cgan, grid, [0, 7])
    state = AppState()
    state.models.append(cgan)
    state.active = cgan
    state.add_endpoint(cgan, grid.latents[2], 0, grid.classes[2])
    text = json.dumps(capture(state, grid, parts={"path": editor}).to_json())
    back = Session.from_json(json.loads(text))
    state2, grid2, editor2 = AppState(), SampleGrid(), PathEditor()
    state2.models.append(cgan)
    state2.active = cgan
    editor2.set_model(cgan)
    report = restore(back, state2, grid2, parts={"path": editor2})
    assert report.errors == []
    assert grid2.garment_mode and grid2.blend_stops and (grid2.rows, grid2.cols) == (4, 5)
    assert np.array_equal(grid2.weights, grid.weights) and np.array_equal(grid2.pairs, grid.pairs)
    assert np.array_equal(grid2.latents, grid.latents)
    assert np.allclose(state2.path_endpoints[0].weights, [0.3, 0, 0, 0.7])
    assert [w.weights.tolist() for w in editor2.waypoints] == [w.weights.tolist() for w in editor.waypoints]


def test_a_session_from_before_garments_opens_with_each_rows_class(cgan):
    old = {"format": "latent-explorer-session", "version": 2, "models": [], "active": None,
           "grid": {"rows": 3, "cols": 2, "seed": 4, "temperature": 1.0, "truncation": None, "class_choice": 2,
                    "model": cgan.name}, "endpoints": [{"model": cgan.name, "z": [0.0] * 8, "label": 1}]}
    state, grid = AppState(), SampleGrid()
    state.models.append(cgan)
    state.active = cgan
    report = restore(Session.from_json(old), state, grid)
    assert report.errors == [] and not grid.garment_mode
    assert (grid.labels == 2).all() and state.path_endpoints[0].weights is None


def test_session_refuses_unreadable_class_weights_with_one_line():
    from explorer.core.session import SessionError

    bad = {"format": "latent-explorer-session", "version": 2, "grid": {"class_weights": [[1.0, "x"]]}}
    with pytest.raises(SessionError, match="malformed session"):
        Session.from_json(bad)
    bad["grid"]["class_weights"] = [[1.0, float("nan")]]
    with pytest.raises(SessionError, match="class_weights"):
        Session.from_json(bad)
    bad["grid"] = {"garment_mode": "yes"}
    with pytest.raises(SessionError, match="garment_mode"):
        Session.from_json(bad)


def test_a_map_selection_shown_in_the_garment_grid_becomes_its_styles(cgan):
    from explorer.qt.map_view import show_in_grid

    grid, _ = _grid(cgan)
    grid.set_garment_mode(True)
    z = np.random.default_rng(5).standard_normal((6, cgan.latent_dim)).astype(np.float32)
    line = show_in_grid(grid, z)
    assert "6 selected latents as the styles" in line
    assert (grid.rows, grid.cols) == (4, 6)
    assert np.array_equal(grid.latents.reshape(4, 6, -1), np.broadcast_to(z, (4, 6, cgan.latent_dim)))
    assert np.array_equal(grid.labels.reshape(4, 6)[:, 0], np.arange(4))


def test_a_path_can_keep_the_style_and_change_only_the_garment(cgan):
    grid, _ = _grid(cgan)
    grid.set_garment_mode(True)
    one_style = [1, 1 + grid.cols]  # one column: the same style as a Tee and as a Dress
    editor = _path(cgan, grid, one_style)
    assert editor.problem == "" and np.allclose(editor.latents, grid.latents[1])
    assert np.allclose(editor.weights[:, :2], [[1, 0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0, 1]])
    assert np.array_equal(editor.pixels, cgan.decode(editor.latents, editor.weights).pixels)
    # with a segment that moves the style too, the garment-only segment gets frames like a moving one
    editor.add_waypoint(grid.latents[2 + grid.cols], "dress 3", grid.classes[2 + grid.cols])
    editor.set_steps(9)
    editor.decode_now()
    counts = editor.path().frame_segments()
    assert editor.problem == "" and sum(counts) == 8 and min(counts) >= 3, counts
    # kept in sessions as such
    saved = editor.save_state()
    again = PathEditor()
    again.set_model(cgan)
    assert again.restore_state(saved) == []
    again.decode_now()
    assert np.array_equal(again.pixels, editor.pixels)
    # the same latent with the same garment is still no path
    same = _path(cgan, grid, [1, 1])
    assert same.pixels is None and "same latent" in same.problem


def test_the_ordinary_rows_are_what_the_settings_keep_while_the_garment_grid_shows(cgan):
    grid, _ = _grid(cgan, rows=6)
    grid.set_garment_mode(True)
    assert grid.rows == 4 and grid.plain_rows == 6
    grid.set_garment_mode(False)
    assert grid.plain_rows == grid.rows == 6


def test_the_walk_moves_each_style_in_every_row_together(cgan):
    from explorer.core.latents import LatentWalk

    grid, _ = _grid(cgan)
    grid.set_garment_mode(True)
    walk = LatentWalk(grid.latents, seed=1)
    before = grid.latents.copy()
    for _ in range(3):
        grid.set_all_latents(walk.step(0.05))
    z = grid.latents.reshape(4, 5, -1)
    assert not np.allclose(grid.latents, before)
    assert np.array_equal(z, np.broadcast_to(z[0], z.shape))
    assert np.array_equal(grid.labels.reshape(4, 5)[:, 0], np.arange(4))
