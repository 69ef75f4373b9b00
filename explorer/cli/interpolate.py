"""``latent-explorer interpolate``: decode a path between seeds, images or saved latents, headless.

    latent-explorer interpolate MODEL --from SEED_OR_IMAGE --to SEED_OR_IMAGE [--via X ...]
        --steps N --mode slerp|lerp [--easing ...] [--fps F] --out path.png|path.gif|path.mp4|path.npy|path.json
    latent-explorer interpolate MODEL --from SEED --to SEED --from-class Dress --to-class Pullover
        (--steps N | --stops 0.1,0.5,0.9) --out path.gif

Class-conditional models: ``--from-class A --to-class B`` moves the class with the latent: the frame at
path position t asks for the class weights (1 - t) A + t B (a model with one integer class per image
cannot blend, and says why); ``--from-class A`` alone keeps class A all along (so does ``--label``).
``--stops`` writes exactly one frame per mix t given (latent and class both at t), in that order.

A waypoint is an integer seed (the latent of grid cell 0 at that seed), an image file (encoded
by the VAE bundle's encoder after being made to fit it as training does: resized, centred, colour and
alpha converted, with a note saying what was done; GANs have none), or a ``.npy`` file holding one latent [D].
Exit codes: 0 written; 2 bad arguments, unusable model or unwritable output; 3 some frames are
NaN/Inf (the file is still written). Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np

from explorer.io.exports import ExportError, export_kind
from explorer.core.interpolation import EASINGS, MAX_STEPS, MODES, PathError

PROG = "latent-explorer interpolate"
DEFAULT_STEPS = 16


class InterpolateError(ValueError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise InterpolateError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Decode an interpolation path and write it as a strip (PNG), "
                "an animation (GIF, MP4) or the latents (.npy, .json).")
    p.add_argument("model", help="model file (.onnx) or bundle folder")
    p.add_argument("--from", dest="start", required=True, metavar="SEED_OR_IMAGE")
    p.add_argument("--to", dest="end", required=True, metavar="SEED_OR_IMAGE")
    p.add_argument("--via", action="append", default=[], metavar="SEED_OR_IMAGE",
                   help="a waypoint in between (repeat for more, in order)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"frames in total, waypoints included (2..{MAX_STEPS}, default {DEFAULT_STEPS})")
    p.add_argument("--stops", default=None, metavar="T,T,...",
                   help="exactly these mixes between --from and --to, each 0..1 (like 0.1,0.5,0.9): one frame each")
    p.add_argument("--mode", choices=MODES, default="slerp", help="slerp (default) or lerp")
    p.add_argument("--easing", choices=EASINGS, default="linear")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of seed latents (default 1)")
    p.add_argument("--label", default=None, metavar="NAME|INDEX",
                   help="class of every frame, for class-conditional generators (default: class 0)")
    p.add_argument("--from-class", default=None, metavar="NAME|INDEX",
                   help="conditional models: the class at --from (alone: the class of every frame)")
    p.add_argument("--to-class", default=None, metavar="NAME|INDEX",
                   help="conditional models: the class at --to; frames in between blend the two")
    p.add_argument("--fps", type=float, default=12.0, help="frames per second of GIF/MP4 (default 12)")
    p.add_argument("--bounce", action="store_true", help="GIF/MP4: play forward then back")
    p.add_argument("--scale", type=int, default=None, help="integer pixel scale (default: frames at least 64 px)")
    p.add_argument("--cols", type=int, default=None, help="PNG strip: wrap after this many frames")
    p.add_argument("--classifier", default=None,
                   help="classifier for the path-length readout (default: the bundled one when it fits; 'none' to skip)")
    p.add_argument("--out", required=True, help="output file: .png, .gif, .mp4, .npy or .json")
    return p


def _waypoint(text: str, model, temperature: float, encoder_cache: dict) -> np.ndarray:
    """One waypoint [D] from a seed, an image file or a .npy latent."""
    from explorer.core.latents import SamplingPolicy, sample_latents

    d = model.latent_dim
    if re.fullmatch(r"\s*-?\d+\s*", text):
        seed = int(text)
        if seed < 0:
            raise InterpolateError(f"seed {seed}: expected a seed >= 0")
        return sample_latents(1, d, SamplingPolicy(seed, temperature))[0]
    path = Path(text).expanduser()
    if not path.exists():
        raise InterpolateError(f"{text}: expected a seed (integer), an image file or a .npy latent; no such file")
    if path.suffix.lower() == ".npy":
        try:
            z = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InterpolateError(f"{path.name}: not a readable .npy file ({type(exc).__name__})") from None
        z = np.asarray(z, np.float32)
        if z.ndim == 2 and z.shape[0] == 1:
            z = z[0]
        if z.shape != (d,) or not np.isfinite(z).all():
            raise InterpolateError(f"{path.name}: expected one finite latent [{d}], found shape {list(z.shape)}")
        return z
    from explorer.core.atlas_data import MapDataError, encoder_for, fitted_image_for

    try:
        if "encoder" not in encoder_cache:
            encoder_cache["encoder"] = encoder_for(model)
        enc = encoder_cache["encoder"]
        # Made to fit as training and the map's "Image in" do (resized, centred, colour, alpha), and said so.
        fitted = fitted_image_for(enc, path)
        mu, _ = enc.encode(fitted.image[None])
    except MapDataError as exc:
        raise InterpolateError(f"{path.name} cannot be a waypoint: {exc}") from None
    if fitted.steps:
        print(f"latent-explorer: note: waypoint {path.name}: {fitted.note}", file=sys.stderr)
    return mu[0]


def _path_length(model, pixels: np.ndarray, classifier_arg: str | None) -> tuple[float, str] | None:
    """Feature-space path length of decoded frames, with the classifier's name; None when there is none."""
    if classifier_arg and classifier_arg.lower() == "none":
        return None
    from explorer.core.interpolation import feature_path_length
    from explorer.core.monitor import Classifier, MonitorError

    try:
        if classifier_arg:
            clf = Classifier(classifier_arg)
        else:
            from explorer.io.paths import bundled_model

            folder = bundled_model("classifier")
            if not folder.is_dir():
                return None
            clf = Classifier(folder)
        x = clf.adapt(pixels.astype(np.float32) / 255.0)
        _, feats = clf.classify(x)
    except MonitorError as exc:
        if classifier_arg:
            raise InterpolateError(str(exc)) from None
        return None  # the bundled classifier does not fit this model: no readout, not an error
    return feature_path_length(feats), clf.path.parent.name


def _stops(args) -> list[float] | None:
    """The --stops mixes (checked before the model is opened), or None for an evenly stepped path."""
    if args.stops is None:
        return None
    from explorer.io.classes import parse_stops

    if args.steps is not None:
        raise InterpolateError("--stops sets the frames (one per mix); drop --steps")
    if args.via:
        raise InterpolateError("--stops are mixes between --from and --to; they take no --via")
    if args.easing != "linear":
        raise InterpolateError("--stops are the mixes themselves; --easing does not apply to them")
    return parse_stops(args.stops)


def _class_ends(args, model) -> tuple[int, int] | None:
    """(class at --from, class at --to) as indices, or None when no class option was given.

    A model without a class input takes no class option; one with an integer class input takes one
    class for the whole path but refuses blends, with its reason (``model.blend_note``)."""
    from explorer.io.classes import class_index

    given = [(o, v) for o, v in (("--label", args.label), ("--from-class", args.from_class),
                                  ("--to-class", args.to_class)) if v is not None]
    if not given:
        return (0, 0) if model.conditional else None
    if args.label is not None and (args.from_class is not None or args.to_class is not None):
        raise InterpolateError("--label sets one class for every frame; use --from-class/--to-class instead "
                               "to blend (or --from-class alone for one class)")
    if args.to_class is not None and args.from_class is None:
        raise InterpolateError("--to-class needs --from-class (the class the path starts from)")
    if not model.conditional:
        raise InterpolateError(f"{given[0][0]} needs a class-conditional model; {model.name} has no class input "
                               "(it takes latents only)")
    names = model.class_names
    a = class_index(args.label if args.label is not None else args.from_class, names)
    b = a if args.to_class is None else class_index(args.to_class, names)
    if b != a and not model.can_blend:
        raise InterpolateError(f"cannot blend {names[a]} into {names[b]}: {model.blend_note}")
    return a, b


def interpolate_command(argv: list[str]) -> int:
    from explorer.io.contract import ContractError
    from explorer.io.runtime import ModelError

    try:
        return _run(argv)
    except (InterpolateError, PathError, ExportError, ModelError, ContractError) as exc:
        print(f"latent-explorer: error: {exc}", file=sys.stderr)
        return 2


def _run(argv: list[str]) -> int:
    from explorer.core.interpolation import LatentPath, ease, interpolate_pair
    from explorer.io.classes import blend
    from explorer.io.pixels import upscale
    from explorer.io.runtime import open_model
    from explorer.io import exports

    args = _parser().parse_args(argv)
    kind = export_kind(args.out)
    out_dir = Path(args.out).expanduser().parent
    if not out_dir.is_dir():
        raise InterpolateError(f"cannot write {args.out}: folder {out_dir} does not exist")
    if not os.access(out_dir, os.W_OK):  # say so before spending time decoding
        raise InterpolateError(f"cannot write {args.out}: folder {out_dir} is read-only; choose another folder")
    if kind == "mp4" and not exports.mp4_available():
        raise InterpolateError("MP4 export needs the imageio-ffmpeg package (pip install imageio-ffmpeg); "
                               "use .gif instead")
    if args.fps <= 0 or not np.isfinite(args.fps):
        raise InterpolateError(f"--fps must be positive, found {args.fps}")
    if args.temperature <= 0:
        raise InterpolateError(f"--temperature must be positive, found {args.temperature}")
    if args.scale is not None and not 1 <= args.scale <= 64:
        raise InterpolateError(f"--scale must be 1..64, found {args.scale}")
    stops = _stops(args)
    model = open_model(args.model)
    classes = _class_ends(args, model)
    cache: dict = {}
    specs = [args.start] + list(args.via) + [args.end]
    waypoints = np.stack([_waypoint(s, model, args.temperature, cache) for s in specs])
    steps = len(stops) if stops is not None else (args.steps if args.steps is not None else DEFAULT_STEPS)
    path = LatentPath(waypoints, mode=args.mode, steps=max(steps, len(specs)), easing=args.easing,
                      names=tuple(specs))
    if stops is None:
        path = path.with_(steps=steps)  # the path checks the count itself (one-line PathError)
        z = path.latents()
        mixes = ease(np.arange(steps) / max(steps - 1, 1), args.easing)  # the position of each frame
        fallbacks = path.fallback_segments()
        described = path.describe()
    else:
        z, fell_back = interpolate_pair(waypoints[0], waypoints[1], np.asarray(stops), args.mode)
        mixes = np.asarray(stops, np.float64)
        fallbacks = [0] if fell_back else []
        described = f"{len(stops)} stops at t = {', '.join(f'{t:g}' for t in stops)}, {args.mode}"
    weights = None
    if classes is not None:
        a, b = classes
        weights = blend(a, b, mixes, model.signature.num_classes)
        names = model.class_names
        described += f", {names[a]} -> {names[b]}" if b != a else f", {names[a]} throughout"
    for i in fallbacks:
        print(f"latent-explorer: note: waypoints {specs[i]!r} and {specs[i + 1]!r} are nearly opposite; "
              "lerp used on that segment", file=sys.stderr)
    if kind in ("npy", "json"):
        if kind == "npy":
            exports.write_npy(z, args.out)
            if weights is not None:
                print("latent-explorer: note: a .npy file holds the latents only; .json also keeps the class weights",
                      file=sys.stderr)
        else:
            path_json = path.to_json()
            if stops is not None:
                path_json = {k: v for k, v in path_json.items() if k not in ("steps", "easing")} | {"stops": stops}
            extra = {} if weights is None else {"class_names": list(model.class_names),
                                                "class_weights": weights.astype(float).tolist()}
            exports.write_json(exports.latents_json(z, model=model.name, path=path_json, **extra), args.out)
        print(f"wrote {args.out} ({len(z)} latents [{z.shape[1]}], {described})")
        return 0
    decoded = model.decode(z, weights)  # a model with an integer class input takes the one-hot rows
    pixels = decoded.pixels
    _, h, w = model.image_shape
    scale = args.scale or max(1, -(-64 // max(h, w)))
    if kind == "png":
        image = exports.strip_image(pixels, cols=args.cols, scale=scale)
        exports.write_png(image, args.out)
        size = f"{image.shape[1]}x{image.shape[0]} px"
    else:
        frames = np.stack([upscale(p, scale) for p in pixels])
        writer = exports.write_gif if kind == "gif" else exports.write_mp4
        writer(frames, args.out, fps=args.fps, bounce=args.bounce)
        size = f"{frames.shape[2]}x{frames.shape[1]} px, {args.fps:g} fps"
    length = _path_length(model, pixels, args.classifier)
    readout = f"; path length {length[0]:.4g} ({length[1]} features)" if length else ""
    print(f"wrote {args.out} ({len(z)} frames of {model.name}, {size}, {described}{readout})")
    bad = decoded.bad_count
    if bad:
        print(f"latent-explorer: {bad} of {len(z)} frames contain NaN/Inf; expected finite pixels", file=sys.stderr)
        return 3
    return 0
