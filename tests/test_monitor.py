"""The mode-collapse monitor without Qt: IDX reader, run folders, alarms on built generators, CLI.

Generators are ONNX "table" models (tests/monitor_factory.py): every latent maps to one of a fixed
set of real Fashion-MNIST images. Five images = collapsed; a few classes = modes dropped; thousands
of images of every class = healthy. The classifier is a PCA + nearest-class-mean ONNX model.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil

import numpy as np
import pytest

import monitor_factory as F
import tiny_training as T
from explorer.core import classifier as C
from explorer.core import diversity as D
from explorer.core import monitor as M
from explorer.core.comparison import compare_models
from explorer.core.diversity_metrics import METRICS
from explorer.core.evaluation import SnapshotEvaluator
from explorer.core.metrics import laplacian_variance
from explorer.io import run_folder as RF
from explorer.io.fashion_data import read_idx
from explorer.io.runtime import open_model
from explorer.cli.monitor import diversity_command, monitor_command, reference_command


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return F.world(tmp_path_factory)


@pytest.fixture(scope="module")
def evaluator(world):
    clf = C.Classifier(world["classifier"])
    return SnapshotEvaluator(clf, C.load_reference(clf, build=False), n=F.TEST_N, seed=0)


@pytest.fixture(scope="module")
def tables(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    return {
        "collapsed": F.make_table_generator(root / "collapsed" / "generator.onnx", F.collapsed_table(world)).parent,
        "few": F.make_table_generator(root / "few" / "generator.onnx", F.few_class_table(world)).parent,
        "healthy": F.make_table_generator(root / "healthy" / "generator.onnx", F.healthy_table(world)).parent,
        "blurry": F.make_blur_vae_decoder(root / "blurry", F.healthy_table(world)).parent,
    }


# ---------------------------------------------------------------- small pieces


def test_idx_reader_reads_what_the_writer_wrote(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(T.write_idx(tmp_path / "a.gz", a)), a)
    np.testing.assert_array_equal(read_idx(T.write_idx(tmp_path / "b", a)), a)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x02")
    with pytest.raises(ValueError, match="IDX"):
        read_idx(tmp_path / "bad")


def test_metrics_log_is_tolerant_and_incremental(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "d_x": 0.5}\nnot json\n[1, 2]\n{"epoch": 2, "d_x": 0.6')  # torn last line
    log = RF.MetricsLog(path)
    assert log.poll() and [r["epoch"] for r in log.rows] == [1]
    assert log.skipped_lines == 2
    with open(path, "a") as fh:
        fh.write(', "d_g_z": 0.4}\n{"epoch": 3, "d_x": 0.7}\n')  # the torn line is completed
    assert log.poll() and [r["epoch"] for r in log.rows] == [1, 2, 3]
    assert not log.poll()  # nothing new
    tmp = tmp_path / "new"
    tmp.write_text('{"epoch": 1, "d_x": 0.9}\n')  # --resume rewrites the file atomically
    os.replace(tmp, path)
    assert log.poll() and log.rows == [{"epoch": 1, "d_x": 0.9}]
    assert RF.read_metrics(tmp_path / "missing.jsonl") == []


def test_list_snapshots_ignores_temporary_folders(tmp_path):
    snaps = tmp_path / "snapshots"
    for name in ("epoch-0002", "epoch-0010", ".epoch-0011.tmp-12", "notes"):
        (snaps / name).mkdir(parents=True)
    (snaps / "epoch-0003").write_text("a file, not a folder")
    assert [(s.epoch, s.path.name) for s in RF.list_snapshots(tmp_path)] == [(2, "epoch-0002"), (10, "epoch-0010")]
    assert RF.list_snapshots(tmp_path / "nowhere") == []


def test_laplacian_variance_ranks_blur_below_sharp():
    rng = np.random.default_rng(0)
    sharp = (rng.random((4, 28, 28)) > 0.5).astype(np.float32)
    blurred = (sharp + np.roll(sharp, 1, 1) + np.roll(sharp, 1, 2) + np.roll(sharp, (1, 1), (1, 2))) / 4
    assert laplacian_variance(blurred).mean() < 0.5 * laplacian_variance(sharp).mean()
    rgb = np.repeat(sharp[..., None], 3, axis=3)
    np.testing.assert_allclose(laplacian_variance(rgb), laplacian_variance(sharp), rtol=1e-5)


# ---------------------------------------------------------------- reference and alarms


def test_reference_is_cached_inside_the_classifier_bundle(world, monkeypatch):
    path = world["classifier"] / C.REFERENCE_FILE
    assert path.is_file()
    clf = C.Classifier(world["classifier"])
    monkeypatch.setattr(C, "build_fashion_reference", lambda *a, **k: pytest.fail("rebuilt a cached reference"))
    ref = C.load_reference(clf)
    assert ref.classifier_id == clf.id and F.TEST_N in ref.floors
    assert 0 < ref.real_sharpness < 1


def test_collapsed_generator_raises_alarms(evaluator, tables):
    ev = evaluator.evaluate(open_model(tables["collapsed"]))
    names = {a.name for a in ev.report.alarms}
    assert {"modes_dropped", "coverage_low", "near_duplicates"} <= names, ev.report.alarms
    assert ev.report.metrics["modes_covered"] <= 5
    # every value comes with its real-vs-real floor at the same N
    assert set(ev.report.floors) == set(ev.report.metrics) and ev.report.n == F.TEST_N


def test_generator_of_only_some_classes_raises_modes_dropped(evaluator, tables):
    ev = evaluator.evaluate(open_model(tables["few"]))
    names = {a.name for a in ev.report.alarms}
    assert "modes_dropped" in names and "coverage_low" in names, ev.report.alarms
    hist = np.asarray(ev.report.class_histogram)
    assert hist[[0, 1, 7]].sum() > 0.6


def test_healthy_generator_is_ok(evaluator, tables):
    ev = evaluator.evaluate(open_model(tables["healthy"]))
    assert ev.verdict == "ok", ev.report.alarms
    assert 0.7 < ev.sharpness_ratio < 1.4


def test_compare_measures_blurry_vae_against_sharp_gan(evaluator, tables):
    cmp = compare_models(tables["blurry"], tables["healthy"], evaluator)
    assert cmp.a.bank_fingerprint != "" and cmp.a.n == cmp.b.n == F.TEST_N
    assert cmp.a.sharpness_ratio < 0.5 * cmp.b.sharpness_ratio
    assert cmp.b.report.metrics["fd"] < cmp.a.report.metrics["fd"]
    assert any("sharper" in line and line.startswith("table gan") for line in cmp.findings())
    json.dumps(cmp.to_dict())


def test_curve_alarms_reach_the_run_verdict(tmp_path):
    run = F.make_run(tmp_path / "gan", rows=F.gan_rows(5, d_x=0.99, d_g_z=0.01))
    mon = M.RunMonitor(run)
    mon.poll()
    assert [a.name for a in mon.alarms()] == ["discriminator_wins"]
    vae = F.make_run(tmp_path / "vae", family="vae",
                     rows=[{"epoch": e, "family": "vae", "kl_per_dim": [0.0] * 8, "active_units": 0} for e in (1, 2)])
    mon = M.RunMonitor(vae)
    mon.poll()
    assert "posterior_collapse" in [a.name for a in mon.alarms()]
    assert mon.kl_per_dim()[1].shape == (8,)


def test_unreadable_snapshot_is_skipped_with_a_note(world, tmp_path):
    run = F.make_run(tmp_path / "run", rows=F.gan_rows(3))
    F.add_snapshot(run, 1, F.healthy_table(world))
    bad = run / "snapshots" / "epoch-0002"
    bad.mkdir()
    (bad / "generator.onnx").write_bytes(b"this is not an onnx file")
    empty = run / "snapshots" / "epoch-0003"
    empty.mkdir()
    mon, note = M.evaluate_run(run, classifier=world["classifier"], n=F.TEST_N, build_reference=False)
    assert note == ""
    assert [r.epoch for r in mon.evaluated()] == [1]
    skipped = {r.epoch: r.error for r in mon.skipped()}
    assert set(skipped) == {2, 3} and all(skipped.values())
    assert "epoch-0003" in skipped[3] or "onnx" in skipped[3]


# ---------------------------------------------------------------- command line


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_diversity_cli_json(world, tables, capsys):
    code = diversity_command([str(tables["few"]), "--classifier", str(world["classifier"]), "--n", str(F.TEST_N),
                              "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == F.TEST_N and "modes_dropped" in out["verdict"]
    assert set(out["metrics"]) == set(out["floors"]) == {m.key for m in METRICS if m.applies is None}
    assert out["class_histogram"]["Trouser"] > 0.1 and "alarms" in out
    code = diversity_command([str(tables["healthy"]), "--classifier", str(world["classifier"]), "--n",
                              str(F.TEST_N), "--json", "--fail-on-alarm"])
    assert code == 0 and json.loads(capsys.readouterr().out)["verdict"] == "ok"


def test_diversity_cli_text_and_exit_on_alarm(world, tables, capsys):
    code = diversity_command([str(tables["collapsed"]), "--classifier", str(world["classifier"]), "--n",
                              str(F.TEST_N), "--fail-on-alarm"])
    out = capsys.readouterr().out
    assert code == 4 and "verdict: modes_dropped" in out and "real floor" in out


@pytest.mark.parametrize("argv, expected", [
    (["/nonexistent/model"], "no such file"),
    (["{model}", "--n", "12"], "expected N in 16..5000"),
    (["{model}", "--classifier", "/nope"], "--classifier /nope: expected a classifier"),
    (["{model}", "--classifier", "{model}"], "expected a classifier"),
])
def test_diversity_cli_bad_input_is_one_line(world, tables, capsys, argv, expected):
    argv = [a.format(model=tables["healthy"]) for a in argv]
    if "--classifier" not in argv:
        argv += ["--classifier", str(world["classifier"])]
    assert diversity_command(argv) == 2
    assert expected in _one_line_error(capsys)


def test_monitor_report_cli_on_a_tiny_real_run(world, tmp_path_factory, tmp_path, capsys):
    run = T.tiny_run(tmp_path_factory, "gan")
    capsys.readouterr()  # the training log of the tiny run
    out = tmp_path / "report.html"
    code = monitor_command([str(run), "--classifier", str(world["classifier"]), "--n", str(F.TEST_N),
                            "--report", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["evaluated"] == [1, 2] and summary["family"] == "gan"
    text = out.read_text()
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(pngs) >= 10  # diversity plots, curves, class histogram, film strip
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    for words in ("Coverage", "real floor", "Training curves", "Discriminator outputs", "epoch 2", "alarm"):
        assert words in text


def test_monitor_report_without_classifier_still_shows_curves(tmp_path_factory, tmp_path, capsys, monkeypatch):
    import explorer.io.paths

    monkeypatch.setattr(explorer.io.paths, "bundled_model", lambda family: tmp_path / "no-bundled" / family)
    run = T.tiny_run(tmp_path_factory, "vae")
    capsys.readouterr()
    out = tmp_path / "vae.html"
    assert monitor_command([str(run), "--report", str(out)]) == 0
    # no classifier: measured in the feature-free space of the run's own data (issue 14)
    assert "no classifier judges this run" in capsys.readouterr().err
    text = out.read_text()
    assert "KL per latent dimension" not in text or "data:image/png" in text
    assert "epoch 2" in text


def test_monitor_cli_bad_run_dir_is_one_line(tmp_path, capsys):
    assert monitor_command([str(tmp_path / "missing"), "--report", str(tmp_path / "r.html")]) == 2
    assert "expected a training run folder" in _one_line_error(capsys)
    (tmp_path / "empty").mkdir()
    assert monitor_command([str(tmp_path / "empty"), "--report", str(tmp_path / "r.html")]) == 2
    assert "snapshots/ or metrics.jsonl" in _one_line_error(capsys)


def test_reference_cli_writes_into_the_bundle(world, tmp_path, capsys):
    folder = tmp_path / "clf"
    shutil.copytree(world["classifier"], folder)
    (folder / C.REFERENCE_FILE).unlink()
    assert reference_command([str(folder), "--limit", "3000"]) == 0
    assert "wrote" in capsys.readouterr().out
    ref = D.RealReference.load(folder / C.REFERENCE_FILE)
    assert ref.dataset_id.startswith("fashion-mnist/test+train/subset-3000")


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_bundled_models_do_not_alarm(family):
    """The shipped GAN and VAE against the shipped classifier (skipped until the bundles and the cache exist)."""
    from explorer.io.paths import bundled_model

    model, clf_dir = bundled_model(family), bundled_model("classifier")
    if not any(model.glob("*.onnx")) or not (clf_dir / C.REFERENCE_FILE).is_file():
        pytest.skip(f"bundled {family}, classifier or its real-reference.npz not installed yet")
    clf = C.Classifier(clf_dir)
    ev = SnapshotEvaluator(clf, C.load_reference(clf, build=False), n=C.DEFAULT_N).evaluate(open_model(model))
    assert ev.verdict == "ok", [a.detail for a in ev.report.alarms]
    if family == "vae":
        assert ev.sharpness_ratio < 0.6  # "VAEs are blurry", measured



def test_model_the_classifier_cannot_judge_gets_a_note_not_an_error(evaluator, tmp_path):
    import model_factory

    small = model_factory.make_contract_gan(tmp_path / "small", size=8)  # 8x8 "synthetic" images
    ev = evaluator.evaluate(open_model(small))
    assert ev.report is None and "8x8" in ev.note and ev.grid.size
    assert ev.verdict == "not measured" and ev.verdict_line() == f"not measured: {ev.note}"
    json.dumps(ev.to_dict())
