"""Command-line entry points of the diversity monitor (wired into ``latent-explorer`` by explorer/cli/main.py).

    latent-explorer diversity MODEL [--classifier C] [--n N] [--seed S] [--json] [--fail-on-alarm]
    latent-explorer monitor RUN_DIR [--classifier C] [--n N] [--seed S] [--report out.html] [--json]
                                    [--screenshot out.png]
    latent-explorer compare MODEL_A MODEL_B [--classifier C] [--n N] [--seed S] [--json] [--report out.html]
    latent-explorer reference [CLASSIFIER] [--data DIR] [--limit N]

Each ``*_command(argv)`` returns the exit code: 0 success; 2 bad input (one line on stderr saying
what was expected and what was found, never a traceback); 4 ``--fail-on-alarm`` and an alarm.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

PROG = "latent-explorer"
EXIT_BAD_INPUT = 2
EXIT_ALARM = 4


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise _Usage(message)


def _sample_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of samples, found {text!r}") from None
    if not 16 <= n <= 5000:
        raise argparse.ArgumentTypeError(f"expected N in 16..5000 (the real holdout pool has 5000), found {n}")
    return n


def _common(p: argparse.ArgumentParser) -> None:
    from explorer.core.classifier import DEFAULT_N, DEFAULT_SEED

    p.add_argument("--classifier", metavar="C", default=None,
                   help="classifier bundle or .onnx (default: one trained on the model's data, found from its run's "
                        "config.json, else the bundled fashion-classifier; without one, a feature-free pixel space)")
    p.add_argument("--n", type=_sample_count, default=DEFAULT_N, help=f"samples per model (default {DEFAULT_N})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="latent-bank seed (default 0)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="Fashion-MNIST folder, used once to build a missing real-data reference of the bundled classifier")


def _classifier_arg(value: str | None, *, required: bool) -> str | None:
    """The classifier to use: the argument, else the bundled one; None (or an error) when there is none."""
    from explorer.core.classifier import default_classifier
    from explorer.io.paths import bundled_model

    if value is not None:
        if not Path(value).expanduser().exists():
            raise _Fail(f"--classifier {value}: expected a classifier bundle folder or .onnx file, found nothing there")
        return value
    bundled = default_classifier()
    if bundled is not None:
        return str(bundled)
    if required:
        raise _Fail(f"expected a classifier (--classifier C, or the bundled one at {bundled_model('classifier')}), found none; "
                    "train one with 'latent-train classifier'")
    return None


class _Fail(Exception):
    pass


def _progress(quiet: bool):
    if quiet:
        return None
    return lambda msg: print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def _run(name: str, body, argv: list[str]) -> int:
    """Run a command body with the one-line error policy."""
    from explorer.io.contract import ContractError
    from explorer.core.classifier import MonitorError
    from explorer.io.runtime import ModelError

    try:
        return body(argv)
    except (_Usage, _Fail, MonitorError, ModelError, ContractError) as exc:
        print(f"{PROG} {name}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileNotFoundError as exc:
        print(f"{PROG} {name}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, (int, type(None))) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, never a traceback (LATENT_EXPLORER_DEBUG=1 shows it)
        if os.environ.get("LATENT_EXPLORER_DEBUG"):
            raise
        print(f"{PROG} {name}: error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _write_text(path: str, text: str) -> Path:
    from explorer.core.report import write_html

    try:
        return write_html(text, path)
    except OSError as exc:
        raise _Fail(f"cannot write {path}: {exc.strerror or exc}") from None


# ---- diversity ----------------------------------------------------------------------------------

def _evaluator(args, quiet: bool, model: str):
    """The evaluator for ``model``: the classifier chosen for its data (explorer.core.own_data) and its
    reference, or the feature-free space; the evaluations say which and why (``judged_by``)."""
    from explorer.io.blas import limit_blas_threads
    from explorer.core.evaluation import evaluator_for

    limit_blas_threads(1)
    if args.classifier is not None and not Path(args.classifier).expanduser().exists():
        raise _Fail(f"--classifier {args.classifier}: expected a classifier bundle folder or .onnx file, found nothing there")
    evaluator, _ = evaluator_for(model, args.classifier, n=args.n, seed=args.seed, data_dir=args.data,
                                 progress=_progress(quiet), strict=True)
    return evaluator


def _print_evaluation(ev) -> None:
    """The text form of ``ev.to_dict()``: the same verdict, and the same reason when nothing was measured."""
    import math

    from explorer.core.diversity_metrics import METRICS

    print(f"{ev.name}  ({ev.family}, N = {ev.n}, latent-bank seed {ev.seed})  {ev.path}")
    print(f"  judged by: {ev.judged_by}")
    if ev.n_note:
        print(f"  note: {ev.n_note}")
    rep = ev.report
    if rep is not None:
        spaces = rep.spaces()
        print(f"  {'metric':<28}{'value':>10}   {'real floor (same N)':<22}computed in")
        for spec in METRICS:
            k = spec.key
            if k in rep.metrics:
                floor = f"{rep.floors[k]:.4g} ± {rep.floor_spread.get(k, 0):.2g}"
                print(f"  {spec.label:<28}{rep.metrics[k]:>10.4g}   {floor:<22}{spaces[k]}")
        if math.isfinite(ev.pixel_near_dup):
            print(f"  {'near-duplicate rate':<28}{ev.pixel_near_dup:>10.4g}   {ev.pixel_near_dup_floor:<22.4g}pixels")
        print(f"  {'sharpness vs real':<28}{ev.sharpness_ratio:>10.3g}   {'1':<22}pixels (Laplacian variance)")
    print(f"  verdict: {ev.verdict_line()}")
    for a in ev.alarms:
        print(f"    {a.name}{'' if a.hard else ' (inconclusive)'}: {a.detail}")


def diversity_command(argv: list[str]) -> int:
    """``latent-explorer diversity MODEL [--classifier C] [--n N] [--json]``: metrics, floors, verdict."""

    def body(argv):
        from explorer.io.runtime import open_model

        p = _Parser(prog=f"{PROG} diversity",
                    description="Diversity metrics of a generator next to their real-vs-real floors, and a verdict.")
        p.add_argument("model", help="generator/decoder .onnx or bundle folder")
        _common(p)
        p.add_argument("--json", action="store_true", help="print JSON (metrics, floors, verdict, alarms)")
        p.add_argument("--fail-on-alarm", action="store_true",
                       help=f"exit {EXIT_ALARM} when the verdict is not ok (an alarm, inconclusive, or nothing measured)")
        args = p.parse_args(argv)
        model = open_model(args.model)
        evaluator = _evaluator(args, quiet=False, model=args.model)
        ev = evaluator.evaluate(model)
        if args.json:
            out = ev.to_dict()
            out["classifier"] = str(evaluator.classifier.path) if evaluator.classifier is not None else None
            print(json.dumps(out, indent=2))
        else:
            _print_evaluation(ev)
        return EXIT_ALARM if args.fail_on_alarm and ev.verdict != "ok" else 0

    return _run("diversity", body, argv)


# ---- monitor ------------------------------------------------------------------------------------

def monitor_command(argv: list[str]) -> int:
    """``latent-explorer monitor RUN_DIR [--report out.html]``: the live monitor window, or a headless report."""

    def body(argv):
        p = _Parser(prog=f"{PROG} monitor",
                    description="Watch a training run folder: diversity with real floors, training curves, alarms.")
        from explorer.io.run_folder import METRICS_FILE, SNAPSHOTS_DIR

        p.add_argument("run_dir", metavar="RUN_DIR", help=f"training run folder (holds {SNAPSHOTS_DIR}/, {METRICS_FILE})")
        _common(p)
        p.add_argument("--report", metavar="OUT.html", help="evaluate every snapshot and write an HTML report; no window")
        p.add_argument("--json", action="store_true", help="with --report: also print the summary as JSON")
        p.add_argument("--screenshot", metavar="OUT.png", help="open the monitor offscreen, wait for it, save a PNG")
        args = p.parse_args(argv)
        run = Path(args.run_dir).expanduser()
        if not run.is_dir():
            raise _Fail(f"expected a training run folder (RUN_DIR), found {'a file' if run.exists() else 'nothing'} at {run}")
        if args.classifier is not None:
            _classifier_arg(args.classifier, required=False)  # one line when it is not there
        classifier = args.classifier
        if args.report:
            return _monitor_report(args, run, classifier)
        if classifier is None:  # the controller picks the classifier of the run's data in place of the bundled one
            classifier = _classifier_arg(None, required=False)
        from explorer.qt.app import run_monitor_window

        return run_monitor_window(str(run), classifier=classifier, n=args.n, seed=args.seed, data_dir=args.data,
                                  screenshot=args.screenshot)

    return _run("monitor", body, argv)


def _monitor_report(args, run: Path, classifier: str | None) -> int:
    from explorer.io.blas import limit_blas_threads
    from explorer.core.monitor import evaluate_run
    from explorer.core.report import run_report_html
    from explorer.io.run_folder import METRICS_FILE, SNAPSHOTS_DIR, RunFolder

    if not RunFolder(run).looks_like_run():
        raise _Fail(f"expected a training run folder with {SNAPSHOTS_DIR}/ or {METRICS_FILE}, found neither in {run}")
    limit_blas_threads(1)
    t0 = time.perf_counter()
    mon, note = evaluate_run(run, classifier=classifier, n=args.n, seed=args.seed, data_dir=args.data,
                             progress=_progress(args.json), auto=True)
    out = _write_text(args.report, run_report_html(mon, classifier=mon.judged_by, n=args.n, seed=args.seed,
                                                   note=note))
    summary = mon.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        line = mon.verdict_line()
        print(f"wrote {out} ({len(summary['evaluated'])} snapshot(s) evaluated, "
              f"{len(summary['skipped'])} skipped, {time.perf_counter() - t0:.1f} s); verdict: {line}")
        print(f"judged by: {mon.judged_by}")
        reason = summary["note"] or note
        if reason and reason not in line:  # alarms from the curves alone: say what was not measured
            print(f"note: {reason}", file=sys.stderr)
    return 0


# ---- compare ------------------------------------------------------------------------------------

def compare_command(argv: list[str]) -> int:
    """``latent-explorer compare A B``: two models on the same latent-bank seed and N."""

    def body(argv):
        from explorer.core.comparison import compare_models
        from explorer.core.report import comparison_html

        p = _Parser(prog=f"{PROG} compare", description="Two models side by side: sharpness, diversity, FD.")
        p.add_argument("model_a")
        p.add_argument("model_b")
        _common(p)
        p.add_argument("--json", action="store_true")
        p.add_argument("--report", metavar="OUT.html", help="also write an HTML page with both sample grids")
        args = p.parse_args(argv)
        evaluator = _evaluator(args, quiet=args.json, model=args.model_a)
        cmp = compare_models(args.model_a, args.model_b, evaluator)
        if args.report:
            _write_text(args.report, comparison_html(cmp))
        if args.json:
            print(json.dumps(cmp.to_dict(), indent=2))
        else:
            print(f"judged by: {cmp.a.judged_by}")
            for ev in (cmp.a, cmp.b):
                if ev.n_note:
                    print(f"note ({ev.name}): {ev.n_note}")
            for line in cmp.findings():
                print(line)
            _print_table(cmp)
        return 0

    return _run("compare", body, argv)


def _print_table(cmp) -> None:
    """The compare table: every metric of both models, with the real floor and what it is computed in."""
    import math

    from explorer.core.diversity_metrics import METRICS

    a, b = cmp.a, cmp.b
    if a.report is None and b.report is None:
        return
    ref = a.report or b.report
    spaces = ref.spaces()
    print(f"{'metric':<28}{a.name[:14]:>15}{b.name[:14]:>15}   {'real floor':<12}computed in")
    for spec in METRICS:
        k = spec.key
        if k not in ref.metrics:
            continue
        va = a.report.metrics.get(k, math.nan) if a.report else math.nan
        vb = b.report.metrics.get(k, math.nan) if b.report else math.nan
        print(f"{spec.label:<28}{va:>15.4g}{vb:>15.4g}   {ref.floors[k]:<12.4g}{spaces[k]}")
    if math.isfinite(a.pixel_near_dup) or math.isfinite(b.pixel_near_dup):
        print(f"{'near-duplicate rate':<28}{a.pixel_near_dup:>15.4g}{b.pixel_near_dup:>15.4g}   "
              f"{a.pixel_near_dup_floor:<12.4g}pixels")
    print(f"{'sharpness vs real':<28}{a.sharpness_ratio:>15.3g}{b.sharpness_ratio:>15.3g}   {1:<12}pixels")
    for ev in (a, b):
        print(f"verdict of {ev.name}: {ev.verdict_line()}")



# ---- reference ----------------------------------------------------------------------------------

def reference_command(argv: list[str]) -> int:
    """``latent-explorer reference [CLASSIFIER]``: build the real-data reference cache inside the bundle."""

    def body(argv):
        from explorer.io.blas import limit_blas_threads
        from explorer.core.classifier import build_classifier_reference

        p = _Parser(prog=f"{PROG} reference",
                    description="Build real-reference.npz (statistics of the classifier's own real data: the image "
                                "folder it was trained on, else Fashion-MNIST test + train; real-vs-real floors) "
                                "inside a classifier bundle. Run once per classifier.")
        p.add_argument("classifier", nargs="?", default=None, help="classifier bundle (default: the bundled one)")
        p.add_argument("--data", metavar="DIR", default=None, help="Fashion-MNIST folder (default: the usual places)")
        p.add_argument("--limit", type=int, default=None, help="use a random subset of this many real images")
        args = p.parse_args(argv)
        limit_blas_threads(1)
        t0 = time.perf_counter()
        ref, path = build_classifier_reference(_classifier_arg(args.classifier, required=True), data_dir=args.data,
                                               limit=args.limit, progress=_progress(False))
        print(f"wrote {path} ({ref.dataset_id}: {ref.n_real} reference + {len(ref.holdout_features)} holdout real images, "
              f"floors at N = {sorted(ref.floors)}, {time.perf_counter() - t0:.0f} s)")
        return 0

    return _run("reference", body, argv)


def main(argv: list[str] | None = None) -> int:
    """``python -m explorer.cli.monitor diversity|monitor|compare|reference ...`` (before cli.py wires them)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"diversity": diversity_command, "monitor": monitor_command, "compare": compare_command,
                "reference": reference_command}
    if not argv or argv[0] not in commands:
        print(f"{PROG}: error: expected one of {', '.join(commands)}, found {argv[0] if argv else 'nothing'}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
