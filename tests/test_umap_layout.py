"""UMAP layouts: the one shipped with the bundled VAE (shown at once, no child process), the cache beside
the model or in the user cache (a second process does not recompute, a changed model does), and the
child's progress lines (umap-learn's real stages and epoch counts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from explorer.core import umap_worker
from explorer.core.umap_layout import LayoutError, layout_key, read_layout, save_layout
from explorer.io import contract

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_VAE = ROOT / "assets" / "models" / "fashion-vae"
PARAMS = dict(n_neighbors=15, min_dist=0.1, seed=None)


def _data(n=60, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _no_child(monkeypatch):
    monkeypatch.setattr(umap_worker.subprocess, "Popen", lambda *a, **k: pytest.fail("a UMAP child process started"))


def shown_bundle_map(qtbot, bundle: Path):
    """The map view of a bundled model, shown and exposed (1100 x 700)."""
    from explorer.io.runtime import open_model
    from explorer.qt.map_view import MapView
    from explorer.qt.qapp import ensure_app

    ensure_app()
    view = MapView(open_model(bundle), interactive=False)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_the_bundled_vae_ships_a_layout_of_its_atlas():
    atlas = contract.Atlas.load(BUNDLED_VAE / contract.ATLAS_FILE)
    d = read_layout(BUNDLED_VAE / contract.UMAP_FILE)
    assert d["embedding"].shape == (len(atlas.mu), 2) and d["embedding"].dtype == np.float32
    assert str(d["data_key"]) == layout_key(atlas.mu, n_neighbors=int(d["n_neighbors"]),
                                             min_dist=float(d["min_dist"]), seed=int(d["seed"]))
    assert (BUNDLED_VAE / contract.UMAP_FILE).stat().st_size < 1_000_000
    # the fidelity the docs state was measured and is far better than chance
    assert float(d["fidelity_latent_rel_error"]) < float(d["fidelity_nearest_rel_error"]) \
        < float(d["fidelity_random_rel_error"])


def test_bundled_vae_umap_appears_within_a_second_from_the_shipped_file(qtbot, monkeypatch):
    """Choose UMAP in the map of the bundled VAE (empty cache: the test's fresh home) with the keyboard:
    the shipped layout is drawn within 1 s, and no child process starts."""
    _no_child(monkeypatch)
    assert not umap_worker.cache_dir().exists()
    view = shown_bundle_map(qtbot, BUNDLED_VAE)
    qtbot.waitUntil(lambda: view.map_model.drawn_key == "pca", timeout=10000)
    combo = view.proj_combo
    combo.setFocus()
    target = combo.findData("umap")
    assert target >= 0
    t0 = time.perf_counter()
    while combo.currentIndex() != target:
        QTest.keyClick(combo, Qt.Key.Key_Down if target > combo.currentIndex() else Qt.Key.Key_Up)
    qtbot.waitUntil(lambda: view.map_model.drawn_key == "umap", timeout=5000)
    seconds = time.perf_counter() - t0
    assert seconds <= 1.0, f"the shipped UMAP took {seconds:.2f} s to appear"
    shipped = read_layout(BUNDLED_VAE / contract.UMAP_FILE)["embedding"]
    np.testing.assert_array_equal(view.map_model.primary.xy, shipped)
    assert view.map_model.projection.origin == "shipped"
    assert "shipped with the model" in view.map_model.last_message
    assert not umap_worker.cache_dir().exists() or not list(umap_worker.cache_dir().glob("umap-*"))


def test_cache_goes_beside_a_writable_model_and_to_the_user_cache_otherwise(tmp_path, monkeypatch):
    data = _data()
    (tmp_path / "model").mkdir()
    beside, words = umap_worker.cache_place(tmp_path / "model")
    assert beside == tmp_path / "model" / "umap-cache" and "beside the model" in words
    assert not beside.exists()  # asking makes no folder
    blocked = tmp_path / "locked"
    blocked.mkdir()
    (blocked / "umap-cache").write_text("a file where the cache folder would go")
    place, words = umap_worker.cache_place(blocked)
    assert place == umap_worker.cache_dir() and "not writable" in words
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(tmp_path / "bundled"))
    (tmp_path / "bundled" / "fashion-vae").mkdir(parents=True)
    place, words = umap_worker.cache_place(tmp_path / "bundled" / "fashion-vae")
    assert place == umap_worker.cache_dir() and "bundled models stay as shipped" in words
    assert not (tmp_path / "bundled" / "fashion-vae" / "umap-cache").exists()
    assert umap_worker.umap_cache_path(data, folder=tmp_path / "model").parent == beside


_SECOND_PROCESS = """
import json, sys
import numpy as np
from explorer.core import umap_worker
data = np.load(sys.argv[1])
lines = []
m = umap_worker.compute_umap(data, folder=sys.argv[2], progress=lambda f, msg: lines.append(msg))
print(json.dumps({"lines": lines, "origin": m.origin, "where": m.where, "first": m.embedding[0].tolist()}))
"""


def test_a_second_process_loads_the_cached_layout_and_a_changed_model_recomputes(tmp_path, monkeypatch):
    """The layout one process cached (beside the model) is what a second, fresh process gets: it says it
    loaded it, and no UMAP child runs; other latents (a retrained model) find no layout and start one."""
    model = tmp_path / "model"
    model.mkdir()
    data = _data()
    emb = (data[:, :2] * 3).astype(np.float32)
    path = umap_worker.umap_cache_path(data, folder=model, **PARAMS)
    save_layout(path, data, emb, **PARAMS, fit_seconds=2.0)  # what compute_umap writes after a fit
    np.save(tmp_path / "z.npy", data)
    out = subprocess.run([sys.executable, "-c", _SECOND_PROCESS, str(tmp_path / "z.npy"), str(model)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["origin"] == "cache" and got["where"] == str(path)
    assert umap_worker.RUN_LINE not in got["lines"] and got["lines"][0].startswith("UMAP loaded from the cache")
    np.testing.assert_allclose(got["first"], emb[0])

    changed = data.copy()
    changed[5] += 0.5  # a retrained model encodes differently
    assert umap_worker.find_layout(changed, model, **PARAMS) is None
    started = []

    class Started(Exception):
        pass

    def popen(*a, **k):
        started.append(a[0])
        raise Started()

    monkeypatch.setattr(umap_worker, "umap_available", lambda: True)
    monkeypatch.setattr(umap_worker.subprocess, "Popen", popen)
    with pytest.raises(Started):
        umap_worker.compute_umap(changed, folder=model)
    assert started and started[0][-3:-2] == ["explorer.core.umap_worker"]


def test_a_shipped_layout_matches_vectors_up_to_float_rounding_only(tmp_path, monkeypatch):
    _no_child(monkeypatch)
    data = _data(200, 8)
    emb = data[:, :2].copy()
    save_layout(tmp_path / contract.UMAP_FILE, data, emb, n_neighbors=15, min_dist=0.1, seed=0)
    rounded = data * (1 + 1e-6)  # another CPU's encoder
    m = umap_worker.compute_umap(rounded, folder=tmp_path)
    assert m.origin == "shipped"
    np.testing.assert_array_equal(m.embedding, emb)
    np.testing.assert_array_equal(m.source, rounded)  # decoding uses the vectors the map shows
    other = data.copy()
    other[:, 0] += 0.01
    assert umap_worker.find_layout(other, tmp_path) is None
    assert umap_worker.find_layout(data[:150], tmp_path) is None


def test_a_broken_layout_file_is_skipped_with_a_reason(tmp_path):
    bad = tmp_path / contract.UMAP_FILE
    bad.write_bytes(b"not an npz")
    with pytest.raises(LayoutError, match="not a readable UMAP layout"):
        read_layout(bad)
    np.savez(bad, embedding=np.zeros((3, 2), np.float32))
    with pytest.raises(LayoutError, match="no shape"):
        read_layout(bad)
    assert umap_worker.find_layout(_data(3, 2), tmp_path) is None


def test_progress_says_umap_stages_and_real_epoch_counts():
    seen = []
    stages = umap_worker._Stages(lambda f, m: seen.append((round(f, 3), m)))
    # lines as umap-learn 0.5 and pynndescent print them (verbose=True), and tqdm's ascii bar
    for line in ["progress 0.000 importing umap-learn", "Tue Dec  1 10:00:00 2026 Finding Nearest Neighbors",
                 "\t 3  /  14", "Tue Dec  1 10:00:09 2026 Finished Nearest Neighbor Search",
                 "Tue Dec  1 10:00:10 2026 Construct embedding",
                 " 42%|####2     | 210/500 [00:03<00:04, 60.00it/s]",
                 " 42%|####2     | 210/500 [00:03<00:04, 60.00it/s]",
                 "100%|##########| 500/500 [00:08<00:00, 60.00it/s]", "Tue Dec  1 10:00:19 2026 Finished embedding"]:
        assert stages.line(line)
    assert not stages.line("some other line on stderr")
    messages = [m for _, m in seen]
    assert messages == ["importing umap-learn", "UMAP: finding nearest neighbours",
                        "UMAP: nearest-neighbour descent, iteration 3 of 14", "UMAP: nearest neighbours found",
                        "UMAP: spectral initialisation", "UMAP layout: epoch 210 of 500",
                        "UMAP layout: epoch 500 of 500", "UMAP: layout done"]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and seen[5][0] == pytest.approx(0.3 + 0.66 * 210 / 500, abs=1e-3)


def test_the_child_makes_numba_cache_its_kernels(tmp_path):
    """In a fresh process, after cache_numba_kernels a plain @numba.njit function is cached on disk
    under NUMBA_CACHE_DIR (umap-learn's are declared without cache=True)."""
    pytest.importorskip("numba")
    mod = tmp_path / "kern.py"
    mod.write_text("import numba\n\n@numba.njit\ndef twice(x):\n    return 2 * x\n\n"
                   "@numba.njit(fastmath=True)\ndef thrice(x):\n    return 3 * x\n")
    code = ("import sys; from explorer.core.umap_worker import cache_numba_kernels; cache_numba_kernels(); "
            f"sys.path.insert(0, {str(tmp_path)!r}); import kern; print(kern.twice(2), kern.thrice(2))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(tmp_path / "nc")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["4", "6"], out.stderr
    cached = sorted(p.name for p in (tmp_path / "nc").rglob("*.nbi"))
    assert any("twice" in n for n in cached) and any("thrice" in n for n in cached), cached


def test_bundle_step_measures_fidelity_and_writes_a_layout_the_map_uses(vae_bundle, monkeypatch):
    """training.bundle_assets.bundle_umap on a layout already in the bundle (refit=False: no UMAP fit):
    the fidelity figures are measured (pixel errors through the bundle's decoder) and kept in umap.npz,
    which the map then uses as the shipped layout of the atlas."""
    from training.bundle_assets import bundle_umap

    _no_child(monkeypatch)
    atlas = contract.Atlas.load(vae_bundle / contract.ATLAS_FILE)
    emb = atlas.mu[:, :2] * 2  # a stand-in layout: the atlas's two widest dimensions
    save_layout(vae_bundle / contract.UMAP_FILE, atlas.mu, emb, n_neighbors=15, min_dist=0.1, seed=0)
    out = bundle_umap(vae_bundle, refit=False, say=lambda line: None)
    assert out["points"] == 50 and out["fidelity_held_out"] == 5
    d = read_layout(vae_bundle / contract.UMAP_FILE)
    np.testing.assert_array_equal(d["embedding"], emb.astype(np.float32))
    assert 0 <= float(d["fidelity_pixel_mae"]) <= 255 and float(d["fidelity_random_rel_error"]) > 0
    assert float(d["fidelity_floor_rel_error"]) <= float(d["fidelity_nearest_rel_error"]) + 1e-6
    m = umap_worker.compute_umap(atlas.mu, folder=vae_bundle)
    assert m.origin == "shipped"
