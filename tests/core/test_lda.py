"""ltlab.lda: weights, risks, the balance factor, distance losses and the method, against
independent computations; the normalised variant at nu = 0 (the capped weight); bad input
(nothing returns NaN silently); the fit integration; the names that moved out."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ltlab import lda as L
from ltlab.data import GaussianMixtureLT, LTData
from ltlab.models import CNN1D, MLP, ResNet32
from ltlab.train import Batch, fit


def _manual_ce(z, y):
    """Per-sample -log softmax(z)_y written out with exp and log."""
    return torch.stack([-(z[i, y[i]] - torch.log(torch.exp(z[i]).sum())) for i in range(len(y))])


def _case(seed: int, n: int = 9, c: int = 4):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, c, (n,), generator=g)
    return z, y


# ----------------------------------------------------------------------------- weights, risk
def test_weights_are_one_over_c_times_count():
    counts = [50, 20, 5, 1]
    w = L.balanced_risk_weights(counts)
    assert torch.allclose(w, torch.tensor([1 / (4 * n) for n in counts], dtype=torch.float64))
    # importance weights p_b(y) / p_u(y) up to 1/N: sum_y n_y w_y = 1
    assert math.isclose(float((torch.tensor(counts) * w).sum()), 1.0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_balanced_risk_sum_and_mean_match_direct_sums(seed):
    z, y = _case(seed)
    counts = torch.tensor([30, 10, 4, 2])
    w = 1.0 / (4 * counts.double())
    ce = _manual_ce(z, y)
    want_sum = sum(w[y[i]] * ce[i] for i in range(len(y)))
    want_mean = want_sum / sum(w[y[i]] for i in range(len(y)))
    got_w = L.balanced_risk_weights(counts)
    assert torch.allclose(L.balanced_risk(z, y, got_w, "sum"), want_sum, atol=1e-10)
    assert torch.allclose(L.balanced_risk(z, y, got_w, "mean"), want_mean, atol=1e-10)
    # the mean form is torch's class-weighted cross-entropy
    assert torch.allclose(L.balanced_risk(z, y, got_w, "mean"), F.cross_entropy(z, y, weight=w))


def test_balanced_risk_sum_is_b_over_n_times_balanced_ce_in_expectation():
    # over every batch of size 1 (B = 1) the mean of sum_i w_i CE_i is (1/N) (1/C) sum_c CE_c
    z, y = _case(5, n=40, c=4)
    counts = torch.bincount(y, minlength=4)
    w = L.balanced_risk_weights(counts)
    per_batch = torch.stack([L.balanced_risk(z[i:i + 1], y[i:i + 1], w) for i in range(40)])
    ce = _manual_ce(z, y)
    class_mean = torch.stack([ce[y == c].mean() for c in range(4)]).mean()
    assert torch.allclose(per_batch.mean(), class_mean / 40, atol=1e-12)


# ----------------------------------------------------------------------------- balance factor
def _hand_run(acc0, acc1, window, gamma, count_empty=True):
    """Eq. 6 as the reference codes it: two zero-initialised ring buffers, push then mean."""
    b0, b1, out = [0.0] * window, [0.0] * window, []
    for t, (a, b) in enumerate(zip(acc0, acc1)):
        b0[t % window], b1[t % window] = a, b
        if count_empty:
            m0, m1 = sum(b0) / window, sum(b1) / window
        else:
            k = min(t + 1, window)
            m0, m1 = sum(b0[:k]) / k, sum(b1[:k]) / k
        out.append(max(0.0, m0 - m1) ** gamma)
    return out


SCRIPT_U = [50.0, 62.5, 70.0, 75.0, 80.0, 78.0, 90.0, 85.0, 40.0, 95.0]
SCRIPT_B = [45.0, 40.0, 55.0, 80.0, 60.0, 79.0, 70.0, 85.0, 60.0, 50.0]


@pytest.mark.parametrize("window", [1, 3, 4, 10, 25])
@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("count_empty", [True, False])
def test_balance_factor_matches_a_hand_run_of_eq6(window, gamma, count_empty):
    want = _hand_run(SCRIPT_U, SCRIPT_B, window, gamma, count_empty)
    trace = L.balance_factor_trace(SCRIPT_U, SCRIPT_B, window, gamma, count_empty)
    assert torch.allclose(trace, torch.tensor(want, dtype=torch.float64), atol=1e-9)
    module = L.BalanceFactor(window, gamma, count_empty)
    got = [float(module.update(a, b)) for a, b in zip(SCRIPT_U, SCRIPT_B)]
    assert got == pytest.approx(want, abs=1e-9)


def test_balance_factor_window_filling_by_hand():
    # window 4, gamma 2; zeros in the empty slots divide the gap by 4 while it fills
    t = L.balance_factor_trace([80, 90, 70, 60, 100], [40, 60, 70, 80, 20], window=4).tolist()
    assert t[0] == pytest.approx((40 / 4) ** 2)            # 100
    assert t[1] == pytest.approx(((40 + 30) / 4) ** 2)     # 306.25
    assert t[2] == pytest.approx(((40 + 30 + 0) / 4) ** 2)
    assert t[3] == pytest.approx(((40 + 30 + 0 - 20) / 4) ** 2)
    assert t[4] == pytest.approx(((30 + 0 - 20 + 80) / 4) ** 2)  # slot 0 overwritten
    # a negative gap gives 0, not a negative or complex factor
    assert L.balance_factor_trace([10], [90], window=1, gamma=0.5).tolist() == [0.0]


def test_balance_factor_module_state_is_checkpointable():
    a = L.BalanceFactor(5, 2.0)
    for x, y in zip(SCRIPT_U[:7], SCRIPT_B[:7]):
        a.update(x, y)
    b = L.BalanceFactor(5, 2.0)
    b.load_state_dict(a.state_dict())
    assert float(b.value()) == float(a.value())
    assert float(b.update(99, 1)) == float(a.update(99, 1))


def test_tail_window_is_the_reference_rule():
    assert L.tail_window([400, 100, 4], batch_size=64) == int(504 / (4 * 64))
    assert L.tail_window([10, 10], batch_size=64) == 1


def test_window_means_and_the_reference_equivalent_factor():
    v = [3.0, 5.0, 10.0, 2.0]
    assert L.window_means(v, 3).tolist() == pytest.approx([1.0, 8 / 3, 6.0, 17 / 3])
    assert L.window_means(v, 3, count_empty_slots=False).tolist() == pytest.approx(
        [3.0, 4.0, 6.0, 17 / 3])
    # percent (x 100 ** gamma), sum (B / N) and factor 2, multiplied out
    assert L.reference_equivalent_factor(64, 988, 2.0) == pytest.approx(2 * 1e4 * 64 / 988)
    assert L.reference_equivalent_factor(64, 988, 1.0, loss1_factor=1.0) == pytest.approx(
        100 * 64 / 988)
    with pytest.raises(ValueError, match="gamma"):
        L.reference_equivalent_factor(64, 988, -1.0)


# ----------------------------------------------------------------------------- distances
def test_intra_zero_when_each_class_points_one_way_and_positive_otherwise():
    u = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    z = torch.stack([u[0], 3 * u[0], 0.5 * u[0], u[1], 2 * u[1]])
    y = torch.tensor([0, 0, 0, 1, 1])
    assert float(L.intra_class_distance_loss(z, y)) == pytest.approx(0.0, abs=1e-7)
    z2 = z.clone()
    z2[1] = torch.tensor([0.0, 0.0, 1.0])
    assert float(L.intra_class_distance_loss(z2, y)) > 0.05
    # singletons do not count: all classes with one sample give 0
    assert float(L.intra_class_distance_loss(z[[0, 3]], y[[0, 3]])) == 0.0


def test_intra_matches_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(12, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 1, 0])
    per = []
    for c in range(4):
        f = z[y == c]
        if len(f) < 2:
            continue
        mu = f.mean(0)
        per.append(torch.stack([1 - (mu @ v) / (mu.norm() * v.norm()) for v in f]).mean())
    assert torch.allclose(L.intra_class_distance_loss(z, y), torch.stack(per).mean())


def test_inter_penalises_only_acute_centres():
    y = torch.tensor([0, 1, 2])
    orthogonal = torch.eye(3)
    assert float(L.inter_class_distance_loss(orthogonal, y)) == 0.0
    obtuse = torch.tensor([[1.0, 0.0], [-0.5, 0.866], [-0.5, -0.866]])  # 120 degrees apart
    assert float(L.inter_class_distance_loss(obtuse, y)) == 0.0
    acute = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    # margin 1: max(0, 1 - (1 - cos)) = cos(45 deg), averaged over the 2 ordered pairs
    got = L.inter_class_distance_loss(acute, torch.tensor([0, 1]))
    assert float(got) == pytest.approx(math.cos(math.pi / 4))
    # one class in the batch: nothing to push apart
    assert float(L.inter_class_distance_loss(acute, torch.tensor([1, 1]))) == 0.0


def test_inter_unweighted_and_weighted_match_direct_sums():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(10, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 1, 3, 3, 3, 3, 3])
    classes = [0, 1, 3]
    mu = {c: z[y == c].mean(0) for c in classes}
    w = L.balanced_risk_weights([9, 5, 2, 1])
    hinge, pairs, weights = {}, [], {}
    for a in classes:
        for b in classes:
            if a != b:
                cos = (mu[a] @ mu[b]) / (mu[a].norm() * mu[b].norm())
                hinge[a, b] = max(0.0, 0.8 - (1 - float(cos)))
                pairs.append((a, b))
                weights[a, b] = float(w[a] + w[b])
    unweighted = sum(hinge.values()) / (3 * 3 - 3)
    total_w = sum(weights.values())
    weighted = sum(hinge[p] * weights[p] / total_w for p in pairs)
    assert float(L.inter_class_distance_loss(z, y, margin=0.8)) == pytest.approx(unweighted)
    assert float(L.inter_class_distance_loss(z, y, w, margin=0.8)) == pytest.approx(weighted)


# ----------------------------------------------------------------------------- the method
def _batch(seed: int = 0, n: int = 32, d: int = 6, c: int = 4):
    g = torch.Generator().manual_seed(seed)
    return Batch(x=torch.randn(n, d, generator=g), y=torch.randint(0, c, (n,), generator=g),
                 index=torch.arange(n))


def test_lda_loss_is_eq9_with_each_term_computed_directly():
    torch.manual_seed(0)
    counts = [40, 20, 8, 2]
    model = MLP(6, 4, hidden=(16,))
    lda = L.LDA(train_counts=counts, feature_dim=model.feature_dim, window=5, gamma=2.0)
    batch = _batch()
    loss, terms = lda.loss(model, batch, 0)
    with torch.no_grad():
        f = model.features(batch.x)
        zu, zb = lda.unbalanced(f).double(), lda.balanced(f).double()
        y = batch.y
        risk_u = _manual_ce(zu, y).mean()
        w = torch.tensor([1 / (4 * n) for n in counts], dtype=torch.float64)
        risk_b_sum = (w[y] * _manual_ce(zb, y)).sum()
        acc_u = 100 * (zu.argmax(1) == y).double().mean()
        acc_b = 100 * (zb.argmax(1) == y).double().mean()
        alpha = max(0.0, float(acc_u - acc_b) / 5) ** 2  # one batch in a window of 5
        want = risk_u + 2.0 * alpha * risk_b_sum
    assert float(terms["alpha"]) == pytest.approx(alpha)
    assert float(terms["accuracy_unbalanced"]) == pytest.approx(float(acc_u))
    assert float(terms["risk_unbalanced"]) == pytest.approx(float(risk_u), rel=1e-5)
    assert float(terms["risk_balanced"]) == pytest.approx(
        float(risk_b_sum / w[y].sum()), rel=1e-5)
    assert float(loss.detach()) == pytest.approx(float(want), rel=1e-5)


def test_normalised_variant_uses_fractions_and_the_weighted_mean():
    torch.manual_seed(1)
    model = MLP(6, 4, hidden=(16,))
    lda = L.LDA.normalised(train_counts=[40, 20, 8, 2], feature_dim=model.feature_dim,
                           loss1_factor=3.0)
    batch = _batch(1)
    loss, terms = lda.loss(model, batch, 0)
    with torch.no_grad():
        f = model.features(batch.x)
        zu, zb = lda.unbalanced(f), lda.balanced(f)
        gap = float((zu.argmax(1) == batch.y).float().mean() - (zb.argmax(1) == batch.y).float()
                    .mean())
        w = L.balanced_risk_weights([40, 20, 8, 2]).float()
        want = F.cross_entropy(zu, batch.y) + 3.0 * max(0.0, gap) ** 2 * F.cross_entropy(
            zb, batch.y, weight=w)
    assert 0.0 <= float(terms["accuracy_unbalanced"]) <= 1.0
    assert float(loss.detach()) == pytest.approx(float(want), rel=1e-5)


def test_projection_adds_both_distance_terms():
    torch.manual_seed(2)
    model = MLP(6, 4, hidden=(16,))
    counts = [40, 20, 8, 2]
    lda = L.LDA(train_counts=counts, feature_dim=16, projection="linear", projection_dim=8,
                distance_factor=0.7, margin=1.0)
    plain = L.LDA(train_counts=counts, feature_dim=16)
    plain.load_state_dict({k: v for k, v in lda.state_dict().items()
                           if not k.startswith("projection")})
    batch = _batch(2)
    loss, terms = lda.loss(model, batch, 0)
    base, _ = plain.loss(model, batch, 0)
    base = base.detach()
    with torch.no_grad():
        z = lda.projection(model.features(batch.x))
        intra = L.intra_class_distance_loss(z, batch.y)
        inter = L.inter_class_distance_loss(z, batch.y, lda.class_weights, 1.0)
    assert float(terms["intra"]) == pytest.approx(float(intra))
    assert float(terms["inter"]) == pytest.approx(float(inter))
    assert float(loss.detach()) == pytest.approx(float(base + 0.7 * (intra + inter)), rel=1e-5)
    assert isinstance(L.LDA(projection="nonlinear", train_counts=counts, feature_dim=16)
                      .projection, torch.nn.Sequential)


def test_predict_uses_the_balanced_head():
    model = MLP(6, 4, hidden=(16,))
    lda = L.LDA(train_counts=[4, 3, 2, 1], feature_dim=16)
    x = torch.randn(5, 6)
    assert torch.equal(lda.predict(model, x), lda.balanced(model.features(x)))
    assert torch.equal(lda.predict_unbalanced(model, x), lda.unbalanced(model.features(x)))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("window", [0, -3, 2.5, True])
def test_window_below_one_is_a_clear_error(window):
    with pytest.raises(ValueError, match="window"):
        L.LDA(window=window)
    with pytest.raises(ValueError, match="window"):
        L.balance_factor_trace([1.0], [0.0], window=window)


@pytest.mark.parametrize("gamma", [-0.5, -2, float("nan")])
def test_negative_gamma_is_a_clear_error(gamma):
    with pytest.raises(ValueError, match="gamma"):
        L.LDA(gamma=gamma)
    with pytest.raises(ValueError, match="gamma"):
        L.BalanceFactor(10, gamma)


def test_counts_with_zeros_are_a_clear_error():
    with pytest.raises(ValueError, match=r"train_counts.*empty"):
        L.balanced_risk_weights([10, 0, 3])
    with pytest.raises(ValueError, match="train_counts"):
        L.LDA(train_counts=[5, 0], feature_dim=4)
    x = torch.randn(6, 3)
    data = LTData(x, torch.tensor([0, 0, 0, 1, 1, 1]), x, torch.tensor([0, 0, 0, 1, 1, 1]),
                  torch.tensor([3, 3, 0]), ["a", "b", "c"])
    with pytest.raises(ValueError, match="empty"):
        fit(MLP(3, 3), L.LDA(), data, steps=1, progress=False, device="cpu")


def test_other_bad_input():
    with pytest.raises(ValueError, match="reduction"):
        L.LDA(reduction="avg")
    with pytest.raises(ValueError, match="projection"):
        L.LDA(projection="mlp")
    with pytest.raises(ValueError, match="both"):
        L.LDA(train_counts=[3, 2])
    with pytest.raises(RuntimeError, match="not built"):
        L.LDA().predict(MLP(3, 3), torch.randn(2, 3))
    with pytest.raises(ValueError, match="num_experts"):
        data = GaussianMixtureLT(num_classes=3, max_count=20, imbalance_ratio=4).dataset(5)
        fit(MLP(2, 3, num_experts=2), L.LDA(), data, steps=1, progress=False, device="cpu")


# ----------------------------------------------------------------------------- fit
@pytest.fixture(scope="module")
def mixture():
    return GaussianMixtureLT(num_classes=4, max_count=120, imbalance_ratio=20).dataset(50)


def test_fit_trains_lda_logs_terms_and_resumes_with_its_buffers(mixture, tmp_path):
    ckpt = tmp_path / "lda.pt"
    # the reference scales diverge on a data set this small (B/N = 0.1): use the normalised
    lda = L.LDA.normalised(window=7, projection="linear", projection_dim=8)
    hist = fit(MLP(2, 4), lda, mixture, epochs=3, batch_size=32, lr=0.05, progress=False,
               device="cpu", checkpoint=ckpt)
    steps = hist.total_steps
    for k in ("alpha", "risk_unbalanced", "risk_balanced", "accuracy_unbalanced",
              "accuracy_balanced", "mean_accuracy_unbalanced", "mean_accuracy_balanced",
              "intra", "inter"):
        assert len(hist.step_terms[k]) == steps
    assert int(lda.balance.steps) == steps
    # the logged window means are Eq. 6's: over the batches seen, at most 7
    for head in ("unbalanced", "balanced"):
        means = L.window_means(hist.step_terms[f"accuracy_{head}"], 7, count_empty_slots=False)
        assert torch.allclose(torch.tensor(hist.step_terms[f"mean_accuracy_{head}"],
                                           dtype=torch.float64), means, atol=1e-6)
    want = L.balance_factor_trace(hist.step_terms["accuracy_unbalanced"],
                                  hist.step_terms["accuracy_balanced"], window=7,
                                  count_empty_slots=False)
    assert torch.allclose(torch.tensor(hist.step_terms["alpha"], dtype=torch.float64), want,
                          rtol=1e-5)
    # the checkpoint holds the ring buffers: the same call again restores them
    resumed = L.LDA.normalised(window=7, projection="linear", projection_dim=8)
    fit(MLP(2, 4), resumed, mixture, epochs=3, batch_size=32, lr=0.05, progress=False,
        device="cpu", checkpoint=ckpt)
    assert int(resumed.balance.steps) == steps
    assert torch.equal(resumed.balance.accuracy_balanced, lda.balance.accuracy_balanced)


@pytest.mark.parametrize("make", [
    lambda: MLP(40, 3, hidden=(8,)),
    lambda: CNN1D(num_classes=3, length=40, channels=4, feature_dim=8),
    lambda: ResNet32(num_classes=3, in_channels=1),
])
def test_lda_works_with_every_model(make):
    model = make()
    shape = (1, 8, 8) if isinstance(model, ResNet32) else (40,)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, *shape, generator=g)
    y = torch.tensor([0] * 6 + [1] * 4 + [2] * 2)
    data = LTData(x, y, x, y, torch.tensor([6, 4, 2]), ["a", "b", "c"])
    lda = L.LDA(projection="linear")
    hist = fit(model, lda, data, steps=2, batch_size=6, lr=0.01, progress=False, device="cpu")
    assert lda.balanced.in_features == model.feature_dim
    assert len(hist.step_terms["alpha"]) == 2
    assert lda.predict(model.eval(), x).shape == (12, 3)


# ----------------------------------------------------------------------------- nu = 0
def _tail_heavy_batch():
    """Six head samples and one tail sample (counts 60 / 2 / 1): the tail sample carries
    (1 / 3) / (6 / 180 + 1 / 3) = 91 % of the self-normalised balanced risk."""
    g = torch.Generator().manual_seed(3)
    y = torch.tensor([0, 0, 0, 0, 0, 0, 2])
    return Batch(x=torch.randn(7, 6, generator=g), y=y, index=torch.arange(7)), [60, 2, 1]


def test_normalised_loss_at_gamma_zero_is_ce_plus_the_balanced_risk():
    """nu = 0 gives alpha = 1 at every gap (0 ** 0 = 1 too), so the loss is
    CE(h') + min(20 * 1, 1) * R_bal(h), not CE(h') + 20 R_bal(h)."""
    torch.manual_seed(4)
    model = MLP(6, 3, hidden=(16,))
    batch, counts = _tail_heavy_batch()
    lda = L.LDA.normalised(gamma=0.0, train_counts=counts, feature_dim=model.feature_dim)
    loss, terms = lda.loss(model, batch, 0)
    with torch.no_grad():
        f = model.features(batch.x)
        zu, zb = lda.unbalanced(f).double(), lda.balanced(f).double()
        w = torch.tensor([1 / (3 * n) for n in counts], dtype=torch.float64)[batch.y]
        want = _manual_ce(zu, batch.y).mean() + (w * _manual_ce(zb, batch.y)).sum() / w.sum()
    assert float(loss.detach()) == pytest.approx(float(want), rel=1e-5)
    assert float(terms["alpha"]) == 1.0
    assert float(terms["balanced_weight"]) == 1.0


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 4.0])
def test_the_step_on_the_tail_sample_is_bounded_at_every_gamma(gamma):
    """The mechanism of notebook 05's NaN at nu = 0: the gradient of the loss on h's logit
    row of the one tail sample is (weight of R_bal) x (its 91 % share) x (softmax - onehot).
    At nu = 0 the uncapped weight was 20: a step 18 times a full CE step on one sample, and
    SGD diverged. Capped, the share is at most that of R_bal alone, at every nu."""
    torch.manual_seed(5)
    model = MLP(6, 3, hidden=(16,))
    batch, counts = _tail_heavy_batch()
    lda = L.LDA.normalised(gamma=gamma, train_counts=counts, feature_dim=model.feature_dim)
    for _ in range(3):  # a large gap in the window: h' right on every sample, h on none
        lda.balance.update(1.0, 0.0)
    f = model.features(batch.x).detach()
    logits_b = lda.balanced(f)
    logits_b.retain_grad()
    lda.balanced = _Fixed(logits_b)  # the loss sees exactly these logits
    loss, terms = lda.loss(_Features(f), batch, 0)
    loss.backward()
    w = L.balanced_risk_weights(counts)[batch.y]
    share = float(w[-1] / w.sum())
    assert share == pytest.approx(0.909, abs=1e-3)
    residual = (F.softmax(logits_b, 1) - F.one_hot(batch.y, 3)).detach()
    assert float(logits_b.grad[-1].norm()) <= share * float(residual[-1].norm()) + 1e-6
    weight = float(terms["balanced_weight"])
    assert weight == pytest.approx(min(20.0 * float(terms["alpha"]), 1.0), rel=1e-6)
    # the tail row's gradient is weight x share x residual, with weight <= 1
    assert torch.allclose(logits_b.grad[-1], weight * share * residual[-1], atol=1e-6)


class _Features(torch.nn.Module):
    """A model whose features are fixed (for the gradient test)."""

    def __init__(self, f: torch.Tensor) -> None:
        super().__init__()
        self.f = f

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.f


class _Fixed(torch.nn.Module):
    """A head that returns fixed logits (whose gradient the test reads)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_normalised_lda_trains_at_gamma_zero_where_the_uncapped_weight_diverges():
    """Four Gaussian classes, counts 120 / 44 / 16 / 6, notebook 05's optimiser (SGD, lr
    0.05, momentum 0.9): at nu = 0 the uncapped weight 20 ends in NaN (FloatingPointError in
    epoch 2; it did so before the cap); the normalised LDA trains, and h beats chance."""
    data = GaussianMixtureLT(num_classes=4, max_count=120, imbalance_ratio=20).dataset(50)
    torch.manual_seed(0)
    model, lda = MLP(2, 4), L.LDA.normalised(gamma=0.0)
    hist = fit(model, lda, data, epochs=10, batch_size=64, lr=0.05, progress=False,
               device="cpu")
    assert all(math.isfinite(v) for v in hist.step_terms["risk_balanced"])
    pred = lda.predict(model.eval(), data.x_test).argmax(1)
    per_class = torch.stack([(pred[data.y_test == c] == c).float().mean() for c in range(4)])
    assert float(per_class.mean()) > 0.25 + 0.2  # chance is 0.25
    torch.manual_seed(0)
    with pytest.raises(FloatingPointError, match="risk_balanced"):
        fit(MLP(2, 4), L.LDA.normalised(gamma=0.0, max_balanced_weight=None), data, epochs=10,
            batch_size=64, lr=0.05, progress=False, device="cpu")


def test_reference_lda_has_no_cap():
    lda = L.LDA(gamma=0.0, train_counts=[40, 20, 8, 2], feature_dim=16)
    assert lda.max_balanced_weight is None
    _, terms = lda.loss(MLP(6, 4, hidden=(16,)), _batch(), 0)
    assert float(terms["balanced_weight"]) == 2.0  # loss1_factor x alpha = 2 x 1, uncapped


# ----------------------------------------------------------------------------- silent NaN
@pytest.mark.parametrize("call, name", [
    (lambda: L.balance_factor(float("nan"), 50.0), "mean_unbalanced"),
    (lambda: L.balance_factor(50.0, float("inf")), "mean_balanced"),
    (lambda: L.balance_factor(torch.tensor([60.0, float("nan")]), 50.0), "mean_unbalanced"),
    (lambda: L.balance_factor(-10.0, 50.0), "mean_unbalanced"),
    (lambda: L.balance_factor("70", 50.0), "mean_unbalanced"),
    (lambda: L.balance_factor(70.0, 50.0, gamma=float("nan")), "gamma"),
    (lambda: L.window_means([1.0, float("nan")], 3), "values"),
    (lambda: L.balance_factor_trace([80.0, float("nan")], [40.0, 50.0]), "accuracy_unbalanced"),
    (lambda: L.balance_factor_trace([80.0], [float("-inf")]), "accuracy_balanced"),
    (lambda: L.reference_equivalent_factor(64, 988, loss1_factor=float("nan")), "loss1_factor"),
    (lambda: L.BalanceFactor(4).update(float("nan"), 0.5), "acc_unbalanced"),
    (lambda: L.BalanceFactor(4).update(0.5, -0.1), "acc_balanced"),
    (lambda: L.LDA.normalised(max_balanced_weight=float("nan")), "max_balanced_weight"),
    (lambda: L.LDA.normalised(max_balanced_weight=0.0), "max_balanced_weight"),
])
def test_inputs_that_would_give_nan_or_a_wrong_number_are_refused(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_a_refused_push_leaves_the_buffers_clean():
    a = L.BalanceFactor(4, count_empty_slots=False)
    a.update(0.8, 0.4)
    with pytest.raises(ValueError, match="acc_unbalanced"):
        a.update(float("nan"), 0.5)
    assert int(a.steps) == 1 and float(a.value()) == pytest.approx(0.16)


def test_balanced_risk_checks_its_weights_and_targets():
    z, y = _case(0, n=6, c=3)
    w = L.balanced_risk_weights([30, 10, 2])
    with pytest.raises(ValueError, match=r"class_weights.*one weight per class.*\(3\)"):
        L.balanced_risk(z, y, torch.cat([w, w[:1]]))  # an extra weight was ignored
    with pytest.raises(ValueError, match="class_weights"):
        L.balanced_risk(z, y, w[:2])  # too short: was a torch index error
    with pytest.raises(ValueError, match="class_weights"):
        L.balanced_risk(z, y, torch.tensor([0.1, float("nan"), 0.2]))
    with pytest.raises(ValueError, match="class_weights"):
        L.balanced_risk(z, y, torch.tensor([0.1, -0.2, 0.2]))
    with pytest.raises(ValueError, match=r"class_weights.*0 / 0"):  # was NaN
        L.balanced_risk(z, torch.zeros(6, dtype=torch.long), torch.tensor([0.0, 0.5, 0.5]),
                        "mean")
    with pytest.raises(ValueError, match="targets"):
        L.balanced_risk(z, torch.full((6,), 3), w)
    with pytest.raises(ValueError, match="targets"):
        L.balanced_risk(z, y[:4], w)
    with pytest.raises(ValueError, match="logits"):
        L.balanced_risk(z[0], y, w)
    # a zero weight for some classes is legal in the sum (and in the mean, if one is > 0)
    w0 = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)
    assert float(L.balanced_risk(z, y, w0, "sum")) == pytest.approx(
        float((w0[y] * _manual_ce(z, y)).sum()))


def test_distance_losses_check_features_targets_and_weights():
    z = torch.randn(5, 3)
    y = torch.tensor([0, 0, 1, 2, 2])
    with pytest.raises(ValueError, match="class_weights"):
        L.inter_class_distance_loss(z, y, torch.tensor([0.5, 0.5]))  # no weight for class 2
    with pytest.raises(ValueError, match="class_weights"):
        L.inter_class_distance_loss(z, y, torch.tensor([0.5, float("nan"), 0.1]))
    with pytest.raises(ValueError, match="margin"):
        L.inter_class_distance_loss(z, y, margin=float("nan"))
    with pytest.raises(ValueError, match="y"):
        L.intra_class_distance_loss(z, y[:3])
    with pytest.raises(ValueError, match="features z"):
        L.intra_class_distance_loss(z.long(), y)


# ----------------------------------------------------------------------------- moved names
@pytest.mark.parametrize("name,new_module", [
    ("compare", "ltlab.experiments.lda"),
    ("LDAComparison", "ltlab.experiments.lda"),
    ("default_model", "ltlab.experiments.lda"),
    ("METHOD_NAMES", "ltlab.experiments.lda"),
    ("classifier_weight_norms", "ltlab.analysis"),
    ("weight_norm_ratio", "ltlab.analysis"),
    ("distance_ratio", "ltlab.analysis"),
    ("check_balance_factor", "ltlab.exercises.lda"),
    ("check_tail_weight", "ltlab.exercises.lda"),
])
def test_moved_names_live_only_in_their_new_module(name, new_module):
    """No forwards before the first release: the old path is an AttributeError."""
    import importlib

    assert hasattr(importlib.import_module(new_module), name)
    with pytest.raises(AttributeError):
        getattr(L, name)
