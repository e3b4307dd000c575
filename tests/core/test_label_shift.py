"""ltlab.label_shift: EM (Saerens) and BBSE against exact Gaussian-mixture posteriors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ltlab.data import GaussianMixtureLT
from ltlab.label_shift import (
    bbse_prior,
    calibrated_probs,
    confusion_matrix,
    em_prior,
    reweight_posteriors,
)
from ltlab.priors import kl_divergence, shifted_prior


@pytest.fixture(scope="module")
def mixture():
    return GaussianMixtureLT(num_classes=5, dim=2, imbalance_ratio=20, radius=4.0, std=1.0)


@pytest.mark.parametrize("direction,rho", [("backward", 20), ("forward", 5), ("uniform", 1)])
def test_em_recovers_shifted_prior_from_exact_posteriors(mixture, direction, rho):
    q = shifted_prior(5, rho, direction)
    x, y = mixture.sample(20000, prior=q, seed=11)
    probs = mixture.bayes_posterior(x)  # exact posteriors under the *train* prior
    prior, adapted = em_prior(probs, mixture.train_prior)
    empirical = torch.bincount(y, minlength=5).float() / y.numel()
    assert kl_divergence(prior, q) < 2e-3
    assert kl_divergence(empirical, prior) < 2e-3
    # the adapted posteriors are the exact posteriors under the estimated prior
    exact = mixture.bayes_posterior(x, prior)
    assert torch.allclose(adapted, exact, atol=1e-4)
    # and the fixed point holds: the estimate is the mean adapted posterior
    assert torch.allclose(adapted.mean(0), prior, atol=1e-6)


def test_em_beats_the_naive_mean_of_posteriors(mixture):
    q = shifted_prior(5, 20, "backward")
    x, _ = mixture.sample(10000, prior=q, seed=3)
    probs = mixture.bayes_posterior(x)
    prior, _ = em_prior(probs, mixture.train_prior)
    naive = probs.mean(0)
    assert kl_divergence(prior, q) < 0.2 * kl_divergence(naive, q)


def test_em_one_step_matches_hand_computation():
    probs = torch.tensor([[0.7, 0.3], [0.4, 0.6]], dtype=torch.float64)
    prior, adapted = em_prior(probs, [0.5, 0.5], max_iter=1)
    # first M-step from pi_s: the plain mean; then the E-step re-weights by pi / pi_s
    mean = probs.mean(0)
    w = mean / 0.5
    expect = probs * w / (probs * w).sum(1, keepdim=True)
    assert torch.allclose(prior.double(), mean, atol=1e-7)
    assert torch.allclose(adapted.double(), expect, atol=1e-6)


def test_reweight_posteriors_is_bayes_rule(mixture):
    x, _ = mixture.sample(500, seed=1)
    q = shifted_prior(5, 10, "backward")
    got = reweight_posteriors(mixture.bayes_posterior(x), mixture.train_prior, q)
    assert torch.allclose(got, mixture.bayes_posterior(x, q), atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(1, 40), st.integers(0, 10_000))
def test_em_output_is_a_prior(num_classes, n, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(n, num_classes, generator=g), 1)
    train = torch.softmax(torch.randn(num_classes, generator=g), 0)
    prior, adapted = em_prior(probs, train, max_iter=200)
    assert prior.shape == (num_classes,)
    assert (prior >= 0).all() and math.isclose(float(prior.sum()), 1.0, abs_tol=1e-5)
    assert torch.allclose(adapted.sum(1), torch.ones(n), atol=1e-5)


def test_bbse_recovers_shifted_prior(mixture):
    q = shifted_prior(5, 20, "backward")
    xs, ys = mixture.sample(30000, seed=5)  # labeled source data
    xt, _ = mixture.sample(30000, prior=q, seed=6)
    for soft in (False, True):
        est = bbse_prior(mixture.bayes_posterior(xs), ys, mixture.bayes_posterior(xt), soft=soft)
        assert est.shape == (5,) and math.isclose(float(est.sum()), 1.0, abs_tol=1e-5)
        assert kl_divergence(est, q) < 0.01


def test_confusion_matrix_hard_and_soft():
    y = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 1, 1, 1])
    cm = confusion_matrix(pred, y, 2)
    assert torch.allclose(cm, torch.tensor([[0.25, 0.0], [0.25, 0.5]], dtype=torch.float64))
    probs = torch.tensor([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9], [0.3, 0.7]])
    soft = confusion_matrix(probs, y, 2)
    assert torch.allclose(soft.sum(0), torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert math.isclose(float(soft[0, 0]), (0.8 + 0.5) / 4, abs_tol=1e-6)


@pytest.mark.parametrize("bad,match", [
    (torch.tensor([[0.5, 0.6]]), "sum to 1"),
    (torch.tensor([[float("nan"), 1.0]]), "NaN"),
    (torch.tensor([[-0.1, 1.1]]), r"\[0, 1\]"),
    (torch.tensor([0.5, 0.5]), r"\[N, C\]"),
])
def test_bad_probabilities_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        em_prior(bad, [0.5, 0.5])
    with pytest.raises(ValueError, match=match):
        reweight_posteriors(bad, [0.5, 0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match=match):
        bbse_prior(bad, torch.tensor([0]), torch.tensor([[0.5, 0.5]]))


def test_bad_train_prior_raises():
    probs = torch.tensor([[0.5, 0.5]])
    with pytest.raises(ValueError, match="sum to 1"):
        em_prior(probs, [0.5, 0.6])
    with pytest.raises(ValueError, match="zero entries"):
        em_prior(probs, [1.0, 0.0])
    with pytest.raises(ValueError, match="classes"):
        em_prior(probs, [0.2, 0.3, 0.5])


def test_posteriors_are_renormalised():
    """Rows off 1 by rounding (within the tolerance) are divided by their sum, as the old
    ``check_probs`` did: the soft BBSE estimate does not see the rounding."""
    g = torch.Generator().manual_seed(0)
    src = torch.randn(200, 3, generator=g, dtype=torch.float64).softmax(1)
    tgt = torch.randn(100, 3, generator=g, dtype=torch.float64).softmax(1)
    y = torch.multinomial(src, 1, generator=g).flatten()
    def off(p):  # every other row sums to 1 + 5e-4 (inside the tolerance), the rest to 1
        scale = 1 + 5e-4 * (torch.arange(len(p)) % 2 == 0)
        return p * scale[:, None]

    exact = bbse_prior(src, y, tgt, soft=True)
    rounded = bbse_prior(off(src), y, off(tgt), soft=True)
    assert torch.allclose(rounded.double(), exact.double(), atol=1e-7, rtol=0)


def test_calibrated_probs_by_hand():
    z = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    got = calibrated_probs(z, 2.0, torch.tensor([0.0, 1.0]))
    assert got[0].tolist() == pytest.approx([0.5, 0.5])  # [1, 0] + [0, 1]
    e = math.e
    assert got[1].tolist() == pytest.approx([1 / (1 + e), e / (1 + e)])
    assert torch.allclose(calibrated_probs(z, 1.0), z.softmax(1))


def test_no_forwarded_names_before_the_release():
    import ltlab.label_shift as label_shift

    for name in ("check_probs", "fit_bias_corrected_temperature"):
        assert not hasattr(label_shift, name), name  # as_probs / ltlab.metrics
