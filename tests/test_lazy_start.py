"""The first screen builds only what it shows (issue 16): the latent map, the monitor, the comparison,
UMAP and onnx's own package load when first used, and the map comes up as before when its tab is
clicked. Checked in a fresh process, since this one has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Not on the first screen: none of these may be imported before the grid is painted.
LAZY = (
    "pyqtgraph", "onnx", "ml_dtypes", "umap", "numba", "matplotlib", "torch",
    "explorer.qt.map_view", "explorer.qt.map_canvas", "explorer.qt.map_panel", "explorer.qt.map_dock",
    "explorer.qt.path_overlay", "explorer.core.map_model", "explorer.core.map_jobs", "explorer.core.atlas_data",
    "explorer.core.projection", "explorer.core.projection_registry", "explorer.core.umap_worker",
    "explorer.core.gan_feature_map", "explorer.qt.monitor_view", "explorer.qt.monitor_plots",
    "explorer.core.monitor", "explorer.core.monitor_controller", "explorer.qt.compare_view",
    "explorer.core.comparison", "explorer.core.classifier", "explorer.core.evaluation", "explorer.core.report",
)

CHILD = r"""
import json, sys, time
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from explorer.qt.app import build_window, wait_for_grid
from explorer.qt.qapp import ensure_app

ensure_app()
win, errors = build_window(sys.argv[1:], interactive=False)
win.resize(1440, 900)
win.show()
decoded = wait_for_grid(win)
win.canvas.repaint()
first = sorted(sys.modules)
built_before = win.docks["map"].built
bar = win.view_tabs
QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())  # the "Latent map" tab
built_after = win.docks["map"].built
current_is_map = win.views.currentWidget() is win.map_view
end = time.perf_counter() + 20
while time.perf_counter() < end and not win.map_view.layers:
    QApplication.processEvents()
    time.sleep(0.01)
view = win.map_view
print(json.dumps({"errors": errors, "decoded": decoded, "first": first, "built_before": built_before,
                  "built_after": built_after, "current_is_map": current_is_map,
                  "tab_text": win.views.tabText(1), "points": len(view.canvas.primary().xy) if view.layers else 0,
                  "map_model_is_active": view.model is win.state.active, "after": sorted(sys.modules)}))
win.close()
"""


def test_the_first_screen_imports_none_of_the_lazy_parts_and_the_map_tab_builds_the_map(vae_bundle, gan_bundle):
    out = subprocess.run([sys.executable, "-c", CHILD, str(vae_bundle), str(gan_bundle)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["errors"] == [] and r["decoded"]
    loaded = sorted(m for m in LAZY if m in r["first"])
    assert loaded == [], f"imported before the first grid was painted: {loaded}"
    assert "explorer.qt.grid_view" in r["first"] and "onnxruntime" in r["first"]  # what the first screen does use
    assert not r["built_before"]
    # one click on the tab, where it is drawn: the map is built, in its tab, showing the VAE's atlas
    assert r["built_after"] and r["current_is_map"] and r["tab_text"] == "Latent map"
    assert r["map_model_is_active"] and r["points"] == 50
    assert {"pyqtgraph", "explorer.qt.map_view", "explorer.core.map_model"} <= set(r["after"])


pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def test_a_window_that_never_showed_the_map_keeps_no_map_section_and_the_next_start_does_not_build_it(window):
    from explorer.qt.app import build_window
    from explorer.qt.session_actions import last_session_file

    assert not window.docks["map"].built
    window.grid.set_size(3, 4)
    latents = window.grid.latents.copy()
    window.interactive = True  # closing an interactive window keeps the session
    window.close()
    window.interactive = False
    saved = json.loads(last_session_file().read_text())
    assert "map" not in saved["docks"]  # nothing was looked at, so nothing is kept
    again, errors = build_window([], interactive=True)
    try:
        assert errors == [] and "Reopened the last session" in again.last_message
        assert (again.grid.rows, again.grid.cols) == (3, 4) and np.array_equal(again.grid.latents, latents)
        assert not again.docks["map"].built
        # and the map, once asked for, shows the active model as it always did
        assert again.map_view.model is again.state.active
    finally:
        again.interactive = False
        again.close()
        again.deleteLater()


def test_a_session_with_a_map_section_waits_for_the_map_and_brings_its_groups_back_when_shown(window, tmp_path,
                                                                                              qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from explorer.core.session import load_session
    from explorer.qt.app import build_window
    from explorer.qt.session_actions import open_session_from, save_session_to

    window.models_menu.actions()[1].trigger()  # Models → the VAE (the fixture opens the GAN first)
    assert window.state.active.card.family == "vae"
    window.map_view.set_selection(np.arange(4))
    window.map_view.keep_a_button.click()
    assert save_session_to(window, str(tmp_path / "s.json"))
    section = load_session(tmp_path / "s.json").docks["map"]
    assert section["groups"] == {"A": [0, 1, 2, 3]}
    other, _ = build_window([], interactive=False)
    try:
        other.show()
        qtbot.waitExposed(other)
        assert open_session_from(other, str(tmp_path / "s.json"))
        # the first screen is the grid: the map is not built for the session, its section waits
        assert not other.docks["map"].built
        # saved before the map was ever shown: the section goes back into the file unchanged
        assert save_session_to(other, str(tmp_path / "again.json"))
        assert load_session(tmp_path / "again.json").docks["map"] == section
        assert not other.docks["map"].built
        # one click on the map tab: built, and the kept group is back
        bar = other.view_tabs
        QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
        assert other.docks["map"].built and other.views.currentWidget() is other.map_view
        assert {k: v.tolist() for k, v in other.map_view.groups.items()} == {"A": [0, 1, 2, 3]}
    finally:
        other.close()
        other.deleteLater()


def test_a_waiting_map_section_is_dropped_when_another_model_is_chosen_first(window, tmp_path):
    from explorer.core.session import load_session
    from explorer.qt.app import build_window
    from explorer.qt.session_actions import open_session_from, save_session_to

    window.models_menu.actions()[1].trigger()  # the VAE
    window.map_view.set_selection(np.arange(4))
    window.map_view.keep_a_button.click()
    assert save_session_to(window, str(tmp_path / "s.json"))
    other, _ = build_window([], interactive=False)
    try:
        assert open_session_from(other, str(tmp_path / "s.json"))
        assert other.state.active.card.family == "vae" and not other.docks["map"].built
        other.models_menu.actions()[0].trigger()  # the GAN: the VAE's kept groups do not apply to it
        assert other.state.active.card.family != "vae"
        assert save_session_to(other, str(tmp_path / "again.json"))
        assert "map" not in load_session(tmp_path / "again.json").docks
        assert other.map_view.groups == {}
    finally:
        other.close()
        other.deleteLater()


PROTO_CHILD = r"""
import sys
from pathlib import Path
from explorer.io.onnx_file import load_graph
from explorer.io.contract import read_card

path = Path(sys.argv[1])
proto = load_graph(path)
card = read_card(path)
without = "onnx" not in sys.modules and "ml_dtypes" not in sys.modules
import onnx

same_class = type(proto) is onnx.ModelProto
same_graph = proto == onnx.load(str(path), load_external_data=False)
print(int(without), int(same_class), int(same_graph), card.role)
"""


def test_models_are_read_without_importing_onnx_into_the_very_messages_onnx_uses(vae_bundle):
    out = subprocess.run([sys.executable, "-c", PROTO_CHILD, str(vae_bundle / "decoder.onnx")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "1", "1", "decoder"]


def test_a_model_saved_as_text_is_still_read_by_onnx_itself(vae_bundle, tmp_path):
    import onnx

    from explorer.io.onnx_proto import load_model_proto

    binary = onnx.load(str(vae_bundle / "decoder.onnx"))
    onnx.save(binary, str(tmp_path / "decoder.json"), format="json")
    assert load_model_proto(tmp_path / "decoder.json") == binary
