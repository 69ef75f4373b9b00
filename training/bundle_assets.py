"""Retrain every bundled model from fixed seeds and install it in assets/models.

    python -m training.bundle_assets [--runs runs/assets] [--only vae,gan,classifier,cgan]

Order matters: the classifier first (the GAN's evaluation uses it). The cgan is judged by its own
referee classifier (training/evaluate_conditional.py), which is installed beside it as referee.npz. Runs resume where they stopped,
so the command can be interrupted and started again. Each installed bundle gets an evaluation.json
with the `latent-train evaluate` figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from explorer.io.paths import BUNDLED, bundled_models_dir
from explorer.io.run_folder import RunFolder

from .config import default_config
from .evaluate import evaluate
from .evaluate_conditional import REFEREE_FILE
from .files import atomic_write_json, replace_dir
from .train import train

ORDER = ("classifier", "vae", "gan", "cgan")


def install_bundle(model_dir: Path, target: Path, evaluation: dict) -> None:
    tmp = target.with_name(f".{target.name}.installing")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(model_dir, tmp)
    referee = (evaluation.get("referee") or {}).get("file")
    if referee and Path(referee).resolve() != (tmp / REFEREE_FILE).resolve():  # a conditional model's judge
        shutil.copyfile(referee, tmp / REFEREE_FILE)
        evaluation = {**evaluation, "referee": {**evaluation["referee"], "file": REFEREE_FILE}}
    atomic_write_json(tmp / "evaluation.json", evaluation)
    replace_dir(tmp, target)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.bundle_assets", description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/assets", help="where the training runs go (default runs/assets)")
    p.add_argument("--only", default=",".join(ORDER), help="comma-separated families to (re)build")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--install-only", action="store_true", help="skip training; install finished runs")
    args = p.parse_args(argv)
    runs, assets = Path(args.runs), bundled_models_dir()
    for family in [f for f in ORDER if f in args.only.split(",")]:
        run = RunFolder(runs / family)
        if not args.install_only:
            resume = run.checkpoint.exists()
            code = train(default_config(family, seed=0), run.root, resume=resume, device=args.device)
            if code:
                return code
        result = evaluate(run.model, n=10000, seed=0)
        install_bundle(run.model, assets / BUNDLED[family], result)
        print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
