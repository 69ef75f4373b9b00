"""Closing never waits on a hung decode (issue 17, "Smaller:"): a model that passed its first decode
can still hang on a later one; closing the window (or any view's worker) tells the work to stop, a
running onnxruntime decode is terminated, and close() returns at once; the app still quits with rc 0."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import model_factory as mf
from explorer.core.worker import LatestOnly
from test_untrusted_files import _with_huge_loop

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _hanging_model(model, tmp_path, trips: int = 3 * 10 ** 6):
    """``model`` whose graph now runs a Loop of ``trips`` trips (3e6: several seconds, so that
    code which waits for the run fails here instead of hanging): a decode that hangs in onnxruntime."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    path = _with_huge_loop(mf.make_contract_gan(tmp_path / "hang"))
    graph = onnx.load(str(path))
    for init in graph.graph.initializer:
        if init.name == "trips":
            init.CopyFrom(numpy_helper.from_array(np.array(trips, np.int64), "trips"))
    onnx.save(graph, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return replace(model, session=session, batch_session=None, _batch_session_tried=True)


def _blocking_work(started: threading.Event, release: threading.Event):
    def work(progress, cancelled):
        started.set()
        release.wait()  # ignores cancelled(): a model that never checks
        return "late"
    return work


def test_close_returns_at_once_and_the_late_answer_is_dropped():
    delivered = []
    worker = LatestOnly(delivered.append, name="test")
    started, release = threading.Event(), threading.Event()
    worker.submit(_blocking_work(started, release))
    assert started.wait(5)
    threading.Timer(3.0, release.set).start()  # code that waits for the work fails instead of hanging
    t0 = time.perf_counter()
    worker.close()
    assert time.perf_counter() - t0 < 1.0
    release.set()
    assert worker.wait(5)
    assert delivered == []
    assert worker.submit(lambda p, c: 1) == worker.generation and not worker.busy  # closed: nothing runs


def test_closing_the_window_does_not_wait_on_a_hung_decode(window, tmp_path):
    started, release = threading.Event(), threading.Event()
    worker = window.controller.decoder.worker
    worker.submit(_blocking_work(started, release))
    assert started.wait(5)
    threading.Timer(3.0, release.set).start()  # code that waits for the work fails instead of hanging
    t0 = time.perf_counter()
    window.close()
    assert time.perf_counter() - t0 < 1.0
    release.set()


def test_closing_the_window_terminates_a_hung_onnxruntime_decode(window, tmp_path):
    model = _hanging_model(window.grid.model, tmp_path)
    decoder = window.controller.decoder
    z = np.zeros((1, model.latent_dim), np.float32)
    decoder.request(model, z, None, np.array([0]))
    time.sleep(0.3)  # let the run start inside onnxruntime
    assert decoder.worker.busy
    t0 = time.perf_counter()
    window.close()
    assert time.perf_counter() - t0 < 1.0
    assert decoder.worker.wait(1.0)  # the run was terminated, not left to loop for seconds


CHILD = textwrap.dedent("""
    import sys, threading, time
    from dataclasses import replace
    import numpy as np
    sys.path.insert(0, {tests!r})
    import model_factory as mf
    from test_untrusted_files import _with_huge_loop
    from explorer.qt.app import build_window, ensure_app, wait_for_grid
    import onnxruntime as ort

    app = ensure_app()
    win, errors = build_window([mf.make_contract_gan({tmp!r} + "/gan")], interactive=False)
    win.show()
    assert wait_for_grid(win), "grid never decoded"
    # a decode that hangs inside onnxruntime on the grid's worker, and Python work that never returns
    # on the map's and the path's
    path = _with_huge_loop(mf.make_contract_gan({tmp!r} + "/hang"))
    model = replace(win.grid.model, session=ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]),
                    batch_session=None, _batch_session_tried=True)
    win.controller.decoder.request(model, np.zeros((1, model.latent_dim), np.float32), None, np.array([0]))
    never = threading.Event()
    win.path_editor.decoder.worker.submit(lambda p, c: never.wait())
    time.sleep(0.3)
    print("QUIT", time.time(), flush=True)  # the Loop below is 10^12 trips: it never ends by itself
    win.close()
    app.quit()
    sys.exit(0)
""")


def test_the_app_quits_while_a_decode_hangs(tmp_path, settings_file):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(TESTS), tmp=str(tmp_path)))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    ended = time.time()
    assert proc.returncode == 0, proc.stderr[-2000:]
    quit_at = float(next(line for line in proc.stdout.splitlines() if line.startswith("QUIT")).split()[1])
    assert ended - quit_at < 5.0
