"""Map projections: exact round trips (PCA, two dimensions, 2-d plane), UMAP's blended inverse, kNN."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.core.projection import (EXACT, NEAREST, NEIGHBOURS, DimPair, LatentPlane, NearestIndex, PCAPlane,
                                      UMAPMap, grid_positions, interpolation_fidelity, knn)


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


def test_umap_inverse_blends_the_nearest_points_and_snaps_to_points_and_far_positions():
    rng = np.random.default_rng(0)
    emb = rng.uniform(-5, 5, (400, 2)).astype(np.float32)
    src = np.concatenate([emb, rng.standard_normal((400, 2))], axis=1).astype(np.float32)
    m = UMAPMap(src, emb)
    assert 0 < m.reach < 5
    between = (emb[3] + emb[int(m.index.query_one(*emb[3], k=2)[0][1])]) / 2
    inv = m.inverse(np.stack([emb[7], emb[7] + [1e-4, 0], between, [50.0, 50.0]]))
    assert list(inv.how) == [NEAREST, NEAREST, NEIGHBOURS, NEAREST]
    np.testing.assert_array_equal(inv.z[0], src[7])
    assert inv.index[0] == inv.index[1] == 7 and inv.index[2] == -1
    far = int(np.argmin(np.hypot(emb[:, 0] - 50, emb[:, 1] - 50)))
    assert inv.index[3] == far and np.array_equal(inv.z[3], src[far])
    # a blend is a convex combination of the k nearest points' latents
    idx, _ = m.index.query_one(*between, k=m.k)
    assert np.all(inv.z[2] >= src[idx].min(axis=0) - 1e-5) and np.all(inv.z[2] <= src[idx].max(axis=0) + 1e-5)
    # it follows the latent field between points: z0, z1 equal the position there, up to the spacing
    assert np.abs(inv.z[2, :2] - between).max() < m.reach
    assert "blend of the nearest points" in inv.summary and "nearest data point" in inv.summary


def test_umap_blend_recovers_held_out_points_better_than_the_nearest_point():
    """On a smooth latent field over the layout, held-out points decoded at their positions: the blend
    beats the nearest point alone, which beats a random point."""
    rng = np.random.default_rng(1)
    emb = rng.uniform(-3, 3, (3000, 2)).astype(np.float32)
    x, y = emb[:, 0], emb[:, 1]
    src = np.stack([np.sin(x), np.cos(y), x * y / 3, x + 0.5 * y], axis=1).astype(np.float32)
    fid = interpolation_fidelity(src, emb, holdout=0.1)
    assert fid["n_held_out"] == 300 and fid["blend"].shape == (300, 4)
    assert fid["latent_rel_error"] < 0.8 * fid["nearest_rel_error"] < 0.8 * fid["random_rel_error"]
    assert fid["latent_rel_error"] < 0.05


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
