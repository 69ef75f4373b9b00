"""The window, the start-up and the monitor against files from anywhere (offscreen): one line per bad
file and never a half-opened model; a bad file on the command line or a bad last session never stops
the start; a bad session value is refused naming it; a skipped snapshot is evaluated once complete."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import onnx
import pytest

import model_factory as mf
from explorer.core.session import SessionError, load_session

pytestmark = pytest.mark.usefixtures("no_leaked_windows")
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z0-9]*(Error|Exception)\b")


def _one_line(text: str) -> str:
    assert text and "\n" not in text and "unexpected" not in text and not CLASS_NAME.search(text), text
    return text


def _not_utf8_generator(path):
    """A generator whose metadata value is not UTF-8 (on main: UnicodeDecodeError out of open_path)."""
    mf.make_contract_gan(path.parent)
    model = onnx.load(str(path))
    raw = b'"\xf7enerator"'
    for p in model.metadata_props:
        if p.key == "latent_explorer.role":
            p.value = "\x07" * len(raw)
    path.write_bytes(model.SerializeToString().replace(b"\x07" * len(raw), raw, 1))
    return path


def _deep_card_generator(path):
    """Deeply nested JSON in a card (on main: RecursionError out of open_path)."""
    mf.make_contract_gan(path.parent)
    model = onnx.load(str(path))
    for p in model.metadata_props:
        if p.key == "latent_explorer.metrics":
            p.value = "[" * 50_000 + "]" * 50_000
    onnx.save(model, str(path))
    return path


def test_unreadable_metadata_opens_as_a_foreign_model_with_a_visible_note(window, tmp_path):
    deep = _deep_card_generator(tmp_path / "deep" / "generator.onnx")
    assert window.open_path(str(deep)) is None  # on main: RecursionError out of open_path
    assert "'latent_explorer.metrics' is JSON nested too deeply" in window.last_message
    assert window.state.active.card is None


def test_the_open_path_turns_any_failure_into_one_line_and_is_never_half_opened(window, tmp_path, monkeypatch):
    before, active = list(window.state.models), window.state.active
    # A view that fails on the new model (a grid too large to allocate, say): refused, taken out again.
    good = mf.make_contract_gan(tmp_path / "fine", name="fine gan").parent
    real = window.grid.set_model

    def out_of_memory(model):
        if model is not None and model.name == "fine gan":
            raise MemoryError()
        return real(model)

    monkeypatch.setattr(window.grid, "set_model", out_of_memory)
    err = window.open_path(str(good))
    assert "too large to hold in memory" in _one_line(err) and window.last_message == err
    assert window.state.models == before and window.state.active is active
    assert window.grid.model is active
    assert [m.name for m in before] == [window.model_panel.list.item(i).text().split("   ")[0]
                                        for i in range(window.model_panel.list.count())]


def test_many_bad_files_in_a_row_then_a_good_one_still_decodes(qtbot, settings_file, tmp_path):
    from explorer.qt.app import build_window, wait_for_grid

    bad = [_not_utf8_generator(tmp_path / "a" / "generator.onnx"),
           _deep_card_generator(tmp_path / "b" / "generator.onnx")]
    for i in range(6):
        junk = tmp_path / f"junk{i}.onnx"
        junk.write_bytes(os.urandom(200 + i))
        bad.append(junk)
    window, errors = build_window([], interactive=False)
    try:
        for path in bad * 3:
            err = window.open_paths([str(path)])  # the drag-and-drop path
            assert all(_one_line(e) for e in err)
        assert window.open_path(str(mf.make_contract_gan(tmp_path / "good").parent)) is None
        assert wait_for_grid(window) and window.grid.finite.all() and window.grid.pixels.max() > 0
    finally:
        window.close()
        window.deleteLater()


def test_a_bad_file_on_the_command_line_does_not_stop_the_start(qtbot, settings_file, tmp_path, gan_bundle):
    from explorer.qt.app import build_window

    bad = _not_utf8_generator(tmp_path / "bad" / "generator.onnx")
    deep = _deep_card_generator(tmp_path / "deep" / "generator.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07" + os.urandom(300))
    window, errors = build_window([str(gan_bundle), str(deep), str(junk), str(bad)], interactive=False)
    try:
        assert len(errors) == 1 and _one_line(errors[0]).startswith("junk.onnx: ")
        assert len(window.state.models) == 3 and window.state.active.path.parent == gan_bundle
    finally:
        window.close()
        window.deleteLater()


@pytest.mark.parametrize("text", ['{"format": "latent-explorer-session", "version": 2, "grid": '
                                  + "[" * 100_000 + "]" * 100_000 + "}",
                                  '{"format": "latent-explorer-session", "version": 2, "grid": {"seed": '
                                  + "1" + "0" * 40 + "}}"])
def test_a_bad_last_session_never_stops_the_start(qtbot, settings_file, tmp_path, text, monkeypatch):
    from explorer.qt import app as qt_app
    from explorer.qt.session_actions import last_session_file

    from explorer.io.paths import BUNDLED

    models = tmp_path / "bundled"
    mf.make_contract_gan(models / BUNDLED["gan"])
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(models))
    last_session_file().write_text(text)
    window, errors = qt_app.build_window([], interactive=True)
    try:
        assert errors == [] and len(window.state.models) == 1  # the bundled model instead
        assert "last session not reopened" in _one_line(window.last_message)
        assert last_session_file().read_text() == text  # nothing saved is lost
    finally:
        window.interactive = False  # no autosave over the file on close
        window.close()
        window.deleteLater()


@pytest.mark.parametrize("grid, view, expected", [
    ({"seed": 10 ** 40}, {}, "grid 'seed' is"),
    ({"seed": -1}, {}, "an integer in 0..2147483646"),
    ({"rows": 1000}, {}, "grid 'rows' is 1000, expected an integer in 1..32"),
    ({"temperature": float("nan")}, {}, "grid 'temperature'"),
    ({"latents": [[1e39, 0.0]]}, {}, "grid 'latents'"),
    ({}, {"cell_px": 10 ** 12}, "view 'cell_px' is 1000000000000, expected an integer in 8..512"),
])
def test_session_values_are_checked_in_the_type_they_are_used_in(tmp_path, grid, view, expected):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format": "latent-explorer-session", "version": 2, "grid": grid, "view": view}))
    with pytest.raises(SessionError) as info:
        load_session(path)
    assert expected in _one_line(str(info.value))


def test_a_session_nested_too_deeply_is_one_line(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SessionError, match="nested too deeply"):
        load_session(path)


# ---- the monitor ------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["in place", "by rename"])
def test_a_skipped_snapshot_is_evaluated_again_once_complete(tmp_path, how):
    from explorer.core.evaluation import skipped_snapshot
    from explorer.core.monitor import RunMonitor

    run = tmp_path / "run"
    snap = run / "snapshots" / "epoch-0003"
    snap.mkdir(parents=True)
    good = mf.make_contract_gan(tmp_path / "good").read_bytes()
    (snap / "generator.onnx").write_bytes(good[: len(good) // 2])  # half-written
    mon = RunMonitor(run)
    [info] = mon.poll()
    mon.add_result(skipped_snapshot(info, "generator.onnx: truncated"))
    assert mon.poll() == [] and mon.results[3].stage == "skipped"  # unchanged: stays skipped
    if how == "in place":
        (snap / "generator.onnx").write_bytes(good)
        st = os.stat(snap / "generator.onnx")
        os.utime(snap / "generator.onnx", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    else:
        tmp = snap / ".generator.onnx.tmp"
        tmp.write_bytes(good)
        os.replace(tmp, snap / "generator.onnx")
    again = mon.poll()
    assert [s.epoch for s in again] == [3] and mon.results[3].stage == "pending"
    assert mon.poll() == []
