"""``latent-explorer``: the app, plus headless subcommands (``SUBCOMMANDS``).

    latent-explorer [MODEL_OR_BUNDLE ...] [--screenshot OUT.png [--view NAME]]
    latent-explorer render MODEL --grid 8x8 [--seed S] [--truncation T] [--temperature T] --out grid.png
    latent-explorer render MODEL --classes all|NAME,NAME [--grid KxCOLS] [--row-labels] --out grid.png   (style x garment)
    latent-explorer render MODEL --class NAME|INDEX --grid 8x8 --out grid.png
    latent-explorer info MODEL --json
    latent-explorer interpolate MODEL --from SEED_OR_IMAGE --to SEED_OR_IMAGE [--via X] --steps N --mode slerp|lerp --out path.png|gif|mp4
    latent-explorer diversity MODEL [--classifier C] [--n N] --json
    latent-explorer monitor RUN_DIR [--report out.html]
    latent-explorer compare MODEL_A MODEL_B [--n N]
    latent-explorer reference [CLASSIFIER]      (build the real-data statistics cache)
    latent-explorer map MODEL [--points FOLDER|IDX_FILE|gan:N] [--screenshot OUT.png]

Exit codes: 0 success; 2 bad arguments or unusable model; 3 the model produced NaN/Inf (the grid
is still written, with those cells marked). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

PROG = "latent-explorer"
# Subcommands of the diversity monitor (explorer/cli/monitor.py handles their arguments and errors).
MONITOR_COMMANDS = ("diversity", "monitor", "compare", "reference")
VIEWS = ("grid", "model", "latent", "map", "garments")
# Every subcommand, with the line 'latent-explorer --help' shows for it.
SUBCOMMANDS = {
    "render": "write a grid of samples as PNG, without a window",
    "info": "print a model's contract or inferred signature and the provider",
    "interpolate": "write a latent walk between seeds or images as PNG, GIF or MP4",
    "diversity": "diversity metrics of a generator next to their real-vs-real floors, and a verdict",
    "monitor": "watch a training run folder: diversity, training curves, alarms (or --report HTML)",
    "compare": "two models side by side: sharpness, diversity, FD",
    "reference": "build the real-data statistics cache (real-reference.npz) the diversity figures use",
    "map": "the latent map of one model; --points FOLDER|IDX|gan:N loads up to a million points",
}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise UsageError(message)


def _grid_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS like 8x8, found {text!r}")
    rows, cols = int(m.group(1)), int(m.group(2))
    if not (1 <= rows <= 32 and 1 <= cols <= 32):
        raise argparse.ArgumentTypeError(f"expected rows and columns in 1..32, found {rows}x{cols}")
    return rows, cols


def _image_shape(text: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*([13])\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected HxWxC with C 1 or 3, like 28x28x1, found {text!r}")
    h, w, c = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return (c, h, w)


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, found {text!r}")
    return v


def _render_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"{PROG} render", description="Write a grid of samples as PNG, without a window.")
    p.add_argument("model", help="model file (.onnx) or bundle folder")
    p.add_argument("--grid", type=_grid_size, default=None,
                   help="ROWSxCOLS, each 1..32 (default 8x8; with --classes one row per class x 8 styles)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=_positive_float, default=1.0)
    p.add_argument("--truncation", type=_positive_float, default=None, help="redraw |z| above T (off by default)")
    p.add_argument("--scale", type=int, default=None, help="integer pixel scale (default: cells at least 64 px)")
    p.add_argument("--shape", type=_image_shape, default=None, help="HxWxC for flat outputs that are not square")
    p.add_argument("--classes", default=None, metavar="all|NAME,NAME",
                   help="conditional models: a style x garment grid, one row per class (all, or names/indices "
                        "separated by commas), the same latent down each column")
    p.add_argument("--class", dest="one_class", default=None, metavar="NAME|INDEX",
                   help="conditional models: every cell of the grid as this class")
    p.add_argument("--row-labels", action="store_true", help="with --classes: write the class names left of the rows")
    p.add_argument("--out", required=True, help="PNG file to write")
    return p


def _info_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"{PROG} info", description="Print the contract or inferred signature and the provider.")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="JSON output (default: readable text)")
    p.add_argument("--shape", type=_image_shape, default=None)
    return p


def _app_parser() -> argparse.ArgumentParser:
    width = max(map(len, SUBCOMMANDS))
    commands = "\n".join(f"  {name:<{width}}  {line}" for name, line in SUBCOMMANDS.items())
    p = _Parser(prog=PROG, description="Explore the latent space of VAEs and GANs.",
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog=f"subcommands (see 'latent-explorer COMMAND --help'):\n{commands}")
    p.add_argument("models", nargs="*", help="model files or bundle folders (default: the bundled models)")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window offscreen to OUT.png and exit")
    p.add_argument("--view", choices=VIEWS, default="grid", help="which view the screenshot shows")
    p.add_argument("--size", type=_grid_size, default=None, help="initial grid ROWSxCOLS")
    return p


def cmd_render(args) -> int:
    from explorer.core.latents import SamplingPolicy
    from explorer.io.runtime import open_model

    model = open_model(args.model, image_shape=args.shape)
    _, h, w = model.image_shape
    scale = args.scale or max(1, -(-64 // max(h, w)))
    policy = SamplingPolicy(args.seed, args.temperature, args.truncation)
    from explorer.cli.render_classes import render_for_args

    image, finite, (rows, cols), what = render_for_args(model, args, policy, scale)
    from explorer.io.exports import write_png

    try:
        write_png(image, args.out)
    except OSError as exc:
        raise _Fail(f"cannot write {args.out}: {exc.strerror or exc}") from None
    bad = int((~finite).sum())
    if bad:
        print(f"{PROG}: {bad} of {finite.size} samples contain NaN/Inf (marked red in {args.out}); "
              "expected finite pixels", file=sys.stderr)
        return 3
    print(f"wrote {args.out} ({rows}x{cols} {model.name}{what}, {image.shape[1]}x{image.shape[0]} px, {model.provider})")
    return 0


def _number(v: float) -> str:
    """A figure for people: 4 significant digits, no float noise (-2.4143028259277344 -> -2.414)."""
    return f"{float(v):.4g}"


def cmd_info(args) -> int:
    from explorer.io.runtime import describe, open_model

    model = open_model(args.model, image_shape=args.shape)
    info = describe(model)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{info['name']}  ({info['source']})  {info['path']}")
        for k, v in info["signature"].items():
            print(f"  {k}: {v}")
        lo, hi = info["value_range"]
        print(f"  value range: {_number(lo)} to {_number(hi)} ({info['value_range_source']})")
        print(f"  provider: {info['provider']}")
        for n in info["notes"]:
            print(f"  note: {n}")
    return 0


def cmd_app(args) -> int:
    if args.screenshot and args.view == "map":
        from explorer.io.paths import bundled_models
        from explorer.qt.map_screenshot import render_map_screenshot

        return render_map_screenshot(args.models or [str(p) for p in bundled_models()], args.screenshot)
    from explorer.qt.app import run_app

    return run_app(args.models, screenshot=args.screenshot, view=args.view, size=args.size)


class _Fail(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from explorer.io.contract import ContractError
    from explorer.io.runtime import ModelError, NeedsImageShape

    try:
        if argv and argv[0] == "render":
            return cmd_render(_render_parser().parse_args(argv[1:]))
        if argv and argv[0] == "info":
            return cmd_info(_info_parser().parse_args(argv[1:]))
        if argv and argv[0] == "interpolate":
            from explorer.cli.interpolate import interpolate_command

            return interpolate_command(argv[1:])
        if argv and argv[0] == "map":
            from explorer.cli.map_cli import map_command

            return map_command(argv[1:])
        if argv and argv[0] in MONITOR_COMMANDS:
            from explorer.cli import monitor as monitor_cli

            return getattr(monitor_cli, f"{argv[0]}_command")(argv[1:])
        return cmd_app(_app_parser().parse_args(argv))
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except NeedsImageShape as exc:
        print(f"{PROG}: error: {exc} (pass --shape HxWxC)", file=sys.stderr)
        return 2
    except (ModelError, ContractError, _Fail) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as exc:  # one line, never a traceback (set LATENT_EXPLORER_DEBUG=1 to see it)
        if os.environ.get("LATENT_EXPLORER_DEBUG"):
            raise
        # A bug, not a bad file (those are ModelError above; tests/fuzz/ looks for this word).
        reason = "out of memory" if isinstance(exc, MemoryError) else (str(exc).strip().splitlines() or ["no reason given"])[0][:160]
        print(f"{PROG}: error: unexpected failure ({reason}); please report it, "
              "LATENT_EXPLORER_DEBUG=1 shows where", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
