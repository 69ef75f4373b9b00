"""The CI sample of the fuzzer: a fixed set of seeded cases over every mutation kind and every
bundled model, each through info, render, the role's opener and the window (tests/fuzz/harness.py).

Any case that is not accepted or refused in one clear line fails the test, which prints the
case's seed, kind and source and the command that reruns it. ``make fuzz N=1000`` runs more.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import harness  # noqa: E402
from mutations import KINDS, SESSION_KINDS  # noqa: E402

CI_CASES = 100
CI_SECONDS = 120

needs_models = pytest.mark.skipif(not all(p.exists() for p in harness.SOURCES.values()),
                                  reason="the bundled models are not in assets/models")


@needs_models
@pytest.mark.slow
def test_the_ci_sample_has_no_crash_hang_traceback_or_unexpected_message():
    todo = harness.cases(CI_CASES)
    assert {c.kind for c in todo} == set(KINDS) | set(SESSION_KINDS) and {c.source for c in todo} == set(harness.SOURCES)
    t0 = time.perf_counter()
    results, after = harness.run_cases(todo, batch=CI_CASES)
    took = time.perf_counter() - t0
    bad = harness.failures(results) + [f"window after the bad files: {o}: {t}" for o, t in after
                                       if o not in harness.GOOD]
    print(harness.table(results))
    assert len(results) == CI_CASES and len(after) == 1
    assert not bad, "\n".join(bad)
    assert took < CI_SECONDS, f"the CI sample took {took:.0f} s"


@needs_models
def test_the_harness_counts_a_crash_and_a_hang_and_goes_on():
    todo = [harness.Case(0, "selftest-crash", "gan"), harness.Case(1, "truncate", "gan"),
            harness.Case(2, "selftest-hang", "gan"), harness.Case(3, "flip1", "gan")]
    results, _ = harness.run_cases(todo, batch=4, with_window=False, case_seconds=8)
    outcomes = {r["case"]["kind"]: harness.outcome_of(r) for r in results}
    assert outcomes["selftest-crash"] == "crash" and outcomes["selftest-hang"] == "hang"
    assert outcomes["truncate"] in harness.GOOD and outcomes["flip1"] in harness.GOOD
    assert "rerun: python tests/fuzz/harness.py --seed 0 --kind selftest-crash" in "\n".join(harness.failures(results))


@pytest.mark.parametrize("text, problem", [
    ("latent-explorer: error: g.onnx: expected an ONNX model, found unreadable data", None),
    ("latent-explorer: error: unexpected TypeError: startswith first arg must be bytes", "unexpected"),
    ("g.onnx: not a readable ONNX file (DecodeError)", "unexpected"),
    ("line one\nline two", "unexpected"),
    ("", "unexpected"),
])
def test_a_message_is_judged_by_what_a_user_reads(text, problem):
    assert harness.message_problem(text) == problem


def test_a_case_is_the_same_bytes_on_every_run():
    import numpy as np
    from mutations import mutate

    data = harness.SOURCES["gan"].read_bytes() if harness.SOURCES["gan"].is_file() else bytes(range(256)) * 40
    for kind in ("truncate", "flip10"):
        a = mutate(kind, data, np.random.default_rng(7))
        b = mutate(kind, data, np.random.default_rng(7))
        assert a == b and a[0] != data
