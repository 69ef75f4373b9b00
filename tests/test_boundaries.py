"""Architecture guards: the app never imports torch or unpickles; the numeric core and training stay Qt-free."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def _files(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def test_explorer_never_imports_torch():
    bad = {str(p.relative_to(ROOT)) for p in _files("explorer") if "torch" in _imports(p)}
    assert not bad, f"explorer modules import torch: {sorted(bad)}"


def test_numeric_core_and_training_are_qt_free():
    files = [p for p in _files("explorer") if "qt" not in p.relative_to(ROOT / "explorer").parts] + _files("training")
    bad = {str(p.relative_to(ROOT)): sorted(_imports(p) & set(QT_MODULES)) for p in files}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"modules outside explorer/qt import Qt: {bad}"


def test_explorer_never_unpickles():
    problems = []
    for path in _files("explorer"):
        tree = ast.parse(path.read_text())
        if {"pickle", "cPickle", "dill", "joblib", "cloudpickle"} & _imports(path):
            problems.append(f"{path.name}: imports a pickle module")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        problems.append(f"{path.name}:{node.lineno}: allow_pickle is not False")
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "load" and \
                        isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy"):
                    if not any(kw.arg == "allow_pickle" for kw in node.keywords):
                        problems.append(f"{path.name}:{node.lineno}: np.load without allow_pickle=False")
    assert not problems, problems


def test_opening_a_model_leaves_torch_unimported(tmp_path):
    import model_factory

    model_factory.make_contract_gan(tmp_path / "gan")
    code = textwrap.dedent(f"""
        import sys
        import explorer.cli.main
        from explorer.io import runtime
        m = runtime.open_model({str(tmp_path / 'gan')!r})
        m.decode(__import__('numpy').zeros((2, m.latent_dim), 'float32'))
        bad = [n for n in ('torch', 'pickle') if n in sys.modules and n == 'torch']
        assert not bad, bad
        print('ok')
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "LATENT_EXPLORER_PROVIDER": "cpu"})
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
