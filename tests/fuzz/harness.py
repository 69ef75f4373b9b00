"""The fuzzing harness: mutated copies of the bundled models through every way a file is opened.

A case is (seed, kind, source): the ``kind`` mutation of the ``source`` model, drawn with ``seed``
(``tests/fuzz/mutations.py``). Each case goes through

* ``info``     ``latent-explorer info FILE --json``;
* ``render``   ``latent-explorer render FILE --grid 2x2``;
* ``role``     the role's own opener: a VAE bundle's encoder for the map (``VAEEncoder.encode``), a
               classifier for ``diversity --classifier`` (``Classifier.classify``);
* ``window``   the main window's File → Open path (``open_path``) or drag-and-drop (``open_paths``),
               offscreen, one window for every case of a child, then a bundled model must still decode.

Cases run in child processes (a batch each, one window each): a child that dies (a segfault in
onnxruntime) or stops answering (a hang) is counted against the case it was running, and the rest
of the batch goes on in a fresh child. Every outcome is one of

    ok         the file was accepted (and decoded)
    refused    one line that says what was expected and what was found
    unexpected a message with "unexpected", an exception's class name, or more than one line
    traceback  a traceback or onnxruntime's own log lines on stderr
    halfopen   the window refused the file but kept the model
    exception  an exception left the window's open path
    crash      the child died        hang   the child stopped answering

Run ``python tests/fuzz/harness.py --n 1000`` (``make fuzz N=1000``) for a table per mutation kind;
``--seed S --kind K --source M`` reruns one case.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "assets" / "models"
SOURCES = {
    "gan": MODELS / "fashion-gan" / "generator.onnx",
    "vae-decoder": MODELS / "fashion-vae" / "decoder.onnx",
    "vae-encoder": MODELS / "fashion-vae" / "encoder.onnx",
    "classifier": MODELS / "fashion-classifier" / "classifier.onnx",
    "session": MODELS / "fashion-gan",  # a session of the bundled GAN, mutated (SESSION_KINDS)
}
GOOD = ("ok", "refused")
OUTCOMES = ("ok", "refused", "unexpected", "traceback", "halfopen", "exception", "crash", "hang")
CASE_SECONDS = 60  # a case that takes longer is a hang (probes stop after PROBE_SECONDS each)
PROBE_SECONDS = "1"  # the harness's time limit on probe decodes (LATENT_EXPLORER_PROBE_SECONDS)
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z0-9]*(Error|Exception|Interrupt|Exit)\b")
ORT_LOG = re.compile(r"\[[EWF]:onnxruntime")


@dataclass(frozen=True)
class Case:
    seed: int
    kind: str
    source: str

    def rerun(self) -> str:
        return f"python tests/fuzz/harness.py --seed {self.seed} --kind {self.kind} --source {self.source}"


def cases(n: int, start: int = 0, kinds=None, sources=None) -> list[Case]:
    """n cases from seed ``start`` on: model kinds in turn, then sources in turn (all kinds meet all
    sources); every tenth case is a session file instead (its own kinds, in turn)."""
    from mutations import KINDS, SESSION_KINDS

    kinds = list(kinds or KINDS)
    sources = list(sources or SOURCES)
    session_kinds = [k for k in kinds if k in SESSION_KINDS] or list(SESSION_KINDS)
    model_kinds = [k for k in kinds if k in KINDS]
    out = []
    for i in range(start, start + n):
        only_sessions = not model_kinds or sources == ["session"]
        if only_sessions or (i % 10 == 9 and "session" in sources):
            out.append(Case(i, session_kinds[(i if only_sessions else i // 10) % len(session_kinds)], "session"))
            continue
        kind = model_kinds[i % len(model_kinds)]
        source = [s for s in sources if s != "session"][(i // len(model_kinds)) % len([s for s in sources if s != "session"])]
        out.append(Case(i, kind, source))
    return out


# ---- in the child -----------------------------------------------------------------------------

def message_problem(text: str) -> str | None:
    """Why a refusal message is not acceptable, or None."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "unexpected"
    if len(lines) > 1:
        return "unexpected"
    if "unexpected" in lines[0] or CLASS_NAME.search(lines[0]):
        return "unexpected"
    return None


class _Stderr:
    """fd 2 (and sys.stderr) into a file for the length of one channel: catches Python tracebacks
    printed by Qt and onnxruntime's C++ log lines alike."""

    def __enter__(self):
        sys.stderr.flush()
        self.file = tempfile.TemporaryFile(mode="w+b")
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        self.py = sys.stderr
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(2), "wb"), write_through=True)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = self.py
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.seek(0)
        self.text = self.file.read().decode("utf-8", "replace")
        self.file.close()
        return False


def _noise(text: str) -> bool:
    return "Traceback" in text or bool(ORT_LOG.search(text))


def _cli(args: list[str]) -> tuple[str, str]:
    from explorer.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with _Stderr() as fd2, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(args)
        except BaseException as exc:  # noqa: BLE001 - anything leaving main() is the finding
            return "exception", f"{type(exc).__name__}: {exc}"[:300]
    text = err.getvalue()
    if _noise(fd2.text + text):
        return "traceback", (fd2.text + text).strip()[-300:]
    if rc in (0, 3):
        return "ok", ""
    return message_problem(text) or "refused", text.strip()[:300]


def _role(path: Path, role: str) -> tuple[str, str]:
    import numpy as np

    with _Stderr() as fd2:
        try:
            if role == "encoder":
                from explorer.core.atlas_data import MapDataError, VAEEncoder

                try:
                    enc = VAEEncoder(path)
                    c, h, w = enc.image_shape
                    enc.encode(np.zeros((2, h, w, c), np.uint8))
                except MapDataError as exc:
                    result = (message_problem(str(exc)) or "refused", str(exc)[:300])
                else:
                    result = ("ok", "")
            else:
                from explorer.core.classifier import Classifier, MonitorError

                try:
                    clf = Classifier(path)
                    clf.classify(np.zeros((2,) + clf.card.image_shape, np.float32))
                except MonitorError as exc:
                    result = (message_problem(str(exc)) or "refused", str(exc)[:300])
                else:
                    result = ("ok", "")
        except BaseException as exc:  # noqa: BLE001
            result = ("exception", f"{type(exc).__name__}: {exc}"[:300])
    if result[0] in GOOD and _noise(fd2.text):
        return "traceback", fd2.text.strip()[-300:]
    return result


class _Window:
    """One offscreen main window for every case of a child."""

    def __init__(self, folder: Path):
        os.environ["LATENT_EXPLORER_SETTINGS"] = str(folder / "settings.ini")
        empty = folder / "no-models"
        empty.mkdir(exist_ok=True)
        os.environ["LATENT_EXPLORER_MODELS"] = str(empty)
        from explorer.qt.qapp import ensure_app
        from explorer.qt.main_window import MainWindow

        self.app = ensure_app()
        self.window = MainWindow(interactive=False)
        self.window.show()

    def open(self, path: Path, drop: bool) -> tuple[str, str]:
        from explorer.qt.app import wait_for_grid

        w = self.window
        before = len(w.state.models)
        with _Stderr() as fd2:
            try:
                err = (w.open_paths([str(path)]) or [None])[0] if drop else w.open_path(str(path))
                wait_for_grid(w, timeout=20)
                result = None
            except BaseException as exc:  # noqa: BLE001
                result = ("exception", f"{type(exc).__name__}: {exc}"[:300])
        if result is None:
            if err is not None and len(w.state.models) != before:
                result = ("halfopen", err[:300])
            elif err is not None:
                result = (message_problem(err) or "refused", err[:300])
            else:
                result = ("ok", "")
        if result[0] in GOOD and _noise(fd2.text):
            result = ("traceback", fd2.text.strip()[-300:])
        return result

    def open_session(self, path: Path) -> tuple[str, str]:
        from explorer.qt.session_actions import open_session_from

        w = self.window
        with _Stderr() as fd2:
            try:
                ok = open_session_from(w, str(path))
                result = ("ok", "") if ok else (message_problem(w.last_message) or "refused", w.last_message[:300])
            except BaseException as exc:  # noqa: BLE001
                result = ("exception", f"{type(exc).__name__}: {exc}"[:300])
        if result[0] in GOOD and _noise(fd2.text):
            result = ("traceback", fd2.text.strip()[-300:])
        return result

    def start_with_last_session(self, data: bytes) -> tuple[str, str]:
        """build_window with this file as the last session: a window must come up, the file untouched."""
        from explorer.qt.app import build_window
        from explorer.qt.session_actions import last_session_file

        file = last_session_file()
        file.write_bytes(data)
        with _Stderr() as fd2:
            try:
                window, _errors = build_window([], interactive=True)
                window.interactive = False  # no autosave on close
                window.close()
                window.deleteLater()
                result = ("ok", "") if file.read_bytes() == data else ("unexpected", "the last session was changed")
            except BaseException as exc:  # noqa: BLE001
                result = ("exception", f"{type(exc).__name__}: {exc}"[:300])
        file.unlink()
        if result[0] in GOOD and _noise(fd2.text):
            result = ("traceback", fd2.text.strip()[-300:])
        return result

    def still_decodes(self) -> tuple[str, str]:
        from explorer.qt.app import wait_for_grid

        w = self.window
        err = w.open_path(str(SOURCES["gan"].parent))
        if err is not None or not wait_for_grid(w, timeout=30) or w.grid.model is None:
            return "unexpected", f"after the bad files, the bundled GAN did not decode: {err}"
        if not w.grid.finite.all() or int(w.grid.pixels.max()) == 0:
            return "unexpected", "after the bad files, the bundled GAN decoded blank or non-finite cells"
        return "ok", ""


def _monitor(work: Path, source: Path, data: bytes) -> tuple[str, str]:
    """A monitor snapshot written in pieces: half the file first (skipped), then all of it by rename;
    the monitor must look at it again, and its open must be a success or one clear line."""
    from explorer.core.evaluation import skipped_snapshot
    from explorer.core.monitor import RunMonitor
    from explorer.io.runtime import ModelError, open_model

    import numpy as np

    snap = work / "run" / "snapshots" / "epoch-0001"
    snap.mkdir(parents=True)
    for sibling in source.parent.glob("*.onnx"):
        if sibling.name != source.name:
            shutil.copyfile(sibling, snap / sibling.name)
    (snap / source.name).write_bytes(data[: len(data) // 2])

    def evaluate(info):
        try:
            model = open_model(info.path)
            model.decode(np.zeros((2, model.latent_dim), np.float32))
        except ModelError as exc:
            return message_problem(str(exc)) or "refused", str(exc)[:300]
        return "ok", ""

    with _Stderr() as fd2:
        try:
            mon = RunMonitor(work / "run")
            [info] = mon.poll()
            first = evaluate(info)
            if first[0] == "refused":
                mon.add_result(skipped_snapshot(info, first[1]))
            tmp = snap / f".{source.name}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, snap / source.name)  # the trainer's way: complete, then renamed in
            again = mon.poll()
            if first[0] == "refused" and [i.epoch for i in again] != [1]:
                result = ("unexpected", "a snapshot skipped while half-written was not looked at again")
            else:
                result = evaluate(info)
        except BaseException as exc:  # noqa: BLE001
            result = ("exception", f"{type(exc).__name__}: {exc}"[:300])
    if result[0] in GOOD and _noise(fd2.text):
        result = ("traceback", fd2.text.strip()[-300:])
    return result


def _session_case(case: Case, work: Path, window: "_Window | None") -> dict:
    """A mutated session file: Open Session in the window, then the same file as the last session at start."""
    import numpy as np
    from mutations import mutate_session

    from explorer.core.session import Session, SessionError, load_session

    good = Session(models=[], grid={"rows": 2, "cols": 2, "seed": 3, "temperature": 1.0, "truncation": None,
                                    "latents": np.zeros((4, 64), np.float32), "model": "fashion-mnist gan"},
                   view={"cell_px": 84})
    good.models.append(__import__("explorer.core.session", fromlist=["ModelRef"]).ModelRef(str(SOURCES["session"])))
    good.active = str(SOURCES["session"])
    data, detail = mutate_session(case.kind, json.dumps(good.to_json()).encode(), __import__("numpy").random.default_rng(case.seed))
    path = work / f"session-{case.seed}.json"
    path.write_bytes(data)
    channels = {}
    with _Stderr() as fd2:
        try:
            load_session(path)
            channels["load"] = ("ok", "")
        except SessionError as exc:
            channels["load"] = (message_problem(str(exc)) or "refused", str(exc)[:300])
        except BaseException as exc:  # noqa: BLE001
            channels["load"] = ("exception", f"{type(exc).__name__}: {exc}"[:300])
    if channels["load"][0] in GOOD and _noise(fd2.text):
        channels["load"] = ("traceback", fd2.text.strip()[-300:])
    if window is not None:
        channels["open session"] = window.open_session(path)
        channels["last session"] = window.start_with_last_session(data)
    path.unlink()
    return {"case": asdict(case), "detail": detail, "channels": channels}


SELFTEST = {"selftest-crash": lambda: os.kill(os.getpid(), 11),  # SIGSEGV, as a crash in onnxruntime would
            "selftest-hang": lambda: time.sleep(3600)}


def run_case(case: Case, work: Path, window: _Window | None) -> dict:
    import numpy as np
    from mutations import mutate

    if case.kind in SELFTEST:  # the harness's own check that a crash and a hang are caught and counted
        SELFTEST[case.kind]()
    if case.source == "session":
        return _session_case(case, work, window)
    source = SOURCES[case.source]
    folder = work / f"case-{case.seed}"
    folder.mkdir()
    for sibling in source.parent.glob("*.onnx"):  # the rest of the bundle, as the file would sit in it
        if sibling.name != source.name:
            shutil.copyfile(sibling, folder / sibling.name)
    data, detail = mutate(case.kind, source.read_bytes(), np.random.default_rng(case.seed))
    path = folder / source.name
    path.write_bytes(data)
    channels = {"info": _cli(["info", str(path), "--json"]),
                "render": _cli(["render", str(path), "--grid", "2x2", "--out", str(folder / "grid.png")])}
    if case.source in ("vae-encoder", "classifier"):
        channels["role"] = _role(path, "encoder" if case.source == "vae-encoder" else "classifier")
    if case.source in ("gan", "vae-decoder"):
        channels["monitor"] = _monitor(folder, source, data)
    if window is not None:
        channels["window"] = window.open(path, drop=case.seed % 2 == 1)
    shutil.rmtree(folder, ignore_errors=True)
    return {"case": asdict(case), "detail": detail, "channels": channels}


def child_main(case_file: str, with_window: bool) -> int:
    todo = [Case(**c) for c in json.loads(Path(case_file).read_text())]
    work = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        window = _Window(work) if with_window else None
        for case in todo:
            print("START " + json.dumps(asdict(case)), flush=True)
            print("RESULT " + json.dumps(run_case(case, work, window)), flush=True)
        if window is not None:
            outcome = window.still_decodes()
            print("AFTER " + json.dumps(outcome), flush=True)
            window.window.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


# ---- in the parent ----------------------------------------------------------------------------

def _child_env() -> dict:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1", LATENT_EXPLORER_PROVIDER="cpu",
               LATENT_EXPLORER_THREADS="1", LATENT_EXPLORER_PROBE_SECONDS=PROBE_SECONDS,
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests" / "fuzz")]))
    env.pop("LATENT_EXPLORER_DEBUG", None)
    return env


def run_cases(todo: list[Case], *, batch: int = 50, with_window: bool = True, log=None,
              case_seconds: float = CASE_SECONDS) -> tuple[list[dict], list]:
    """Run the cases in child processes, ``batch`` per child. Returns (results, after-checks)."""
    results, after = [], []
    pending = list(todo)
    while pending:
        chunk, pending = pending[:batch], pending[batch:]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump([asdict(c) for c in chunk], fh)
        proc = subprocess.Popen([sys.executable, __file__, "--child", fh.name] + ([] if with_window else ["--no-window"]),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_child_env(),
                                cwd=ROOT)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
        running, done = None, 0
        while True:
            try:
                line = lines.get(timeout=case_seconds)
            except queue.Empty:
                proc.kill()
                results.append({"case": asdict(running), "detail": "", "channels": {"child": ("hang", "")}})
                done += 1
                break
            if line is None:
                proc.wait()
                if running is not None:  # died in the middle of a case
                    how = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
                           else f"the harness failed (exit {proc.returncode}; rerun the case to see why)")
                    results.append({"case": asdict(running), "detail": "",
                                    "channels": {"child": ("crash", how)}})
                    done += 1
                break
            tag, _, payload = line.strip().partition(" ")
            if tag == "START":
                running = Case(**json.loads(payload))
            elif tag == "RESULT":
                results.append(json.loads(payload))
                running = None
                done += 1
                if log:
                    log(results[-1])
            elif tag == "AFTER":
                after.append(tuple(json.loads(payload)))
        proc.wait()
        os.unlink(fh.name)
        pending = chunk[done:] + pending  # what a dead child left undone goes to a fresh one
    return results, after


def outcome_of(result: dict) -> str:
    found = [tuple(v)[0] for v in result["channels"].values()]
    bad = [o for o in found if o not in GOOD]
    if bad:
        return max(bad, key=OUTCOMES.index)
    return "refused" if "refused" in found else "ok"


def failures(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        case = Case(**r["case"])
        for channel, (outcome, text) in r["channels"].items():
            if outcome not in GOOD:
                lines.append(f"seed={case.seed} kind={case.kind} source={case.source} channel={channel}: {outcome}: "
                             f"{text} [{r['detail']}] (rerun: {case.rerun()})")
    return lines


def table(results: list[dict]) -> str:
    from collections import Counter

    rows = {}
    for r in results:
        rows.setdefault(r["case"]["kind"], Counter())[outcome_of(r)] += 1
    head = f"{'kind':<20}" + "".join(f"{o:>11}" for o in OUTCOMES)
    lines = [head, "-" * len(head)]
    total = Counter()
    for kind in sorted(rows):
        lines.append(f"{kind:<20}" + "".join(f"{rows[kind][o]:>11}" for o in OUTCOMES))
        total.update(rows[kind])
    lines.append("-" * len(head))
    lines.append(f"{'all':<20}" + "".join(f"{total[o]:>11}" for o in OUTCOMES))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Fuzz the open paths with mutated bundled models.")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--start", type=int, default=0, help="first seed")
    p.add_argument("--seed", type=int, help="rerun one case (with --kind and --source)")
    p.add_argument("--kind")
    p.add_argument("--source", choices=sorted(SOURCES))
    p.add_argument("--batch", type=int, default=50, help="cases per child process")
    p.add_argument("--no-window", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args.child, not args.no_window)
    sys.path.insert(0, str(Path(__file__).parent))
    if args.seed is not None:
        todo = [Case(args.seed, args.kind, args.source)]
    else:
        todo = cases(args.n, args.start, [args.kind] if args.kind else None, [args.source] if args.source else None)
    t0 = time.perf_counter()
    results, after = run_cases(todo, batch=args.batch, with_window=not args.no_window)
    took = time.perf_counter() - t0
    print(table(results))
    bad = failures(results) + [f"window after the bad files: {o}: {t}" for o, t in after if o not in GOOD]
    for line in bad:
        print(line)
    print(f"{len(results)} cases in {took:.0f} s; {len(bad)} failures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
