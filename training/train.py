"""The training loop shared by the three families: data order, checkpoints, snapshots, metrics, resume.

A RUN_DIR holds:
  config.json                  the TrainConfig
  metrics.jsonl                one JSON object per finished epoch (appended, flushed)
  checkpoints/last.pt          everything needed to resume (loaded with weights_only=True)
  snapshots/epoch-NNNN/        the ONNX bundle of that epoch (what the live monitor watches)
  model/                       the final bundle (written when training finishes)
Every file is written atomically, so after a kill -9 every ONNX file loads and --resume works.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from explorer.io.contract import Atlas

from . import files
from .config import TrainConfig
from .data import DataError, ImageSet, load_dataset
from .export import export_bundle
from .models import bernoulli_nll, build_modules, kl_to_standard_normal

CHECKPOINT_FORMAT = "latent-explorer-checkpoint"
CHECKPOINT_VERSION = 1
FIXED_NOISE_SIZE = 64
EXIT_INTERRUPTED = 130


class RunError(RuntimeError):
    """A run cannot start or continue; the message says why and what to do."""


# ---- distributed (torchrun) --------------------------------------------------------------------

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


# ---- checkpoints -------------------------------------------------------------------------------

def checkpoint_path(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "last.pt"


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


def _read_config(path: Path) -> TrainConfig:
    try:
        return TrainConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise RunError(f"{path}: unreadable run settings ({type(exc).__name__}); "
                       "delete the run folder to start over") from None


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") else module


# ---- family-specific steps ---------------------------------------------------------------------

class Family:
    """What differs between VAE, GAN and classifier training. Stats are sums over images."""

    def __init__(self, cfg: TrainConfig, modules: dict[str, nn.Module], device: torch.device):
        self.cfg, self.modules, self.device = cfg, modules, device
        self.optimizers = self.make_optimizers()

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {name: torch.optim.Adam(m.parameters(), lr=self.cfg.lr) for name, m in self.modules.items()}

    def prepare(self, x_uint8: torch.Tensor) -> torch.Tensor:
        return x_uint8.to(self.device, torch.float32) / 255.0

    def set_epoch(self, epoch: int) -> None:
        """Cosine learning-rate decay to 10 % over the run (a function of the epoch only, so resume replays it)."""
        scale = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * epoch / max(self.cfg.epochs, 1)))
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = self.cfg.lr * scale

    def step(self, x, y, gen) -> dict[str, float]:
        raise NotImplementedError

    def summarise(self, sums: dict[str, float], n: int) -> dict[str, float]:
        return {k: v / max(n, 1) for k, v in sums.items()}

    @torch.no_grad()
    def evaluate(self, test: ImageSet) -> dict:
        return {}

    def print_line(self, epoch: int, row: dict) -> str:
        return ""


class VAEFamily(Family):
    def step(self, x, y, gen):
        vae = self.modules["vae"]
        x = self.prepare(x)
        eps = torch.randn(x.shape[0], self.cfg.latent_dim, generator=gen, device=self.device)
        logits, mu, logvar = vae(x, eps)
        rec, kl = bernoulli_nll(logits, x), kl_to_standard_normal(mu, logvar)
        loss = (rec + kl).mean()
        opt = self.optimizers["vae"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n = x.shape[0]
        return {"loss": loss.item() * n, "reconstruction": rec.sum().item(), "kl": kl.sum().item()}

    @torch.no_grad()
    def evaluate(self, test: ImageSet) -> dict:
        vae = _unwrap(self.modules["vae"]).eval()
        gen = torch.Generator(device=self.device).manual_seed(12345)
        rec_sum = kl_sum = 0.0
        kl_dims = torch.zeros(self.cfg.latent_dim, dtype=torch.float64)
        mus = []
        for i in range(0, len(test), 500):
            x = self.prepare(torch.from_numpy(test.images[i:i + 500]))
            mu, logvar = vae.encoder(x)
            eps = torch.randn(mu.shape, generator=gen, device=self.device)
            logits = vae.decoder(mu + torch.exp(0.5 * logvar) * eps)
            rec_sum += float(bernoulli_nll(logits, x).sum())
            kl_per = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
            kl_sum += float(kl_per.sum())
            kl_dims += kl_per.sum(0).double().cpu()
            mus.append(mu.cpu())
        vae.train()
        n = len(test)
        mu_var = torch.cat(mus).double().var(0)
        return {"test_neg_elbo": (rec_sum + kl_sum) / n, "test_reconstruction": rec_sum / n,
                "test_kl": kl_sum / n, "kl_per_dim": [round(float(v) / n, 5) for v in kl_dims],
                "active_units": int((mu_var > 0.01).sum())}

    def print_line(self, epoch, row):
        return (f"Epoch {epoch}/{self.cfg.epochs}  Loss: {row['loss']:.2f}  Reconstruction: {row['reconstruction']:.2f}"
                f"  KL: {row['kl']:.2f}  | test -ELBO: {row['test_neg_elbo']:.2f}  active units: {row['active_units']}")


class GANFamily(Family):
    def make_optimizers(self):
        return {name: torch.optim.Adam(m.parameters(), lr=self.cfg.lr, betas=(0.5, 0.999))
                for name, m in self.modules.items()}

    def prepare(self, x_uint8):
        return x_uint8.to(self.device, torch.float32) / 127.5 - 1.0

    def set_epoch(self, epoch: int) -> None:
        pass  # constant learning rate: the DCGAN recipe

    def step(self, x, y, gen):
        g, d = self.modules["generator"], self.modules["discriminator"]
        real = self.prepare(x)
        n = real.shape[0]
        z = torch.randn(n, self.cfg.latent_dim, generator=gen, device=self.device)
        fake = g(z)
        # Discriminator: one forward over real and fake together (D has no batch norm; one DDP pass).
        logits = d(torch.cat([real, fake.detach()]))
        d_real, d_fake = logits[:n], logits[n:]
        d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["discriminator"].step()
        # Generator: the non-saturating loss -log D(G(z)).
        g_logits = d(fake)
        g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
        self.optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["generator"].step()
        return {"d_loss": d_loss.item() * n, "g_loss": g_loss.item() * n,
                "d_x": torch.sigmoid(d_real).sum().item(), "d_g_z": torch.sigmoid(d_fake).sum().item()}

    def print_line(self, epoch, row):
        return (f"Epoch {epoch}/{self.cfg.epochs}  D loss: {row['d_loss']:.3f}  G loss: {row['g_loss']:.3f}"
                f"  D(x): {row['d_x']:.3f}  D(G(z)): {row['d_g_z']:.3f}")


class ClassifierFamily(Family):
    def step(self, x, y, gen):
        clf = self.modules["classifier"]
        x = self.prepare(x)
        flip = torch.rand(x.shape[0], generator=gen, device=self.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)  # garments are left-right symmetric
        y = y.to(self.device)
        logits, _ = clf(x)
        loss = F.cross_entropy(logits, y)
        opt = self.optimizers["classifier"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n = x.shape[0]
        return {"loss": loss.item() * n, "accuracy": (logits.argmax(1) == y).sum().item()}

    @torch.no_grad()
    def evaluate(self, test):
        clf = _unwrap(self.modules["classifier"]).eval()
        correct, loss = 0, 0.0
        for i in range(0, len(test), 1000):
            x = self.prepare(torch.from_numpy(test.images[i:i + 1000]))
            y = torch.from_numpy(test.labels[i:i + 1000]).to(self.device)
            logits, _ = clf(x)
            correct += int((logits.argmax(1) == y).sum())
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
        clf.train()
        return {"test_accuracy": correct / len(test), "test_loss": loss / len(test)}

    def print_line(self, epoch, row):
        return (f"Epoch {epoch}/{self.cfg.epochs}  Loss: {row['loss']:.4f}  train acc: {row['accuracy']:.4f}"
                f"  test acc: {row['test_accuracy']:.4f}")


FAMILY_CLASSES = {"vae": VAEFamily, "gan": GANFamily, "classifier": ClassifierFamily}
CARD_METRICS = {  # which epoch figures go into the ONNX metadata
    "vae": ("test_neg_elbo", "test_reconstruction", "test_kl", "active_units"),
    "gan": ("d_loss", "g_loss", "d_x", "d_g_z"),
    "classifier": ("test_accuracy", "test_loss"),
}


# ---- the loop ----------------------------------------------------------------------------------

class _Interrupt:
    """Turns the first Ctrl-C into a flag checked between batches (a second one aborts at once)."""

    def __init__(self):
        self.requested = False

    def handler(self, signum, frame):
        if self.requested:
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


def epoch_order(cfg: TrainConfig, epoch: int, n: int, dist: Dist) -> torch.Tensor:
    """The data order of an epoch depends only on (seed, epoch): resume replays it exactly."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
    return perm[dist.rank::dist.world]


def fixed_noise(cfg: TrainConfig) -> torch.Tensor:
    """The fixed latent bank for comparable sample grids across epochs."""
    return torch.randn(FIXED_NOISE_SIZE, cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed + 777))


def sample_grid_png(images01: np.ndarray, cols: int = 8) -> bytes:
    """uint8 PNG of float images in [0, 1] [N, C, H, W] tiled in rows of ``cols``."""
    from PIL import Image

    n, c, h, w = images01.shape
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + 2) + 2, cols * (w + 2) + 2, c), dtype=np.uint8)
    for i, img in enumerate(images01):
        r, q = divmod(i, cols)
        grid[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + q * (w + 2):2 + q * (w + 2) + w] = \
            np.clip(img.transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grid[..., 0] if c == 1 else grid).save(buf, format="PNG")
    return buf.getvalue()


def _snapshot_extras(cfg: TrainConfig, family: Family) -> dict[str, bytes]:
    """A PNG of the fixed-noise samples (GAN) or fixed-latent decodings (VAE)."""
    if cfg.family == "classifier":
        return {}
    z = fixed_noise(cfg).to(family.device)
    with torch.no_grad():
        if cfg.family == "gan":
            g = _unwrap(family.modules["generator"]).eval()
            images = (g(z).cpu().numpy() + 1) / 2
            g.train()
        else:
            vae = _unwrap(family.modules["vae"]).eval()
            images = torch.sigmoid(vae.decoder(z)).cpu().numpy()
            vae.train()
    return {"samples.png": sample_grid_png(images)}


@torch.no_grad()
def encode_atlas(cfg: TrainConfig, family: Family, test: ImageSet) -> Atlas:
    encoder = _unwrap(family.modules["vae"]).encoder.eval()
    mus, logvars = [], []
    for i in range(0, len(test), 1000):
        mu, logvar = encoder(family.prepare(torch.from_numpy(test.images[i:i + 1000])))
        mus.append(mu.cpu().numpy())
        logvars.append(logvar.cpu().numpy())
    encoder.train()
    return Atlas(mu=np.concatenate(mus), logvar=np.concatenate(logvars), labels=test.labels,
                 class_names=tuple(cfg.class_names), split="test")


def train(cfg: TrainConfig, run_dir: str | os.PathLike, *, resume: bool = False, device: str = "auto",
          log=print) -> int:
    """Train ``cfg`` into ``run_dir``. Returns 0 when finished, 130 when interrupted (checkpoint saved)."""
    run_dir = Path(run_dir)
    dev = pick_device(device)
    dist = init_distributed(dev)
    try:
        return _train(cfg, run_dir, resume, dev, dist, log if dist.is_main else (lambda *a, **k: None))
    finally:
        if dist.world > 1:
            import torch.distributed as tdist

            tdist.destroy_process_group()


def _train(cfg: TrainConfig, run_dir: Path, resume: bool, dev: torch.device, dist: Dist, log) -> int:
    ckpt_file = checkpoint_path(run_dir)
    ckpt = None
    if resume:
        if not ckpt_file.exists() and (run_dir / "config.json").is_file():
            # Stopped before its first checkpoint (kill -9 in epoch 1): start over with the run's own settings.
            log(f"{run_dir}: no checkpoint yet, starting the run from the beginning")
            saved = _read_config(run_dir / "config.json")
        else:
            ckpt = load_checkpoint(ckpt_file)
            saved = TrainConfig.from_dict(ckpt["config"])
        if saved.family != cfg.family:
            raise RunError(f"{run_dir}: holds a {saved.family} run, cannot resume it as {cfg.family}")
        if cfg.epochs is not None:
            saved.epochs = cfg.epochs  # the one setting a resume may change: train for longer (or stop sooner)
        cfg = saved
    elif ckpt_file.exists():
        raise RunError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out")

    train_set = load_dataset(cfg.data, "train", image_size=cfg.image_size, channels=cfg.channels, seed=cfg.seed)
    test_set = load_dataset(cfg.data, "test", image_size=cfg.image_size, channels=cfg.channels, seed=cfg.seed)
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
    if cfg.family == "classifier" and (len(cfg.class_names) < 2 or (train_set.labels < 0).any()):
        raise DataError("a classifier needs labels: use Fashion-MNIST or an image folder with one subfolder per class")
    if train_set.skipped:
        log(f"note: skipped {train_set.skipped} unreadable image files")

    torch.manual_seed(cfg.seed + dist.rank)
    modules = {k: m.to(dev) for k, m in build_modules(cfg).items()}
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        modules = {k: DDP(m, device_ids=[dev.index] if dev.type == "cuda" else None) for k, m in modules.items()}
    family = FAMILY_CLASSES[cfg.family](cfg, modules, dev)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed * 7919 + dist.rank)
    start_epoch, start_batch, sums = 0, 0, {}
    if ckpt is not None:
        for name, module in modules.items():
            _unwrap(module).load_state_dict(ckpt["modules"][name])
        for name, opt in family.optimizers.items():
            opt.load_state_dict(ckpt["optimizers"][name])
        if len(ckpt["rng"]) != dist.world:
            raise RunError(f"{run_dir}: the checkpoint was written by {len(ckpt['rng'])} process(es); "
                           f"resume it with the same number (now {dist.world})")
        rng = ckpt["rng"][dist.rank]
        torch.set_rng_state(rng["torch"])
        gen.set_state(rng["generator"].to(gen.get_state().device))
        start_epoch, start_batch = int(ckpt["epoch"]), int(ckpt["batch"])
        sums = dict(ckpt.get("epoch_sums") or {})
        log(f"resuming {cfg.family} from epoch {start_epoch} batch {start_batch} in {run_dir}")

    if dist.is_main:
        files.atomic_write_json(run_dir / "config.json", cfg.to_dict())
        metrics_file = run_dir / "metrics.jsonl"
        if metrics_file.exists():  # forget epochs logged after the checkpoint (they will be redone identically)
            rows = [r for r in files.read_jsonl(metrics_file) if r.get("epoch", 0) <= start_epoch]
            files.atomic_write_bytes(metrics_file, "".join(json.dumps(r) + "\n" for r in rows).encode())

    def save_checkpoint(epoch: int, batch: int, epoch_sums: dict) -> None:
        rng_states = [{"torch": torch.get_rng_state(), "generator": gen.get_state().cpu()}]
        if dist.world > 1:
            import torch.distributed as tdist

            gathered = [None] * dist.world
            tdist.all_gather_object(gathered, rng_states[0])
            rng_states = gathered
        if not dist.is_main:
            return
        files.atomic_torch_save({
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": cfg.to_dict(),
            "epoch": epoch, "batch": batch, "epoch_sums": epoch_sums,
            "modules": {k: _unwrap(m).state_dict() for k, m in modules.items()},
            "optimizers": {k: o.state_dict() for k, o in family.optimizers.items()},
            "rng": rng_states,
        }, ckpt_file)

    images = torch.from_numpy(train_set.images)
    labels = torch.from_numpy(train_set.labels)
    n_local = math.ceil(len(train_set) / dist.world) if dist.world > 1 else len(train_set)
    batch_size = min(cfg.batch_size, n_local)
    n_batches = max(1, n_local // batch_size)  # drop the ragged last batch (batch norm, equal DDP steps)
    stop = _Interrupt()
    with stop.installed():
        for epoch in range(start_epoch, cfg.epochs):
            order = epoch_order(cfg, epoch, len(train_set), dist)
            family.set_epoch(epoch)
            t0 = time.perf_counter()
            bar = _progress(n_batches, start_batch, f"{cfg.family} epoch {epoch + 1}/{cfg.epochs}", dist.is_main)
            for b in range(start_batch, n_batches):
                idx = order[b * batch_size:(b + 1) * batch_size]
                for key, value in family.step(images[idx], labels[idx], gen).items():
                    sums[key] = sums.get(key, 0.0) + value
                sums["_n"] = sums.get("_n", 0.0) + len(idx)
                if bar is not None:
                    bar.update(1)
                if _interrupted(stop, dist, dev):
                    if bar is not None:
                        bar.close()
                    save_checkpoint(epoch, b + 1, sums)
                    log(f"interrupted: checkpoint saved at epoch {epoch} batch {b + 1}; "
                        f"continue with --resume --out {run_dir}")
                    return EXIT_INTERRUPTED
            if bar is not None:
                bar.close()
            elapsed = time.perf_counter() - t0
            sums = _sum_over_ranks(sums, dist, dev)
            n_seen = sums.pop("_n", 0.0)
            row = {"epoch": epoch + 1, "family": cfg.family, **family.summarise(sums, n_seen),
                   "images_per_s": n_seen / max(elapsed, 1e-9), "seconds": elapsed}
            if dist.is_main:
                row.update(family.evaluate(test_set))
                card_metrics = {k: row[k] for k in CARD_METRICS[cfg.family] if k in row}
                if (epoch + 1) % cfg.snapshot_every == 0 or epoch + 1 == cfg.epochs:
                    export_bundle(cfg, {k: _unwrap(m) for k, m in modules.items()},
                                  run_dir / "snapshots" / f"epoch-{epoch + 1:04d}", epoch=epoch + 1,
                                  metrics=card_metrics, name=f"{cfg.dataset} {cfg.family} epoch {epoch + 1}",
                                  extra_files=_snapshot_extras(cfg, family))
                files.append_jsonl(run_dir / "metrics.jsonl", row)
                log(family.print_line(epoch + 1, row))
            sums, start_batch = {}, 0
            save_checkpoint(epoch + 1, 0, {})

    if dist.is_main:
        last = (files.read_jsonl(run_dir / "metrics.jsonl") or [{}])[-1]  # the last finished epoch
        card_metrics = {k: last[k] for k in CARD_METRICS[cfg.family] if k in last}
        atlas = encode_atlas(cfg, family, test_set) if cfg.family == "vae" else None
        parity = export_bundle(cfg, {k: _unwrap(m) for k, m in modules.items()}, run_dir / "model",
                               epoch=max(cfg.epochs, start_epoch),  # a resume with fewer epochs trains none
                               metrics=card_metrics, name=f"{cfg.dataset} {cfg.family}", atlas=atlas,
                               extra_files=_snapshot_extras(cfg, family))
        log("exported " + ", ".join(f"{role} (max |ort - torch| = {d:.1e})" for role, d in parity.items())
            + f" to {run_dir / 'model'}")
    return 0


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
