"""Architecture guards: the import contracts of pyproject.toml hold (and can fail), nothing unpickles.

The layer and forbidden-import rules live in ``[tool.importlinter]`` (pyproject.toml) and are checked by
import-linter, which follows relative imports, imports inside functions and chains through other
modules. What import-linter cannot see (``np.load`` calls that allow pickles) is checked here.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_import_contracts_hold():
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


@pytest.fixture
def scratch_tree(tmp_path):
    """A copy of explorer/, training/ and pyproject.toml that a test may break on purpose."""
    for name in ("explorer", "training"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize("module, line, broken", [
    # a relative import inside a function, one layer up: only a real import graph sees it
    ("explorer/io/paths.py", "def _x():\n    from ..qt import bridge\n", "explorer.io is not allowed to import explorer.qt"),
    # Qt reached through another module (core -> io -> pyqtgraph)
    ("explorer/io/blas.py", "import pyqtgraph\n", "explorer.io is not allowed to import pyqtgraph"),
    ("explorer/core/latents.py", "import pickle\n", "explorer is not allowed to import pickle"),
    ("explorer/core/metrics.py", "from training import config\n", "explorer is not allowed to import training"),
    ("training/config.py", "import explorer.qt.bridge\n", "training is not allowed to import explorer.qt"),
])
def test_a_deliberate_violation_breaks_the_contracts(scratch_tree, module, line, broken):
    path = scratch_tree / module
    path.write_text(path.read_text() + "\n" + line)
    out = _lint(scratch_tree)
    assert out.returncode != 0 and broken in out.stdout, out.stdout[-3000:]


def pickle_problems(source: str, name: str = "<source>") -> list[str]:
    """Calls that could unpickle: np.load without allow_pickle=False, any allow_pickle that is not False."""
    problems = []
    numpy_names = {"np", "numpy"}
    load_names = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "numpy":
            load_names.update(a.asname or a.name for a in node.names if a.name == "load")
        elif isinstance(node, ast.Import):
            numpy_names.update(a.asname for a in node.names if a.name == "numpy" and a.asname)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                problems.append(f"{name}:{node.lineno}: allow_pickle is not False")
        func = node.func
        is_np_load = (isinstance(func, ast.Attribute) and func.attr == "load" and isinstance(func.value, ast.Name)
                      and func.value.id in numpy_names) or (isinstance(func, ast.Name) and func.id in load_names)
        if is_np_load and not any(kw.arg == "allow_pickle" for kw in node.keywords):
            problems.append(f"{name}:{node.lineno}: np.load without allow_pickle=False")
    return problems


def test_the_pickle_check_finds_what_it_should():
    bad = textwrap.dedent("""
        import numpy as onp
        from numpy import load as L
        import numpy as np
        np.load("a.npz")
        onp.load("b.npz")
        L("c.npz")
        np.load("d.npz", allow_pickle=True)
        np.load("e.npz", allow_pickle=flag)
    """)
    assert len(pickle_problems(bad)) == 5
    assert pickle_problems("import numpy as np\nnp.load('a.npz', allow_pickle=False)\n") == []


def test_explorer_never_unpickles():
    problems = []
    for path in sorted((ROOT / "explorer").rglob("*.py")):
        problems += pickle_problems(path.read_text(), str(path.relative_to(ROOT)))
    assert not problems, problems


def test_opening_a_model_leaves_torch_unimported(tmp_path):
    import model_factory

    model_factory.make_contract_gan(tmp_path / "gan")
    code = textwrap.dedent(f"""
        import sys
        import explorer.cli.main
        import explorer.qt.main_window
        from explorer.io import runtime
        m = runtime.open_model({str(tmp_path / 'gan')!r})
        m.decode(__import__('numpy').zeros((2, m.latent_dim), 'float32'))
        bad = [n for n in ('torch', 'training') if n in sys.modules]
        assert not bad, bad
        print('ok')
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "LATENT_EXPLORER_PROVIDER": "cpu"})
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
