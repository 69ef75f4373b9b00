"""docs/python-api.md runs as written, and explorer.api keeps its promises (shapes, dtypes, keys,
exact interpolation endpoints, no Qt and no torch).

The doc's ```python blocks run in order in one namespace, in a fresh interpreter with an empty HOME
and QT_QPA_PLATFORM unset; a doc that drifts from the API fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "python-api.md"
LINT = Path(sys.executable).with_name("lint-imports")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

# Runs in the child: the blocks (argv[1], JSON), then facts about the namespace as one JSON line.
RUNNER = textwrap.dedent('''
    import importlib.util, json, sys, types
    blocks = json.loads(open(sys.argv[1], encoding="utf-8").read())
    if importlib.util.find_spec("pandas") is None:  # the doc's stand-in: DataFrame(rows) is the rows
        stand_in = types.ModuleType("pandas")
        stand_in.DataFrame = lambda rows: rows
        sys.modules["pandas"] = stand_in
    ns = {"__name__": "__doc_examples__"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"python-api.md block {i + 1}", "exec"), ns)
    import numpy as np
    def arr(name):
        v = ns[name]
        return {"shape": list(v.shape), "dtype": str(v.dtype), "min": float(v.min()), "max": float(v.max())}
    facts = {name: arr(name) for name in ("z", "images", "pixels", "mu", "logvar", "reconstructions",
                                          "path", "straight", "frames") if name in ns}
    if "path" in ns:
        facts["path_ends_exact"] = bool((ns["path"][0] == ns["z"][0]).all() and (ns["path"][-1] == ns["z"][1]).all())
        facts["lerp_ends_exact"] = bool((ns["straight"][0] == ns["z"][0]).all()
                                        and (ns["straight"][-1] == ns["z"][1]).all())
    if "report" in ns:
        facts["report"] = ns["report"]
    if "rows" in ns:
        facts["rows"] = ns["rows"]
        facts["table_len"] = len(ns["table"])
    facts["modules"] = sorted(m for m in sys.modules
                              if m.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "torch", "torchvision")
                              or m.startswith("explorer.qt") or m.startswith("explorer.cli"))
    print("FACTS " + json.dumps(facts, default=str))
''')


def doc_blocks(text: str) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(text)]


def run_blocks(blocks: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict | None]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (tmp_path / "blocks.json").write_text(json.dumps(blocks), encoding="utf-8")
    (tmp_path / "runner.py").write_text(RUNNER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "LATENT_EXPLORER_MODELS")}
    env.update(HOME=str(home), USERPROFILE=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "blocks.json")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("FACTS ")), None)
    return out, (json.loads(line[len("FACTS "):]) if line else None)


@pytest.fixture(scope="module")
def doc_run(tmp_path_factory):
    blocks = doc_blocks(DOC.read_text(encoding="utf-8"))
    out, facts = run_blocks(blocks, tmp_path_factory.mktemp("doc"))
    return blocks, out, facts


def test_the_doc_has_an_example_for_each_task(doc_run):
    blocks, _, _ = doc_run
    code = "\n".join(blocks)
    for call in ("open_model(", "bundled_model(", "sample(", "decode(", "encode(", "interpolate(",
                 "diversity_report(", "read_metrics(", "pandas.DataFrame(read_metrics(run))"):
        assert call in code, f"docs/python-api.md has no example calling {call}"


def test_the_doc_examples_run_without_qt_or_torch(doc_run):
    _, out, facts = doc_run
    assert out.returncode == 0 and facts is not None, out.stdout[-3000:] + out.stderr[-3000:]
    assert facts["modules"] == [], f"the examples imported {facts['modules']}"


def test_shapes_and_dtypes(doc_run):
    _, out, facts = doc_run
    assert facts is not None, out.stderr[-3000:]
    d = facts["z"]["shape"][1]
    assert facts["z"]["shape"] == [16, d] and facts["z"]["dtype"] == "float32"
    assert facts["z"]["max"] <= 2.0 and facts["z"]["min"] >= -2.0  # truncation=2.0
    for name in ("images", "reconstructions"):
        assert facts[name]["shape"] == [16, 28, 28, 1] and facts[name]["dtype"] == "uint8"
    assert facts["pixels"]["shape"] == [16, 28, 28, 1] and facts["pixels"]["dtype"] == "float32"
    assert 0.0 <= facts["pixels"]["min"] and facts["pixels"]["max"] <= 1.0
    for name in ("mu", "logvar"):
        assert facts[name]["shape"] == [16, d] and facts[name]["dtype"] == "float32"
    assert facts["path"]["shape"] == [8, d] and facts["path"]["dtype"] == "float32"
    assert facts["frames"]["shape"] == [8, 28, 28, 1]


def test_interpolation_endpoints_equal_the_inputs(doc_run):
    _, _, facts = doc_run
    assert facts["path_ends_exact"] is True
    assert facts["lerp_ends_exact"] is True


def test_the_diversity_report_has_the_cli_keys(doc_run):
    _, _, facts = doc_run
    report = facts["report"]
    for key in ("verdict", "alarms", "metrics", "floors", "floor_spread", "class_histogram", "sharpness",
                "sharpness_vs_real", "n", "classifier", "latent_bank"):
        assert key in report, f"diversity_report has no {key!r}"
    assert report["n"] == 200
    assert set(report["metrics"]) == set(report["floors"]) and "coverage" in report["metrics"]
    assert len(report["class_histogram"]) == 10
    assert report["verdict"] == "ok" or isinstance(report["verdict"], list)


def test_read_metrics_gives_one_dict_per_epoch(doc_run):
    _, _, facts = doc_run
    assert [r["epoch"] for r in facts["rows"]] == [1, 2, 3]
    assert facts["rows"][-1]["loss"] == pytest.approx(1 / 3)
    assert facts["table_len"] == 3


def test_a_drifted_example_fails(tmp_path):
    """The runner is not a no-op: an example calling what the API does not have makes it fail."""
    out, facts = run_blocks(["from explorer.api import sample_grid\n"], tmp_path)
    assert out.returncode != 0 and facts is None
    assert "sample_grid" in out.stderr


def test_the_runner_sees_a_qt_import(tmp_path):
    """What the no-Qt check reads does list Qt modules when an example imports them."""
    pytest.importorskip("PySide6")
    _, facts = run_blocks(["import PySide6.QtCore\n"], tmp_path)
    assert "PySide6.QtCore" in facts["modules"]


def test_api_functions_check_their_arguments():
    from explorer import api

    vae = api.open_model(api.bundled_model("vae"))
    gan = api.open_model(api.bundled_model("gan"))
    with pytest.raises(api.PathError):
        api.interpolate(api.sample(vae, 1)[0], api.sample(vae, 1, seed=1)[0], steps=1)
    with pytest.raises(api.PathError):
        api.interpolate(api.sample(vae, 1)[0], api.sample(vae, 1, seed=1)[0], steps=4, mode="cubic")
    with pytest.raises(api.MapDataError):
        api.encode(gan, api.decode(gan, api.sample(gan, 2)))
    with pytest.raises(api.ModelError):
        api.decode(vae, api.sample(vae.latent_dim + 1, 2))
    assert (api.sample(vae, 5, seed=3)[:3] == api.sample(vae, 3, seed=3)).all()


@pytest.mark.parametrize("module", ["torch", "explorer.qt"])
def test_the_no_qt_no_torch_contract_can_fail(tmp_path, module):
    """The forbidden contract on explorer.api breaks when explorer.api imports torch or the Qt views
    (the layers contract alone would allow explorer.api -> explorer.qt)."""
    for name in ("explorer", "training"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    api = tmp_path / "explorer" / "api.py"
    api.write_text(api.read_text(encoding="utf-8") + f"\n\ndef _late():\n    import {module}  # noqa\n",
                   encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([str(LINT), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert f"explorer.api is not allowed to import {module}" in out.stdout, out.stdout[-3000:]
