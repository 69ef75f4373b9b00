"""explorer.core.diversity: real reference and its floors, snapshot verdicts, cache, curve alarms.

A synthetic "classifier output" world: 10 Gaussian clusters in 16-D (features) with logits that
name the cluster. Nothing here reads /work/shared or a model file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from explorer.core import diversity as D
from explorer.core.diversity_metrics import METRICS

K, F, N = 10, 16, 500
CENTRES = np.random.default_rng(123).normal(0, 6.0, (K, F))


def outputs(rng, n, *, classes=None, points=None):
    """(logits float32 [n, K], features float32 [n, F]) of n samples of the chosen classes."""
    labels = rng.choice(np.arange(K) if classes is None else np.asarray(classes), size=n)
    feats = CENTRES[labels] + rng.normal(size=(n, F))
    logits = 4.0 * np.eye(K)[labels] + rng.normal(size=(n, K))
    return logits.astype(np.float32), feats.astype(np.float32)


@pytest.fixture(scope="module")
def ref():
    logits, feats = outputs(np.random.default_rng(0), 4000)
    return D.RealReference.build(logits, feats, classifier_id="clf-a", dataset_id="synthetic",
                                 n_knn=N, n_holdout=1500, ndb_bins=50, floor_ns=(N,), floor_repeats=3)


# ---------------------------------------------------------------- latent bank


def test_latent_bank_is_fixed_and_seeded():
    a, b, c = D.LatentBank(64, 8, seed=1), D.LatentBank(64, 8, seed=1), D.LatentBank(64, 8, seed=2)
    assert a.z.shape == (64, 8) and a.z.dtype == np.float32
    np.testing.assert_array_equal(a.z, b.z)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert not a.z.flags.writeable
    np.testing.assert_array_equal(np.vstack(list(a.batches(10))), a.z)
    big = D.LatentBank(20000, 4, seed=0).z
    assert abs(big.mean()) < 0.02 and abs(big.std() - 1) < 0.02
    json.dumps(a.to_dict())


# ---------------------------------------------------------------- reference and floors


def test_reference_shapes(ref):
    assert ref.mean.shape == (F,) and ref.cov.shape == (F, F)
    assert ref.n_real == 2500 and ref.n_classes == K and ref.n_features == F
    assert ref.ndb_centres.shape == (50, F) and ref.ndb_shares.sum() == pytest.approx(1.0)
    assert ref.knn_features.shape == (N, F) and ref.knn_radii.shape == (N, 2)
    assert (ref.knn_radii[:, 0] <= ref.knn_radii[:, 1]).all()  # k=3 ball inside k=5 ball
    assert ref.holdout_features.shape == (1500, F) and ref.holdout_logits.shape == (1500, K)
    assert ref.dup_threshold > 0


def test_floors_are_small_for_real_vs_real(ref):
    floor, spread = ref.floor(N)
    assert floor["modes_covered"] == K and spread["modes_covered"] == 0
    assert floor["kl_to_uniform"] < 0.02
    assert floor["ndb_fraction"] <= 0.15 and floor["ndb_js"] < 0.05
    assert floor["near_dup_rate"] < 1e-4
    assert 0.85 < floor["density"] < 1.2
    assert floor["coverage"] > 0.9
    assert floor["precision"] > 0.6 and floor["recall"] > 0.6
    # FD floor: well below the FD of a generator shifted by one unit in every dimension (|shift|^2 = F)
    logits, feats = outputs(np.random.default_rng(5), N)
    shifted, _ = ref.metrics(logits, feats + 1.0)
    assert 0 < floor["fd"] < 0.25 * shifted["fd"]


def test_floors_are_deterministic_and_computed_on_demand(ref):
    logits, feats = outputs(np.random.default_rng(0), 4000)
    again = D.RealReference.build(logits, feats, n_knn=N, n_holdout=1500, ndb_bins=50, floor_ns=(),
                                  floor_repeats=3)
    assert again.floors == {}
    np.testing.assert_array_equal(again.ndb_centres, ref.ndb_centres)
    assert again.floor(N) == ref.floor(N)
    assert set(again.floors) == {N}
    with pytest.raises(ValueError, match="n_holdout"):
        again.floor(2000)


# ---------------------------------------------------------------- snapshot verdicts


def test_good_generator_is_ok(ref):
    logits, feats = outputs(np.random.default_rng(1), N)
    report = D.diversity_report(logits, feats, ref)
    assert report.verdict == "ok", report.alarms
    assert report.n == N and len(report.class_histogram) == K
    unconditional = {m.key for m in METRICS if m.applies is None}  # class metrics apply to conditional models only
    assert report.floors == {k: v for k, v in ref.floor(N)[0].items() if k in unconditional}
    assert set(report.metrics) == unconditional


def test_collapsed_generator_raises_collapse_alarms(ref):
    """A handful of points (one per class, near its mode) repeated: every class is still present."""
    rng = np.random.default_rng(2)
    handful_f = CENTRES + 0.05 * rng.normal(size=CENTRES.shape)
    pick = np.arange(N) % K
    feats = handful_f[pick].astype(np.float32)
    logits = (4.0 * np.eye(K)[pick]).astype(np.float32)
    report = D.diversity_report(logits, feats, ref)
    m = report.metrics
    assert m["modes_covered"] == K  # the class histogram alone would miss this collapse
    assert m["density"] > 2 * report.floors["density"]
    assert m["recall"] < 0.1
    assert m["near_dup_rate"] > 0.05
    assert m["ndb_fraction"] > 0.5
    # Collapse *within* modes keeps coverage high (the mode centres sit inside most real balls):
    # that is why density and recall are watched together (metrics.md).
    assert m["coverage"] > 0.8
    assert {"density_up_recall_down", "ndb_high", "near_duplicates"} <= set(report.verdict)
    assert "modes_dropped" not in report.verdict


def test_generator_of_some_classes_drops_modes(ref):
    logits, feats = outputs(np.random.default_rng(3), N, classes=[0, 1, 2, 3, 4, 5, 6])
    report = D.diversity_report(logits, feats, ref)
    assert report.metrics["modes_covered"] == 7
    assert "modes_dropped" in report.verdict
    assert "coverage_low" in report.verdict  # 3 of 10 clusters have no samples
    assert "ndb_high" in report.verdict
    assert "near_duplicates" not in report.verdict


def test_report_is_json_serialisable_and_round_trips(ref):
    logits, feats = outputs(np.random.default_rng(4), N, classes=[0, 1])
    report = D.diversity_report(logits, feats, ref)
    d = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert d["verdict"] == report.verdict and isinstance(d["verdict"], list)
    assert all(isinstance(a["detail"], str) and a["name"] for a in d["alarms"])
    back = D.DiversityReport.from_dict(d)
    assert back.to_dict() == report.to_dict()


def test_snapshot_metrics_are_deterministic(ref):
    logits, feats = outputs(np.random.default_rng(6), N)
    assert ref.metrics(logits, feats) == ref.metrics(logits.copy(), feats.copy())


def test_wrong_shapes_give_actionable_errors(ref):
    logits, feats = outputs(np.random.default_rng(7), 50)
    with pytest.raises(ValueError, match="rebuild the reference"):
        ref.metrics(logits, feats[:, :8])
    with pytest.raises(ValueError, match="logits"):
        ref.metrics(logits[:, :5], feats)


# ---------------------------------------------------------------- cache


def test_cache_round_trip(ref, tmp_path):
    path = tmp_path / "ref.npz"
    ref.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["ref.npz"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644 & ~umask  # readable like any other file, not mkstemp's 0600
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert all(z[k].dtype != object for k in z.files)
    back = D.RealReference.load(path, classifier_id="clf-a", dataset_id="synthetic")
    for name in ("mean", "cov", "class_shares", "ndb_centres", "ndb_shares", "knn_features", "knn_radii",
                 "holdout_features", "holdout_logits"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ref, name))
    assert back.dup_threshold == ref.dup_threshold and back.n_real == ref.n_real
    assert back.floor(N) == ref.floor(N)
    logits, feats = outputs(np.random.default_rng(8), N)
    assert back.metrics(logits, feats) == ref.metrics(logits, feats)


def test_cache_refuses_another_classifier_or_dataset(ref, tmp_path):
    path = tmp_path / "ref.npz"
    ref.save(path)
    with pytest.raises(D.StaleReference, match="classifier"):
        D.RealReference.load(path, classifier_id="clf-b")
    with pytest.raises(D.StaleReference, match="dataset"):
        D.RealReference.load(path, dataset_id="fashion-mnist")


def test_load_or_build_builds_once_then_loads(tmp_path):
    calls = []

    def real_outputs():
        calls.append(1)
        return outputs(np.random.default_rng(9), 600)

    kw = dict(n_knn=100, n_holdout=200, ndb_bins=10, floor_ns=(100,), floor_repeats=2)
    path = tmp_path / "cache" / "ref.npz"
    a = D.RealReference.load_or_build(path, classifier_id="x", dataset_id="d", real_outputs=real_outputs, **kw)
    b = D.RealReference.load_or_build(path, classifier_id="x", dataset_id="d", real_outputs=real_outputs, **kw)
    assert len(calls) == 1 and b.floor(100) == a.floor(100)
    D.RealReference.load_or_build(path, classifier_id="y", dataset_id="d", real_outputs=real_outputs, **kw)
    assert len(calls) == 2  # another classifier: rebuilt
    assert D.RealReference.load(path).classifier_id == "y"


def test_floor_added_after_load_is_saved(tmp_path):
    logits, feats = outputs(np.random.default_rng(10), 600)
    ref = D.RealReference.build(logits, feats, n_knn=100, n_holdout=300, ndb_bins=10, floor_ns=(), floor_repeats=2)
    path = tmp_path / "ref.npz"
    ref.save(path)
    loaded = D.RealReference.load(path)
    want = loaded.floor(150)
    loaded.save(path)
    assert D.RealReference.load(path).floors.keys() == {150}
    assert D.RealReference.load(path).floor(150) == want


# ---------------------------------------------------------------- training curves


def gan_rows(d_x, d_g_z, g_loss=None, d_loss=None):
    n = len(d_x)
    g_loss = g_loss or [1.5] * n
    d_loss = d_loss or [1.2] * n
    return [{"epoch": i, "d_x": a, "d_g_z": b, "g_loss": g, "d_loss": d}
            for i, (a, b, g, d) in enumerate(zip(d_x, d_g_z, g_loss, d_loss))]


def test_healthy_gan_curves_raise_nothing():
    rng = np.random.default_rng(11)
    rows = gan_rows(list(0.7 + 0.02 * rng.normal(size=20)), list(0.3 + 0.02 * rng.normal(size=20)),
                    g_loss=list(1.6 + 0.03 * rng.normal(size=20)), d_loss=list(1.1 - 0.01 * np.arange(20)))
    assert D.gan_curve_alarms(rows) == []
    assert D.gan_curve_alarms([]) == []


def test_discriminator_winning_outright():
    rows = gan_rows([0.7, 0.8, 0.97, 0.99], [0.3, 0.2, 0.03, 0.01])
    assert [a.name for a in D.gan_curve_alarms(rows)] == ["discriminator_wins"]
    one_blip = gan_rows([0.7, 0.97, 0.8], [0.3, 0.03, 0.2])
    assert D.gan_curve_alarms(one_blip) == []


def test_oscillating_losses():
    swings = [1.0, 3.0, 1.2, 2.8, 1.1, 3.1]
    rows = gan_rows([0.7] * 6, [0.3] * 6, g_loss=swings)
    assert [a.name for a in D.gan_curve_alarms(rows)] == ["oscillation"]
    small = [1.50, 1.52, 1.49, 1.53, 1.50, 1.52]  # zig-zag, but only ~2 % swings: noise
    assert D.gan_curve_alarms(gan_rows([0.7] * 6, [0.3] * 6, g_loss=small)) == []
    assert D.gan_curve_alarms(gan_rows([0.7] * 4, [0.3] * 4, g_loss=swings[:4])) == []  # too short to judge


def test_posterior_collapse_checks():
    healthy = [0.8, 0.5, 0.3, 0.2, 0.001, 0.002, 0.4, 0.6]
    assert D.posterior_collapse_alarms(healthy, 6) == []
    assert D.posterior_collapse_alarms(healthy) == []  # active units counted from the KL
    assert [a.name for a in D.posterior_collapse_alarms([0.001] * 8, 0)] == ["posterior_collapse"]
    few = [0.9] + [0.001] * 15
    assert [a.name for a in D.posterior_collapse_alarms(few, 1)] == ["few_active_units"]
    history = [[0.5] * 8, [0.5] * 6 + [0.0] * 2, [0.5] * 3 + [0.0] * 5]
    names = [a.name for a in D.posterior_collapse_alarms(history, [8, 6, 3])]
    assert names == ["active_units_falling"]
    assert D.posterior_collapse_alarms([]) == []


def test_vae_curve_alarms_read_metrics_rows():
    rows = [{"epoch": 0, "loss": 300.0}]  # a row without the evaluation figures is skipped
    rows += [{"epoch": e, "kl_per_dim": [0.5] * a + [0.0] * (8 - a), "active_units": a} for e, a in enumerate([8, 7, 2], 1)]
    assert [a.name for a in D.vae_curve_alarms(rows)] == ["active_units_falling"]
    assert D.vae_curve_alarms(rows[:3]) == []
    assert D.vae_curve_alarms([]) == []


# ---------------------------------------------------------------- boundaries


def test_numeric_core_imports_neither_torch_nor_qt():
    code = ("import sys, explorer.core.diversity, explorer.core.metrics; "
            "bad = [m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
