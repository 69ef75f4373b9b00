"""explorer.core.metrics: closed forms, brute-force cross-checks and the collapse signatures.

Synthetic features only (numpy); small sizes so the suite stays fast on a busy 2-core machine.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from explorer.core import metrics as M


def clusters(rng, n, *, k=10, f=16, spread=6.0, classes=None, centres=None):
    """n points of a k-component Gaussian mixture in f dims -> (features float32 [n, f], labels [n])."""
    if centres is None:
        centres = np.random.default_rng(123).normal(0, spread, (k, f))
    labels = rng.choice(np.arange(k) if classes is None else np.asarray(classes), size=n)
    return (centres[labels] + rng.normal(size=(n, f))).astype(np.float32), labels


def random_spd(rng, f):
    a = rng.normal(size=(f, f))
    return a @ a.T / f + 0.1 * np.eye(f)


# ---------------------------------------------------------------- class histogram


def test_class_stats_uniform_and_single_class():
    k = 10
    uniform = np.eye(k)[np.arange(1000) % k]
    cs = M.class_stats(uniform)
    assert cs["modes_covered"] == k
    assert cs["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert cs["entropy"] == pytest.approx(math.log(k))
    assert cs["mean_confidence"] == pytest.approx(1.0)

    single = M.softmax(np.tile([5.0] + [0.0] * (k - 1), (200, 1)))
    cs = M.class_stats(single)
    assert cs["modes_covered"] == 1
    assert cs["kl_to_uniform"] == pytest.approx(math.log(k))
    assert cs["counts"][0] == 200 and cs["min_share"] == 0.0


def test_class_stats_min_share_threshold():
    labels = np.r_[np.zeros(995, int), np.ones(5, int)]  # class 1 has 0.5 %: below 1 %
    cs = M.class_stats(np.eye(3)[labels])
    assert cs["modes_covered"] == 1
    assert M.class_stats(np.eye(3)[labels], min_share=0.005)["modes_covered"] == 2


def test_softmax_rows_sum_to_one_and_survive_large_logits():
    p = M.softmax(np.array([[1000.0, 0.0], [-5.0, -5.0]]))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[1], [0.5, 0.5])


# ---------------------------------------------------------------- Frechet distance


def _sqrtm_denman_beavers(a, iters=60):
    """Principal square root of a (non-symmetric) matrix with positive eigenvalues."""
    y, z = a.copy(), np.eye(len(a))
    for _ in range(iters):
        y, z = (y + np.linalg.inv(z)) / 2, (z + np.linalg.inv(y)) / 2
    return y


def test_fd_closed_forms():
    rng = np.random.default_rng(0)
    s = random_spd(rng, 6)
    mu = rng.normal(size=6)
    assert M.frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    # 1-D: (m1 - m2)^2 + (sd1 - sd2)^2
    assert M.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9.0 + 1.0)
    # diagonal covariances: |dmu|^2 + sum (sd1 - sd2)^2
    v1, v2 = rng.uniform(0.5, 3, 5), rng.uniform(0.5, 3, 5)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    want = ((m1 - m2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert M.frechet_distance(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(want, rel=1e-10)
    # S2 = c^2 S1: tr(S1 + c^2 S1 - 2 c S1) = (1 - c)^2 tr S1
    assert M.frechet_distance(mu, s, mu, 9 * s) == pytest.approx(4 * np.trace(s), rel=1e-9)


def test_fd_general_case_matches_sqrtm_references():
    rng = np.random.default_rng(1)
    s1, s2 = random_spd(rng, 8), random_spd(rng, 8)
    m1, m2 = rng.normal(size=8), rng.normal(size=8)
    got = M.frechet_distance(m1, s1, m2, s2)
    base = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2)
    want_db = base - 2 * np.trace(_sqrtm_denman_beavers(s1 @ s2))
    want_eig = base - 2 * np.sqrt(np.linalg.eigvals(s1 @ s2).real.clip(0)).sum()  # torch-fidelity's way
    assert got == pytest.approx(want_db, rel=1e-8)
    assert got == pytest.approx(want_eig, rel=1e-8)
    assert M.frechet_distance(m1, s1, m2, s2, sqrt_sigma1=M.sqrtm_psd(s1)) == pytest.approx(got, rel=1e-12)
    assert M.frechet_distance(m2, s2, m1, s1) == pytest.approx(got, rel=1e-8)  # symmetric


def test_fd_matches_scipy_sqrtm_when_available():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(2)
    s1, s2 = random_spd(rng, 10), random_spd(rng, 10)
    m1, m2 = rng.normal(size=10), rng.normal(size=10)
    covmean = linalg.sqrtm(s1 @ s2).real
    want = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert M.frechet_distance(m1, s1, m2, s2) == pytest.approx(want, rel=1e-7)


def test_fd_survives_singular_covariances():
    rng = np.random.default_rng(3)
    low_rank = rng.normal(size=(50, 2)) @ rng.normal(size=(2, 8))  # rank 2 in 8-D
    fd = M.frechet_distance_features(low_rank, low_rank)
    assert np.isfinite(fd) and abs(fd) < 1e-6


def test_fd_of_samples_small_for_same_distribution_large_for_shift():
    rng = np.random.default_rng(4)
    a, _ = clusters(rng, 2000, f=8)
    b, _ = clusters(rng, 2000, f=8)
    same = M.frechet_distance_features(a, b)
    shifted = M.frechet_distance_features(a, b + 1.0)  # |shift|^2 = 8
    assert 0 <= same < 1.0
    assert shifted == pytest.approx(8.0 + same, abs=0.5)


# ---------------------------------------------------------------- distances and radii


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squared_distances_match_brute_force(dtype):
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(37, 6)), rng.normal(size=(23, 6)) + 0.5
    brute = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(M.squared_distances(a, b, dtype=dtype), brute, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4)
    self_d = M.squared_distances(a, dtype=dtype)
    assert (self_d >= 0).all()
    np.testing.assert_allclose(np.diag(self_d), 0, atol=1e-4)


def test_distance_blocks_cover_every_row_once():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(7, 4))
    blocks = list(M.squared_distance_blocks(a, b, block_elements=20))  # 2 rows per block
    assert [s for s, _, _ in blocks] == list(range(0, 50, 2))
    np.testing.assert_allclose(np.vstack([g for _, _, g in blocks]), M.squared_distances(a, b), atol=1e-10)


def test_knn_radii_match_sorted_brute_force():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 5))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    d_sorted = np.sort(d, axis=1)  # column 0 is the point itself
    np.testing.assert_allclose(M.knn_radii(x, 3), d_sorted[:, 3], rtol=1e-4)
    np.testing.assert_allclose(M.knn_radii(x, [3, 5], dtype=np.float64), d_sorted[:, [3, 5]], rtol=1e-10)
    with pytest.raises(ValueError, match="k-NN"):
        M.knn_radii(x[:3], 3)


def test_closest_pair_ignores_exact_duplicates():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [10.0, 0.0], [10.0, 2.5]])
    assert M.closest_pair_distance(x) == pytest.approx(2.5)


def test_near_duplicate_rate_counts_pairs():
    rng = np.random.default_rng(8)
    base = rng.normal(size=(20, 4)) * 10
    fake = np.vstack([base, base[:5]])  # 5 exact copies -> 5 close pairs out of 25*24/2
    assert M.near_duplicate_rate(fake, 0.01) == pytest.approx(5 / 300)
    assert M.near_duplicate_rate(base, 0.01) == 0.0


# ---------------------------------------------------------------- precision/recall, density/coverage


def test_identical_sets_give_full_precision_recall_coverage():
    rng = np.random.default_rng(9)
    x, _ = clusters(rng, 400)
    pr = M.precision_recall(x, x.copy(), k=3)
    assert pr["precision"] == 1.0 and pr["recall"] == 1.0
    dc = M.density_coverage(x, x.copy(), k=5)
    assert dc["coverage"] == 1.0
    assert dc["density"] >= 1.0


def test_disjoint_clouds_give_zero():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(300, 8))
    y = rng.normal(size=(300, 8)) + 100.0
    out = M.manifold_metrics(x, y)
    assert out["precision"] == 0 and out["recall"] == 0
    assert out["density"] == 0 and out["coverage"] == 0


def test_same_distribution_density_near_one_coverage_high():
    rng = np.random.default_rng(11)
    real, _ = clusters(rng, 600)
    fake, _ = clusters(rng, 600)
    out = M.manifold_metrics(real, fake)
    assert 0.8 < out["density"] < 1.25
    assert out["coverage"] > 0.9
    assert out["precision"] > 0.6 and out["recall"] > 0.6
    assert out["near_dup_rate"] < 1e-4


def test_half_of_the_modes_gives_full_precision_half_recall():
    rng = np.random.default_rng(12)
    real, _ = clusters(rng, 800)
    fake, _ = clusters(rng, 400, classes=range(5))
    out = M.manifold_metrics(real, fake)
    assert out["precision"] > 0.6
    assert 0.25 < out["recall"] < 0.55
    assert 0.4 < out["coverage"] < 0.55


def test_collapsed_generator_signature():
    """A handful of points at dense real locations, repeated: density up, recall down, duplicates."""
    rng = np.random.default_rng(13)
    centres = np.random.default_rng(123).normal(0, 6.0, (10, 16))
    real, _ = clusters(rng, 600)
    handful = centres + 0.05 * rng.normal(size=centres.shape)  # one point per class, near its mode
    fake = handful[rng.integers(len(handful), size=600)].astype(np.float32)
    out = M.manifold_metrics(real, fake)
    assert out["density"] > 2.0
    assert out["recall"] < 0.1
    assert out["near_dup_rate"] > 0.05  # ~1/10 of pairs are copies
    assert out["precision"] > 0.9  # each copy looks real: the point of precision *and* recall


def test_manifold_metrics_block_size_and_cached_radii_do_not_change_results():
    rng = np.random.default_rng(14)
    real, _ = clusters(rng, 300)
    fake, _ = clusters(rng, 250)
    full = M.manifold_metrics(real, fake)
    radii = M.knn_radii(real, [3, 5])
    blocked = M.manifold_metrics(real, fake, real_radii=radii, block_elements=1000)
    for k in full:
        assert blocked[k] == pytest.approx(full[k], abs=2e-3), k
    with pytest.raises(ValueError, match="feature widths"):
        M.manifold_metrics(real, fake[:, :3])


# ---------------------------------------------------------------- k-means and NDB


def test_kmeans_is_deterministic_and_finds_separated_clusters():
    rng = np.random.default_rng(15)
    x, labels = clusters(rng, 500, k=5, f=4, spread=20.0)
    c1, l1 = M.kmeans(x, 5, seed=3)
    c2, l2 = M.kmeans(x, 5, seed=3)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(l1, l2)
    # each found cluster is one true cluster
    for j in range(5):
        assert len(set(labels[l1 == j])) == 1
    np.testing.assert_array_equal(M.assign_bins(x, c1), l1)


def test_kmeans_keeps_every_cluster_non_empty():
    x = np.vstack([np.zeros((50, 2)), np.ones((3, 2))])  # only 2 distinct points, 4 clusters
    centres, labels = M.kmeans(x, 4, seed=0)
    assert np.bincount(labels, minlength=4).min() >= 1


def test_js_divergence_bounds():
    p = np.array([0.2, 0.3, 0.5])
    assert M.js_divergence(p, p) == pytest.approx(0.0, abs=1e-15)
    assert M.js_divergence([1, 0], [0, 1]) == pytest.approx(math.log(2))
    assert M.js_divergence([2, 1], [1, 1]) == pytest.approx(M.js_divergence([1, 1], [2, 1]))


def test_ndb_z_test_matches_hand_computation():
    centres = np.array([[0.0], [10.0]])
    real_shares = np.array([0.5, 0.5])
    fake = np.r_[np.zeros(60), np.full(40, 10.0)][:, None]  # shares 0.6 / 0.4, m = 100
    out = M.ndb(fake, centres, real_shares, 1000)
    p = (1000 * 0.5 + 100 * 0.6) / 1100
    z = 0.1 / math.sqrt(p * (1 - p) * (1 / 1000 + 1 / 100))
    assert z == pytest.approx(1.907, abs=1e-3)  # just under 1.96 (alpha 0.05), over 1.645 (alpha 0.1)
    assert out["ndb_count"] == 0 and out["ndb_fraction"] == 0.0
    assert M.ndb(fake, centres, real_shares, 1000, alpha=0.1)["ndb_count"] == 2
    np.testing.assert_allclose(out["fake_shares"], [0.6, 0.4])


def test_ndb_same_distribution_low_collapsed_high():
    rng = np.random.default_rng(16)
    real, _ = clusters(rng, 3000)
    centres, labels = M.kmeans(real, 50, seed=0)
    shares = np.bincount(labels, minlength=50) / len(real)
    fake, _ = clusters(rng, 1000)
    same = M.ndb(fake, centres, shares, len(real))
    assert same["ndb_fraction"] <= 0.2 and same["ndb_js"] < 0.05
    collapsed = real[rng.integers(5, size=1000)]  # five real points, repeated
    bad = M.ndb(collapsed, centres, shares, len(real))
    assert bad["ndb_fraction"] > 0.7 and bad["ndb_js"] > 0.4
