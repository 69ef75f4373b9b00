"""Metrics for a researcher's own data, end to end (issue 14: defect 2, the feature-free metrics, defect 8).

An RGB image folder with class subfolders and an alpha channel is generated; a tiny classifier, GAN
and VAE are trained on it through ``latent-train``; ``latent-explorer diversity`` and ``compare``
then judge the GAN and VAE with that classifier and its real reference of the same folder, found
through the run's config.json and the classifier registry, with every metric filled. Without a
classifier the feature-free space (a random projection of pixels, near duplicates in pixels) still
measures, against the folder's own real images. Small or short runs get "inconclusive", not the
alarms of a collapsed model; a collapsed model still alarms.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import monitor_factory as F
import tiny_training as T
from explorer.cli.monitor import compare_command, diversity_command, monitor_command, reference_command
from explorer.core.diversity_metrics import INCONCLUSIVE, METRICS

# The metrics of an unconditional model (the class-conditional ones apply to conditional models only)
PLAIN = [m for m in METRICS if m.applies is None]
from explorer.core.own_data import PIXEL_SPACE, registry_path
from explorer.io.dataset_id import dataset_id

CLASSES = ("circle", "ring", "square")
SIZE = 16


def write_rgba_folder(folder: Path, n_per_class: int = 40, seed: int = 0) -> Path:
    """Three classes of RGBA PNGs (16 x 16): filled circles, rings, squares; a fully transparent band on top."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for kind in CLASSES:
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            a = np.asarray(T.draw_shape("square" if kind == "square" else "circle", SIZE, rng).convert("RGBA")).copy()
            if kind == "ring":
                a[(yy - SIZE // 2) ** 2 + (xx - SIZE // 2) ** 2 < (SIZE // 6) ** 2, :3] = 0
            a[:2, :, 3] = 0
            Image.fromarray(a, "RGBA").save(folder / kind / f"{kind}-{i:03d}.png")
    return folder


def _home(root: Path) -> dict[str, str]:
    return {"HOME": str(root), "XDG_CONFIG_HOME": str(root / ".config"), "XDG_CACHE_HOME": str(root / ".cache"),
            "XDG_DATA_HOME": str(root / ".local" / "share")}


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """The folder, its three tiny runs and the home whose config folder registers the classifier."""
    root = tmp_path_factory.mktemp("own-data")
    data = write_rgba_folder(root / "shapes-rgba")
    home = root / "home"
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in _home(home).items():
            mp.setenv(k, v)
        for family in ("classifier", "gan", "vae"):
            runs[family] = root / "runs" / family
            code = T.cli(family, "--data", data, "--out", runs[family], "--epochs", "1", "--batch-size", "16",
                         "--channels", "3", "--image-size", str(SIZE), "--seed", "1", *T.TINY)
            assert code == 0, f"tiny {family} on the RGBA folder exited with {code}"
    return {"data": data, "home": home, "runs": runs}


@pytest.fixture
def at_home(own, monkeypatch):
    """This test sees the home where the classifier was registered."""
    for k, v in _home(own["home"]).items():
        monkeypatch.setenv(k, v)
    return own


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_runs_record_their_data_and_the_classifier_is_registered_with_its_reference(at_home):
    config = json.loads((at_home["runs"]["gan"] / "config.json").read_text())
    assert config["data_id"] == dataset_id(at_home["data"]) and config["data_id"].startswith("sha256:")
    assert config["data_path"] == str(at_home["data"].resolve()) and config["train_images"] == 108
    entries = json.loads(registry_path().read_text())["classifiers"]
    bundle = at_home["runs"]["classifier"] / "model"
    assert [(e["bundle"], e["dataset_id"], e["image_shape"]) for e in entries] == \
        [(str(bundle.resolve()), config["data_id"], [3, SIZE, SIZE])]
    assert (bundle / "real-reference.npz").is_file()


def test_diversity_judges_an_own_data_gan_with_its_classifier_and_every_metric_filled(at_home, capsys):
    gan, clf = at_home["runs"]["gan"] / "model", at_home["runs"]["classifier"] / "model"
    assert diversity_command([str(gan), "--json"]) == 0
    out = _json(capsys)
    assert out["classifier"] == str((clf / "classifier.onnx").resolve())
    assert "trained on the model's data" in out["judged_by"] and dataset_id(at_home["data"]) in out["judged_by"]
    for key in [m.key for m in PLAIN]:  # every classifier metric measured, each with its real floor
        assert isinstance(out["metrics"][key], float) and math.isfinite(out["metrics"][key]), key
        assert isinstance(out["floors"][key], float), key
    assert out["spaces"]["modes_covered"] == "predicted classes"
    assert out["spaces"]["fd"].startswith("classifier features")
    assert set(out["class_histogram"]) == set(CLASSES)
    assert out["verdict"] != "not measured" and out["sharpness_vs_real"] is not None
    # 120 real images: N is capped at the real holdout (60), and the verdict says N is too small to mean much
    assert out["n"] == 60 and "holdout" in out["n_note"]
    assert out["verdict"] == INCONCLUSIVE or all(a["severity"] == "alarm" for a in out["alarms"])

    assert diversity_command([str(gan)]) == 0  # the text form says the same
    text = capsys.readouterr().out
    assert f"judged by: classifier {(clf / 'classifier.onnx').resolve()}" in text
    assert "computed in" in text and "predicted classes" in text


def test_compare_table_of_own_data_models_has_every_metric(at_home, capsys):
    vae, gan = at_home["runs"]["vae"] / "model", at_home["runs"]["gan"] / "model"
    assert compare_command([str(vae), str(gan), "--json"]) == 0
    out = _json(capsys)
    for side in ("a", "b"):
        assert all(out[side]["metrics"][m.key] is not None for m in PLAIN), side
        assert out[side]["sharpness_vs_real"] is not None
    assert "trained on the model's data" in out["judged_by"]
    assert compare_command([str(vae), str(gan)]) == 0
    text = capsys.readouterr().out
    rows = {line.split("  ")[0]: line for line in text.splitlines()}
    for spec in PLAIN:
        assert spec.label in rows, spec.label
        assert "nan" not in rows[spec.label] and "unknown" not in rows[spec.label]
    assert "unknown" not in text


def test_reference_of_an_rgb_classifier_is_built_from_its_own_folder(at_home, tmp_path, capsys):
    # Before: "takes (3, 16, 16) images, Fashion-MNIST is 28x28" (the reference was always Fashion-MNIST).
    bundle = at_home["runs"]["classifier"] / "model"
    (bundle / "real-reference.npz").unlink()
    assert reference_command([str(bundle)]) == 0
    assert dataset_id(at_home["data"]) in capsys.readouterr().out
    assert (bundle / "real-reference.npz").is_file()


def test_monitor_report_of_an_own_data_run_uses_its_classifier(at_home, tmp_path, capsys):
    out = tmp_path / "gan.html"
    assert monitor_command([str(at_home["runs"]["gan"]), "--report", str(out), "--json"]) == 0
    summary = _json(capsys)
    assert "trained on the model's data" in summary["judged_by"]
    assert summary["latest"] is not None and {m.key for m in PLAIN} <= set(summary["latest"]["metrics"])
    html = out.read_text()
    assert "computed in" in html and "predicted classes" in html


def test_without_a_classifier_the_feature_free_space_measures(at_home, monkeypatch, tmp_path, capsys):
    import explorer.io.paths

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config"))  # no registry
    monkeypatch.setattr(explorer.io.paths, "bundled_model", lambda family: tmp_path / "no-bundled" / family)
    gan = tmp_path / "runs" / "gan"
    shutil.copytree(at_home["runs"]["gan"], gan)  # no classifier run beside it
    assert diversity_command([str(gan / "model"), "--json"]) == 0
    out = _json(capsys)
    assert out["verdict"] != "not measured" and out["space"] == PIXEL_SPACE
    assert "no classifier trained on" in out["classifier_note"]
    feature_keys = [m.key for m in PLAIN if not m.classes]
    for key in feature_keys:
        assert math.isfinite(out["metrics"][key]) and out["spaces"][key] == PIXEL_SPACE, key
        assert out["floors"][key] is not None, key
    assert not any(m.key in out["metrics"] for m in METRICS if m.classes)  # no classes without a classifier
    assert out["spaces"]["pixel_near_dup_rate"] == "pixels" and out["floors"]["pixel_near_dup_rate"] is not None
    assert out["sharpness_vs_real"] is not None
    assert diversity_command([str(gan / "model")]) == 0
    text = capsys.readouterr().out
    assert "judged by: the feature-free space" in text and PIXEL_SPACE in text


# ---- defect 8: small or short runs are inconclusive, collapse still alarms ----------------------------

@pytest.fixture(scope="module")
def fashion64(tmp_path_factory):
    """A tiny GAN trained on 64 Fashion-MNIST images for 2 epochs."""
    data = T.fashion_subset(tmp_path_factory)
    out = tmp_path_factory.mktemp("gan64") / "run"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in _home(tmp_path_factory.mktemp("home64")).items():
            mp.setenv(k, v)
        assert T.cli("gan", "--data", data, "--out", out, "--limit", "64", "--epochs", "2", "--batch-size", "16",
                     "--latent-dim", "8", "--seed", "3", *T.TINY) == 0
    return out


def _bundled_or_skip():
    from explorer.core.classifier import default_classifier

    if default_classifier() is None or not F.fashion_available():
        pytest.skip("needs the bundled classifier and Fashion-MNIST")


@pytest.mark.parametrize("which", ["64 images", "2 short epochs"])
def test_small_and_short_gan_runs_are_inconclusive_not_collapsed(which, fashion64, tmp_path_factory, tmp_path, capsys):
    _bundled_or_skip()
    run = fashion64 if which == "64 images" else T.tiny_run(tmp_path_factory, "gan")
    capsys.readouterr()
    assert diversity_command([str(run / "model"), "--n", "500", "--json"]) == 0
    out = _json(capsys)
    hard = [a["name"] for a in out["alarms"] if a["severity"] == "alarm"]
    assert hard == [] and out["verdict"] in (INCONCLUSIVE, "ok"), out["alarms"]
    if out["verdict"] == INCONCLUSIVE:
        assert out["inconclusive"] and all(a["severity"] == INCONCLUSIVE for a in out["alarms"])
    if which == "64 images":
        assert out["verdict"] == INCONCLUSIVE and "trained on 64 images" in " ".join(out["inconclusive"])
    assert monitor_command([str(run), "--report", str(tmp_path / "r.html"), "--n", "500", "--json"]) == 0
    summary = _json(capsys)
    assert not any(a["severity"] == "alarm" for a in summary["alarms"] if a["name"] in
                   ("modes_dropped", "coverage_low", "ndb_high"))
    assert "Inconclusive" in (tmp_path / "r.html").read_text() or summary["verdict"] == "ok"


@pytest.mark.parametrize("n", [64, 500])
def test_a_collapsed_model_still_alarms_in_a_small_run(n, tmp_path, capsys):
    """Trained on 64 images for 200 epochs (12,800 seen), it repeats one image: collapse, at any N."""
    _bundled_or_skip()
    from explorer.io.fashion_data import load_split

    images, _ = load_split("test")
    run = F.make_run(tmp_path / "collapsed", epochs=200)
    config = json.loads((run / "config.json").read_text())
    config.update(train_images=64, data_id="fashion-mnist")
    (run / "config.json").write_text(json.dumps(config))
    snap = F.add_snapshot(run, 200, images[:1])  # one image, whatever the latent
    assert diversity_command([str(snap), "--n", str(n), "--json"]) == 0
    out = _json(capsys)
    assert "near_duplicates" in out["verdict"] and "modes_dropped" in out["verdict"], out
    assert all(a["severity"] == "alarm" for a in out["alarms"])
    # the same samples from a model that has seen 64 images once are untrained, not collapsed
    snap = F.add_snapshot(run, 1, images[:1])
    assert diversity_command([str(snap), "--n", str(n), "--json"]) == 0
    out = _json(capsys)
    assert out["verdict"] == INCONCLUSIVE and "barely trained: 64 training images seen" in " ".join(out["inconclusive"])


def test_the_in_app_monitor_judges_an_own_data_run_with_its_classifier(at_home):
    from explorer.core.classifier import default_classifier
    from explorer.core.monitor_controller import MonitorController

    bundled = default_classifier()
    if bundled is None:
        pytest.skip("needs the bundled classifier (what the app passes by default)")
    inbox = F.Inbox()
    ctl = MonitorController(bundled, n=100, dispatch=inbox.wrap)  # what Tools > Monitor passes
    try:
        mon = ctl.set_run(at_home["runs"]["gan"])
        assert inbox.pump(lambda: ctl.is_idle() and mon.latest() is not None, timeout=120)
        ev = mon.latest().evaluation
        assert ev.class_names == CLASSES and "trained on the model's data" in ctl.judged_by
        assert {m.key for m in PLAIN} <= set(ev.report.metrics)
    finally:
        ctl.close()


def test_latent_train_evaluate_uses_the_runs_data_and_its_classifier(at_home, capsys):
    gan, vae = at_home["runs"]["gan"] / "model", at_home["runs"]["vae"] / "model"
    assert T.cli("evaluate", gan, "--n", "200", "--json") == 0
    out = _json(capsys)
    assert out["classifier"] == str((at_home["runs"]["classifier"] / "model" / "classifier.onnx").resolve())
    assert set(out["class_histogram"]) == set(CLASSES) and math.isfinite(out["frechet_distance"])
    assert T.cli("evaluate", vae, "--json") == 0  # RGB test images of the folder, not grayscale Fashion-MNIST
    assert math.isfinite(_json(capsys)["test_neg_elbo"])


def test_the_compare_view_judges_own_data_models_with_their_classifier(at_home, qtbot):
    from explorer.core.classifier import default_classifier
    from explorer.qt.compare_view import CompareView

    bundled = default_classifier()
    if bundled is None:
        pytest.skip("needs the bundled classifier (what Tools > Compare passes)")
    view = CompareView(bundled, n=100)
    qtbot.addWidget(view)
    view.set_models(at_home["runs"]["vae"] / "model", at_home["runs"]["gan"] / "model")
    assert view.wait(120) and view.error == ""
    for ev in (view.comparison.a, view.comparison.b):
        assert ev.class_names == CLASSES and {m.key for m in PLAIN} <= set(ev.report.metrics)
        assert "trained on the model's data" in ev.judged_by
    view.close_view()
