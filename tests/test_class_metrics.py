"""Class-conditional models in the diversity monitor: per asked class coverage (kept under the
classifier) and spread, their alarms, and the paths that draw the samples (diversity, monitor, compare)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import monitor_factory as F
from explorer.core import class_metrics as CM
from explorer.core.classifier import Classifier, load_reference
from explorer.core.diversity_metrics import METRICS, parts_of
from explorer.core.evaluation import SnapshotEvaluator
from explorer.io import contract
from explorer.io.contract import FASHION_MNIST_CLASSES, ModelCard
from explorer.io.runtime import open_model

PER_CLASS = 200  # table rows per class
CLASS_KEYS = ("class_accuracy", "class_accuracy_min", "class_spread", "class_spread_min", "class_near_dups")


def make_table_cgan(path, images_by_class: list[np.ndarray], *, latent_dim: int = 16, seed: int = 0,
                    names=FASHION_MNIST_CLASSES, epoch: int = 1) -> Path:
    """A contract cgan: (z [N, D], class_weights [N, K]) -> table[argmax(weights)][argmax(z @ W)], in [-1, 1].

    ``images_by_class``: K uint8 arrays [PER_CLASS, H, W]; a class whose rows are all one image is a
    class that ignores z (collapsed)."""
    table = np.stack(images_by_class).astype(np.uint8)  # [K, M, H, W]
    k, m, h, w = table.shape
    rng = np.random.default_rng(seed)
    wz = rng.standard_normal((latent_dim, m))
    wz /= np.linalg.norm(wz, axis=0, keepdims=True)
    inits = [numpy_helper.from_array(wz.astype(np.float32), "W"),
             numpy_helper.from_array(table.reshape(k * m, 1, h, w), "table"),
             numpy_helper.from_array(np.array(m, np.int64), "M"),
             numpy_helper.from_array(np.array(2.0 / 255.0, np.float32), "scale"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    nodes = [helper.make_node("MatMul", ["z", "W"], ["scores"]),
             helper.make_node("ArgMax", ["scores"], ["row"], axis=1, keepdims=0),
             helper.make_node("ArgMax", ["class_weights"], ["cls"], axis=1, keepdims=0),
             helper.make_node("Mul", ["cls", "M"], ["base"]),
             helper.make_node("Add", ["base", "row"], ["idx"]),
             helper.make_node("Gather", ["table", "idx"], ["picked"], axis=0),
             helper.make_node("Cast", ["picked"], ["pf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["pf", "scale"], ["p2"]),
             helper.make_node("Sub", ["p2", "one"], ["image"])]
    graph = helper.make_graph(
        nodes, "table_cgan",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim]),
         helper.make_tensor_value_info("class_weights", TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, h, w])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", contract.OPSET)])
    card = ModelCard(role="generator", family="cgan", image_channels=1, image_height=h, image_width=w,
                     value_range=(-1.0, 1.0), latent_dim=latent_dim, dataset="fashion-mnist",
                     class_names=tuple(names), epoch=epoch, name="table cgan")
    return F._save(model, Path(path), card)


def class_tables(w: dict, collapsed: int | None = None) -> list[np.ndarray]:
    """PER_CLASS real training images of each class; the ``collapsed`` class repeats one image."""
    out = []
    for c in range(len(FASHION_MNIST_CLASSES)):
        rows = w["train"][30000:][w["labels"][30000:] == c][:PER_CLASS]
        out.append(np.repeat(rows[:1], PER_CLASS, axis=0) if c == collapsed else rows)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return F.world(tmp_path_factory)


@pytest.fixture(scope="module")
def evaluator(world):
    clf = Classifier(world["classifier"])
    return SnapshotEvaluator(clf, load_reference(clf, build=False), n=F.TEST_N)


@pytest.fixture(scope="module")
def healthy(world, tmp_path_factory):
    return make_table_cgan(tmp_path_factory.mktemp("cgan") / "generator.onnx", class_tables(world)).parent


COLLAPSED = 3  # Dress


@pytest.fixture(scope="module")
def collapsed(world, tmp_path_factory):
    path = tmp_path_factory.mktemp("cgan-collapsed") / "generator.onnx"
    return make_table_cgan(path, class_tables(world, collapsed=COLLAPSED)).parent


def test_class_map_by_name_and_by_index():
    clf = FASHION_MNIST_CLASSES
    assert CM.class_map(("dress", "T-shirt / top", "Hoodie"), clf).tolist() == [3, 0, -1]
    assert CM.class_map(tuple(f"class {i}" for i in range(10)), clf, named=False).tolist() == list(range(10))
    assert CM.class_map(("a", "b"), clf, named=False).tolist() == [-1, -1]


def test_mean_pairwise_distance():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert CM.mean_pairwise_distance(x) == pytest.approx((5 + 0 + 5) / 3)
    assert np.isnan(CM.mean_pairwise_distance(x[:1]))


def test_samples_are_asked_for_every_class_evenly(healthy, evaluator):
    model = open_model(healthy)
    asked = CM.asked_classes(model, evaluator.classifier.class_names, F.TEST_N)
    assert np.bincount(asked, minlength=10).tolist() == [F.TEST_N // 10] * 10
    # the evaluator decodes exactly those: its images equal decoding each bank latent as class i % K
    z = evaluator.bank(model.latent_dim).z[:20]
    images, _ = evaluator._images(model, z)
    direct = model.to_hwc(model.decode_raw(z, np.arange(20) % 10))
    np.testing.assert_allclose(images, contract.to_unit_range(direct, model.signature.value_range), atol=1e-6)


def test_healthy_cgan_is_covered_and_diverse_in_every_class(healthy, evaluator):
    ev = evaluator.evaluate(open_model(healthy))
    m = ev.report.metrics
    acc, spread = parts_of(m, "class_accuracy"), parts_of(m, "class_spread")
    assert set(acc) == set(spread) == set(FASHION_MNIST_CLASSES)
    # real images of class c, asked as c: the PCA classifier labels most of them c, and they spread as real ones do
    assert m["class_accuracy"] == pytest.approx(np.mean(list(acc.values())))
    assert m["class_accuracy"] > 0.6 and m["class_accuracy_min"] == pytest.approx(min(acc.values()))
    # (real spreads are of real images the classifier labels c, a tighter group than true class c)
    assert 0.7 < m["class_spread_min"] <= m["class_spread"] < 1.6
    assert m["class_near_dups"] < CM.CLASS_NEAR_DUP_MAX
    # floors: coverage 1 by construction (the classifier's labels stand for real classes), spread ~1
    assert ev.report.floors["class_accuracy"] == 1.0 and 0.8 < ev.report.floors["class_spread"] < 1.2
    names = [a.name for a in ev.alarms]
    assert "class_collapse" not in names and "class_off_target" not in names


def test_a_class_that_ignores_z_raises_class_collapse_naming_only_it(collapsed, evaluator):
    ev = evaluator.evaluate(open_model(collapsed))
    m = ev.report.metrics
    dress = FASHION_MNIST_CLASSES[COLLAPSED]
    spread, dups = parts_of(m, "class_spread"), parts_of(m, "class_near_dups")
    assert spread[dress] < 0.01 and dups[dress] == 1.0
    assert min(v for k, v in spread.items() if k != dress) > 0.7
    alarm = next(a for a in ev.alarms if a.name == "class_collapse")
    assert dress in alarm.detail
    assert not any(name in alarm.detail for name in FASHION_MNIST_CLASSES if name != dress)
    assert m["class_spread_min"] == pytest.approx(spread[dress])


def test_off_target_alarm_names_the_class_far_below_the_others():
    from explorer.core.diversity_metrics import ALARMS, Judgement

    acc = {name: 0.9 for name in FASHION_MNIST_CLASSES}
    acc["Bag"] = 0.12  # near chance (10 %)
    metrics = {"class_accuracy_min": 0.12, **{f"class_accuracy[{k}]": v for k, v in acc.items()}}
    detail = ALARMS["class_off_target"].check(Judgement(metrics, {}, {}, 10))
    assert detail.startswith("samples asked for Bag 12%") and "Shirt" not in detail
    for low in (0.3, 0.6):  # well above chance: a hard class for the classifier, as real Shirts can be
        metrics[f"class_accuracy[Bag]"] = low
        assert ALARMS["class_off_target"].check(Judgement(metrics, {}, {}, 10)) is None
    metrics.update({f"class_accuracy[{k}]": 0.1 for k in acc})  # every class at chance: no class stands out
    assert ALARMS["class_off_target"].check(Judgement(metrics, {}, {}, 10)) is None


def test_unconditional_models_are_unchanged(world, evaluator, tmp_path):
    gan = F.make_table_generator(tmp_path / "gan" / "generator.onnx", F.healthy_table(world)).parent
    rep = evaluator.evaluate(open_model(gan)).report
    assert not any(k.startswith("class_") for k in list(rep.metrics) + list(rep.floors) + list(rep.floor_spread))
    assert set(rep.metrics) == {m.key for m in METRICS if m.applies is None}


def test_diversity_json_lists_per_class_coverage_and_spread(collapsed, world, capsys):
    from explorer.cli.monitor import diversity_command

    assert diversity_command([str(collapsed), "--classifier", str(world["classifier"]), "--n", str(F.TEST_N),
                              "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in CLASS_KEYS:
        assert key in out["metrics"] and key in out["floors"]
    for name in FASHION_MNIST_CLASSES:
        assert 0 <= out["metrics"][f"class_accuracy[{name}]"] <= 1
        assert f"class_spread[{name}]" in out["metrics"]
    assert "class_collapse" in out["verdict"]
    assert diversity_command([str(collapsed), "--classifier", str(world["classifier"]), "--n", str(F.TEST_N)]) == 0
    text = capsys.readouterr().out
    assert "class spread vs real, least diverse class" in text and "class_collapse: 1 class collapsed" in text


def test_monitor_and_compare_paths_measure_classes(collapsed, healthy, world, evaluator, tmp_path):
    from explorer.core.comparison import compare_models
    from explorer.core.monitor import evaluate_run
    from explorer.core.report import run_report_html

    run = F.make_run(tmp_path / "run", rows=F.gan_rows(1))
    snap = run / "snapshots" / "epoch-0001"
    snap.mkdir(parents=True)
    for f in collapsed.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    mon, _ = evaluate_run(run, classifier=world["classifier"], n=F.TEST_N, build_reference=False)
    rep = mon.results[1].report
    assert "class_collapse" in rep.verdict
    epochs, values, floors, _ = mon.series("class_spread_min")
    assert epochs.tolist() == [1.0] and values[0] < 0.01 and floors[0] > 0.8
    text = run_report_html(mon, classifier=str(world["classifier"]), n=F.TEST_N, seed=0)
    assert "class spread vs real, least diverse class" in text and "A class collapsed" in text
    cmp = compare_models(healthy, collapsed, evaluator)
    assert cmp.a.report.metrics["class_spread_min"] > 0.7 > cmp.b.report.metrics["class_spread_min"]


def test_compare_view_tables_the_class_metrics(qtbot, world, healthy, collapsed):
    from explorer.qt.compare_view import CompareView

    view = CompareView(world["classifier"], n=F.TEST_N)
    qtbot.addWidget(view)
    view.show()
    try:
        view.set_models(healthy, collapsed)
        assert view.wait(60) and view.error == ""
        rows = {view.table.item(r, 0).text(): r for r in range(view.table.rowCount())}
        row = rows[METRICS["class_spread_min"].label]
        a, b = (float(view.table.item(row, c).text()) for c in (1, 2))
        assert a > 0.7 and b < 0.01
        assert view.table.item(row, 1).foreground().color().name() == "#7ee2a0"  # the healthy one wins
    finally:
        view.close_view()
