"""TensorBoard interop (``latent-train ... --tensorboard``): event files beside metrics.jsonl.

Opt-in, rank 0 only. Every epoch gets every figure of its metrics.jsonl row as a scalar (a list such
as ``kl_per_dim`` as one scalar per entry, ``kl_per_dim/0`` ...), with the epoch number as the step,
and the epoch's sample grid (the snapshot's samples.png) as an image. The folder is the run folder's
``tensorboard/`` (explorer/io/run_folder.py). A resume purges the events of the epochs it redoes, as it
does their metrics rows.
"""

from __future__ import annotations

import io
import numbers

import numpy as np

from explorer.io.run_folder import RunFolder

INSTALL_HINT = "pip install 'latent-explorer[tensorboard]' (or pip install tensorboard)"
SAMPLES_TAG = "samples"
_NOT_FIGURES = ("epoch", "family")


class TrackingError(RuntimeError):
    """--tensorboard cannot work here (the package is missing); one line saying what to install."""


def check_available() -> None:
    """TrackingError unless torch.utils.tensorboard (and so the tensorboard package) imports."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise TrackingError(f"--tensorboard needs the tensorboard package, which is not installed: "
                            f"{INSTALL_HINT}") from None


def scalars(row: dict) -> dict[str, float]:
    """The figures of a metrics row as TensorBoard scalar tags and values (numbers only; lists of
    numbers one tag per entry)."""
    out = {}
    for key, value in row.items():
        if key in _NOT_FIGURES:
            continue
        if isinstance(value, numbers.Real):
            out[key] = float(value)
        elif isinstance(value, (list, tuple)) and all(isinstance(v, numbers.Real) for v in value):
            out.update({f"{key}/{i}": float(v) for i, v in enumerate(value)})
    return out


class TensorBoardLog:
    """One run's TensorBoard writer. ``first_epoch``: the number of the first epoch this process
    logs; events of that epoch and later, left by an earlier process, are purged."""

    def __init__(self, run: RunFolder, first_epoch: int):
        from torch.utils.tensorboard import SummaryWriter

        self.folder = run.tensorboard
        self.writer = SummaryWriter(log_dir=str(self.folder), purge_step=first_epoch)

    def log_epoch(self, epoch: int, row: dict, samples_png: bytes | None) -> None:
        """Epoch ``epoch`` (1-based, as in metrics.jsonl): its figures and its sample grid; flushed."""
        for tag, value in scalars(row).items():
            self.writer.add_scalar(tag, value, epoch)
        if samples_png is not None:
            from PIL import Image

            grid = np.asarray(Image.open(io.BytesIO(samples_png)).convert("RGB"))
            self.writer.add_image(SAMPLES_TAG, grid, epoch, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
