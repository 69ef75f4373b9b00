"""Sessions: round trip through JSON and the app state, newer versions, moved models (no Qt)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from explorer.core.directions import pca_directions
from explorer.core.grid import SampleGrid
from explorer.core.interpolation import LatentPath
from explorer.core.latents import SamplingPolicy
from explorer.core.session import (NamedPath, Session, SessionError, capture, load_session, restore, save_session)
from explorer.core.state import AppState


def _built(gan_bundle, vae_bundle):
    state = AppState()
    state.open(gan_bundle)
    vae = state.open(vae_bundle)
    grid = SampleGrid(3, 4, SamplingPolicy(seed=7, temperature=0.8, truncation=2.0))
    grid.set_model(vae)
    grid.set_dimension(5, 2, 3.25)  # an edited cell
    grid.set_focus(5)
    state.add_endpoint(vae, grid.latents[0])
    state.add_endpoint(vae, grid.latents[1], label=None)
    path = NamedPath(vae.name, LatentPath(grid.latents[:3], mode="lerp", steps=9, easing="ease-in-out"), "three")
    dirs = pca_directions(grid.latents, k=2, model=vae.name)
    return state, grid, capture(state, grid, paths=[path], directions=dirs, selections={"A": [1, 2], "B": [9]},
                                view={"tab": "map", "map": {"range": [[0, 1], [0, 1]]}})


def test_session_round_trip(gan_bundle, vae_bundle, tmp_path):
    state, grid, session = _built(gan_bundle, vae_bundle)
    file = save_session(session, tmp_path / "s.json")
    text = file.read_text()
    assert '"format": "latent-explorer-session"' in text and "\n  " in text  # readable, indented
    back = load_session(file)
    assert back.to_json() == session.to_json()

    state2, grid2 = AppState(), SampleGrid()
    report = restore(back, state2, grid2)
    assert report.missing == [] and report.errors == [] and len(report.opened) == 2
    assert [m.name for m in state2.models] == [m.name for m in state.models]
    assert state2.active.name == state.active.name
    assert (grid2.rows, grid2.cols, grid2.policy) == (3, 4, grid.policy)
    assert np.array_equal(grid2.latents, grid.latents) and grid2.latents[5, 2] == np.float32(3.25)
    assert grid2.focus == 5
    assert len(state2.path_endpoints) == 2 and np.array_equal(state2.path_endpoints[0].z, grid.latents[0])
    assert back.paths[0].path.easing == "ease-in-out" and back.paths[0].name == "three"
    assert np.array_equal(back.paths[0].path.waypoints, grid.latents[:3])
    assert [d.name for d in back.directions] == ["PC1", "PC2"]
    assert back.selections == {"A": [1, 2], "B": [9]} and back.view["tab"] == "map"


def test_a_moved_model_is_asked_for_not_fatal(gan_bundle, vae_bundle, tmp_path):
    _, _, session = _built(gan_bundle, vae_bundle)
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
    data["version"] = 2
    (tmp_path / "new.json").write_text(json.dumps(data))
    with pytest.raises(SessionError, match="newer than this app"):
        load_session(tmp_path / "new.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SessionError, match="not valid JSON"):
        load_session(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(SessionError, match="not a Latent Explorer session"):
        load_session(tmp_path / "other.json")
    data["version"] = 1
    data["paths"] = [{"model": "m", "waypoints": [[1.0, 2.0]]}]
    (tmp_path / "onept.json").write_text(json.dumps(data))
    with pytest.raises(SessionError, match="at least 2 waypoints"):
        load_session(tmp_path / "onept.json")
    with pytest.raises(SessionError, match="no such session file"):
        load_session(tmp_path / "absent.json")


def test_saving_over_a_session_is_atomic(tmp_path, monkeypatch):
    from explorer.io import exports

    save_session(Session(view={"n": 1}), tmp_path / "s.json")
    monkeypatch.setattr(exports.os, "replace", lambda a, b: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(exports.ExportError):
        save_session(Session(view={"n": 2}), tmp_path / "s.json")
    assert load_session(tmp_path / "s.json").view == {"n": 1}
