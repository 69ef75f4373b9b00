"""What differs between the three families (VAE, GAN, classifier): optimisers, one training step,
the test-set evaluation, the printed epoch line, the snapshot's sample grid and the VAE's atlas.

Everything the loop in train.py does the same way for every family lives there, not here.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from explorer.io.contract import Atlas

from .config import TrainConfig
from .data import ImageSet
from .models import bernoulli_nll, kl_to_standard_normal

FIXED_NOISE_SIZE = 64


def unwrap(module: nn.Module) -> nn.Module:
    """The module itself, also when DistributedDataParallel wraps it."""
    return module.module if hasattr(module, "module") else module


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
    """-ELBO training of the VAE. The conditional VAE (training/conditional.py) is this with one more
    decoder input: ``module`` names the module and ``classes(y)`` gives the extra inputs (none here)."""

    module = "vae"

    def classes(self, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return ()

    def step(self, x, y, gen):
        vae = self.modules[self.module]
        x = self.prepare(x)
        eps = torch.randn(x.shape[0], self.cfg.latent_dim, generator=gen, device=self.device)
        logits, mu, logvar = vae(x, *self.classes(y), eps)
        rec, kl = bernoulli_nll(logits, x), kl_to_standard_normal(mu, logvar)
        loss = (rec + kl).mean()
        opt = self.optimizers[self.module]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n = x.shape[0]
        return {"loss": loss.item() * n, "reconstruction": rec.sum().item(), "kl": kl.sum().item()}

    @torch.no_grad()
    def evaluate(self, test: ImageSet) -> dict:
        vae = unwrap(self.modules[self.module]).eval()
        gen = torch.Generator(device=self.device).manual_seed(12345)
        rec_sum = kl_sum = 0.0
        kl_dims = torch.zeros(self.cfg.latent_dim, dtype=torch.float64)
        mus = []
        for i in range(0, len(test), 500):
            x = self.prepare(torch.from_numpy(test.images[i:i + 500]))
            mu, logvar = vae.encoder(x)
            eps = torch.randn(mu.shape, generator=gen, device=self.device)
            classes = self.classes(torch.from_numpy(test.labels[i:i + 500]))
            logits = vae.decoder(mu + torch.exp(0.5 * logvar) * eps, *classes)
            rec_sum += float(bernoulli_nll(logits, x).sum())
            kl_per = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
            kl_sum += float(kl_per.sum())
            kl_dims += kl_per.sum(0).double().cpu()
            mus.append(mu.cpu())
        vae.train()
        n = max(len(test), 1)
        mu_var = torch.cat(mus).double().var(0) if len(test) > 1 else torch.zeros(self.cfg.latent_dim)
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
        clf = unwrap(self.modules["classifier"]).eval()
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


# ---- what a snapshot holds besides the ONNX files ------------------------------------------------

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


def snapshot_extras(cfg: TrainConfig, family: Family) -> dict[str, bytes]:
    """A PNG of the fixed-noise samples (GAN) or fixed-latent decodings (VAE)."""
    if cfg.family == "classifier":
        return {}
    if hasattr(family, "samples_png"):  # the conditional families: one row per class (conditional.py)
        return {"samples.png": family.samples_png()}
    z = fixed_noise(cfg).to(family.device)
    with torch.no_grad():
        if cfg.family == "gan":
            g = unwrap(family.modules["generator"]).eval()
            images = (g(z).cpu().numpy() + 1) / 2
            g.train()
        else:
            vae = unwrap(family.modules["vae"]).eval()
            images = torch.sigmoid(vae.decoder(z)).cpu().numpy()
            vae.train()
    return {"samples.png": sample_grid_png(images)}


@torch.no_grad()
def encode_atlas(cfg: TrainConfig, family: Family, test: ImageSet) -> Atlas:
    """The VAE encoder's posterior (mu, logvar: float32 [N, latent_dim]) of every test image, with labels."""
    encoder = unwrap(family.modules["vae"]).encoder.eval()
    mus, logvars = [], []
    for i in range(0, len(test), 1000):
        mu, logvar = encoder(family.prepare(torch.from_numpy(test.images[i:i + 1000])))
        mus.append(mu.cpu().numpy())
        logvars.append(logvar.cpu().numpy())
    encoder.train()
    return Atlas(mu=np.concatenate(mus), logvar=np.concatenate(logvars), labels=test.labels,
                 class_names=tuple(cfg.class_names), split="test")


from . import conditional  # noqa: E402,F401  registers the cgan and cvae families (it subclasses the above)
