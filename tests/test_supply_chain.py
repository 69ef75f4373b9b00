"""The dependency floors of the model-file readers are security floors (issue 14, defect 9).

Each floor sits above the releases with known model-file vulnerabilities, says why in a comment, and
the versions this environment runs satisfy it. (The Fashion-MNIST download's https and SHA-256
checks are tested in tests/test_data.py.)
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# package: the lowest release with the fixes (see the comments in pyproject.toml)
FLOORS = {"onnx": "1.21", "onnxruntime-gpu": "1.25", "onnxruntime": "1.25", "torch": "2.10"}


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    return {r.name: r for r in reqs if r.name in FLOORS}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_floor_excludes_the_vulnerable_releases(name):
    req = _requirements()[name]
    floors = [Version(s.version) for s in req.specifier if s.operator == ">="]
    assert floors and min(floors) >= Version(FLOORS[name]), f"{req}: floor below {FLOORS[name]}"


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_each_floor_says_why(name):
    lines = PYPROJECT.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(rf'\s*"{re.escape(name)}>=', line))
    block = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("#"):
            if block or not line.strip().startswith('"'):
                break
            continue  # the darwin/other-platform line of the same package sits between
        block.append(line)
    assert block, f"{name}: no comment above its floor"


def test_the_installed_readers_satisfy_the_floors():
    for name in ("onnx", "torch"):
        assert Version(metadata.version(name)) >= Version(FLOORS[name]), name
    runtime = [n for n in ("onnxruntime-gpu", "onnxruntime") if _installed(n)]
    assert runtime and all(Version(metadata.version(n)) >= Version(FLOORS[n]) for n in runtime)


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True
