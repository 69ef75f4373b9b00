"""latent-train: train, resume and evaluate models from the command line.

  latent-train vae|gan|classifier|cgan|cvae --out RUN_DIR [--data DIR] [--epochs N] [--batch-size N]
      [--latent-dim D] [--image-size S] [--limit N] [--seed S] [--device auto|cpu|cuda] [--resume]
      [--background black|white|#rrggbb] [--tensorboard]
  latent-train evaluate MODEL_OR_FOLDER [--data DIR] [--classifier C] [--n N] --json
"""

from __future__ import annotations

import argparse
import json
import sys

from explorer.io.run_folder import TENSORBOARD_DIR

from .config import FAMILIES, ConfigError, default_config

_SETTINGS = ("epochs", "batch_size", "lr", "latent_dim", "image_size", "channels", "width", "limit", "seed", "data",
             "snapshot_every", "background")


def _train_parser(family: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"latent-train {family}", description=f"Train a {family}.")
    p.add_argument("--out", required=True, help="run folder (created; holds checkpoints, snapshots, metrics)")
    p.add_argument("--data", help="folder of Fashion-MNIST IDX files, or any folder of images")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--image-size", type=int, help="square image side in pixels (multiple of 4)")
    p.add_argument("--channels", type=int, choices=(1, 3), help="1 = grayscale, 3 = RGB (image folders)")
    p.add_argument("--width", type=int, help="base channel count of the conv stacks")
    p.add_argument("--limit", type=int, help="use only the first N training images")
    p.add_argument("--seed", type=int)
    p.add_argument("--snapshot-every", type=int, help="epochs between ONNX snapshots (default 1)")
    p.add_argument("--background", help="what transparent pixels of an image folder are laid onto: black "
                   "(default), white or #rrggbb; recorded in config.json, the map uses the same")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files (every metric "
                   f"per epoch, the sample grid) to RUN_DIR/{TENSORBOARD_DIR}; needs the tensorboard package")
    return p


def _evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latent-train evaluate", description="Quality figures of an exported model.")
    p.add_argument("model", help="an .onnx file or a bundle folder (e.g. RUN_DIR/model)")
    p.add_argument("--data", help="folder of Fashion-MNIST IDX files (default: the usual places)")
    p.add_argument("--classifier", help="classifier .onnx or bundle for GAN figures (default: the bundled one)")
    p.add_argument("--n", type=int, default=10000, help="GAN samples to classify (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def classifier_reference(run_dir) -> None:
    """After ``latent-train classifier``: register the bundle for its data set (the config folder's
    classifiers.json), and for an image folder build its real reference (real-reference.npz in the
    bundle) from that folder's images, so that the monitor, ``diversity`` and ``compare`` judge models
    trained on the same data with it. A failure here is a note: the classifier itself is fine."""
    from explorer.core.classifier import Classifier, MonitorError, build_classifier_reference
    from explorer.core.own_data import register_classifier, trained_on
    from explorer.io.providers import ProviderPlan
    from explorer.io.run_folder import RunFolder

    say = lambda msg: print(f"latent-train classifier: {msg}", flush=True)  # noqa: E731
    bundle = RunFolder(run_dir).model
    data = trained_on(run_dir)
    if data is None or not data.data_id:
        return
    try:
        clf = Classifier(bundle, plan=ProviderPlan(("CPUExecutionProvider",)))
        registry = register_classifier(bundle, dataset_id=data.data_id, data=data.data,
                                       image_shape=clf.card.image_shape, background=data.background)
        say(f"registered {bundle} in {registry} for models trained on {data.label} ({data.data_id})")
        if data.fashion:  # Fashion-MNIST: its reference is built on first use ('latent-explorer reference')
            return
        ref, path = build_classifier_reference(clf, progress=say)
        say(f"real reference of {data.label}: {path} ({ref.n_real} reference + {len(ref.holdout_features)} "
            f"holdout images; monitor, diversity and compare use it for models trained on this data)")
    except (MonitorError, OSError, ValueError) as exc:
        say(f"note: no real reference built ({(str(exc).strip().splitlines() or [type(exc).__name__])[0]}); "
            f"build it later with 'latent-explorer reference {bundle}'")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = (*FAMILIES, "evaluate")
    if not argv or argv[0] not in commands:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    from .data import DataError
    from .train import RunError
    from explorer.io.contract import ContractError

    try:
        if command == "evaluate":
            args = _evaluate_parser().parse_args(rest)
            from .evaluate import evaluate

            result = evaluate(args.model, data=args.data, classifier=args.classifier, n=args.n, seed=args.seed)
            print(json.dumps(result, indent=None if args.json else 2))
            return 0
        args = _train_parser(command).parse_args(rest)
        from .train import train

        cfg = default_config(command, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             latent_dim=args.latent_dim, image_size=args.image_size, channels=args.channels,
                             width=args.width, limit=args.limit, seed=args.seed, data=args.data,
                             snapshot_every=args.snapshot_every, background=args.background)
        # --resume without --epochs keeps the run's own length (and so its learning-rate schedule).
        given = tuple(k for k in _SETTINGS if getattr(args, k) is not None)
        code = train(cfg, args.out, resume=args.resume, keep_run_length=args.resume and args.epochs is None,
                     device=args.device, given=given, tensorboard=args.tensorboard)
        if code == 0 and command == "classifier":
            classifier_reference(args.out)
        return code
    except ConfigError as exc:  # a setting that makes no sense: refused before anything is created
        print(f"latent-train {command}: {exc.for_option()}", file=sys.stderr)
        return 2
    except (DataError, RunError, ContractError, ValueError) as exc:
        print(f"latent-train {command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"latent-train {command}: {exc.strerror or exc} ({exc.filename or 'file system'})", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # torch / distributed failures: one line, not a traceback
        print(f"latent-train {command}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"latent-train {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
