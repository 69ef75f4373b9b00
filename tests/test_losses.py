"""The VAE's loss terms against closed forms and torch.distributions: KL, reparameterisation, Bernoulli NLL."""

from __future__ import annotations

import math

import tiny_training  # noqa: F401  (one thread before torch loads)

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from training.models import bernoulli_nll, kl_to_standard_normal, reparameterise


@pytest.fixture
def posterior():
    """mu, logvar float64 [N=64, D=5] covering tight, wide and shifted posteriors."""
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(64, 5, generator=gen, dtype=torch.float64) * 2
    logvar = torch.randn(64, 5, generator=gen, dtype=torch.float64) * 1.5
    return mu, logvar


def test_kl_matches_torch_distributions(posterior):
    mu, logvar = posterior
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)
    got = kl_to_standard_normal(mu, logvar)
    assert got.shape == (64,)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_kl_matches_hand_formula_of_two_gaussians(posterior):
    # KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2, summed over dims.
    mu, logvar = posterior
    s1 = torch.exp(0.5 * logvar)
    m2, s2 = 0.0, 1.0
    hand = (math.log(s2) - torch.log(s1) + (s1 ** 2 + (mu - m2) ** 2) / (2 * s2 ** 2) - 0.5).sum(1)
    torch.testing.assert_close(kl_to_standard_normal(mu, logvar), hand, rtol=1e-12, atol=1e-12)


def test_kl_is_zero_only_at_the_prior_and_positive_elsewhere(posterior):
    zeros = torch.zeros(3, 4)
    assert torch.equal(kl_to_standard_normal(zeros, zeros), torch.zeros(3))
    assert (kl_to_standard_normal(*posterior) > 0).all()


def test_kl_monte_carlo_agrees_with_closed_form():
    # E_q[log q(z) - log p(z)] over many samples of q, for one 3-D posterior.
    mu = torch.tensor([[0.7, -1.2, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(0.25), math.log(3.0)]], dtype=torch.float64)
    eps = torch.randn(400_000, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    z = reparameterise(mu, logvar, eps)
    q, p = Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(1).mean()
    assert float(mc) == pytest.approx(float(kl_to_standard_normal(mu, logvar)), abs=0.01)


def test_reparameterisation_statistics():
    mu = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    logvar = torch.tensor([0.0, math.log(4.0), math.log(0.25), -6.0], dtype=torch.float64)
    eps = torch.randn(200_000, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    z = reparameterise(mu, logvar, eps)
    var = torch.exp(logvar)
    # Standard errors: sqrt(var/n) for the mean, var*sqrt(2/n) for the variance; allow 5 of them.
    n = eps.shape[0]
    assert torch.all((z.mean(0) - mu).abs() < 5 * torch.sqrt(var / n))
    assert torch.all((z.var(0) - var).abs() < 5 * var * math.sqrt(2 / n))


def test_reparameterisation_is_differentiable_in_mu_and_logvar():
    mu = torch.tensor([[0.3, -0.4]], requires_grad=True)
    logvar = torch.tensor([[0.2, -1.0]], requires_grad=True)
    eps = torch.tensor([[1.5, -0.5]])
    reparameterise(mu, logvar, eps).sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)


def test_bernoulli_nll_matches_hand_bce():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 1, 4, 4, generator=gen, dtype=torch.float64) * 3
    x = torch.rand(6, 1, 4, 4, generator=gen, dtype=torch.float64)  # grayscale levels, not just 0/1
    x[0] = (x[0] > 0.5).double()
    p = torch.sigmoid(logits)
    hand = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
    got = bernoulli_nll(logits, x)
    assert got.shape == (6,)
    torch.testing.assert_close(got, hand, rtol=1e-10, atol=1e-10)
    # For binary pixels it is exactly the Bernoulli log-likelihood.
    torch.testing.assert_close(got[0], -Bernoulli(logits=logits[0]).log_prob(x[0]).sum(), rtol=1e-10, atol=1e-10)


def test_bernoulli_nll_is_stable_for_saturated_logits():
    logits = torch.tensor([[[[100.0, -100.0], [100.0, -100.0]]]])
    x = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    nll = bernoulli_nll(logits, x)
    assert torch.isfinite(nll).all()
    assert float(nll) == pytest.approx(200.0, rel=1e-6)  # two confident wrong pixels cost 100 nats each


def test_bernoulli_nll_per_image_sums_pixels():
    """A 28x28 image at logit 0 costs 784 * log 2 nats: the untrained VAE's starting loss."""
    nll = bernoulli_nll(torch.zeros(2, 1, 28, 28), torch.rand(2, 1, 28, 28))
    torch.testing.assert_close(nll, torch.full((2,), 784 * math.log(2.0)))
