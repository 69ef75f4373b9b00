"""training/ writes and reads the run folder only through explorer/io/run_folder.py.

Fast checks, no training: the names of the run folder are spelled nowhere in training/'s code, the
settings a resume takes, and how a resume trims metrics.jsonl.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from explorer.io import run_folder as RF
from explorer.io.run_folder import RunFolder, read_metrics
from training.config import default_config
from training.train import RunError, settings_of_run, start_run_files

TRAINING = Path(__file__).resolve().parents[1] / "training"
FILE_NAMES = {RF.CONFIG_FILE, RF.METRICS_FILE, RF.CHECKPOINT_FILE}  # wrong wherever they appear
FOLDER_NAMES = {RF.CHECKPOINT_DIR, RF.SNAPSHOTS_DIR, RF.MODEL_DIR, RF.TENSORBOARD_DIR}  # wrong as a path part (`/ "model"`)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def run_folder_names_spelled(source: str) -> list[str]:
    """``line: text`` of every place in ``source`` that spells a run-folder name itself."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if node.value in FILE_NAMES or "epoch-%" in node.value or node.value.startswith("epoch-"):
                found.append(f"{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            part = node.right
            if isinstance(part, ast.Constant) and part.value in FOLDER_NAMES:
                found.append(f"{node.lineno}: / {part.value!r}")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("joinpath", "with_name"):
            found += [f"{node.lineno}: {a.value!r}" for a in node.args
                      if isinstance(a, ast.Constant) and a.value in FILE_NAMES | FOLDER_NAMES]
    return found


def test_the_name_check_finds_what_it_looks_for():
    bad = '''
def f(run_dir, epoch):
    """Docstrings may say metrics.jsonl and run_dir / "model"."""
    a = run_dir / "metrics.jsonl"
    b = run_dir / "snapshots" / f"epoch-{epoch:04d}"
    c = run_dir / "model"
    d = run_dir.joinpath("checkpoints")
    e = "epoch-%04d" % epoch
    return {"model": a}  # a dict key named model is not the folder
'''
    assert sorted(int(hit.split(":")[0]) for hit in run_folder_names_spelled(bad)) == [4, 5, 5, 6, 7, 8]


@pytest.mark.parametrize("module", sorted(p.name for p in TRAINING.glob("*.py")))
def test_training_spells_no_run_folder_name(module):
    hits = run_folder_names_spelled((TRAINING / module).read_text(encoding="utf-8"))
    assert hits == [], f"training/{module} spells run-folder names; use explorer.io.run_folder.RunFolder: {hits}"


# ---- the settings of a resume ----------------------------------------------------------------------

def _run_with_config_only(tmp_path: Path, epochs: int) -> RunFolder:
    """A run stopped before its first checkpoint: config.json is all there is."""
    run = RunFolder(tmp_path / "run")
    run.root.mkdir()
    run.config.write_text(json.dumps(default_config("gan", epochs=epochs, seed=5).to_dict()))
    return run


def test_resume_keeps_the_run_length_or_takes_the_new_one(tmp_path):
    run = _run_with_config_only(tmp_path, epochs=3)
    asked = default_config("gan", epochs=9, seed=0)
    kept, ckpt = settings_of_run(asked, run, resume=True, keep_run_length=True, log=lambda *a: None)
    assert ckpt is None and (kept.epochs, kept.seed) == (3, 5)
    longer, _ = settings_of_run(asked, run, resume=True, keep_run_length=False, log=lambda *a: None)
    assert (longer.epochs, longer.seed) == (9, 5)  # only the length changes; the seed is the run's own
    assert isinstance(kept.epochs, int) and isinstance(longer.epochs, int)


def test_resume_refuses_another_family_and_unreadable_settings(tmp_path):
    run = _run_with_config_only(tmp_path, epochs=3)
    with pytest.raises(RunError, match="holds a gan run, cannot resume it as vae"):
        settings_of_run(default_config("vae"), run, resume=True, keep_run_length=True, log=lambda *a: None)
    run.config.write_text("[1, 2]")
    with pytest.raises(RunError, match="unreadable run settings"):
        settings_of_run(default_config("gan"), run, resume=True, keep_run_length=True, log=lambda *a: None)


def test_a_new_run_is_taken_as_asked(tmp_path):
    asked = default_config("vae", epochs=4)
    cfg, ckpt = settings_of_run(asked, RunFolder(tmp_path / "new"), resume=False,
                                keep_run_length=False, log=lambda *a: None)
    assert cfg is asked and ckpt is None


# ---- what a resume does to metrics.jsonl --------------------------------------------------------------

def test_resume_forgets_the_epochs_after_its_checkpoint(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.root.mkdir()
    lines = [{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 2.0}, {"note": "no epoch"}, {"epoch": 3, "loss": 1.0}]
    run.metrics.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"epoch": 4, "lo')  # torn by a kill
    start_run_files(run, default_config("vae", epochs=5), start_epoch=2)
    assert run.metrics.read_text().endswith("\n")
    assert read_metrics(run.metrics) == [{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 2.0}, {"note": "no epoch"}]
    assert json.loads(run.config.read_text())["epochs"] == 5
