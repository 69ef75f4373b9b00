"""Sessions: round trip through JSON and the app state, newer versions, moved models (no Qt)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from explorer.core.directions import DirectionList, pca_directions
from explorer.core.grid import SampleGrid
from explorer.core.latents import SamplingPolicy
from explorer.core.path_editor import PathEditor
from explorer.core.session import (SESSION_VERSION, Session, SessionError, capture, load_session, restore,
                                   save_session)
from explorer.core.state import AppState


@pytest.fixture
def editors():
    """PathEditors made by a test, closed after it (each owns a decoding thread)."""
    made = []

    def make():
        made.append(PathEditor())
        return made[-1]

    yield make
    for ed in made:
        ed.close()


def _built(gan_bundle, vae_bundle, editors):
    state = AppState()
    state.open(gan_bundle)
    vae = state.open(vae_bundle)
    grid = SampleGrid(3, 4, SamplingPolicy(seed=7, temperature=0.8, truncation=2.0))
    grid.set_model(vae)
    grid.set_dimension(5, 2, 3.25)  # an edited cell
    grid.set_focus(5)
    state.add_endpoint(vae, grid.latents[0])
    state.add_endpoint(vae, grid.latents[1], label=None)
    editor = editors()
    editor.set_model(vae)
    editor.set_waypoints([(z, f"cell {i}") for i, z in enumerate(grid.latents[:3])])
    editor.set_mode("lerp")
    editor.set_steps(9)
    editor.set_easing("ease-in-out")
    editor.set_fps(20)
    dirs = DirectionList(pca_directions(grid.latents, k=2, model=vae.name))
    return state, grid, capture(state, grid, parts={"path": editor, "directions": dirs},
                                view={"tab": "map", "cell_px": 96})


def test_session_round_trip(gan_bundle, vae_bundle, tmp_path, editors):
    state, grid, session = _built(gan_bundle, vae_bundle, editors)
    file = save_session(session, tmp_path / "s.json")
    text = file.read_text()
    assert '"format": "latent-explorer-session"' in text and "\n  " in text  # readable, indented
    back = load_session(file)
    assert back.to_json() == session.to_json()

    state2, grid2, editor2, dirs2 = AppState(), SampleGrid(), editors(), DirectionList()
    state2.active_changed.connect(editor2.set_model)  # the path follows the active model, as in the window
    report = restore(back, state2, grid2, parts={"path": editor2, "directions": dirs2})
    assert report.missing == [] and report.errors == [] and len(report.opened) == 2
    assert [m.name for m in state2.models] == [m.name for m in state.models]
    assert state2.active.name == state.active.name
    assert (grid2.rows, grid2.cols, grid2.policy) == (3, 4, grid.policy)
    assert np.array_equal(grid2.latents, grid.latents) and grid2.latents[5, 2] == np.float32(3.25)
    assert grid2.focus == 5
    assert len(state2.path_endpoints) == 2 and np.array_equal(state2.path_endpoints[0].z, grid.latents[0])
    assert (editor2.mode, editor2.steps, editor2.easing, editor2.fps) == ("lerp", 9, "ease-in-out", 20)
    assert [w.name for w in editor2.waypoints] == ["cell 0", "cell 1", "cell 2"]
    assert np.array_equal(np.stack([w.z for w in editor2.waypoints]), grid.latents[:3])
    assert [d.name for d in dirs2] == ["PC1", "PC2"]
    assert back.view == {"tab": "map", "cell_px": 96}


def test_a_part_that_fails_to_restore_is_one_line_and_the_rest_comes_back(gan_bundle, vae_bundle, editors):
    _, grid, session = _built(gan_bundle, vae_bundle, editors)
    session.docks["path"]["paths"][0]["waypoints"] = [[1.0, 2.0]]  # one waypoint: not a path

    class Broken:
        def restore_state(self, state):
            raise RuntimeError("the map is gone")

    session.docks["map"] = {"view": {}}
    state2, grid2, editor2, dirs2 = AppState(), SampleGrid(), editors(), DirectionList()
    state2.active_changed.connect(editor2.set_model)
    report = restore(session, state2, grid2, parts={"path": editor2, "map": Broken(), "directions": dirs2})
    assert len(report.errors) == 2 and all("\n" not in e for e in report.errors)
    assert "at least 2 waypoints" in report.errors[0] and editor2.fps == 20  # the speed still came back
    assert report.errors[1] == "map not restored (RuntimeError: the map is gone)"
    assert [d.name for d in dirs2] == ["PC1", "PC2"] and np.array_equal(grid2.latents, grid.latents)


def test_a_part_that_cannot_describe_itself_is_left_out_of_the_file(gan_bundle, vae_bundle, editors, tmp_path):
    state, grid, _ = _built(gan_bundle, vae_bundle, editors)

    class Unsaveable:
        def save_state(self):
            return {"z": np.zeros(2)}  # not JSON-ready

    session = capture(state, grid, parts={"map": Unsaveable(), "directions": DirectionList(), "other": DirectionList()})
    assert session.notes == ["map left out (TypeError: Object of type ndarray is not JSON serializable)"]
    assert set(session.docks) == {"directions", "other"}
    assert load_session(save_session(session, tmp_path / "s.json")).docks == session.docks


def test_a_version_1_file_opens_into_the_same_sections(tmp_path):
    """What the app wrote before the parts had sections: paths, directions, selections, view.map/path_fps."""
    v1 = {"format": "latent-explorer-session", "version": 1, "models": [{"path": "/m/vae", "name": "vae"}],
          "active": "/m/vae", "grid": {"rows": 2, "cols": 3}, "endpoints": [],
          "paths": [{"model": "vae", "name": "current", "waypoints": [[0.0, 1.0], [1.0, 0.0]], "mode": "lerp",
                     "steps": 5, "easing": "linear", "names": ["a", "b"]}],
          "directions": [{"name": "d", "vector": [1.0, 0.0]}], "selections": {"A": [1, 2], "B": [9]},
          "view": {"cell_px": 84, "path_fps": 24, "map": {"projection": "PCA", "dims": [0, 1]}}}
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    back = load_session(tmp_path / "v1.json")
    assert back.version == 1 and back.view == {"cell_px": 84}
    assert back.docks["path"] == {"paths": v1["paths"], "fps": 24}
    assert back.docks["directions"] == {"directions": v1["directions"]}
    assert back.docks["map"] == {"groups": {"A": [1, 2], "B": [9]}, "view": {"projection": "PCA", "dims": [0, 1]}}
    assert back.to_json()["version"] == SESSION_VERSION  # saved again in today's layout
    dirs = DirectionList()
    assert dirs.restore_state(back.docks["directions"]) == [] and [d.name for d in dirs] == ["d"]


def test_a_moved_model_is_asked_for_not_fatal(gan_bundle, vae_bundle, tmp_path, editors):
    _, _, session = _built(gan_bundle, vae_bundle, editors)
    save_session(session, tmp_path / "s.json")
    moved = tmp_path / "moved-vae"
    shutil.move(str(vae_bundle), moved)
    back = load_session(tmp_path / "s.json")
    assert [m.name for m in back.missing_models()] == ["test vae"]

    asked = []
    report = restore(back, AppState(), SampleGrid(), locate=lambda ref: asked.append(ref.name) or None)
    assert asked == ["test vae"] and [m.name for m in report.missing] == ["test vae"]
    assert len(report.opened) == 1 and "not found (test vae)" in report.summary()

    back = load_session(tmp_path / "s.json")
    state = AppState()
    grid = SampleGrid()
    report = restore(back, state, grid, locate=lambda ref: str(moved / "decoder.onnx"))
    assert report.missing == [] and len(report.opened) == 2
    assert state.active.name == "test vae" and grid.model is state.active and grid.rows == 3


def test_newer_or_broken_session_files_say_why(tmp_path):
    data = Session().to_json()
    data["version"] = SESSION_VERSION + 1
    (tmp_path / "new.json").write_text(json.dumps(data))
    with pytest.raises(SessionError, match="newer than this app"):
        load_session(tmp_path / "new.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SessionError, match="not valid JSON"):
        load_session(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(SessionError, match="not a Latent Explorer session"):
        load_session(tmp_path / "other.json")
    data["version"] = SESSION_VERSION
    data["docks"] = ["not", "sections"]
    (tmp_path / "docks.json").write_text(json.dumps(data))
    with pytest.raises(SessionError, match="malformed session"):
        load_session(tmp_path / "docks.json")
    with pytest.raises(SessionError, match="no such session file"):
        load_session(tmp_path / "absent.json")


def test_saving_over_a_session_is_atomic(tmp_path, monkeypatch):
    from explorer.io import exports

    save_session(Session(view={"n": 1}), tmp_path / "s.json")
    monkeypatch.setattr(exports.os, "replace", lambda a, b: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(exports.ExportError):
        save_session(Session(view={"n": 2}), tmp_path / "s.json")
    assert load_session(tmp_path / "s.json").view == {"n": 1}


def test_directions_and_path_sections_keep_what_they_can(gan_bundle, editors):
    from explorer.core.directions import Direction
    from explorer.core.interpolation import PathError
    from explorer.io.runtime import open_model

    dirs = DirectionList([Direction("kept", np.ones(3))])
    seen = []
    dirs.changed.connect(lambda: seen.append(len(dirs)))
    assert dirs.restore_state({"directions": []}) == [] and [d.name for d in dirs] == ["kept"]  # none saved
    notes = dirs.restore_state({"directions": [{"name": "ok", "vector": [0.0, 1.0]}, {"name": "zero", "vector": [0, 0]},
                                               {"vector": [1.0]}]})
    assert [d.name for d in dirs] == ["ok"] and seen == [1] and len(notes) == 2
    assert "length 0" in notes[0] and "not a readable direction" in notes[1]

    editor = editors()
    editor.set_model(open_model(gan_bundle))
    with pytest.raises(PathError, match="1 to 60 frames per second"):
        editor.set_fps(0)
    other = {"model": "another model", "waypoints": [[0.0] * 8, [1.0] * 8]}
    assert editor.restore_state({"paths": [other], "fps": 5}) == [] and editor.waypoints == [] and editor.fps == 5
    assert editor.restore_state({"fps": "fast"}) == ["path speed not restored (invalid literal for int() with base 10: "
                                                      "'fast')"]
