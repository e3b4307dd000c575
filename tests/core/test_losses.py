"""ltlab.losses: formulas against independent computations, the epsilon convention, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ltlab import losses as L


def _random_case(seed: int, n: int = 7, c: int = 5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=g, dtype=torch.float64) * 3
    targets = torch.randint(0, c, (n,), generator=g)
    prior = torch.rand(c, generator=g, dtype=torch.float64) + 0.01
    prior = prior / prior.sum()
    return logits, targets, prior


def _manual_ce(z, y):
    """-log softmax(z)_y, averaged, written out with exp and log."""
    return torch.stack([-(z[i, y[i]] - torch.log(torch.exp(z[i]).sum())) for i in range(len(y))]).mean()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), tau=st.floats(-2, 3))
def test_la_loss_equals_ce_of_shifted_logits(seed, tau):
    z, y, prior = _random_case(seed)
    lp = torch.log(prior)
    got = L.logit_adjusted_cross_entropy(z, y, lp, tau)
    want = _manual_ce(z + tau * lp, y)
    assert torch.allclose(got, want, atol=1e-9)


def test_la_loss_is_the_pairwise_margin_form():
    # Menon et al. Eq. 10: log(1 + sum_{y' != y} (pi_y'/pi_y)^tau exp(z_y' - z_y))
    z, y, prior = _random_case(3)
    tau = 1.5
    terms = []
    for i in range(len(y)):
        s = sum((prior[j] / prior[y[i]]) ** tau * torch.exp(z[i, j] - z[i, y[i]])
                for j in range(z.shape[1]) if j != y[i])
        terms.append(torch.log1p(s))
    want = torch.stack(terms).mean()
    assert torch.allclose(L.logit_adjusted_cross_entropy(z, y, prior.log(), tau), want, atol=1e-9)


def test_tau_zero_is_plain_ce_and_balanced_softmax_is_tau_one():
    z, y, prior = _random_case(1)
    lp = L.log_prior_of(prior)
    assert torch.allclose(L.logit_adjusted_cross_entropy(z, y, lp, 0.0), F.cross_entropy(z, y))
    assert torch.allclose(L.balanced_softmax_cross_entropy(z, y, lp),
                          L.logit_adjusted_cross_entropy(z, y, lp, 1.0))
    # balanced softmax written as -log(pi_y e^z_y / sum_j pi_j e^z_j)
    p = prior.double()
    num = p[y] * torch.exp(z[torch.arange(len(y)), y])
    den = (p[None] * torch.exp(z)).sum(1)
    assert torch.allclose(L.balanced_softmax_cross_entropy(z, y, p.log()), -(num / den).log().mean())


def test_soft_targets_match_mixed_hard_targets():
    z, y, prior = _random_case(2)
    y2 = torch.roll(y, 1)
    lam = 0.3
    soft = lam * F.one_hot(y, 5).double() + (1 - lam) * F.one_hot(y2, 5).double()
    lp = prior.log()
    mixed = lam * L.logit_adjusted_cross_entropy(z, y, lp) + (1 - lam) * L.logit_adjusted_cross_entropy(z, y2, lp)
    assert torch.allclose(L.logit_adjusted_cross_entropy(z, soft, lp), mixed)
    fl = lam * L.focal_loss(z, y) + (1 - lam) * L.focal_loss(z, y2)
    assert torch.allclose(L.focal_loss(z, soft), fl)
    m = L.ldam_margins([50, 20, 10, 5, 1])
    ld = lam * L.ldam_loss(z, y, m) + (1 - lam) * L.ldam_loss(z, y2, m)
    assert torch.allclose(L.ldam_loss(z, soft, m), ld)


def test_adjust_logits_subtracts_and_recovers_the_balanced_bayes_rule():
    z, _, prior = _random_case(4)
    lp = prior.log()
    assert torch.allclose(L.adjust_logits(z, lp, 0.5), z - 0.5 * lp)
    # with z = log p_train(y|x), argmax of the adjusted logits is argmax p(y|x)/pi_y
    post = torch.softmax(z, 1)
    assert torch.equal(L.adjust_logits(post.log(), lp).argmax(1), (post / prior).argmax(1))


def test_epsilon_convention_and_empty_class():
    prior = torch.tensor([0.7, 0.3, 0.0])
    lp = L.log_prior_of(prior)
    assert lp[0].item() == pytest.approx(math.log(0.7), abs=1e-6)
    assert lp[2].item() == pytest.approx(math.log(1e-12), rel=1e-6)  # eps inside the log
    # agrees with the Google reference log(pi^tau + 1e-12) and BalPoE's tau*log(pi+1e-9)
    tau = 1.0
    assert torch.allclose(tau * lp[:2], torch.log(prior[:2] ** tau + 1e-12), atol=1e-6)
    assert torch.allclose(tau * lp[:2], tau * torch.log(prior[:2] + 1e-9), atol=1e-6)
    # an empty class keeps the loss and its gradient finite
    z = torch.randn(4, 3, requires_grad=True)
    loss = L.logit_adjusted_cross_entropy(z, torch.tensor([0, 1, 0, 1]), lp)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert torch.allclose(L.log_prior_from_counts([7, 3, 0]), lp)
    assert torch.allclose(L.log_prior_from_counts([7, 3, 0]), torch.log(torch.tensor([0.7, 0.3, 0.0]) + 1e-12))


def test_log_of_a_zero_prior_is_rejected_with_advice():
    with pytest.raises(ValueError, match="log_prior_of"):
        L.logit_adjusted_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]),
                                       torch.log(torch.tensor([0.5, 0.5, 0.0])))


@pytest.mark.parametrize(
    "args, match",
    [
        ((torch.zeros(2, 3), torch.tensor([0, 1]), torch.zeros(4)), "length 3"),
        ((torch.zeros(2, 3), torch.tensor([0, 3]), torch.zeros(3)), r"\[0, 2\]"),
        ((torch.zeros(2, 3), torch.tensor([0, 1, 2]), torch.zeros(3)), "2 rows"),
        ((torch.zeros(2, 3, 4), torch.tensor([0, 1]), torch.zeros(4)), r"\[N, C\]"),
        ((torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(3)), "soft targets"),
    ],
)
def test_bad_input_raises_clear_errors(args, match):
    with pytest.raises(ValueError, match=match):
        L.logit_adjusted_cross_entropy(*args)


def test_bad_tau_and_bad_prior():
    with pytest.raises(ValueError, match="tau"):
        L.adjust_logits(torch.zeros(2, 3), torch.zeros(3), tau=float("nan"))
    with pytest.raises(ValueError, match="sum to 1"):
        L.log_prior_of([0.5, 0.6])
    with pytest.raises(ValueError, match="non-negative"):
        L.log_prior_from_counts([3, -1])


def test_focal_loss_formula():
    z, y, _ = _random_case(5)
    p = torch.softmax(z, 1)[torch.arange(len(y)), y]
    assert torch.allclose(L.focal_loss(z, y, gamma=2.0), (-(1 - p) ** 2 * p.log()).mean())
    assert torch.allclose(L.focal_loss(z, y, gamma=0.0), F.cross_entropy(z, y))


def test_class_balanced_weights_and_loss():
    counts = torch.tensor([1000.0, 100.0, 10.0])
    beta = 0.999
    eff = (1 - beta ** counts) / (1 - beta)
    w = (1 / eff) / (1 / eff).sum() * 3
    assert torch.allclose(L.class_balanced_weights(counts, beta), w.float())
    assert torch.allclose(L.class_balanced_weights(counts, 0.0), torch.ones(3))
    # beta -> 1: inverse frequency
    inv = (1 / counts) / (1 / counts).sum() * 3
    assert torch.allclose(L.class_balanced_weights(counts, 1 - 1e-9), inv.float(), rtol=1e-3)
    z, y, _ = _random_case(6, c=3)
    ce = F.cross_entropy(z, y, reduction="none")
    assert torch.allclose(L.class_balanced_cross_entropy(z, y, counts, beta), (w.double()[y] * ce).mean())


def test_ldam_margins_and_loss():
    counts = torch.tensor([256.0, 16.0, 1.0])
    m = L.ldam_margins(counts, max_margin=0.5)
    assert torch.allclose(m, torch.tensor([0.125, 0.25, 0.5]))
    cos = torch.tensor([[0.2, 0.9, -0.1], [0.5, 0.1, 0.3]])
    y = torch.tensor([1, 2])
    s = 30.0
    # reference: output = s * where(onehot, cos - m_y, cos)
    ref = s * torch.where(F.one_hot(y, 3).bool(), cos - m[y][:, None], cos)
    assert torch.allclose(L.ldam_loss(s * cos, y, m, scale=s), F.cross_entropy(ref, y))
    w = torch.tensor([0.5, 1.0, 1.5])
    want = (w[y] * F.cross_entropy(ref, y, reduction="none")).sum() / w[y].sum()
    assert torch.allclose(L.ldam_loss(s * cos, y, m, scale=s, weight=w), want)
    with pytest.raises(ValueError, match="empty classes"):
        L.ldam_margins([3, 0])


def test_weighted_ldam_is_torchs_weighted_cross_entropy_on_the_shifted_logits():
    """The reference reduces the re-weighted LDAM loss with torch's weighted mean
    (sum_n w_{y_n} CE_n / sum_n w_{y_n}), not / N: the DRW phase keeps its size."""
    g = torch.Generator().manual_seed(3)
    cos = torch.rand(64, 6, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.randint(0, 6, (64,), generator=g)
    counts = torch.tensor([500, 200, 80, 30, 10, 3])
    m = L.ldam_margins(counts).double()
    w = L.class_balanced_weights(counts, 0.9999).double()
    s = 30.0
    shifted = cos - F.one_hot(y, 6).double() * m[y][:, None]  # margin on the true class only
    want = F.cross_entropy(shifted * s, y, weight=w)
    got = L.ldam_loss(s * cos, y, m, scale=s, weight=w)
    assert torch.allclose(got, want)
    # scaling every weight leaves the weighted mean unchanged; dividing by N would not
    assert torch.allclose(L.ldam_loss(s * cos, y, m, scale=s, weight=7 * w), want)
    assert not torch.allclose(got, (w[y] * F.cross_entropy(shifted * s, y, reduction="none")).mean())
    # one-hot soft targets give the same value as class indices
    soft = F.one_hot(y, 6).double()
    assert torch.allclose(L.ldam_loss(s * cos, soft, m, scale=s, weight=w), want)


class _Batch:
    def __init__(self, x, y):
        self.x, self.y, self.y_mix, self.lam = x, y, None, 1.0

    def mix_loss(self, fn):
        return fn(self.y)


class _Data:
    train_counts = torch.tensor([30, 10, 3])


def test_methods_compute_their_losses_and_predictions():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 0, 1])
    batch = _Batch(x, y)
    lp = L.log_prior_from_counts(_Data.train_counts)
    z = model(x)
    cases = {
        L.CrossEntropyPostHoc(tau=1.0): (F.cross_entropy(z, y), z - lp),
        L.LogitAdjustedLoss(tau=0.5): (L.logit_adjusted_cross_entropy(z, y, lp, 0.5), z),
        L.BalancedSoftmax(): (L.balanced_softmax_cross_entropy(z, y, lp), z),
        L.FocalLoss(gamma=1.0): (L.focal_loss(z, y, 1.0), z),
        L.ClassBalancedLoss(beta=0.99): (
            L.class_balanced_cross_entropy(z, y, _Data.train_counts, 0.99), z),
    }
    for method, (loss, pred) in cases.items():
        method.setup(model, _Data(), 10, "cpu")
        assert torch.allclose(method.loss(model, batch, 0), loss, atol=1e-6), method
        assert torch.allclose(method.predict(model, x), pred, atol=1e-6), method
    ldam = L.LDAMDRW(drw_start=0.5, beta=0.99)
    ldam.setup(model, _Data(), 10, "cpu")
    m = L.ldam_margins(_Data.train_counts)
    assert torch.allclose(ldam.loss(model, batch, 4), L.ldam_loss(z, y, m))
    w = L.class_balanced_weights(_Data.train_counts, 0.99)
    assert torch.allclose(ldam.loss(model, batch, 5), L.ldam_loss(z, y, m, weight=w))


def test_method_without_prior_says_what_to_do():
    with pytest.raises(ValueError, match="setup"):
        L.LogitAdjustedLoss().loss(torch.nn.Linear(2, 3), _Batch(torch.zeros(1, 2), torch.tensor([0])), 0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: L.focal_loss(torch.zeros(2, 3), torch.tensor([0, 1]), gamma=-1.0), "gamma must be >= 0"),
        (lambda: L.focal_loss(torch.zeros(2, 3), torch.tensor([0, 1]), weight=torch.ones(2)),
         "weight must be a finite vector of length 3"),
        (lambda: L.ldam_loss(torch.zeros(2, 3), torch.tensor([0, 1]), torch.ones(3),
                             weight=torch.tensor([1.0, -1.0, 1.0])), "weight must be non-negative"),
        (lambda: L.ldam_loss(torch.zeros(2, 3), torch.tensor([0, 1]), torch.ones(4)), "margins"),
        (lambda: L.class_balanced_weights([10, 1], beta=1.0), r"beta must lie in \[0, 1\)"),
        (lambda: L.ClassBalancedLoss(base="hinge"), "base must be one of 'ce', 'focal'"),
        (lambda: L.LDAMDRW(drw_start=1.5), "drw_start"),
        (lambda: L.log_prior_of([0.5, 0.5], eps=0.0), "eps must be > 0"),
        (lambda: L.log_prior_from_counts([2.5, 1.0]), "whole numbers"),
        (lambda: L.logit_adjusted_cross_entropy(torch.zeros(2, 3), torch.tensor([0.0, 1.0]),
                                                torch.zeros(3)), "integer class indices"),
    ],
)
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
