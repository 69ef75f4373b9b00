"""``latent-explorer map MODEL [--points FOLDER|IDX_FILE|gan:N] [--classifier C] [--screenshot OUT.png]``.

The spec is checked before any window opens: a bad one is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

PROG = "latent-explorer map"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="The latent map of one model, optionally with a big set of points.")
    p.add_argument("model", help="model file (.onnx) or bundle folder")
    p.add_argument("--points", metavar="FILE_OR_SPEC", default=None,
                   help="a folder of images or an IDX file (a VAE encodes them), or gan:N "
                        "(N generated samples of a GAN in the classifier's features, N up to 1,000,000)")
    p.add_argument("--classifier", default=None, help="classifier bundle for a GAN's map (default: the bundled one)")
    p.add_argument("--screenshot", metavar="OUT.png", default=None,
                   help="draw the map offscreen once the points are loaded, write OUT.png and exit")
    return p


def map_command(argv: list[str]) -> int:
    from explorer.core.map_sources import PointsSpecError, parse_points_spec
    from explorer.io.contract import ContractError
    from explorer.io.runtime import ModelError, open_model

    try:
        args = _parser().parse_args(argv)
        if args.points is not None:
            kind, _ = parse_points_spec(args.points)
        model = open_model(args.model)
        if args.points is not None:
            vae = model.card is not None and model.card.family == "vae"
            if kind == "gan" and vae:
                raise PointsSpecError(f"{model.name} is a VAE: gan:N needs a GAN "
                                      "(give a VAE a folder of images or an IDX file)")
            if kind != "gan" and not vae:
                raise PointsSpecError(f"{model.name} is a GAN: its map takes gan:N (generated samples), "
                                      "not images to encode")
    except (_UsageError, PointsSpecError, ModelError, ContractError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    from explorer.qt.map_window import run_map

    return run_map(model, points=args.points, classifier=args.classifier, screenshot=args.screenshot)
