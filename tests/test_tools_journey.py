"""A researcher's journeys through the Tools menu, from launch, with the bundled classifier (issue 13,
defect 6): Watch Training Run shows diversity curves with a banner and header that agree, and says in
one line when the classifier cannot take a run's images; Compare Two Models picks the two bundled
models at once and reports their Fréchet distance and coverage. Also the verdicts of issue 14: a
verdict needs metrics ("not measured" and why, the same in text and JSON, in the CLI, the report and
the view), and a generator that outputs NaN is called that, not mode-collapsed.

Everything goes through Qt's event path: the menu's actions are triggered, the picker's combo boxes
get key presses and its button a mouse click. The home, config and cache folders are empty and
temporary; the bundled models are the repository's own.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

import model_factory
import monitor_factory as F
from explorer.cli.monitor import diversity_command, monitor_command

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "assets" / "models"
UNFIT = "the classifier takes 28x28 images, this model makes 8x8"


@pytest.fixture
def fresh_account(tmp_path, monkeypatch):
    """An empty home (config, cache, settings) and the repository's bundled models."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(home / "settings.ini"))
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(BUNDLED))
    if not (BUNDLED / "fashion-classifier" / "real-reference.npz").is_file():
        pytest.skip("the bundled classifier and its real reference are not in assets/models")
    return home


@pytest.fixture
def launched(qtbot, fresh_account):
    """The main window as a user launches it (no model given on the command line)."""
    from explorer.qt.main_window import MainWindow

    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    yield window
    from PySide6.QtCore import QCoreApplication, QEvent

    for view in list(getattr(window, "monitor_windows", [])):  # their own top-level windows: closing deletes them
        view.close()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not window.monitor_windows, "a closed monitor or compare window stayed alive"


def _menu_action(window, menu_title: str, action):
    """``action`` as found in the menu bar under ``menu_title`` (what a user clicks)."""
    menus = [a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == menu_title]
    assert menus and action in menus[0].actions(), f"{action.text()} is not in the {menu_title} menu"
    assert action.isEnabled()
    return action


def _run_of(tmp_path, snapshot_bundle: Path, epochs=(1, 2)) -> Path:
    run = F.make_run(tmp_path / "run", rows=F.gan_rows(len(epochs)), epochs=len(epochs))
    for e in epochs:
        shutil.copytree(snapshot_bundle, run / "snapshots" / f"epoch-{e:04d}")
    return run


def _watch_from_the_menu(qtbot, window, run: Path, monkeypatch):
    import explorer.qt.tools_menu as tools_menu

    monkeypatch.setattr(tools_menu.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(run)))
    _menu_action(window, "Tools", window.watch_action).trigger()
    assert window.monitor_windows, "Watch Training Run opened no monitor"
    view = window.monitor_windows[-1]
    qtbot.waitUntil(view.is_idle, timeout=240000)
    qtbot.waitUntil(lambda: not view._refresh_pending, timeout=5000)
    return view


def _points(plot, key) -> int:
    x, _ = plot.curves[key].getData() if key in plot.curves else (None, None)
    return 0 if x is None else int(np.isfinite(np.asarray(x, float)).sum())


def test_watch_training_run_measures_with_the_bundled_classifier(qtbot, launched, tmp_path, monkeypatch):
    run = _run_of(tmp_path, BUNDLED / "fashion-gan")
    view = _watch_from_the_menu(qtbot, launched, run, monkeypatch)
    from explorer.core.diversity_metrics import METRICS

    for keys, plot in view._div.items():  # every diversity plot has both epochs on its curves ...
        for k in keys:
            # ... but the class metrics, which a GAN without a class input does not get
            want = 0 if METRICS[k].applies is not None else 2
            assert _points(plot, k) == want, f"{plot.title}: {k} has {_points(plot, k)} points, expected {want}"
    assert Path(view.classifier).name == "fashion-classifier"
    assert _points(view._sharp, "sharp") == 2
    banner, header = view.banner.text(), view.table_title.text()
    assert view.banner.property("state") in ("ok", "alarm") and "epoch 2" in banner
    assert "Epoch 2" in header and "(latest)" in header and view.table.rowCount() > 5
    for text in (banner, header, view.notes.text()):
        assert "no classifier" not in text and "not measured" not in text.lower()


def test_a_classifier_that_does_not_fit_says_so_once_in_banner_and_header(qtbot, launched, tmp_path, monkeypatch):
    small = tmp_path / "small"
    model_factory.make_contract_gan(small, size=8)  # 8x8 images: the bundled classifier takes 28x28
    view = _watch_from_the_menu(qtbot, launched, _run_of(tmp_path, small, epochs=(1,)), monkeypatch)
    banner, header = view.banner.text(), view.table_title.text()
    assert view.banner.property("state") == "unmeasured"
    assert "Not measured" in banner and UNFIT in banner
    assert "Not measured" in header and UNFIT in header  # the same one line
    assert "No alarm" not in banner and "✓" not in banner
    assert UNFIT not in view.notes.text()  # said once, not again below


def test_compare_two_bundled_models_from_the_menu(qtbot, launched, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    # Today's one-file dialog would block the test: it answers "nothing picked" at once.
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([], "")))
    window = launched
    _menu_action(window, "Tools", window.compare_action).trigger()
    picker = getattr(window, "compare_picker", None)
    assert picker is not None and picker.isVisible(), "Compare Two Models offers no two-model picker"
    a, b = picker.combos
    offered = [a.itemData(i) for i in range(a.count())]
    assert str(BUNDLED / "fashion-vae") in offered and str(BUNDLED / "fashion-gan") in offered
    for combo, name in ((a, "fashion-gan"), (b, "fashion-vae")):  # A: the bundled GAN, B: the VAE, by keyboard
        combo.setFocus()
        target = combo.findData(str(BUNDLED / name))
        assert target >= 0
        for _ in range(combo.count()):
            if combo.currentIndex() == target:
                break
            QTest.keyClick(combo, Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up)
        assert Path(combo.currentData()).name == name
    assert picker.compare_button.isEnabled()
    QTest.mouseClick(picker.compare_button, Qt.MouseButton.LeftButton)
    assert window.monitor_windows, "Compare opened no view"
    view = window.monitor_windows[-1]
    assert view.wait(240) and view.error == ""
    cmp = view.comparison
    assert Path(cmp.a.path).parent.name == "fashion-gan" and Path(cmp.b.path).parent.name == "fashion-vae"
    rows = {view.table.item(r, 0).text(): (view.table.item(r, 1).text(), view.table.item(r, 2).text())
            for r in range(view.table.rowCount())}
    for label in ("Fréchet distance", "coverage"):
        assert label in rows, sorted(rows)
        for cell in rows[label]:
            float(cell)  # a number, not "–"
    text = view.findings.text()
    assert "Fréchet distance" in text and "coverage" in text


# ---- verdicts need metrics (issue 14, defects 1, 3 and 5) -----------------------------------------

def _nan_gan(folder: Path, *, dataset="fashion-mnist") -> Path:
    """28x28 generator whose samples are all NaN for latents with z[0] < 0 (about half of them)."""
    card = dataclasses.replace(model_factory.card(latent_dim=8, height=28, width=28), dataset=dataset)
    return model_factory.make_generator(folder / "generator.onnx", latent_dim=8, height=28, width=28,
                                        activation="sigmoid", nan_when_z0_negative=True, card=card).parent


def test_diversity_on_images_the_classifier_cannot_take_says_why_in_text_and_json(fresh_account, tmp_path, capsys):
    small = tmp_path / "small"
    model_factory.make_contract_gan(small, size=8)
    assert diversity_command([str(small), "--n", "200"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "error" not in captured.err
    verdicts = [line.strip() for line in captured.out.splitlines() if line.strip().startswith("verdict:")]
    assert len(verdicts) == 1 and verdicts[0].startswith("verdict: not measured: " + UNFIT)
    assert diversity_command([str(small), "--n", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "not measured" and out["note"].startswith(UNFIT)
    assert verdicts[0] == f"verdict: not measured: {out['note']}"  # the same answer in both modes
    assert "metrics" not in out and out["alarms"] == []


def test_a_generator_that_outputs_nan_is_called_that_not_collapsed(fresh_account, tmp_path, capsys):
    from explorer.core.evaluation import SnapshotEvaluator
    from explorer.io.runtime import open_model

    nan = _nan_gan(tmp_path / "nan")
    bad = int((~np.isfinite(open_model(nan).decode_raw(SnapshotEvaluator(n=200).bank(8).z))
               .reshape(200, -1).all(axis=1)).sum())
    assert 0 < bad < 200
    assert diversity_command([str(nan), "--n", "200", "--json", "--fail-on-alarm"]) == 4
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == ["outputs_nan"] and out["bad_samples"] == bad
    assert f"{bad} of 200 samples are not finite" in out["alarms"][0]["detail"]
    assert "metrics" not in out  # nothing computed on NaN images
    assert diversity_command([str(nan), "--n", "200"]) == 0
    text = capsys.readouterr().out
    assert "verdict: outputs_nan" in text and f"{bad} of 200 samples are not finite" in text
    assert "modes_dropped" not in text and "near_duplicates" not in text


def test_monitor_that_measured_nothing_says_not_measured_and_why(fresh_account, tmp_path, capsys):
    small = tmp_path / "small"
    model_factory.make_contract_gan(small, size=8)
    run = _run_of(tmp_path, small, epochs=(1,))
    report = tmp_path / "report.html"
    assert monitor_command([str(run), "--n", "200", "--report", str(report)]) == 0
    captured = capsys.readouterr()
    assert "verdict: ok" not in captured.out
    assert f"verdict: not measured: {UNFIT}" in captured.out
    assert UNFIT not in captured.err  # said once
    html = report.read_text()
    assert "No alarm" not in html and "no sign of mode collapse" not in html
    assert 'class="banner unmeasured"' in html and "Not measured" in html and UNFIT in html
    assert monitor_command([str(run), "--n", "200", "--report", str(report), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["verdict"] == "not measured" and UNFIT in summary["note"]


def test_monitor_names_nan_outputs_of_a_snapshot(fresh_account, tmp_path, capsys):
    run = _run_of(tmp_path, _nan_gan(tmp_path / "nan"), epochs=(1,))
    report = tmp_path / "report.html"
    assert monitor_command([str(run), "--n", "200", "--report", str(report), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["verdict"] == ["outputs_nan"] and summary["latest_epoch"] == 1
    html = report.read_text()
    assert "Outputs are NaN" in html and "No alarm" not in html


def test_monitor_view_names_nan_outputs_in_banner_and_header(qtbot, launched, tmp_path, monkeypatch):
    view = _watch_from_the_menu(qtbot, launched, _run_of(tmp_path, _nan_gan(tmp_path / "nan"), epochs=(1,)),
                                monkeypatch)
    banner, header = view.banner.text(), view.table_title.text()
    assert view.banner.property("state") == "alarm" and "Outputs are NaN" in banner and "epoch 1" in banner
    assert "samples are not finite" in banner and "samples are not finite" in header
    assert "Modes dropped" not in banner and "No alarm" not in banner
    assert "⚠" in view.strip.item(0).text()


def test_curve_alarms_without_metrics_still_say_what_was_not_measured(fresh_account, tmp_path, capsys):
    small = tmp_path / "small"
    model_factory.make_contract_gan(small, size=8)
    run = F.make_run(tmp_path / "run", rows=F.gan_rows(5, d_x=0.99, d_g_z=0.01), epochs=5)
    shutil.copytree(small, run / "snapshots" / "epoch-0005")
    report = tmp_path / "report.html"
    assert monitor_command([str(run), "--n", "200", "--report", str(report)]) == 0
    captured = capsys.readouterr()
    assert "verdict: discriminator_wins" in captured.out
    assert captured.err.count(UNFIT) == 1  # the alarm is from the curves; the note says diversity was not measured
    html = report.read_text()
    assert 'class="banner alarm"' in html and "Diversity not measured" in html and UNFIT in html
    assert monitor_command([str(run), "--n", "200", "--report", str(report), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["verdict"] == ["discriminator_wins"] and UNFIT in summary["note"]


def test_compare_picker_takes_a_file_and_says_why_one_model_is_not_measured(qtbot, launched, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    small = model_factory.make_contract_gan(tmp_path / "small", size=8)  # 8x8: the classifier cannot judge it
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([], "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(small), "")))
    window = launched
    _menu_action(window, "Tools", window.compare_action).trigger()
    picker = getattr(window, "compare_picker", None)
    assert picker is not None, "Compare Two Models offers no two-model picker"
    a, b = picker.combos
    a.setFocus()
    while Path(a.currentData()).name != "fashion-gan":
        QTest.keyClick(a, Qt.Key.Key_Down)
    QTest.mouseClick(picker.file_buttons[1], Qt.MouseButton.LeftButton)  # B: File… -> the 8x8 model
    assert Path(b.currentData()) == small.parent.resolve()  # a bundle file is offered as its folder
    QTest.mouseClick(picker.compare_button, Qt.MouseButton.LeftButton)
    view = window.monitor_windows[-1]
    assert view.wait(240) and view.error == ""
    rows = {view.table.item(r, 0).text(): (view.table.item(r, 1).text(), view.table.item(r, 2).text())
            for r in range(view.table.rowCount())}
    fd_a, fd_b = rows["Fréchet distance"]
    float(fd_a)
    assert fd_b == "–"
    assert f"diversity not measured: {UNFIT}" in view.findings.text()
    assert view.findings.property("state") == "unmeasured"


def test_compare_view_with_an_unusable_classifier_still_compares(qtbot, fresh_account, tmp_path):
    from explorer.qt.compare_view import CompareView

    a = model_factory.make_contract_gan(tmp_path / "a", size=8).parent
    b = model_factory.make_contract_gan(tmp_path / "b", size=8, latent_dim=6).parent
    view = CompareView(classifier=a, n=64)  # a generator where a classifier was expected
    qtbot.addWidget(view)
    view.set_models(a, b)
    assert view.wait(60)
    assert view.error == "" and view.comparison is not None
    assert "the classifier cannot be used" in view.findings.text()
