"""ltlab.flexda: the prior estimator, the alpha schedule, the losses, the temperature."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ltlab.flexda import (
    PriorEstimator,
    alpha_schedule,
    complementary_consistency_loss,
    flexda_adjustment,
    flexda_consistency_loss,
    flexda_supervised_loss,
    imbalance_temperature,
    pseudo_labels,
    smoothed_prior,
)
from ltlab.priors import kl_divergence, shifted_prior

# ----------------------------------------------------------------------------- estimator


def test_estimator_starts_uniform_and_stays_a_prior():
    est = PriorEstimator(4, prior_momentum=0.9)
    assert torch.allclose(est.prior, torch.full((4,), 0.25, dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        probs = torch.softmax(4 * torch.randn(16, 4, generator=g), 1)
        p = est.update(probs)
        assert p.shape == (4,) and (p >= 0).all()
        assert math.isclose(float(p.sum()), 1.0, abs_tol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 8), st.floats(0.0, 0.999), st.integers(1, 30), st.integers(0, 999))
def test_estimator_output_is_a_prior_property(num_classes, momentum, n, seed):
    est = PriorEstimator(num_classes, momentum=momentum)
    g = torch.Generator().manual_seed(seed)
    for _ in range(3):
        p = est.update(torch.softmax(5 * torch.randn(n, num_classes, generator=g), 1))
    assert p.shape == (num_classes,) and (p >= 0).all()
    assert math.isclose(float(p.sum()), 1.0, abs_tol=1e-9)


def test_estimator_converges_to_a_known_prior():
    target = shifted_prior(10, 50, "backward").double()
    est = PriorEstimator(10, prior_momentum=0.99)
    g = torch.Generator().manual_seed(1)
    for _ in range(800):  # one-hot "predictions" drawn from the target prior
        y = torch.multinomial(target, 64, replacement=True, generator=g)
        est.update(F.one_hot(y, 10).double())
    assert kl_divergence(est.prior, target) < 2e-3


def test_estimator_update_rule_is_the_ema_of_the_batch_mean():
    est = PriorEstimator(3, prior_momentum=0.999)
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=torch.float64)
    expect = 0.999 * torch.full((3,), 1 / 3, dtype=torch.float64) + 0.001 * probs.mean(0)
    assert torch.allclose(est.update(probs), expect, atol=1e-12)
    # the mask leaves rows out; a mask that keeps nothing leaves the estimate alone
    before = est.prior.clone()
    est.update(probs, mask=torch.tensor([False, False]))
    assert torch.equal(est.prior, before)
    after = est.update(probs, mask=torch.tensor([True, False]))
    assert torch.allclose(after, 0.999 * before + 0.001 * probs[0], atol=1e-12)


def test_estimator_em_correction_is_a_reweighting_step():
    est = PriorEstimator(2, prior_momentum=0.5, correct="em")
    est.prior.copy_(torch.tensor([0.8, 0.2], dtype=torch.float64))
    probs = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    # re-weighted from source prior (0.5, 0.5) to (0.8, 0.2): (0.8, 0.2); EMA: (0.8, 0.2)
    out = est.update(probs, source_prior=torch.tensor([0.5, 0.5]))
    assert torch.allclose(out, torch.tensor([0.8, 0.2], dtype=torch.float64), atol=1e-8)
    with pytest.raises(ValueError, match="source_prior"):
        est.update(probs)


def test_estimator_state_is_saved_with_the_module():
    est = PriorEstimator(3, momentum=0.5)
    est.update(torch.tensor([[1.0, 0.0, 0.0]]))
    other = PriorEstimator(3, momentum=0.5)
    other.load_state_dict(est.state_dict())
    assert torch.equal(other.prior, est.prior)


@pytest.mark.parametrize("probs,match", [
    (torch.tensor([[0.5, 0.6, 0.0]]), "sum to 1"),
    (torch.tensor([[float("nan"), 0.5, 0.5]]), "NaN"),
    (torch.tensor([[0.5, 0.5]]), "classes"),
])
def test_estimator_rejects_bad_probabilities(probs, match):
    with pytest.raises(ValueError, match=match):
        PriorEstimator(3).update(probs)


def test_estimator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="momentum"):
        PriorEstimator(3, momentum=1.5)
    with pytest.raises(ValueError, match="num_classes"):
        PriorEstimator(1)
    with pytest.raises(ValueError, match="mask"):
        PriorEstimator(2).update(torch.tensor([[0.5, 0.5]]), mask=torch.tensor([1]))


# ----------------------------------------------------------------------------- schedule
def test_alpha_schedule_end_points_and_monotonicity():
    assert alpha_schedule(0.0) == 1.0
    assert math.isclose(alpha_schedule(1.0), 0.1)
    assert math.isclose(alpha_schedule(1.0, alpha_min=0.3), 0.3)
    assert math.isclose(alpha_schedule(0.5, 0.1, 2.0), 1 - 0.9 * 0.25)
    grid = [i / 50 for i in range(51)]
    for power in (0.5, 1.0, 2.0, 4.0):
        values = [alpha_schedule(t, 0.1, power) for t in grid]
        assert all(a >= b for a, b in zip(values, values[1:]))
    # a larger power keeps alpha high for longer
    assert alpha_schedule(0.5, 0.1, 4.0) > alpha_schedule(0.5, 0.1, 2.0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(progress=1.5), "progress"), (dict(progress=-0.1), "progress"),
    (dict(progress=0.5, alpha_min=1.2), "alpha_min"), (dict(progress=0.5, alpha_min=-0.1), "alpha_min"),
    (dict(progress=float("nan")), "progress"), (dict(progress=0.5, power=0.0), "power"),
])
def test_alpha_schedule_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        alpha_schedule(**kwargs)


def test_smoothed_prior():
    q = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    assert torch.allclose(smoothed_prior(q, 1.0), q)
    assert torch.allclose(smoothed_prior(q, 0.0), torch.full((3,), 1 / 3, dtype=torch.float64))
    expect = q**0.5 / (q**0.5).sum()
    assert torch.allclose(smoothed_prior(q, 0.5), expect)
    # KL to uniform shrinks as alpha falls
    u = torch.full((3,), 1 / 3)
    kls = [kl_divergence(smoothed_prior(q, a).float(), u) for a in (1.0, 0.5, 0.1)]
    assert kls[0] > kls[1] > kls[2]


# ----------------------------------------------------------------------------- losses
@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return dict(z=torch.randn(8, 4, generator=g), zs=torch.randn(8, 4, generator=g),
                zw=3 * torch.randn(8, 4, generator=g), y=torch.randint(0, 4, (8,), generator=g))


P_L = torch.tensor([0.5, 0.3, 0.15, 0.05])
Q_HAT = torch.tensor([0.1, 0.2, 0.3, 0.4])


def test_supervised_loss_against_direct_computation(batch):
    qa = smoothed_prior(Q_HAT, 0.4)
    got = flexda_supervised_loss(batch["z"], batch["y"], P_L, qa)
    adj = torch.log((P_L.double() + 1e-9) / (qa + 1e-9)).float()
    manual = -torch.log_softmax(batch["z"] + adj, 1)[torch.arange(8), batch["y"]].mean()
    assert torch.allclose(got, manual, atol=1e-6)
    # alpha = 1 and a uniform estimate (step 0): the logit-adjusted loss CE(z + log P_L, y)
    u = torch.full((4,), 0.25)
    la = F.cross_entropy(batch["z"] + torch.log(P_L), batch["y"])
    assert torch.allclose(flexda_supervised_loss(batch["z"], batch["y"], P_L, u), la, atol=1e-5)


def test_flexda_adjustment_eps_keeps_empty_classes_finite():
    adj = flexda_adjustment(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5]))
    assert torch.isfinite(adj).all()
    assert math.isclose(float(adj[1]), math.log(1e-9 / (0.5 + 1e-9)), rel_tol=1e-9)


def test_pseudo_labels_and_mask_use_unadjusted_weak_probabilities():
    zw = torch.tensor([[5.0, 0.0], [0.2, 0.0], [0.0, 4.0]])
    yhat, mask = pseudo_labels(zw, 0.95)
    assert yhat.tolist() == [0, 0, 1]
    p = torch.softmax(zw, 1).max(1).values
    assert mask.tolist() == (p >= 0.95).float().tolist()


def test_consistency_loss_against_direct_computation(batch):
    qa = smoothed_prior(Q_HAT, 0.3)
    loss, mask = flexda_consistency_loss(batch["zs"], batch["zw"], Q_HAT, qa, threshold=0.8)
    pw = torch.softmax(batch["zw"], 1)
    m = (pw.max(1).values >= 0.8).float()
    adj = torch.log((Q_HAT.double() + 1e-9) / (qa + 1e-9)).float()
    ce = -torch.log_softmax(batch["zs"] + adj, 1)[torch.arange(8), pw.argmax(1)]
    assert torch.equal(mask, m)
    assert 0 < m.sum() < 8  # the test covers masked and unmasked samples
    # the mean runs over all samples, not only the confident ones
    assert torch.allclose(loss, (m * ce).sum() / 8, atol=1e-6)
    # alpha = 1 (Q_alpha = Q_hat): no adjustment, FixMatch's loss
    plain, _ = flexda_consistency_loss(batch["zs"], batch["zw"], Q_HAT, Q_HAT, threshold=0.8)
    fm = (F.cross_entropy(batch["zs"], pw.argmax(1), reduction="none") * m).mean()
    assert torch.allclose(plain, fm, atol=1e-6)


def test_complementary_loss_against_direct_computation(batch):
    qa = smoothed_prior(Q_HAT, 0.3)
    _, mask = flexda_consistency_loss(batch["zs"], batch["zw"], Q_HAT, qa, threshold=0.8)
    temp = 1.7
    got = complementary_consistency_loss(batch["zs"], batch["zw"], Q_HAT, qa, mask, temp)
    pw = torch.softmax(batch["zw"], 1)
    teacher = pw ** (1 / temp) / (pw ** (1 / temp)).sum(1, keepdim=True)
    adj = torch.log((Q_HAT.double() + 1e-9) / (qa + 1e-9)).float()
    student = torch.softmax((batch["zs"] + adj) / temp, 1)
    h = -(teacher * student.log()).sum(1)
    assert torch.allclose(got, ((1 - mask) * h).sum() / 8, atol=1e-5)
    # only the under-confident samples count: with every sample confident the loss is 0
    zero = complementary_consistency_loss(batch["zs"], batch["zw"], Q_HAT, qa,
                                          torch.ones(8), temp)
    assert float(zero) == 0.0


def test_imbalance_temperature():
    assert imbalance_temperature(torch.full((5,), 0.2)) == pytest.approx(1.0)
    q = torch.tensor([0.7, 0.2, 0.1])
    kl_uq = sum((1 / 3) * math.log((1 / 3) / v) for v in q.tolist())  # KL(U || q), U first
    assert imbalance_temperature(q) == pytest.approx(math.exp(kl_uq))
    kl_qu = sum(v * math.log(v * 3) for v in q.tolist())
    assert not math.isclose(imbalance_temperature(q), math.exp(kl_qu), rel_tol=1e-3)
    assert imbalance_temperature(shifted_prior(10, 100, "forward")) > imbalance_temperature(
        shifted_prior(10, 10, "forward")) > 1.0


@pytest.mark.parametrize("prior,match", [
    ([0.5, 0.6], "sum to 1"), ([float("nan"), 1.0], "finite"), ([[0.5, 0.5]], "1-D"),
])
def test_losses_reject_bad_priors(batch, prior, match):
    with pytest.raises(ValueError, match=match):
        flexda_supervised_loss(batch["z"][:, :2], batch["y"] % 2, torch.tensor(prior), [0.5, 0.5])


def test_checkers_live_in_exercises_only():
    import ltlab.exercises.flexda as new
    import ltlab.flexda as old

    for name in ("check_alpha", "check_smoothed_prior", "check_ema_steps"):
        assert callable(getattr(new, name))
        with pytest.raises(AttributeError):
            getattr(old, name)  # no forward before the first release
