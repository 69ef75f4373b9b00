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
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    _use_vae(window)
    window.directions_dock.raise_()
    panel = window.directions_panel
    assert panel.class_btn.isEnabled() and not panel.sefa_btn.isEnabled()
    assert (panel.class_a.currentText(), panel.class_b.currentText()) == ("a", "b")
    QTest.keyClick(panel.class_b, Qt.Key.Key_Down)  # b -> c
    _click(panel.class_btn)
    assert panel.directions[-1].name == "a → c"
    _click_cell(window, 3)
    assert window.grid.focus == 3 and "row 1, column 4" in panel.target.text()
    before = window.grid.latents[3].copy()
    panel.amount.setFocus()
    for _ in range(15):  # the slider's keys: +0.1 latent units a press
        QTest.keyClick(panel.amount, Qt.Key.Key_PageUp)
    assert panel.amount_label.text() == "+1.50"
    moved = window.grid.latents[3]
    assert np.linalg.norm(moved - before) == pytest.approx(1.5, rel=1e-4)
    assert np.allclose((moved - before) / 1.5, panel.selected().vector, atol=1e-5)
    QTest.keyClick(panel.amount, Qt.Key.Key_Home)  # to the far left, then back to 0
    for _ in range(60):
        QTest.keyClick(panel.amount, Qt.Key.Key_PageUp)
    assert panel.amount.value() == 0 and np.allclose(window.grid.latents[3], before, atol=1e-5)


def test_directions_list_remove_and_save_through_the_widgets(window, monkeypatch, tmp_path):
    from explorer.qt import directions_panel

    _use_vae(window)
    window.directions_dock.raise_()
    panel = window.directions_panel
    _click(panel.pca_btn)
    assert panel.list.count() == 5 and panel.selected().name == "PC5"
    item = panel.list.item(1)
    _click(panel.list.viewport(), panel.list.visualItemRect(item).center())
    assert panel.selected().name == "PC2"
    _click(panel.remove_btn)
    assert [d.name for d in panel.offered] == ["PC1", "PC3", "PC4", "PC5"]
    asked = {}

    def save_as(parent, title, name, filters):
        asked["name"] = name
        return str(tmp_path / name), filters

    monkeypatch.setattr(directions_panel.QFileDialog, "getSaveFileName", save_as)
    panel.interactive = True
    try:
        _click(panel.save_btn)
    finally:
        panel.interactive = False
    assert asked["name"] == "test-vae-directions.json"  # no spaces in a suggested name
    assert (tmp_path / asked["name"]).is_file() and window.last_message.startswith("Saved 4 directions")


def _click(widget, pos=None) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=widget.rect().center() if pos is None else pos)


def _click_cell(window, index: int) -> None:
    """A left click where the grid draws cell ``index`` (it focuses the cell)."""
    window.scroll.ensureWidgetVisible(window.canvas)
    _click(window.canvas, window.canvas.cell_rect(index).center())


def test_arithmetic_picks_cells_by_clicking_them_and_sefa_on_the_gan(window):
    panel = window.directions_panel
    gan = next(m for m in window.state.models if m.name == "test gan")
    window.state.set_active(gan)
    window.directions_dock.raise_()
    assert panel.sefa_btn.isEnabled() and not panel.pca_btn.isEnabled()
    _click(panel.sefa_btn)
    assert [d.source for d in panel.directions] == ["sefa"] * 5
    g = window.grid
    assert not panel.arith_btn.isEnabled() and "pick A and B and C" in panel.arith_btn.toolTip()
    for slot, cell in (("A", 1), ("B", 2), ("C", g.cols + 3)):  # the grid never shows numbers: click the cells
        _click_cell(window, cell)
        assert g.focus == cell
        _click(panel.pick_buttons[slot])
    assert panel.pick_labels["C"].text() == "row 2, column 4"  # counted as the focused-cell title counts
    want = g.latents[1] - g.latents[2] + g.latents[g.cols + 3]
    _click_cell(window, 0)
    assert panel.arith_btn.isEnabled()
    _click(panel.arith_btn)
    assert np.allclose(g.latents[0], want)
    assert "row 1, column 1" in window.last_message and "row 2, column 4" in window.last_message
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    QTest.keyClick(window.controls.cols, Qt.Key.Key_Down)  # another layout: the picked places are gone
    assert g.cols == 7 and panel.arithmetic.missing() == ["A", "B", "C"]
    assert panel.pick_labels["A"].text() == "not picked"


def test_sefa_directions_are_offered_only_for_the_file_they_were_made_on(window, tmp_path):
    """Another GAN of the same latent size is an unrelated latent space: its SeFa directions are not offered,
    and the dock says why."""
    import model_factory

    other_dir = tmp_path / "other"
    model_factory.make_generator(other_dir / "generator.onnx", latent_dim=8, height=8, width=8, activation="tanh",
                                 seed=7, card=model_factory.card(name="other gan", value_range=(-1.0, 1.0)))
    assert window.open_path(str(other_dir)) is None
    panel = window.directions_panel
    gan = next(m for m in window.state.models if m.name == "test gan")
    other = next(m for m in window.state.models if m.name == "other gan")
    assert gan.latent_dim == other.latent_dim
    window.state.set_active(gan)
    window.directions_dock.raise_()
    _click(panel.sefa_btn)
    assert panel.list.count() == 5
    window.state.set_active(other)
    assert panel.list.count() == 0 and panel.selected() is None
    assert panel.hidden_note.isVisibleTo(panel)
    assert "5 made on test gan" in panel.hidden_note.text()
    _click(panel.sefa_btn)  # its own directions are offered
    assert panel.list.count() == 5 and all(d.model == "other gan" for d in panel.offered)
    window.state.set_active(gan)
    assert panel.list.count() == 5 and all(d.model == "test gan" for d in panel.offered)


def test_directions_entries_are_readable_at_the_docks_width(window):
    """Entries wrap inside the list instead of running off its edge (no sideways scrolling)."""
    from PySide6.QtCore import Qt

    from explorer.core.directions import selection_direction

    vae = _use_vae(window)
    window.directions_dock.raise_()
    panel = window.directions_panel
    rng = np.random.default_rng(0)
    panel.add_directions([selection_direction(rng.standard_normal((3000, vae.latent_dim)), np.arange(1234),
                                              np.arange(1234, 2221), model=vae.name)])  # what the map sends
    _click(panel.pca_btn)
    window.resize(1366, 768)
    for _ in range(3):
        window.repaint()
        from PySide6.QtWidgets import QApplication
        QApplication.processEvents()
    lst = panel.list
    width = lst.viewport().width()
    assert width > 100
    assert lst.horizontalScrollBar().maximum() == 0
    fm = lst.fontMetrics()
    for i in range(lst.count()):
        item = lst.item(i)
        rect = lst.visualItemRect(item)
        assert rect.right() <= width, item.text()
        needed = fm.boundingRect(0, 0, rect.width(), 10_000, int(Qt.TextFlag.TextWordWrap), item.text())
        assert needed.height() <= rect.height() and needed.width() <= rect.width(), item.text()


def test_greyed_out_choices_say_why_and_a_gan_shows_no_empty_class_boxes(window):
    panel = window.directions_panel
    window.directions_dock.raise_()
    gan = next(m for m in window.state.models if m.name == "test gan")
    window.state.set_active(gan)
    assert not panel.class_a.isVisibleTo(panel) and not panel.class_btn.isVisibleTo(panel)
    assert panel.no_classes.isVisibleTo(panel) and "no classes" in panel.no_classes.text()
    assert not panel.pca_btn.isEnabled() and "atlas" in panel.pca_btn.toolTip()
    assert panel.why.isVisibleTo(panel) and "PCA needs an atlas" in panel.why.text()
    for btn in (panel.save_btn, panel.remove_btn, panel.arith_btn):
        assert not btn.isEnabled() and btn.toolTip().startswith("Not available:"), btn.text()
    _use_vae(window)
    assert panel.class_a.isVisibleTo(panel) and not panel.no_classes.isVisibleTo(panel)
    assert not panel.sefa_btn.isEnabled() and "SeFa needs a GAN" in panel.sefa_btn.toolTip()
    assert "SeFa needs a GAN" in panel.why.text() and "PCA" not in panel.why.text()


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
