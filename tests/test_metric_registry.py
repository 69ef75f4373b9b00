"""Adding a diversity metric is registry entries only: a toy metric (with its own plot and alarm),
registered for the length of a test, is computed with a floor, plotted and tabled in the monitor view,
named in its banner, written to the HTML report and the command line's JSON, and compared in the
compare view — with no other edit anywhere."""

from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import pytest

import monitor_factory as F
from explorer.core import diversity as D
from explorer.core.classifier import Classifier, load_reference
from explorer.core.diversity_metrics import (ALARMS, LOWER_IS_BETTER, METRICS, PLOTS, AlarmSpec, MetricSpec, PlotSpec,
                                             alarm_title, alarmed_metrics, diversity_plots)

TOY_KEY = "toy_feature_norm"
TOY_LABEL = "toy: mean feature length"
TOY_PLOT = "Toy plot: feature length"
TOY_ALARM = "Toy alarm: features have a length"


def _feature_norm(out) -> float:
    return float(np.linalg.norm(np.asarray(out.features, np.float64), axis=1).mean())


@contextmanager
def toy_metric():
    """The three registry entries of a new metric: the metric, the plot it is drawn on, its alarm."""
    metric = MetricSpec(TOY_KEY, TOY_LABEL, LOWER_IS_BETTER, _feature_norm, plot="toy", alarm="toy_alarm")
    plot = PlotSpec("toy", TOY_PLOT)
    alarm = AlarmSpec("toy_alarm", TOY_ALARM,
                      lambda j: f"mean length {j.metrics[TOY_KEY]:.2f} > 0" if j.metrics[TOY_KEY] > 0 else None)
    with METRICS.added(metric), PLOTS.added(plot), ALARMS.added(alarm):
        yield metric


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return F.world(tmp_path_factory)


@pytest.fixture
def run_with_a_snapshot(world, tmp_path):
    run = F.make_run(tmp_path / "run", rows=F.gan_rows(1))
    F.add_snapshot(run, 1, F.healthy_table(world))
    return run


def test_registry_entries_come_and_go():
    before = (METRICS.keys(), PLOTS.keys(), ALARMS.keys())
    with toy_metric():
        assert METRICS.keys()[-1] == TOY_KEY and TOY_KEY not in before[0]
        assert (PLOTS["toy"], (TOY_KEY,)) in diversity_plots()
        assert alarm_title("toy_alarm") == TOY_ALARM and alarmed_metrics(["toy_alarm"]) == {TOY_KEY}
        with pytest.raises(ValueError, match="registered already"):
            METRICS.add(METRICS[TOY_KEY])
    assert (METRICS.keys(), PLOTS.keys(), ALARMS.keys()) == before


def test_toy_metric_is_computed_with_its_floor_and_alarm(world):
    ref = load_reference(Classifier(world["classifier"]), build=False)
    logits, feats = ref.holdout_logits[:F.TEST_N], ref.holdout_features[:F.TEST_N]
    with toy_metric():
        values, _ = ref.metrics(logits, feats)
        assert values[TOY_KEY] == pytest.approx(np.linalg.norm(feats.astype(np.float64), axis=1).mean())
        report = D.diversity_report(logits, feats, ref)  # floors cached for the old metric list are redone
        assert set(report.metrics) == set(report.floors) == {m.key for m in METRICS if m.applies is None}
        assert report.floors[TOY_KEY] > 0 and TOY_KEY in report.floor_spread
        assert "toy_alarm" in [a.name for a in report.alarms]
    values, _ = ref.metrics(logits, feats)
    assert TOY_KEY not in values and TOY_KEY not in D.diversity_report(logits, feats, ref).floors


def test_toy_metric_in_the_command_lines_json(world, tmp_path, capsys):
    from explorer.cli.monitor import diversity_command

    model = F.make_table_generator(tmp_path / "gan" / "generator.onnx", F.healthy_table(world)).parent
    with toy_metric():
        assert diversity_command([str(model), "--classifier", str(world["classifier"]), "--n", str(F.TEST_N),
                                  "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"][TOY_KEY] > 0 and TOY_KEY in out["floors"] and "toy_alarm" in out["verdict"]


def _plot_titled(layout, title):
    import pyqtgraph as pg

    plots = [item for item in layout.ci.items if isinstance(item, pg.PlotItem) and title in item.titleLabel.text]
    assert len(plots) == 1, [getattr(i, "titleLabel", None) and i.titleLabel.text for i in layout.ci.items]
    return plots[0]


def test_toy_metric_is_plotted_tabled_and_alarmed_in_the_monitor_view(qtbot, world, run_with_a_snapshot):
    from explorer.qt.monitor_view import MonitorView

    with toy_metric():
        view = MonitorView(classifier=world["classifier"], n=F.TEST_N)
        qtbot.addWidget(view)
        view.resize(1400, 880)
        view.set_run(run_with_a_snapshot)
        view.show()
        try:
            qtbot.waitUntil(lambda: view.is_idle() and view.monitor.results[1].report is not None, timeout=60000)
            qtbot.waitUntil(lambda: view.table.rowCount() == len(METRICS) + 1, timeout=5000)
            epochs, values, floors, _ = view.monitor.series(TOY_KEY)
            plot = _plot_titled(view.div_plots, TOY_PLOT)
            assert TOY_LABEL in plot.titleLabel.text  # the legend under the title
            drawn = [(c.xData.tolist(), c.yData.tolist()) for c in plot.listDataItems() if c.xData is not None]
            assert (epochs.tolist(), values.tolist()) in drawn and (epochs.tolist(), floors.tolist()) in drawn
            _plot_titled(view.div_plots, "Sharpness vs real")  # moved one place on, still there
            rows = {view.table.item(r, 0).text(): r for r in range(view.table.rowCount())}
            value_cell = view.table.item(rows[TOY_LABEL], 1)
            assert value_cell.text() != "–" and value_cell.foreground().color().name() == "#ff8a80"
            qtbot.waitUntil(lambda: TOY_ALARM in view.banner.text(), timeout=5000)
        finally:
            view.close_monitor()


def test_toy_metric_in_the_html_report(world, run_with_a_snapshot):
    from explorer.core.monitor import evaluate_run
    from explorer.core.report import run_report_html

    with toy_metric():
        mon, _ = evaluate_run(run_with_a_snapshot, classifier=world["classifier"], n=F.TEST_N, build_reference=False)
        text = run_report_html(mon, classifier=str(world["classifier"]), n=F.TEST_N, seed=0)
    assert f'alt="{TOY_PLOT}"' in text  # its chart, among the diversity plots
    assert TOY_LABEL in text and TOY_ALARM in text
    row = text[text.index(TOY_LABEL):].split("</tr>")[0]
    assert "class='bad'" in row  # its alarm marks it


def test_toy_metric_is_compared_in_the_compare_view(qtbot, world, tmp_path):
    from explorer.qt.compare_view import CompareView

    blurry = F.make_blur_vae_decoder(tmp_path / "vae", F.healthy_table(world)).parent
    sharp = F.make_table_generator(tmp_path / "gan" / "generator.onnx", F.healthy_table(world)).parent
    with toy_metric():
        view = CompareView(world["classifier"], n=F.TEST_N)
        qtbot.addWidget(view)
        view.show()
        try:
            view.set_models(blurry, sharp)
            assert view.wait(60) and view.error == ""
            a, b = (ev.report.metrics[TOY_KEY] for ev in (view.comparison.a, view.comparison.b))
            rows = {view.table.item(r, 0).text(): r for r in range(view.table.rowCount())}
            row = rows[TOY_LABEL]
            lower = 1 if a < b else 2  # lower is better: that column is marked the winner
            assert view.table.item(row, lower).foreground().color().name() == "#7ee2a0"
            assert view.table.item(row, 3 - lower).foreground().color().name() != "#7ee2a0"
        finally:
            view.close_view()
