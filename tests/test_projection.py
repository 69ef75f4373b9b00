"""Map projections: exact round trips (PCA, two dimensions, 2-d plane), UMAP inverse/nearest fallback, kNN."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.core.projection import (EXACT, NEAREST, UMAP_INVERSE, DimPair, LatentPlane, NearestIndex, PCAPlane,
                                 UMAPMap, grid_positions, knn)


def _data(n=2000, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * np.linspace(3, 0.2, d)).astype(np.float32)


def test_pca_inverse_is_exact_on_the_plane_including_empty_space():
    x = _data()
    pca = PCAPlane.fit(x)
    p = np.random.default_rng(1).uniform(-20, 20, (500, 2)).astype(np.float32)  # far outside the data too
    inv = pca.inverse(p)
    assert (inv.how == EXACT).all() and inv.summary == "exact inverse"
    np.testing.assert_allclose(pca.forward(inv.z), p, atol=1e-4)
    # inverse(forward(x)) is x's orthogonal projection onto the plane: applying it twice changes nothing
    once = pca.inverse(pca.forward(x)).z
    np.testing.assert_allclose(pca.inverse(pca.forward(once)).z, once, atol=1e-4)


def test_pca_finds_the_main_axes_and_explained_variance():
    x = _data()
    pca = PCAPlane.fit(x)
    assert np.abs(pca.components[0]).argmax() == 0 and np.abs(pca.components[1]).argmax() == 1
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-5)
    assert 0.25 < pca.explained[0] < 1 and pca.explained[1] < pca.explained[0]
    assert pca.axis_labels[0].startswith("PC1")


def test_pca_refuses_too_little_data():
    with pytest.raises(ValueError):
        PCAPlane.fit(np.zeros((1, 4)))


def test_dim_pair_round_trip_keeps_the_other_dimensions():
    base = np.arange(6, dtype=np.float32)
    proj = DimPair(4, 1, base)
    p = np.array([[9.0, -3.0], [0.5, 0.25]], np.float32)
    z = proj.inverse(p).z
    np.testing.assert_array_equal(proj.forward(z), p)
    np.testing.assert_array_equal(z[:, [0, 2, 3, 5]], np.repeat(base[[0, 2, 3, 5]][None], 2, axis=0))
    with pytest.raises(ValueError):
        DimPair(2, 2, base)
    with pytest.raises(ValueError):
        DimPair(0, 6, base)


def test_latent_plane_is_identity():
    p = np.random.default_rng(0).standard_normal((10, 2)).astype(np.float32)
    lp = LatentPlane()
    np.testing.assert_array_equal(lp.inverse(p).z, p)
    np.testing.assert_array_equal(lp.forward(p), p)


def test_umap_map_uses_lattice_inside_and_nearest_outside():
    src = _data(400, 4)
    emb = src[:, :2] * 0.5  # stand-in embedding
    g = 5
    box = (-1.0, -1.0, 1.0, 1.0)
    lat = np.zeros((g, g, 4), np.float32)
    lat[..., 0] = np.linspace(-1, 1, g)[None, :]  # z0 follows x, z1 follows y
    lat[..., 1] = np.linspace(-1, 1, g)[:, None]
    ok = np.ones((g, g), bool)
    ok[0, 0] = False  # a hole at the bottom-left corner
    m = UMAPMap(src, emb, lat, ok, box)
    inv = m.inverse(np.array([[0.1, 0.3], [5.0, 5.0], [-0.95, -0.95]], np.float32))
    assert list(inv.how) == [UMAP_INVERSE, NEAREST, NEAREST]
    np.testing.assert_allclose(inv.z[0, :2], [0.1, 0.3], atol=1e-5)  # bilinear on a linear lattice is exact
    far = int(np.argmin(np.hypot(emb[:, 0] - 5, emb[:, 1] - 5)))
    assert inv.index[1] == far and np.array_equal(inv.z[1], src[far])
    assert "nearest data point" in inv.summary and "UMAP inverse" in inv.summary
    # no lattice at all: everything through the nearest point
    assert (UMAPMap(src, emb).inverse(np.zeros((3, 2))).how == NEAREST).all()


def test_umap_forward_of_a_source_point_lands_on_its_embedding():
    src = _data(300, 4)
    emb = np.random.default_rng(3).standard_normal((300, 2)).astype(np.float32)
    m = UMAPMap(src, emb)
    np.testing.assert_allclose(m.forward(src[7]), emb[7:8], atol=1e-3)


def test_nearest_index_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.standard_normal((3000, 2)), rng.standard_normal((50, 2)) * 0.1 + 8]).astype(np.float32)
    index = NearestIndex(pts, cells=64)
    q = rng.uniform(-10, 12, (200, 2)).astype(np.float32)
    got, dist = index.query(q)
    brute = np.argmin(((pts[None] - q[:, None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(dist, np.hypot(*(pts[brute] - q).T), rtol=1e-5, atol=1e-6)
    idx, d = index.query_one(0.0, 0.0, k=5)
    assert len(idx) == 5 and np.all(np.diff(d) >= 0)


def test_knn_and_grid_positions():
    pts = np.array([[0, 0], [1, 0], [5, 5], [0.2, 0.1]], np.float32)
    idx, d = knn(pts, np.array([0, 0], np.float32), 2)
    assert list(idx) == [0, 3] and d[0] == 0
    g = grid_positions(0, 0, 4, 2, 2)
    np.testing.assert_allclose(g, [[1, 1.5], [3, 1.5], [1, 0.5], [3, 0.5]])


def test_umap_missing_is_one_clear_line(tmp_path, monkeypatch):
    from explorer.core import map_cache
    from explorer.core import umap_worker
    from explorer.core.atlas_data import MapDataError

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(umap_worker, "umap_available", lambda: False)
    with pytest.raises(MapDataError, match="pip install umap-learn"):
        umap_worker.compute_umap(_data(50, 4))
    assert map_cache.cache_dir().parent.parent == tmp_path


def test_umap_cache_is_reused_without_running_umap(tmp_path, monkeypatch):
    from explorer.core import umap_worker
    from explorer.core.map_cache import save_npz_atomic

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    data = _data(60, 4)
    path = umap_worker.umap_cache_path(data, n_neighbors=15, min_dist=0.1, seed=0, lattice=umap_worker.DEFAULT_LATTICE)
    emb = data[:, :2] * 2
    save_npz_atomic(path, embedding=emb, lattice=np.zeros((0,), np.float32), lattice_ok=np.zeros((0,), bool),
                    lattice_box=np.zeros(4, np.float32), fit_seconds=np.array(1.5))
    monkeypatch.setattr(umap_worker.subprocess, "Popen", lambda *a, **k: pytest.fail("UMAP ran despite the cache"))
    seen = []
    m = umap_worker.compute_umap(data, progress=lambda f, msg: seen.append(msg))
    np.testing.assert_array_equal(m.embedding, emb)
    assert m.lattice is None and m.fit_seconds == 1.5 and seen == ["UMAP loaded from cache"]
    assert (m.inverse(np.zeros((2, 2))).how == NEAREST).all()
    with np.load(path, allow_pickle=False) as f:  # plain arrays only
        assert set(f.files) >= {"embedding", "lattice", "lattice_ok", "lattice_box"}
