"""The Python API for notebooks and scripts: a small, stable surface over the app's own code.

Everything here re-exposes what the app already does (no second implementation): opening a model
(``explorer.io.runtime``), sampling latents (``explorer.core.latents``), decoding, encoding images
with a VAE bundle's encoder (``explorer.core.atlas_data``), interpolating (``explorer.core.interpolation``),
the diversity report of ``latent-explorer diversity --json`` (``explorer.core.evaluation``) and reading a
run's ``metrics.jsonl`` (``explorer.io.run_folder``). It imports neither Qt nor torch (an import-linter
contract in pyproject.toml); examples: docs/python-api.md.

Shapes and units: latents ``z`` are float32 [N, D] (D = ``model.latent_dim``); images are [N, H, W, C]
(C = 1 or 3), uint8 in 0..255, or float32 in [0, 1] with ``decode(..., as_float=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from explorer.core.atlas_data import MapDataError, VAEEncoder, encoder_for
from explorer.core.classifier import DEFAULT_N, DEFAULT_SEED, MonitorError
from explorer.core.evaluation import evaluator_for
from explorer.core.interpolation import MODES, PathError, interpolate_pair
from explorer.core.latents import SamplingPolicy, sample_latents
from explorer.io import contract
from explorer.io.paths import bundled_model
from explorer.io.run_folder import RunFolder
from explorer.io.run_folder import read_metrics as _read_metrics_file
from explorer.io.runtime import LoadedModel, ModelError, open_model as _open_model

__all__ = ["LoadedModel", "MapDataError", "ModelError", "MonitorError", "PathError", "bundled_model", "decode",
           "diversity_report", "encode", "interpolate", "open_model", "read_metrics", "sample"]


def open_model(path: str | os.PathLike) -> LoadedModel:
    """Open a generator or decoder: a bundle folder (e.g. ``bundled_model("vae")``) or an ``.onnx`` file.

    Returns a ``LoadedModel`` (``.latent_dim`` D, ``.image_shape`` (C, H, W), ``.card``, ``.name``);
    ModelError (one line) when the file cannot be used.
    """
    return _open_model(path)


def sample(model: LoadedModel | int, n: int, seed: int = 0, *, truncation: float | None = None,
           temperature: float = 1.0) -> np.ndarray:
    """n latents from the prior N(0, I), as the sample grid draws them: float32 [n, D].

    ``model`` is an open model (D = its latent_dim) or D itself. The same seed gives the same rows,
    and row k is the same whatever n is. ``truncation`` (in standard deviations, None = off) redraws
    coordinates beyond it; ``temperature`` scales every vector (1 = the prior).
    """
    dim = model if isinstance(model, (int, np.integer)) else model.latent_dim
    policy = SamplingPolicy(seed=int(seed), temperature=float(temperature), truncation=truncation)
    return sample_latents(int(n), int(dim), policy)


def decode(model: LoadedModel, z: np.ndarray, labels: np.ndarray | None = None, *,
           as_float: bool = False) -> np.ndarray:
    """Images of latents z (float32 [N, D]): uint8 [N, H, W, C] in 0..255, or float32 in [0, 1] with
    ``as_float=True``. ``labels`` (int [N]) for class-conditional models (default: class 0).

    Samples the model turned into NaN/Inf come back black (0). ModelError on a wrong shape.
    """
    z = np.asarray(z, np.float32)
    if not as_float:
        return model.decode(z, labels).pixels
    x = np.array(model.to_hwc(model.decode_raw(z, labels)), dtype=np.float32)
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(contract.to_unit_range(x, model.signature.value_range), 0.0, 1.0).astype(np.float32)


def encode(bundle: LoadedModel | str | os.PathLike, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encode images with a VAE bundle's encoder (the one the latent map uses).

    ``bundle``: an open VAE decoder (its sibling encoder.onnx is used) or a VAE bundle folder/encoder
    file; ``images``: uint8 [N, H, W, C] at the encoder's size. Returns (mu, logvar), float32 [N, D]
    each: the posterior mean (``decode(model, mu)`` reconstructs) and its log-variance (natural log).
    MapDataError (one line) for a GAN, a bundle without encoder, or images of the wrong shape.
    """
    if isinstance(bundle, LoadedModel):
        encoder = encoder_for(bundle)
    else:
        path = Path(bundle)
        encoder = encoder_for(_open_model(path)) if path.is_dir() else VAEEncoder(path)
    return encoder.encode(np.asarray(images, np.uint8))


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, mode: str = "slerp") -> np.ndarray:
    """``steps`` latents from a to b (each [D]), endpoints included: float32 [steps, D].

    ``mode`` is "slerp" (along the prior's shell; falls back to a straight line for nearly opposite
    vectors, as the path editor does) or "lerp". The first row equals a and the last equals b exactly.
    """
    if mode not in MODES:
        raise PathError(f"mode must be one of {', '.join(MODES)}, found {mode!r}")
    if int(steps) < 2:
        raise PathError(f"steps must be at least 2 (the two endpoints), found {steps}")
    z, _ = interpolate_pair(np.asarray(a).reshape(-1), np.asarray(b).reshape(-1),
                            np.linspace(0.0, 1.0, int(steps)), mode)
    return z


def diversity_report(model: LoadedModel | str | os.PathLike, n: int = DEFAULT_N, *, seed: int = DEFAULT_SEED,
                     classifier: str | os.PathLike | None = None) -> dict:
    """What ``latent-explorer diversity MODEL --json`` prints, as a dict.

    Decodes a fixed bank of n latents (seed ``seed``; n >= 16), classifies them with ``classifier``
    (a classifier bundle or .onnx; default: one trained on the model's data, else the bundled one;
    docs/diversity-monitor.md, "Metrics for your own data") and compares with the real-data floors
    at the same n. Keys include "verdict" ("ok", "inconclusive", "not measured" or a list of alarm
    names), "alarms", "metrics", "floors", "floor_spread", "spaces", "class_histogram", "sharpness",
    "sharpness_vs_real", "n", "judged_by" and "classifier" (None: measured in the feature-free
    space, or not at all). MonitorError when a classifier given cannot be used.
    """
    if not isinstance(model, LoadedModel):
        model = _open_model(model)
    evaluator, _ = evaluator_for(model.path, classifier, n=int(n), seed=int(seed), strict=True)
    out = evaluator.evaluate(model).to_dict()
    out["classifier"] = str(evaluator.classifier.path) if evaluator.classifier is not None else None
    return out


def read_metrics(run: str | os.PathLike) -> list[dict]:
    """The rows of a training run's ``metrics.jsonl``: one dict per epoch, by epoch (the latest line
    for an epoch wins; torn lines are skipped; no file reads as []). ``run`` is the run folder or the
    metrics.jsonl itself. ``pandas.DataFrame(read_metrics(run))`` makes a table of it.
    """
    path = Path(run)
    return _read_metrics_file(RunFolder(path).metrics if path.is_dir() else path)
