"""Retrain every bundled model from fixed seeds and install it in assets/models.

    python -m training.bundle_assets [--runs runs/assets] [--only vae,gan,classifier,cgan]
    python -m training.bundle_assets --umap-only [--only vae,gan,cgan]   # the UMAP layouts alone, no training

Order matters: the classifier first (the GAN's evaluation uses it). The cgan is judged by its own
referee classifier (training/evaluate_conditional.py), which is installed beside it as referee.npz. Runs resume where they stopped,
so the command can be interrupted and started again. Each installed bundle gets an evaluation.json
with the `latent-train evaluate` figures, and its UMAP layout (umap.npz: the map's UMAP view opens at
once): a bundle with an atlas, of the atlas, with how faithfully positions decode; a GAN, of its
default feature map (docs/latent-map.md). The classifier comes first for this too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from explorer.io import contract
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


def bundle_umap(bundle: Path, *, say=print, refit: bool = True) -> dict:
    """Fit the UMAP layout of ``bundle``'s atlas (seeded, through the app's own child process, no
    cache), measure how faithfully positions decode, and write ``umap.npz`` into the bundle.

    Fidelity: 10 % of the atlas held out, decoded at their own positions from the other 90 %: the
    latent error relative to the latents' spread (blend, nearest point alone, a random point), and
    the mean absolute pixel error (0..255) of the decoded images against the decodes of the true
    latents. ``refit=False`` keeps the embedding ``umap.npz`` holds and measures again."""
    from explorer.core.projection import interpolation_fidelity
    from explorer.core.umap_layout import BUNDLE_SEED, PARAMS, read_layout, save_layout
    from explorer.core.umap_worker import compute_umap
    from explorer.io.runtime import open_model

    atlas = contract.Atlas.load(bundle / contract.ATLAS_FILE)
    last = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.1 or fraction >= 1.0:
            last[0] = fraction
            say(f"{bundle.name}: {100 * fraction:3.0f} % {message}")

    if refit:
        m = compute_umap(atlas.mu, n_neighbors=PARAMS["n_neighbors"], min_dist=PARAMS["min_dist"],
                         seed=BUNDLE_SEED, use_cache=False, progress=progress)
        embedding, fit_seconds = m.embedding, m.fit_seconds
    else:
        old = read_layout(bundle / contract.UMAP_FILE)
        embedding, fit_seconds = old["embedding"], float(old["fit_seconds"])
    fid = interpolation_fidelity(atlas.mu, embedding)
    model = open_model(bundle)
    held = fid["held_out"]

    def pixels(z):
        return model.decode(np.asarray(z, np.float32)).pixels.astype(np.float32)

    truth = pixels(atlas.mu[held])
    figures = {
        "fidelity_latent_rel_error": fid["latent_rel_error"],
        "fidelity_nearest_rel_error": fid["nearest_rel_error"],
        "fidelity_random_rel_error": fid["random_rel_error"],
        "fidelity_floor_rel_error": fid["floor_rel_error"],
        "fidelity_pixel_mae": float(np.abs(pixels(fid["blend"]) - truth).mean()),
        "fidelity_pixel_mae_nearest": float(np.abs(pixels(fid["nearest"]) - truth).mean()),
        "fidelity_k": fid["k"], "fidelity_held_out": fid["n_held_out"],
    }
    save_layout(bundle / contract.UMAP_FILE, atlas.mu, embedding, n_neighbors=PARAMS["n_neighbors"],
                min_dist=PARAMS["min_dist"], seed=BUNDLE_SEED, fit_seconds=fit_seconds, **figures)
    return {"bundle": bundle.name, "points": len(atlas.mu), "fit_seconds": round(fit_seconds, 1),
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}}


def bundle_gan_umap(bundle: Path, *, say=print) -> dict:
    """Fit the UMAP layout of a GAN bundle's default map and write ``umap.npz`` into the bundle.

    The map's points are what the app shows first for the GAN (``MapModel.use_source("gan")``):
    1,000 samples (seed 0) over all 70,000 Fashion-MNIST images, in the bundled classifier's
    features, made by the app's own ``gan_map_work``; the layout is seeded, through the app's
    child process, with no cache. A user's map matches it when their features equal these up to
    float rounding (``umap_layout.layout_matches``); otherwise the map computes its own, as before.
    A GAN's map has no inverse (a click picks the nearest sample), so there are no fidelity figures."""
    from explorer.core.map_sources import gan_map_work
    from explorer.core.umap_layout import BUNDLE_SEED, PARAMS, save_layout
    from explorer.core.umap_worker import compute_umap
    from explorer.io.runtime import open_model

    last = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.1 or fraction >= 1.0:
            last[0] = fraction
            say(f"{bundle.name}: {100 * fraction:3.0f} % {message}")

    fmap = gan_map_work(open_model(bundle), None)(progress, lambda: False)
    data = np.concatenate([fmap.samples.vectors, fmap.real.vectors])  # ProjectionInput.both: points, then background
    last[0] = -1.0
    m = compute_umap(data, n_neighbors=PARAMS["n_neighbors"], min_dist=PARAMS["min_dist"], seed=BUNDLE_SEED,
                     use_cache=False, progress=progress)
    save_layout(bundle / contract.UMAP_FILE, data, m.embedding, n_neighbors=PARAMS["n_neighbors"],
                min_dist=PARAMS["min_dist"], seed=BUNDLE_SEED, fit_seconds=m.fit_seconds,
                samples=len(fmap.samples), real=len(fmap.real))
    return {"bundle": bundle.name, "points": len(data), "samples": len(fmap.samples), "real": len(fmap.real),
            "fit_seconds": round(m.fit_seconds, 1)}


def bundle_layout(family: str, bundle: Path) -> dict | None:
    """The UMAP layout a bundle ships: of its atlas (a VAE), of its default feature map (a GAN), else none."""
    if (bundle / contract.ATLAS_FILE).is_file():
        return bundle_umap(bundle)
    if family in ("gan", "cgan"):
        return bundle_gan_umap(bundle)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.bundle_assets", description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/assets", help="where the training runs go (default runs/assets)")
    p.add_argument("--only", default=",".join(ORDER), help="comma-separated families to (re)build")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--install-only", action="store_true", help="skip training; install finished runs")
    p.add_argument("--umap-only", action="store_true",
                   help="only (re)make the UMAP layouts (umap.npz) of the installed bundles that have an atlas")
    p.add_argument("--fidelity-only", action="store_true",
                   help="with --umap-only: keep each umap.npz's embedding, measure its fidelity figures again")
    args = p.parse_args(argv)
    runs, assets = Path(args.runs), bundled_models_dir()
    families = [f for f in ORDER if f in args.only.split(",")]
    if args.umap_only:
        for family in families:
            bundle = assets / BUNDLED[family]
            if args.fidelity_only:  # only atlases have fidelity figures
                if (bundle / contract.ATLAS_FILE).is_file():
                    print(json.dumps(bundle_umap(bundle, refit=False)), flush=True)
            elif bundle.is_dir() and (done := bundle_layout(family, bundle)) is not None:
                print(json.dumps(done), flush=True)
        return 0
    for family in families:
        run = RunFolder(runs / family)
        if not args.install_only:
            resume = run.checkpoint.exists()
            code = train(default_config(family, seed=0), run.root, resume=resume, device=args.device)
            if code:
                return code
        result = evaluate(run.model, n=10000, seed=0)
        install_bundle(run.model, assets / BUNDLED[family], result)
        print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}))
        if (done := bundle_layout(family, assets / BUNDLED[family])) is not None:
            print(json.dumps(done), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
