"""The class-conditional families: cgan (AC-GAN) and cvae. What differs from the GAN and the VAE is
only here; the loop, run folder, checkpoints, resume and torchrun support are train.py's.

Both take class weights [N, K] (one-hot rows of the batch labels in training; blends in the app),
embedded linearly (``training/models.py``). Why an auxiliary classifier and not a projection
discriminator: docs in assets/models/README.md ("fashion-cgan"). In short: the bars are judged by a
classifier, and AC-GAN's class loss trains the generator straight at "looks like class c to a
classifier of real garments" (the discriminator's class head learns on real images only here), which
a short CPU run reaches in a few epochs; its known cost, less variety inside a class, is measured by
the per-class spread bar.

Importing this module registers both families in ``families.FAMILY_CLASSES`` (families.py imports it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from . import families as _families
from .families import GANFamily, Family, fixed_noise, sample_grid_png, unwrap
from .models import bernoulli_nll, kl_to_standard_normal, num_classes

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
    """AC-GAN: D gives a real/fake logit and class logits. D's class loss is on real images only;
    G's loss is the non-saturating GAN loss plus the class loss of its samples under D's head."""

    CLASS_WEIGHT = 1.0  # of the class losses next to the real/fake ones

    def step(self, x, y, gen):
        g, d = self.modules["generator"], self.modules["discriminator"]
        real = self.prepare(x)
        n, k = real.shape[0], num_classes(self.cfg)
        y = y.to(self.device)
        w = one_hot(y, k)
        z = torch.randn(n, self.cfg.latent_dim, generator=gen, device=self.device)
        fake = g(z, w)
        adv, cls = d(torch.cat([real, fake.detach()]))
        d_real, d_fake, cls_real = adv[:n], adv[n:], cls[:n]
        d_class = F.cross_entropy(cls_real, y)
        d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
                  + self.CLASS_WEIGHT * d_class)
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["discriminator"].step()
        g_adv, g_cls = d(fake)
        g_class = F.cross_entropy(g_cls, y)
        g_loss = F.binary_cross_entropy_with_logits(g_adv, torch.ones_like(g_adv)) + self.CLASS_WEIGHT * g_class
        self.optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["generator"].step()
        return {"d_loss": d_loss.item() * n, "g_loss": g_loss.item() * n,
                "d_x": torch.sigmoid(d_real).sum().item(), "d_g_z": torch.sigmoid(d_fake).sum().item(),
                "class_acc_real": (cls_real.argmax(1) == y).sum().item(),
                "class_acc_fake": (g_cls.argmax(1) == y).sum().item()}

    @torch.no_grad()
    def evaluate(self, test):
        """The discriminator's class head on the test images (how well it can teach G the classes)."""
        d = unwrap(self.modules["discriminator"]).eval()
        correct = 0
        for i in range(0, len(test), 1000):
            x = self.prepare(torch.from_numpy(test.images[i:i + 1000]))
            y = torch.from_numpy(test.labels[i:i + 1000]).to(self.device)
            correct += int((d(x)[1].argmax(1) == y).sum())
        d.train()
        return {"test_class_accuracy": correct / max(len(test), 1)}

    def print_line(self, epoch, row):
        return (f"Epoch {epoch}/{self.cfg.epochs}  D loss: {row['d_loss']:.3f}  G loss: {row['g_loss']:.3f}"
                f"  D(x): {row['d_x']:.3f}  D(G(z)): {row['d_g_z']:.3f}  class acc of samples: "
                f"{row['class_acc_fake']:.3f}  | D's head on test: {row['test_class_accuracy']:.3f}")

    @torch.no_grad()
    def samples_png(self) -> bytes:
        g = unwrap(self.modules["generator"]).eval()
        images = (g(*class_grid_inputs(self.cfg, self.device)).cpu().numpy() + 1) / 2
        g.train()
        return sample_grid_png(images, cols=GRID_COLUMNS)


class CVAEFamily(Family):
    """Conditional VAE: -ELBO of x given its class; the encoder sees the image only (a style encoder)."""

    def step(self, x, y, gen):
        cvae = self.modules["cvae"]
        x = self.prepare(x)
        w = one_hot(y.to(self.device), num_classes(self.cfg))
        eps = torch.randn(x.shape[0], self.cfg.latent_dim, generator=gen, device=self.device)
        logits, mu, logvar = cvae(x, w, eps)
        rec, kl = bernoulli_nll(logits, x), kl_to_standard_normal(mu, logvar)
        loss = (rec + kl).mean()
        opt = self.optimizers["cvae"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n = x.shape[0]
        return {"loss": loss.item() * n, "reconstruction": rec.sum().item(), "kl": kl.sum().item()}

    @torch.no_grad()
    def evaluate(self, test):
        cvae = unwrap(self.modules["cvae"]).eval()
        gen = torch.Generator(device=self.device).manual_seed(12345)
        k = num_classes(self.cfg)
        rec_sum = kl_sum = 0.0
        kl_dims = torch.zeros(self.cfg.latent_dim, dtype=torch.float64)
        mus = []
        for i in range(0, len(test), 500):
            x = self.prepare(torch.from_numpy(test.images[i:i + 500]))
            w = one_hot(torch.from_numpy(test.labels[i:i + 500]).to(self.device), k)
            mu, logvar = cvae.encoder(x)
            eps = torch.randn(mu.shape, generator=gen, device=self.device)
            logits = cvae.decoder(mu + torch.exp(0.5 * logvar) * eps, w)
            rec_sum += float(bernoulli_nll(logits, x).sum())
            kl_per = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
            kl_sum += float(kl_per.sum())
            kl_dims += kl_per.sum(0).double().cpu()
            mus.append(mu.cpu())
        cvae.train()
        n = max(len(test), 1)
        mu_var = torch.cat(mus).double().var(0) if len(test) > 1 else torch.zeros(self.cfg.latent_dim)
        return {"test_neg_elbo": (rec_sum + kl_sum) / n, "test_reconstruction": rec_sum / n,
                "test_kl": kl_sum / n, "kl_per_dim": [round(float(v) / n, 5) for v in kl_dims],
                "active_units": int((mu_var > 0.01).sum())}

    def print_line(self, epoch, row):
        return (f"Epoch {epoch}/{self.cfg.epochs}  Loss: {row['loss']:.2f}  Reconstruction: {row['reconstruction']:.2f}"
                f"  KL: {row['kl']:.2f}  | test -ELBO: {row['test_neg_elbo']:.2f}  active units: {row['active_units']}")

    @torch.no_grad()
    def samples_png(self) -> bytes:
        cvae = unwrap(self.modules["cvae"]).eval()
        images = torch.sigmoid(cvae.decoder(*class_grid_inputs(self.cfg, self.device))).cpu().numpy()
        cvae.train()
        return sample_grid_png(np.asarray(images), cols=GRID_COLUMNS)


_families.FAMILY_CLASSES.update(cgan=CGANFamily, cvae=CVAEFamily)
_families.CARD_METRICS.update(
    cgan=("d_loss", "g_loss", "d_x", "d_g_z", "class_acc_fake", "test_class_accuracy"),
    cvae=("test_neg_elbo", "test_reconstruction", "test_kl", "active_units"),
)
