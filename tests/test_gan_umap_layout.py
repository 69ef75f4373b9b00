"""The bundled GANs ship the UMAP layout of their default map (1,000 samples over the 70,000
Fashion-MNIST images in the bundled classifier's features): the map the app computes on this
machine matches it, so choosing UMAP draws it from the file, with no child process."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from explorer.core import umap_worker
from explorer.core.umap_layout import layout_matches, read_layout
from explorer.io import contract
from monitor_factory import fashion_available
from test_map_defects import _choose
from test_umap_layout import _no_child, shown_bundle_map

ROOT = Path(__file__).resolve().parents[1]
GANS = [ROOT / "assets" / "models" / name for name in ("fashion-gan", "fashion-cgan")]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One user cache for both GANs: the real images' features (the same classifier) are made once."""
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("bundle", GANS, ids=lambda p: p.name)
def test_the_bundled_gans_ship_a_layout_of_their_default_map(bundle):
    d = read_layout(bundle / contract.UMAP_FILE)
    assert int(d["shape"][0]) == 71_000
    assert int(d["samples"]) == 1000 and int(d["real"]) == 70_000
    assert int(d["seed"]) == 0 and (bundle / contract.UMAP_FILE).stat().st_size < 1_500_000


@pytest.mark.skipif(not fashion_available(), reason="Fashion-MNIST not installed (make test installs it)")
@pytest.mark.parametrize("bundle", GANS, ids=lambda p: p.name)
def test_the_gan_map_made_here_is_the_shipped_one_and_umap_draws_it_without_a_child(bundle, qtbot, monkeypatch,
                                                                                      shared_cache):
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    _no_child(monkeypatch)
    view = shown_bundle_map(qtbot, bundle)
    view.map_model.set_shown(True)
    qtbot.waitUntil(lambda: view.map_model.drawn_key == "pca" and not view.is_busy(), timeout=180_000)
    m = view.map_model
    data = np.concatenate([m.points.vectors, m.background.vectors])
    shipped = read_layout(bundle / contract.UMAP_FILE)
    assert layout_matches(shipped, data, "", params=False)  # these features, up to float rounding
    t0 = time.perf_counter()
    _choose(view.proj_combo, "umap")
    qtbot.waitUntil(lambda: m.drawn_key == "umap" and not view.is_busy(), timeout=10_000)
    seconds = time.perf_counter() - t0
    assert seconds <= 1.0, f"the shipped UMAP of {bundle.name} took {seconds:.2f} s to appear"
    assert m.projection.origin == "shipped" and "shipped with the model" in m.last_message
    np.testing.assert_array_equal(m.primary.xy, shipped["embedding"][:1000])
    np.testing.assert_array_equal(m.layers[0].xy, shipped["embedding"][1000:])
    assert not umap_worker.cache_dir().exists() or not list(umap_worker.cache_dir().glob("umap-*"))
    view.close()
