"""Directions dock and sessions in the main window (offscreen Qt)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.core.directions import Direction

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def _use_vae(window):
    vae = next(m for m in window.state.models if m.name == "test vae")
    window.state.set_active(vae)
    window.controller.decode_now()
    return vae


def test_class_direction_slider_moves_the_focused_latent(window):
    _use_vae(window)
    panel = window.directions_panel
    assert panel.class_btn.isEnabled() and not panel.sefa_btn.isEnabled()
    panel.class_a.setCurrentIndex(0)
    panel.class_b.setCurrentIndex(1)
    panel.make_class_direction()
    assert panel.directions[-1].name == "a → b"
    window.grid.set_focus(3)
    before = window.grid.latents[3].copy()
    panel.amount.setValue(150)  # +1.5 latent units
    moved = window.grid.latents[3]
    assert np.linalg.norm(moved - before) == pytest.approx(1.5, rel=1e-4)
    assert np.allclose((moved - before) / 1.5, panel.selected().vector, atol=1e-5)
    panel.amount.setValue(0)
    assert np.allclose(window.grid.latents[3], before)


def test_arithmetic_and_sefa_on_the_gan(window):
    panel = window.directions_panel
    gan = next(m for m in window.state.models if m.name == "test gan")
    window.state.set_active(gan)
    assert panel.sefa_btn.isEnabled() and not panel.pca_btn.isEnabled()
    panel.make_sefa()
    assert [d.source for d in panel.directions] == ["sefa"] * 5
    g = window.grid
    g.set_focus(0)
    panel.cell_a.setValue(1)
    panel.cell_b.setValue(2)
    panel.cell_c.setValue(3)
    want = g.latents[1] - g.latents[2] + g.latents[3]
    panel.apply_arithmetic()
    assert np.allclose(g.latents[0], want)


def test_session_round_trip_through_the_window(qtbot, window, tmp_path, settings_file):
    from explorer.qt.app import build_window
    from explorer.qt.session_actions import last_session_file, open_session_from, save_session_to

    vae = _use_vae(window)
    window.grid.set_size(3, 5)
    window.directions_panel.add_directions([Direction("mine", np.arange(vae.latent_dim) + 1.0, model=vae.name)])
    window.path_editor.add_random()
    window.path_editor.add_random()
    window.path_editor.set_mode("lerp")
    assert save_session_to(window, str(tmp_path / "s.json"))
    data = json.loads((tmp_path / "s.json").read_text())
    docks = data["docks"]  # one section per part of the window
    assert data["grid"]["rows"] == 3 and docks["path"]["paths"][0]["mode"] == "lerp"
    assert docks["directions"]["directions"][0]["name"] == "mine"

    other, _ = build_window([], interactive=False)
    try:
        assert open_session_from(other, str(tmp_path / "s.json"))
        assert other.state.active.name == "test vae" and (other.grid.rows, other.grid.cols) == (3, 5)
        assert [d.name for d in other.directions_panel.directions] == ["mine"]
        assert other.path_editor.mode == "lerp" and len(other.path_editor.waypoints) == 2
        assert np.array_equal(other.grid.latents, window.grid.latents)
        (tmp_path / "new.json").write_text(json.dumps({**data, "version": 9}))
        assert not open_session_from(other, str(tmp_path / "new.json"))
        assert "newer than this app" in other.last_message
    finally:
        other.close()
        other.deleteLater()
    assert last_session_file().parent == settings_file.parent  # tests never touch the user's config


def test_last_session_reopens_at_start(qtbot, window, settings_file):
    from explorer.qt.app import build_window
    from explorer.qt.session_actions import last_session_file

    _use_vae(window)
    window.interactive = True  # closing an interactive window keeps the session
    window.close()
    window.interactive = False
    assert last_session_file().is_file()
    again, errors = build_window([], interactive=True)
    try:
        assert errors == [] and again.state.active is not None and again.state.active.name == "test vae"
        assert "Reopened the last session" in again.last_message
    finally:
        again.interactive = False
        again.close()
        again.deleteLater()


def test_grid_latents_export(window, tmp_path):
    from explorer.qt.session_actions import export_grid_latents

    assert export_grid_latents(window, str(tmp_path / "z.npy"))
    assert np.array_equal(np.load(tmp_path / "z.npy", allow_pickle=False), window.grid.latents)
    assert export_grid_latents(window, str(tmp_path / "z.json"))
    assert json.loads((tmp_path / "z.json").read_text())["rows"] == window.grid.rows
    assert not export_grid_latents(window, str(tmp_path / "missing" / "z.npy"))
    assert "does not exist" in window.last_message
    texts = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert "Export Grid &Latents…" in texts and "Save &Session…" in texts


def test_slider_starts_from_edits_made_elsewhere(window):
    _use_vae(window)
    panel = window.directions_panel
    panel.make_pca()
    window.grid.set_focus(2)
    window.grid.set_dimension(2, 0, 2.5)  # the focused-latent panel edits the cell
    edited = window.grid.latents[2].copy()
    panel.amount.setValue(100)
    assert np.allclose(window.grid.latents[2], panel.selected().move(edited, 1.0))
