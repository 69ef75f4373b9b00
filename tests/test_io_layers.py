"""explorer/io is the bottom layer and its modules import each other without a circle: read every
import in every io module (top-level and inside functions, absolute and relative), then import each
module alone in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

IO = Path(__file__).resolve().parents[1] / "explorer" / "io"
MODULES = sorted(p.stem for p in IO.glob("*.py") if p.stem != "__init__")


def explorer_imports(path: Path) -> set[str]:
    """Dotted names of the explorer modules ``path`` imports anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("explorer")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from .x import y
                base = "explorer.io" + (f".{node.module}" if node.module else "")
                found |= {base} if node.module else {f"explorer.io.{a.name}" for a in node.names}
            elif node.module and node.module.startswith("explorer"):
                if node.module == "explorer.io":
                    found |= {f"explorer.io.{a.name}" for a in node.names}
                else:
                    found.add(node.module)
    return found


def test_io_imports_only_io():
    outside = {m: sorted(n for n in explorer_imports(IO / f"{m}.py") if not n.startswith("explorer.io"))
               for m in MODULES}
    assert not {m: v for m, v in outside.items() if v}, "explorer/io must not import core, qt or cli"


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A list of modules that import each other in a circle (first = last), or None."""
    done: set[str] = set()

    def visit(m, path):
        if m in path:
            return path[path.index(m):] + [m]
        if m in done:
            return None
        for n in sorted(graph.get(m, ())):
            circle = visit(n, path + [m])
            if circle:
                return circle
        done.add(m)
        return None

    for m in sorted(graph):
        circle = visit(m, [])
        if circle:
            return circle
    return None


def test_io_modules_import_each_other_without_a_circle():
    graph = {m: {n.split(".")[2] for n in explorer_imports(IO / f"{m}.py")
                 if n.startswith("explorer.io.")} - {m} for m in MODULES}
    assert find_circle(graph) is None, " -> ".join(find_circle(graph))


def test_the_circle_check_can_fail(tmp_path):
    """The reader sees function-level imports, and the old contract -> exports -> runtime -> contract
    circle (two of its links were imports inside functions) is found."""
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from explorer.io.exports import atomic_path\n")
    assert explorer_imports(a) == {"explorer.io.exports"}
    old = {"contract": {"exports"}, "exports": {"runtime"}, "runtime": {"contract"}, "paths": set()}
    assert find_circle(old) == ["contract", "exports", "runtime", "contract"]


@pytest.mark.parametrize("module", MODULES)
def test_each_io_module_imports_alone(module):
    done = subprocess.run([sys.executable, "-c", f"import explorer.io.{module}"], cwd=IO.parents[1],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
