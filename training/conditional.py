"""The class-conditional families: cgan and cvae. What differs from the GAN and the VAE is only here;
the loop, run folder, checkpoints, resume and torchrun support are train.py's.

Both take class weights [N, K] (one-hot rows of the batch labels in training; blends in the app),
embedded linearly (``training/models.py``). The cgan's discriminator is a projection discriminator,
not an auxiliary classifier (AC-GAN): why, in assets/models/README.md ("fashion-cgan"). In short, an
AC-GAN run of this code (class loss weight 1 on both sides) reached 0.98 class accuracy after one
epoch with every class collapsed to nearly one image (spread 0.26-0.35 of the real one): the class
loss outweighed the real/fake one in the shared trunk. The projection puts the class into the
real/fake score itself; a linear probe on detached features adds a class loss for G, and a
mode-seeking term over pairs of latents of one class keeps z in use (the projection alone collapsed
too).

Importing this module registers both families in ``families.FAMILY_CLASSES`` (families.py imports it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from . import families as _families
from .families import GANFamily, fixed_noise, sample_grid_png, unwrap
from .models import num_classes

GRID_COLUMNS = 8  # styles per row of a snapshot's sample grid (one row per class)


def one_hot(y: torch.Tensor, k: int) -> torch.Tensor:
    return F.one_hot(y, k).to(torch.float32)


def class_grid_inputs(cfg, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, class_weights) of a style x class grid: row c is class c, column j the fixed latent j."""
    k = num_classes(cfg)
    z = fixed_noise(cfg)[:GRID_COLUMNS].repeat(k, 1)
    w = torch.eye(k).repeat_interleave(GRID_COLUMNS, dim=0)
    return z.to(device), w.to(device)


class CGANFamily(GANFamily):
    """Projection discriminator (its logit scores image and class together) with the non-saturating
    GAN loss; the generator also gets a small class loss through the discriminator's linear probe,
    and a mode-seeking term that keeps its latent in use within each class."""

    # Weights of the generator's class loss (through the probe) and of the mode-seeking term (Mao et
    # al. 2019, MSGAN), next to its real/fake loss. Measured on Fashion-MNIST (referee class accuracy,
    # spread ratio): mode-seeking 1 (the paper's), probe 0.1: 0.60, 1.01-1.18 after one epoch;
    # 0.2 and 0.1: 0.77 -> 0.83 at epochs 1-4, spread 1.02-1.10 (more varied than real garments).
    PROBE_WEIGHT = 0.5
    MODE_SEEKING_WEIGHT = 0.1

    def step(self, x, y, gen):
        g, d = self.modules["generator"], self.modules["discriminator"]
        real = self.prepare(x)
        n, k = real.shape[0], num_classes(self.cfg)
        y = y.to(self.device)
        w = one_hot(y, k)
        # The samples come in pairs (i, i + n/2) that ask for the same class with two latents: the
        # mode-seeking term below needs them. (An odd batch leaves its last sample unpaired.)
        half = n // 2
        y_fake = torch.cat([y[:half], y[:half], y[2 * half:]])
        w_fake = one_hot(y_fake, k)
        z = torch.randn(n, self.cfg.latent_dim, generator=gen, device=self.device)
        fake = g(z, w_fake)
        # Discriminator: one forward over real and fake, each with its asked class; the probe learns
        # the classes of the real images on detached features.
        adv, probe = d(torch.cat([real, fake.detach()]), torch.cat([w, w_fake]), True)
        d_real, d_fake, probe_real = adv[:n], adv[n:], probe[:n]
        d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
                  + F.cross_entropy(probe_real, y))
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["discriminator"].step()
        # Generator: -log D(G(z, c), c), plus the probe's class loss on its samples, plus the
        # mode-seeking term: 1 / (image distance / latent distance) of the pairs, so that two latents
        # of one class give two different garments (without it every class collapsed to nearly one
        # image: a conditional generator can satisfy this discriminator while ignoring z).
        g_adv, g_probe = d(fake, w_fake, False)
        ratio = ((fake[:half] - fake[half:2 * half]).abs().mean()
                 / (z[:half] - z[half:2 * half]).abs().mean().clamp_min(1e-8)) if half else fake.new_ones(())
        g_loss = (F.binary_cross_entropy_with_logits(g_adv, torch.ones_like(g_adv))
                  + self.PROBE_WEIGHT * F.cross_entropy(g_probe, y_fake)
                  + self.MODE_SEEKING_WEIGHT / (ratio + 1e-5))
        self.optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["generator"].step()
        return {"d_loss": d_loss.item() * n, "g_loss": g_loss.item() * n,
                "d_x": torch.sigmoid(d_real).sum().item(), "d_g_z": torch.sigmoid(d_fake).sum().item(),
                "class_acc_real": (probe_real.argmax(1) == y).sum().item(),
                "class_acc_fake": (g_probe.argmax(1) == y_fake).sum().item(),
                "pair_distance_ratio": ratio.item() * n}

    @torch.no_grad()
    def evaluate(self, test):
        """The discriminator's class probe on the test images (how well it can teach G the classes)."""
        d = unwrap(self.modules["discriminator"]).eval()
        correct = 0
        for i in range(0, len(test), 1000):
            x = self.prepare(torch.from_numpy(test.images[i:i + 1000]))
            y = torch.from_numpy(test.labels[i:i + 1000]).to(self.device)
            w = one_hot(y, num_classes(self.cfg))
            correct += int((d(x, w)[1].argmax(1) == y).sum())
        d.train()
        return {"test_class_accuracy": correct / max(len(test), 1)}

    def print_line(self, epoch, row):
        return (f"Epoch {epoch}/{self.cfg.epochs}  D loss: {row['d_loss']:.3f}  G loss: {row['g_loss']:.3f}"
                f"  D(x): {row['d_x']:.3f}  D(G(z)): {row['d_g_z']:.3f}  pair ratio: {row['pair_distance_ratio']:.3f}"
                f"  class acc of samples: "
                f"{row['class_acc_fake']:.3f}  | D's probe on test: {row['test_class_accuracy']:.3f}")

    @torch.no_grad()
    def samples_png(self) -> bytes:
        g = unwrap(self.modules["generator"]).eval()
        images = (g(*class_grid_inputs(self.cfg, self.device)).cpu().numpy() + 1) / 2
        g.train()
        return sample_grid_png(images, cols=GRID_COLUMNS)


class CVAEFamily(_families.VAEFamily):
    """Conditional VAE: -ELBO of x given its class; the encoder sees the image only (a style encoder),
    the decoder takes the one-hot class weights as well (the VAE's step and test pass, with that input)."""

    module = "cvae"

    def classes(self, y):
        return (one_hot(y.to(self.device), num_classes(self.cfg)),)

    @torch.no_grad()
    def samples_png(self) -> bytes:
        cvae = unwrap(self.modules["cvae"]).eval()
        images = torch.sigmoid(cvae.decoder(*class_grid_inputs(self.cfg, self.device))).cpu().numpy()
        cvae.train()
        return sample_grid_png(np.asarray(images), cols=GRID_COLUMNS)


_families.FAMILY_CLASSES.update(cgan=CGANFamily, cvae=CVAEFamily)
_families.CARD_METRICS.update(
    cgan=("d_loss", "g_loss", "d_x", "d_g_z", "class_acc_fake", "pair_distance_ratio", "test_class_accuracy"),
    cvae=("test_neg_elbo", "test_reconstruction", "test_kl", "active_units"),
)
