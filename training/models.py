"""The three model families, small enough to read top to bottom.

Shapes: images float32 [N, C, S, S] with S divisible by 4; latents float32 [N, D].
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import TrainConfig


def _check_size(cfg: TrainConfig) -> int:
    if cfg.image_size % 4 or cfg.image_size < 8:
        raise ValueError(f"image size must be a multiple of 4 and at least 8, got {cfg.image_size}")
    return cfg.image_size // 4


# ---- VAE -----------------------------------------------------------------------------------------

class Encoder(nn.Module):
    """image in [0, 1] [N, C, S, S] -> (mu, logvar) [N, D]."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        s, w = _check_size(cfg), cfg.width
        self.conv = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 3, 1, 1), nn.LeakyReLU(0.2),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * s * s, 192), nn.LeakyReLU(0.2))
        self.mu = nn.Linear(192, cfg.latent_dim)
        self.logvar = nn.Linear(192, cfg.latent_dim)

    def forward(self, x):
        h = self.fc(self.conv(x))
        return self.mu(h), self.logvar(h)


def _upsampling_stack(cfg: TrainConfig, norm: bool) -> nn.Sequential:
    """[N, 2w, S/4, S/4] -> [N, C, S, S]: one conv at S/4, nearest 2x, two convs at S/2, and a
    transposed conv straight to the image. The app decodes through this, so it is shaped for speed:
    onnxruntime runs 3x3 convs in its blocked layout, and nothing wide ever runs at full resolution.
    ``norm``: batch norm + ReLU (GAN generator) instead of leaky ReLU (VAE decoder)."""
    w = cfg.width

    def act(c):
        return [nn.BatchNorm2d(c), nn.ReLU()] if norm else [nn.LeakyReLU(0.2)]

    return nn.Sequential(
        nn.Conv2d(2 * w, 2 * w, 3, 1, 1, bias=not norm), *act(2 * w),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(2 * w, w, 3, 1, 1, bias=not norm), *act(w),
        nn.Conv2d(w, w, 3, 1, 1, bias=not norm), *act(w),
        nn.ConvTranspose2d(w, cfg.channels, 4, 2, 1),
    )


HIDDEN = 256  # width of the decoder's first hidden layer: one GEMM, cheap next to the convolutions


class Decoder(nn.Module):
    """z [N, D] -> pixel logits [N, C, S, S] (sigmoid gives Bernoulli means in [0, 1])."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        s, w = _check_size(cfg), cfg.width
        self.shape = (2 * w, s, s)
        self.fc = nn.Sequential(nn.Linear(cfg.latent_dim, HIDDEN), nn.LeakyReLU(0.2),
                                nn.Linear(HIDDEN, 2 * w * s * s), nn.LeakyReLU(0.2))
        self.deconv = _upsampling_stack(cfg, norm=False)

    def forward(self, z):
        return self.deconv(self.fc(z).view(-1, *self.shape))


class VAE(nn.Module):
    def __init__(self, cfg: TrainConfig):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def forward(self, x, eps):
        """Returns (pixel logits, mu, logvar); ``eps`` ~ N(0, I) [N, D] is drawn by the caller (seeded)."""
        mu, logvar = self.encoder(x)
        z = reparameterise(mu, logvar, eps)
        return self.decoder(z), mu, logvar


def reparameterise(mu, logvar, eps):
    """z = mu + sigma * eps: the sample is a differentiable function of (mu, logvar)."""
    return mu + torch.exp(0.5 * logvar) * eps


def kl_to_standard_normal(mu, logvar):
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per row, in nats: [N]."""
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1.0 - logvar, dim=1)


def bernoulli_nll(logits, x):
    """-log p(x | z) summed over pixels, in nats: [N]. ``x`` in [0, 1] (grayscale levels allowed)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


# ---- GAN (DCGAN-style) ---------------------------------------------------------------------------

class Generator(nn.Module):
    """z [N, D] -> image in [-1, 1] [N, C, S, S]. The first layer is linear in z (SeFa reads it)."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        s, w = _check_size(cfg), cfg.width
        self.shape = (2 * w, s, s)
        self.fc = nn.Linear(cfg.latent_dim, 2 * w * s * s, bias=False)
        self.net = nn.Sequential(nn.BatchNorm2d(2 * w), nn.ReLU(), *_upsampling_stack(cfg, norm=True), nn.Tanh())

    def forward(self, z):
        return self.net(self.fc(z).view(-1, *self.shape))


class Discriminator(nn.Module):
    """image in [-1, 1] -> real/fake logit [N]. No batch norm, so one forward may mix real and fake."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        s, w = _check_size(cfg), cfg.width
        self.net = nn.Sequential(
            nn.Conv2d(cfg.channels, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Flatten(), nn.Linear(4 * w * s * s, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)


def init_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) weights, batch-norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# ---- Classifier ----------------------------------------------------------------------------------

class Classifier(nn.Module):
    """image in [0, 1] -> (logits [N, K], features [N, F]); features feed Frechet distance and maps."""

    def __init__(self, cfg: TrainConfig, num_classes: int):
        super().__init__()
        s, w = _check_size(cfg), cfg.width

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.conv = nn.Sequential(
            *block(cfg.channels, w), *block(w, w), nn.MaxPool2d(2),
            *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),
        )
        self.features = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * w * s * s, cfg.feature_dim),
                                      nn.BatchNorm1d(cfg.feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(cfg.feature_dim, num_classes))

    def forward(self, x):
        f = self.features(self.conv(x))
        return self.head(f), f


# ---- Class-conditional GAN (projection discriminator) and VAE ------------------------------------------------------
# Both take class weights [N, K] (one-hot in training) and embed them linearly, weights @ E, added to
# the first layer's pre-activation: a row such as 0.3 / 0.7 is then exactly that mix of the two
# class embeddings, which is what the app's blends slide through.

def num_classes(cfg: TrainConfig) -> int:
    """K, the width of the class weights: one column per class of the data (at least 2)."""
    k = len(cfg.class_names)
    if k < 2:
        raise ValueError(f"a {cfg.family} needs labelled data with at least 2 classes (one subfolder per class), "
                         f"found {k}")
    return k


class CondGenerator(nn.Module):
    """(z [N, D], class_weights [N, K]) -> image in [-1, 1] [N, C, S, S]; the bundled GAN's shape plus
    one [K, 2w*s*s] embedding (K x 3136 multiply-adds at Fashion-MNIST size). Linear in z first (SeFa)."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        s, w = _check_size(cfg), cfg.width
        self.shape = (2 * w, s, s)
        self.fc = nn.Linear(cfg.latent_dim, 2 * w * s * s, bias=False)
        self.embed = nn.Linear(num_classes(cfg), 2 * w * s * s, bias=False)
        self.net = nn.Sequential(nn.BatchNorm2d(2 * w), nn.ReLU(), *_upsampling_stack(cfg, norm=True), nn.Tanh())

    def forward(self, z, class_weights):
        return self.net((self.fc(z) + self.embed(class_weights)).view(-1, *self.shape))


class ProjectionDiscriminator(nn.Module):
    """(image in [-1, 1], class_weights [N, K]) -> (real/fake logit [N], class logits [N, K]).

    The logit is a projection discriminator's (Miyato & Koyama 2018): psi(h) + <weights @ E, h> on the
    features h of the GAN's discriminator trunk, at half its width (the discriminator runs three times
    per image and step and costs most of the training time; at w / 2w channels an epoch takes about
    half as long). The class logits are a linear probe on h: trained on real images with h detached,
    so it never shapes the trunk; the generator gets a small loss through it (``detach_probe=False``).
    No batch norm: one forward may mix real and fake."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        s, w = _check_size(cfg), cfg.width
        self.trunk = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Flatten(),
        )
        self.adv = nn.Linear(2 * w * s * s, 1)
        self.embed = nn.Linear(num_classes(cfg), 2 * w * s * s, bias=False)
        self.probe = nn.Linear(2 * w * s * s, num_classes(cfg))

    def forward(self, x, class_weights, detach_probe: bool = True):
        h = self.trunk(x)
        logit = self.adv(h).squeeze(1) + (self.embed(class_weights) * h).sum(1)
        return logit, self.probe(h.detach() if detach_probe else h)


class CondDecoder(nn.Module):
    """(z [N, D], class_weights [N, K]) -> pixel logits [N, C, S, S]: the VAE decoder with the class
    embedding added to its first hidden layer."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        s, w = _check_size(cfg), cfg.width
        self.shape = (2 * w, s, s)
        self.fc_z = nn.Linear(cfg.latent_dim, HIDDEN)
        self.embed = nn.Linear(num_classes(cfg), HIDDEN, bias=False)
        self.fc = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(HIDDEN, 2 * w * s * s), nn.LeakyReLU(0.2))
        self.deconv = _upsampling_stack(cfg, norm=False)

    def forward(self, z, class_weights):
        return self.deconv(self.fc(self.fc_z(z) + self.embed(class_weights)).view(-1, *self.shape))


class CVAE(nn.Module):
    """A style encoder q(z | x) (the VAE's, no class input) and a class-conditional decoder p(x | z, c):
    the class is given, so the latent is free to hold what the class does not say (the style)."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = CondDecoder(cfg)

    def forward(self, x, class_weights, eps):
        mu, logvar = self.encoder(x)
        return self.decoder(reparameterise(mu, logvar, eps), class_weights), mu, logvar


def build_modules(cfg: TrainConfig) -> dict[str, nn.Module]:
    """The trainable modules of a family, by name (names are checkpoint keys)."""
    if cfg.family == "vae":
        return {"vae": VAE(cfg)}
    if cfg.family == "gan":
        g, d = Generator(cfg), Discriminator(cfg)
        init_dcgan(g)
        init_dcgan(d)
        return {"generator": g, "discriminator": d}
    if cfg.family == "classifier":
        return {"classifier": Classifier(cfg, max(2, len(cfg.class_names)))}
    if cfg.family == "cgan":
        g, d = CondGenerator(cfg), ProjectionDiscriminator(cfg)
        init_dcgan(g)
        init_dcgan(d)
        return {"generator": g, "discriminator": d}
    if cfg.family == "cvae":
        return {"cvae": CVAE(cfg)}
    raise ValueError(f"unknown family {cfg.family!r}")
