"""The training loop shared by the three families: data order, checkpoints, snapshots, metrics, resume.

A run folder holds the settings (config.json), one metrics row per finished epoch (metrics.jsonl),
everything needed to resume (checkpoints/last.pt, loaded with weights_only=True), one ONNX bundle per
snapshot epoch (snapshots/epoch-NNNN/, what the live monitor watches), the final bundle (model/) and,
with --tensorboard, TensorBoard event files (tensorboard/, training/tracking.py).
Those names live in explorer/io/run_folder.py alone; this module reaches them through ``RunFolder``.
Every file is written atomically, so after a kill -9 every ONNX file loads and --resume works.

Read it top to bottom: ``train`` runs the steps below it in the order they are defined.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from explorer.io.dataset_id import dataset_id, resolved_data
from explorer.io.run_folder import RunFolder, append_jsonl, read_config, read_metrics, stale_temp_paths

from . import files, tracking
from .config import TrainConfig
from .data import DataError, ImageSet, load_dataset
from .export import export_bundle
from .families import CARD_METRICS, FAMILY_CLASSES, Family, encode_atlas, snapshot_extras, unwrap
from .models import build_modules

CHECKPOINT_FORMAT = "latent-explorer-checkpoint"
CHECKPOINT_VERSION = 1
EXIT_INTERRUPTED = 130


class RunError(RuntimeError):
    """A run cannot start or continue; the message says why and what to do."""


def train(cfg: TrainConfig, run_dir: str | os.PathLike, *, resume: bool = False, keep_run_length: bool = False,
          device: str = "auto", log=print, given: tuple[str, ...] = (), tensorboard: bool = False) -> int:
    """Train ``cfg`` into ``run_dir``. Returns 0 when finished, 130 when interrupted (checkpoint saved).

    ``resume``: continue the run already in ``run_dir`` with its own settings. Of ``cfg`` only the family
    (which must match) and ``cfg.epochs`` (train for longer, or stop sooner) are used; with
    ``keep_run_length`` the run keeps its own number of epochs too, and so its learning-rate schedule.
    ``given``: the settings the caller asked for explicitly; a resume notes those that differ from the run's.
    ``tensorboard``: also write TensorBoard event files (training/tracking.py); TrackingError before
    anything is created when the package is missing.
    Settings that make no sense raise ``ConfigError`` before anything is created.
    """
    cfg.validate()
    if tensorboard:
        tracking.check_available()
    run = RunFolder(run_dir)
    dev = pick_device(device)
    dist = init_distributed(dev)
    try:
        return _train(cfg, run, dev, dist, log if dist.is_main else _silent, resume=resume,
                      keep_run_length=keep_run_length, given=given, tensorboard=tensorboard)
    finally:
        if dist.world > 1:
            import torch.distributed as tdist

            tdist.destroy_process_group()


def _silent(*args, **kwargs) -> None:
    """The log of ranks other than 0."""


def _train(cfg: TrainConfig, run: RunFolder, dev: torch.device, dist: Dist, log, *, resume: bool,
           keep_run_length: bool, given: tuple[str, ...] = (), tensorboard: bool = False) -> int:
    """The steps of a run, in order. Every rank runs all of them (some hold collectives); only rank 0
    writes files and prints."""
    cfg, ckpt = settings_of_run(cfg, run, resume=resume, keep_run_length=keep_run_length, log=log, given=given)
    if dist.is_main:
        remove_stale_temp_files(run, log)
    train_set, test_set = load_data(cfg, log)
    t = set_up(cfg, run, dev, dist, train_set, test_set, log)
    start_epoch, start_batch, sums = restore_checkpoint(t, ckpt) if ckpt is not None else (0, 0, {})
    if dist.is_main:
        start_run_files(run, cfg, start_epoch)
        if tensorboard:
            t.tensorboard = tracking.TensorBoardLog(run, first_epoch=start_epoch + 1)
    try:
        return _epochs(t, start_epoch, start_batch, sums)
    finally:
        if t.tensorboard is not None:
            t.tensorboard.close()


def _epochs(t: Training, start_epoch: int, start_batch: int, sums: dict[str, float]) -> int:
    """The epochs from where the run stands, then the final export."""
    cfg, run, log = t.cfg, t.run, t.log
    stop = _Interrupt()
    with stop.installed():
        for epoch in range(start_epoch, cfg.epochs):
            timed, stopped_after = train_one_epoch(t, epoch, start_batch, sums, stop)
            if stopped_after is not None:
                save_checkpoint(t, epoch, stopped_after, sums)
                log(f"interrupted: checkpoint saved at epoch {epoch} batch {stopped_after}; "
                    f"continue with --resume --out {run.root}")
                return EXIT_INTERRUPTED
            average_buffers(t)
            finish_epoch(t, epoch, sums, timed)
            sums, start_batch = {}, 0
            save_checkpoint(t, epoch + 1, 0, {})

    if t.dist.is_main:
        export_final_model(t, epoch=max(cfg.epochs, start_epoch))  # a resume with fewer epochs trains none
    return 0


# ---- 1. the settings: a new run, or the one in the folder ------------------------------------------

def settings_of_run(cfg: TrainConfig, run: RunFolder, *, resume: bool, keep_run_length: bool,
                    log, given: tuple[str, ...] = ()) -> tuple[TrainConfig, dict | None]:
    """The settings to train with and the checkpoint to continue from (None: start at epoch 0)."""
    if not resume:
        if run.checkpoint.exists():
            raise RunError(f"{run.root}: already holds a run; pass --resume to continue it or choose another --out")
        return cfg, None
    ckpt = None
    if not run.checkpoint.exists() and run.config.is_file():
        # Stopped before its first checkpoint (kill -9 in epoch 1): start over with the run's own settings.
        log(f"{run.root}: no checkpoint yet, starting the run from the beginning")
        saved = _read_run_config(run)
    elif not run.checkpoint.exists():
        raise RunError(f"nothing to resume yet in {run.root} (no checkpoint): start it again without --resume")
    else:
        ckpt = load_checkpoint(run.checkpoint)
        saved = TrainConfig.from_dict(ckpt["config"])
    if saved.family != cfg.family:
        raise RunError(f"{run.root}: holds a {saved.family} run, cannot resume it as {cfg.family}")
    changed = [f"--{k.replace('_', '-')} {getattr(cfg, k)} (the run's: {getattr(saved, k)})"
               for k in given if k != "epochs" and not _same_setting(k, getattr(cfg, k), getattr(saved, k))]
    if changed:
        log(f"note: --resume keeps the run's own settings; ignoring {', '.join(changed)}")
    if not keep_run_length:
        saved.epochs = cfg.epochs  # the one setting a resume may change: train for longer (or stop sooner)
    return saved, ckpt


def _same_setting(name: str, asked, saved) -> bool:
    if name == "data" and asked is not None and saved is not None:
        return Path(asked).resolve() == Path(saved).resolve()
    return asked == saved


def _read_run_config(run: RunFolder) -> TrainConfig:
    data = read_config(run.root)
    if data is None:
        raise RunError(f"{run.config}: unreadable run settings (not a JSON object); "
                       "delete the run folder to start over")
    try:
        return TrainConfig.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise RunError(f"{run.config}: unreadable run settings ({type(exc).__name__}); "
                       "delete the run folder to start over") from None


def remove_stale_temp_files(run: RunFolder, log) -> None:
    """Remove the temporary files and folders that a killed writer of this run left (our names only,
    see explorer/io/run_folder.py, and only when the PID in the name is no longer running); an older
    bundle folder left aside while its target is missing is renamed back instead. Says so in one line."""
    done = []
    for path, (target, kind, _pid) in stale_temp_paths(run.root, _process_alive):
        rel = path.relative_to(run.root).as_posix() + ("/" if path.is_dir() else "")
        try:
            if kind == "old" and not (path.parent / target).exists():
                os.replace(path, path.parent / target)
                done.append(f"{rel} (restored as {target})")
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        done.append(rel)
    if done:
        log(f"removed temporary files left by a stopped run: {', '.join(done)}")


def _process_alive(pid: int) -> bool:
    """True unless no process ``pid`` exists (this process, and any we may not signal, count as alive)."""
    if pid <= 0 or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint without unpickling arbitrary objects."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"{path}: no checkpoint to resume from") from None
    except Exception as exc:
        raise RunError(f"{path}: checkpoint is unreadable ({type(exc).__name__}); "
                       "delete it to start over") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not a Latent Explorer checkpoint")
    return ckpt


# ---- 2. the data -------------------------------------------------------------------------------------

def load_data(cfg: TrainConfig, log) -> tuple[ImageSet, ImageSet]:
    """The train and test sets of ``cfg.data``; completes ``cfg`` with what the data says (channels,
    dataset name, class names), so that checkpoints and ONNX cards record it."""
    train_set = load_dataset(cfg.data, "train", image_size=cfg.image_size, channels=cfg.channels, seed=cfg.seed,
                             background=cfg.background)
    test_set = load_dataset(cfg.data, "test", image_size=cfg.image_size, channels=cfg.channels, seed=cfg.seed,
                            background=cfg.background)
    if cfg.limit:
        train_set = train_set.subset(slice(0, cfg.limit))
        test_set = test_set.subset(slice(0, max(cfg.limit // 5, min(len(test_set), 100))))
    if len(train_set) == 0:
        raise DataError("the training set is empty")
    if len(test_set) == 0:  # evaluation divides by it
        raise DataError(f"{train_set.name}: {len(train_set)} image(s) is too few; at least 2 are needed "
                        "(a tenth of an image folder is held out for testing)")
    cfg.channels = int(train_set.images.shape[1])
    cfg.dataset, cfg.class_names = train_set.name, tuple(train_set.class_names)
    cfg.data_path, cfg.data_id, cfg.train_images = resolved_data(cfg.data), dataset_id(cfg.data), len(train_set)
    if cfg.family in ("classifier", "cgan", "cvae") and (len(cfg.class_names) < 2 or (train_set.labels < 0).any()):
        raise DataError(f"a {cfg.family} needs labels: use Fashion-MNIST or an image folder with one subfolder "
                        "per class")
    if train_set.skipped:
        log(f"note: {train_set.skipped_note()}")
    return train_set, test_set


# ---- 3. the modules, optimisers and random stream ---------------------------------------------------

@dataclass
class Training:
    """What one process holds while it trains its share of a run."""

    cfg: TrainConfig
    run: RunFolder
    dist: Dist
    device: torch.device
    family: Family  # the modules (wrapped in DDP when world > 1) and their optimisers
    gen: torch.Generator  # the steps' random stream (VAE noise, GAN z, classifier flips), on ``device``
    train_set: ImageSet
    test_set: ImageSet
    images: torch.Tensor  # uint8 [N, C, H, W], the whole training set (on the CPU)
    labels: torch.Tensor  # int64 [N]
    batch_size: int
    n_batches: int  # per epoch and rank; the ragged last batch is dropped
    log: Callable[[str], None]
    tensorboard: tracking.TensorBoardLog | None = None  # rank 0 with --tensorboard


def set_up(cfg: TrainConfig, run: RunFolder, dev: torch.device, dist: Dist, train_set: ImageSet,
           test_set: ImageSet, log) -> Training:
    """Fresh modules from the run's seed (each rank its own), their optimisers and the steps' generator."""
    torch.manual_seed(cfg.seed + dist.rank)
    modules = {k: m.to(dev) for k, m in build_modules(cfg).items()}
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        modules = {k: DDP(m, device_ids=[dev.index] if dev.type == "cuda" else None) for k, m in modules.items()}
    family = FAMILY_CLASSES[cfg.family](cfg, modules, dev)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed * 7919 + dist.rank)
    n_local = math.ceil(len(train_set) / dist.world) if dist.world > 1 else len(train_set)
    batch_size = min(cfg.batch_size, n_local)
    n_batches = max(1, n_local // batch_size)  # drop the ragged last batch (batch norm, equal DDP steps)
    return Training(cfg=cfg, run=run, dist=dist, device=dev, family=family, gen=gen, train_set=train_set,
                    test_set=test_set, images=torch.from_numpy(train_set.images),
                    labels=torch.from_numpy(train_set.labels), batch_size=batch_size, n_batches=n_batches, log=log)


# ---- 4. resume: weights, optimiser moments, random states, position ----------------------------------

def restore_checkpoint(t: Training, ckpt: dict) -> tuple[int, int, dict[str, float]]:
    """Load ``ckpt`` into ``t``; returns where to continue: (epoch, batch, that epoch's sums so far)."""
    for name, module in t.family.modules.items():
        _load_module_state(t, name, unwrap(module), (ckpt.get("modules") or {}).get(name))
    for name, opt in t.family.optimizers.items():
        try:
            opt.load_state_dict(ckpt["optimizers"][name])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise _mismatch(t, f"the {name} optimiser state does not fit ({_first_line(exc)})") from None
    if len(ckpt["rng"]) != t.dist.world:
        raise RunError(f"{t.run.root}: the checkpoint was written by {len(ckpt['rng'])} process(es); "
                       f"resume it with the same number (now {t.dist.world})")
    rng = ckpt["rng"][t.dist.rank]
    torch.set_rng_state(rng["torch"])
    t.gen.set_state(rng["generator"].to(t.gen.get_state().device))
    epoch, batch = int(ckpt["epoch"]), int(ckpt["batch"])
    t.log(f"resuming {t.cfg.family} from epoch {epoch} batch {batch} in {t.run.root}")
    return epoch, batch, dict(ckpt.get("epoch_sums") or {})


def _load_module_state(t: Training, name: str, module: torch.nn.Module, state) -> None:
    """``module.load_state_dict(state)``, or a RunError that names the first parameter that differs."""
    if not isinstance(state, dict):
        raise _mismatch(t, f"it holds no {name} weights")
    expected = module.state_dict()
    for key, want in expected.items():
        if key not in state:
            raise _mismatch(t, f"{name} parameter {key} is missing")
        have = state[key]
        if not isinstance(have, torch.Tensor) or tuple(have.shape) != tuple(want.shape):
            found = tuple(have.shape) if isinstance(have, torch.Tensor) else type(have).__name__
            raise _mismatch(t, f"{name} parameter {key}: the checkpoint holds {_shape(found)}, its settings "
                               f"({_settings(t.cfg)}) need {_shape(tuple(want.shape))}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise _mismatch(t, f"{name} parameter {extra[0]} is not part of this {name}")
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise _mismatch(t, f"{name}: {_first_line(exc)}") from None


def _mismatch(t: Training, what: str) -> RunError:
    return RunError(f"{t.run.checkpoint}: checkpoint does not fit its run: {what}; start a new run with "
                    f"--out ANOTHER_FOLDER or resume with the run's own settings and checkpoint")


def _shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if isinstance(shape, tuple) else str(shape)


def _settings(cfg: TrainConfig) -> str:
    keys = ("latent_dim", "width", "image_size", "channels")
    return ", ".join(f"{k.replace('_', '-')} {getattr(cfg, k)}" for k in keys if getattr(cfg, k, None) is not None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def start_run_files(run: RunFolder, cfg: TrainConfig, start_epoch: int) -> None:
    """Write the settings, and forget metrics rows of epochs after ``start_epoch`` (they will be redone
    identically). Rows without an epoch number are kept."""
    files.atomic_write_json(run.config, cfg.to_dict())
    if run.metrics.exists():
        rows = [r for r in read_metrics(run.metrics)
                if not isinstance(r.get("epoch"), int) or r["epoch"] <= start_epoch]
        files.atomic_write_bytes(run.metrics, "".join(json.dumps(r) + "\n" for r in rows).encode())


# ---- 5. one epoch --------------------------------------------------------------------------------------

def epoch_order(cfg: TrainConfig, epoch: int, n: int, dist: Dist) -> torch.Tensor:
    """The data order of an epoch depends only on (seed, epoch): resume replays it exactly."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
    return perm[dist.rank::dist.world]


@dataclass
class Timed:
    """What this process trained of an epoch and how long it took: ``images`` (this rank's) in
    ``seconds``. A resumed epoch counts only the batches run since the resume."""

    seconds: float
    images: int


def train_one_epoch(t: Training, epoch: int, first_batch: int, sums: dict[str, float],
                    stop: _Interrupt) -> tuple[Timed, int | None]:
    """Train batches ``first_batch`` .. ``t.n_batches - 1`` of ``epoch`` (0-based), adding each step's
    stats (sums over images; "_n" counts the images) into ``sums`` in place.

    Returns (timed, None) when the epoch is done, or (timed, batches done) when Ctrl-C stopped it;
    every rank stops after the same batch.
    """
    cfg = t.cfg
    order = epoch_order(cfg, epoch, len(t.train_set), t.dist)
    t.family.set_epoch(epoch)
    t0 = time.perf_counter()
    ran = 0
    bar = _progress(t.n_batches, first_batch, f"{cfg.family} epoch {epoch + 1}/{cfg.epochs}", t.dist.is_main)
    try:
        for b in range(first_batch, t.n_batches):
            idx = order[b * t.batch_size:(b + 1) * t.batch_size]
            for key, value in t.family.step(t.images[idx], t.labels[idx], t.gen).items():
                sums[key] = sums.get(key, 0.0) + value
            sums["_n"] = sums.get("_n", 0.0) + len(idx)
            ran += len(idx)
            if bar is not None:
                bar.update(1)
            if _interrupted(stop, t.dist, t.device):
                return Timed(time.perf_counter() - t0, ran), b + 1
    finally:
        if bar is not None:
            bar.close()
    return Timed(time.perf_counter() - t0, ran), None


def average_buffers(t: Training) -> None:
    """Set every rank's floating-point buffers (batch norm's running mean and variance) to their mean
    over the ranks, at the end of each epoch (every rank must call it).

    DDP broadcasts rank 0's buffers before each forward, and each rank then updates them with its own
    batch, so after the last step every rank holds other statistics. Averaging them makes the
    snapshot, the checkpoint and the exported model hold what every rank holds, and describes every
    rank's data. (SyncBatchNorm would also change the training itself, with one all-reduce per layer
    and step, and does not run on CPU ranks.) A single process has nothing to do."""
    if t.dist.world == 1:
        return
    import torch.distributed as tdist

    with torch.no_grad():
        for module in t.family.modules.values():
            buffers = [b for b in unwrap(module).buffers() if b.is_floating_point()]
            if not buffers:
                continue
            flat = torch.cat([b.reshape(-1).double() for b in buffers])
            tdist.all_reduce(flat)
            flat /= t.dist.world
            at = 0
            for b in buffers:
                b.copy_(flat[at:at + b.numel()].view_as(b))
                at += b.numel()


# ---- 6. the end of an epoch: metrics row, evaluation, snapshot, printed line ------------------------

def finish_epoch(t: Training, epoch: int, sums: dict[str, float], timed: Timed) -> None:
    """Epoch ``epoch`` (0-based) is trained: rank 0 evaluates it, writes its snapshot when one is due,
    appends its metrics row and prints its line (the row is numbered ``epoch + 1``, like the snapshot).

    ``images_per_s`` is the images every rank trained in this process over the time it took
    (``seconds``): for an epoch resumed half-way, the half that ran since the resume."""
    cfg, done = t.cfg, epoch + 1
    sums = _sum_over_ranks({**sums, "_timed": float(timed.images)}, t.dist, t.device)
    n_seen, n_timed = sums.pop("_n", 0.0), sums.pop("_timed")
    row = {"epoch": done, "family": cfg.family, **t.family.summarise(sums, n_seen),
           "images_per_s": n_timed / max(timed.seconds, 1e-9), "seconds": timed.seconds}
    if not t.dist.is_main:
        return
    row.update(t.family.evaluate(t.test_set))
    extras = None
    if done % cfg.snapshot_every == 0 or done == cfg.epochs:
        extras = snapshot_extras(cfg, t.family)
        export_bundle(cfg, _bare_modules(t), t.run.snapshot(done), epoch=done, metrics=_card_metrics(cfg, row),
                      name=f"{cfg.dataset} {cfg.family} epoch {done}", extra_files=extras)
    append_jsonl(t.run.metrics, row)
    if t.tensorboard is not None:
        extras = snapshot_extras(cfg, t.family) if extras is None else extras
        t.tensorboard.log_epoch(done, row, extras.get("samples.png"))
    t.log(t.family.print_line(done, row))


def _card_metrics(cfg: TrainConfig, row: dict) -> dict[str, float]:
    """The figures of a metrics row that go into the ONNX cards' metadata."""
    return {k: row[k] for k in CARD_METRICS[cfg.family] if k in row}


def _bare_modules(t: Training) -> dict:
    return {k: unwrap(m) for k, m in t.family.modules.items()}


# ---- 7. checkpoints -----------------------------------------------------------------------------------

def save_checkpoint(t: Training, epoch: int, batch: int, epoch_sums: dict[str, float]) -> None:
    """Everything needed to continue at batch ``batch`` of epoch ``epoch`` (0-based; (epoch + 1, 0) after
    a finished epoch). Every rank must call it: rank 0 gathers all ranks' random states and writes."""
    rng_states = [{"torch": torch.get_rng_state(), "generator": t.gen.get_state().cpu()}]
    if t.dist.world > 1:
        import torch.distributed as tdist

        gathered = [None] * t.dist.world
        tdist.all_gather_object(gathered, rng_states[0])
        rng_states = gathered
    if not t.dist.is_main:
        return
    files.atomic_torch_save({
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": t.cfg.to_dict(),
        "epoch": epoch, "batch": batch, "epoch_sums": epoch_sums,
        "modules": {k: m.state_dict() for k, m in _bare_modules(t).items()},
        "optimizers": {k: o.state_dict() for k, o in t.family.optimizers.items()},
        "rng": rng_states,
    }, t.run.checkpoint)


# ---- 8. the final bundle --------------------------------------------------------------------------------

def export_final_model(t: Training, *, epoch: int) -> None:
    """The run's model folder: the bundle of the trained weights, with the last finished epoch's figures
    on its cards (and, for a VAE, the test set's atlas). Rank 0 only."""
    cfg = t.cfg
    last = (read_metrics(t.run.metrics) or [{}])[-1]  # the last finished epoch
    atlas = encode_atlas(cfg, t.family, t.test_set) if cfg.family == "vae" else None
    parity = export_bundle(cfg, _bare_modules(t), t.run.model, epoch=epoch, metrics=_card_metrics(cfg, last),
                           name=f"{cfg.dataset} {cfg.family}", atlas=atlas, extra_files=snapshot_extras(cfg, t.family))
    t.log("exported " + ", ".join(f"{role} (max |ort - torch| = {d:.1e})" for role, d in parity.items())
          + f" to {t.run.model}")


# ---- devices and processes (torchrun) ---------------------------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    return Dist(rank=dist.get_rank(), world=dist.get_world_size())


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError("--device cuda: no CUDA device is available to this PyTorch build; use --device cpu or auto")
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def _sum_over_ranks(sums: dict, dist: Dist, dev: torch.device) -> dict:
    """Epoch sums over every rank's share of the data (metrics.jsonl describes the whole epoch)."""
    if dist.world == 1:
        return sums
    import torch.distributed as tdist

    keys = sorted(sums)
    values = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=dev)
    tdist.all_reduce(values)
    return dict(zip(keys, values.tolist()))


def _interrupted(stop: _Interrupt, dist: Dist, dev: torch.device) -> bool:
    if dist.world == 1:
        return stop.requested
    import torch.distributed as tdist

    flag = torch.tensor([1 if stop.requested else 0], device=dev)
    tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
    return bool(flag.item())


# ---- Ctrl-C and the progress bar ----------------------------------------------------------------------------

class _Interrupt:
    """Turns the first Ctrl-C into a flag checked between batches (a second one aborts at once).

    Under torchrun a second SIGINT is the launcher forwarding the terminal's Ctrl-C that every process
    of the group got already; it is ignored (the launcher kills workers that outlast its timeout)."""

    def __init__(self):
        self.requested = False
        self.under_launcher = "TORCHELASTIC_RUN_ID" in os.environ

    def handler(self, signum, frame):
        if self.requested and not self.under_launcher:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self):
        try:
            previous = signal.signal(signal.SIGINT, self.handler)
        except ValueError:  # not the main thread
            yield self
            return
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def _progress(total: int, initial: int, desc: str, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # progress bars are a nicety, never a reason to fail
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit="batch", leave=False,
                disable=not (enabled and sys.stderr.isatty()))
