"""ltlab.experts: BalPoE's loss, aggregation, bias identity, test-time prior, lambda sets."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ltlab import experts as X
from ltlab.data import GaussianMixtureLT
from ltlab.losses import log_prior_of


def test_loss_is_mean_over_experts_of_la_ce_with_tau_one_minus_lambda():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 8, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (8,), generator=g)
    prior = torch.tensor([0.5, 0.25, 0.15, 0.07, 0.03], dtype=torch.float64)
    lp = prior.log()
    bpe = X.BalPoE((1.0, 0.0, -1.0))
    # independent: tau = 0, 1, 2 (the reference config's tau_list)
    want = sum(F.cross_entropy(z[k] + tau * lp, y) for k, tau in enumerate((0.0, 1.0, 2.0))) / 3
    assert torch.allclose(bpe.loss(z, y, lp), want)
    assert torch.allclose(bpe.taus, torch.tensor([0.0, 1.0, 2.0]))


@settings(max_examples=30, deadline=None)
@given(lams=st.lists(st.floats(-3, 3), min_size=1, max_size=7), seed=st.integers(0, 10_000))
def test_ensemble_bias_identity_on_random_logits(lams, seed):
    """If each expert is z_k = u + lambda_k log(pi) (u: shared balanced logits), the aggregate
    is u + mean(lambda) log(pi), and adjust_to_prior recovers u + log(pi_t)."""
    g = torch.Generator().manual_seed(seed)
    c = 6
    u = torch.randn(4, c, generator=g, dtype=torch.float64)
    prior = torch.rand(c, generator=g, dtype=torch.float64) + 0.05
    lp = (prior / prior.sum()).log()
    target = torch.rand(c, generator=g, dtype=torch.float64) + 0.05
    tlp = (target / target.sum()).log()
    lam = torch.tensor(lams, dtype=torch.float64)
    z = u[None] + lam[:, None, None] * lp[None, None]
    bpe = X.BalPoE(lams)
    assert bpe.bias == pytest.approx(sum(lams) / len(lams), abs=1e-6)
    assert torch.allclose(bpe.aggregate(z), u + lam.mean() * lp, atol=1e-6)
    assert torch.allclose(bpe.bias_vector(lp).double(), lam.mean() * lp, atol=1e-5)
    assert torch.allclose(bpe.adjust_to_prior(bpe.aggregate(z), lp, tlp), u + tlp, atol=1e-5)


def test_aggregate_is_a_product_of_experts_not_an_average_of_probabilities():
    z = torch.tensor([[[4.0, 0.0]], [[0.0, 1.0]]])
    bpe = X.BalPoE((0.5, -0.5))
    p = torch.softmax(bpe.aggregate(z), -1)
    geo = torch.softmax(z, -1).prod(0).sqrt()
    assert torch.allclose(p, geo / geo.sum(-1, keepdim=True))
    assert not torch.allclose(p, torch.softmax(z, -1).mean(0))


def test_adjust_to_prior_recovers_the_bayes_posterior_of_a_known_mixture():
    mix = GaussianMixtureLT(num_classes=5, dim=2, imbalance_ratio=20, max_count=200)
    x, _ = mix.sample(300, seed=1)
    prior = mix.train_prior
    lp = log_prior_of(prior)
    lambdas = X.evenly_spaced_lambdas(4, -1.5, 1.0)  # mean lambda = -0.25, not 0
    loglik = mix.log_likelihood(x).float()
    # ideal lambda-experts: Bayes classifiers for priors proportional to pi^lambda
    z = torch.stack([loglik + lam * lp for lam in lambdas])
    bpe = X.BalPoE(lambdas)
    target = torch.tensor([0.1, 0.1, 0.2, 0.3, 0.3])
    got = torch.softmax(bpe.adjust_to_prior(bpe.aggregate(z), lp, log_prior_of(target)), 1)
    assert torch.allclose(got, mix.bayes_posterior(x, target), atol=1e-4)
    # and the balanced prediction equals the Bayes posterior under the uniform prior
    balanced = torch.softmax(bpe.predict(z, lp), 1)
    assert torch.allclose(balanced, mix.bayes_posterior(x, torch.full((5,), 0.2)), atol=1e-4)


def test_biased_ensemble_warns_when_asked_for_a_balanced_prediction():
    z = torch.randn(2, 3, 4)
    with pytest.warns(X.BiasedEnsembleWarning, match="mean lambda is 0.5"):
        X.BalPoE((1.0, 0.0)).predict(z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X.BalPoE((1.0, -1.0)).predict(z)
        X.BalPoE((1.0, 0.0)).predict(z, log_prior=torch.zeros(4))


@pytest.mark.parametrize("bad", [(), [], [1.0, float("nan")], [float("inf")], [[1.0, 0.0]], "abc"])
def test_bad_lambda_sets_raise(bad):
    with pytest.raises(ValueError, match="lambdas"):
        X.BalPoE(bad)


def test_wrong_shapes_raise_clear_errors():
    bpe = X.BalPoE()
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"\[E, N, C\]"):
        bpe.loss(torch.zeros(2, 4), y, torch.zeros(4))
    with pytest.raises(ValueError, match="num_experts=3"):
        bpe.aggregate(torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match="length 4"):
        bpe.loss(torch.zeros(3, 2, 4), y, torch.zeros(5))
    with pytest.raises(ValueError, match="target_log_prior"):
        bpe.adjust_to_prior(torch.zeros(2, 4), torch.zeros(4), torch.zeros(3))


def test_lambda_set_helpers():
    assert X.evenly_spaced_lambdas(3) == (1.0, 0.0, -1.0)
    assert X.evenly_spaced_lambdas(1) == (0.0,)
    assert X.evenly_spaced_lambdas(5, -0.5, 0.5) == pytest.approx((0.5, 0.25, 0.0, -0.25, -0.5))
    assert X.midpoint_lambdas(4) == pytest.approx((0.75, 0.25, -0.25, -0.75))
    for m in range(1, 8):  # "limits" and "uniform" both keep mean lambda = 0 on [-1, 1]
        assert sum(X.evenly_spaced_lambdas(m)) == pytest.approx(0.0, abs=1e-12)
        assert sum(X.midpoint_lambdas(m)) == pytest.approx(0.0, abs=1e-12)
    assert X.lambdas_from_taus([0, 1, 2]) == (1.0, 0.0, -1.0)
    with pytest.raises(ValueError, match="num_experts"):
        X.evenly_spaced_lambdas(0)
    q = X.expert_target_priors((1.0, 0.0, -1.0), torch.tensor([0.8, 0.2]))
    assert torch.allclose(q, torch.tensor([[0.8, 0.2], [0.5, 0.5], [0.2, 0.8]]))


class _Batch:
    def __init__(self, x, y, y_mix=None, lam=1.0):
        self.x, self.y, self.y_mix, self.lam = x, y, y_mix, lam

    def mix_loss(self, fn):
        if self.y_mix is None:
            return fn(self.y)
        return self.lam * fn(self.y) + (1 - self.lam) * fn(self.y_mix)


class _Data:
    train_counts = torch.tensor([40, 10, 2])


class _ThreeHeads(torch.nn.Module):
    num_experts = 3

    def __init__(self):
        super().__init__()
        self.heads = torch.nn.ModuleList(torch.nn.Linear(4, 3) for _ in range(3))

    def forward(self, x):
        return torch.stack([h(x) for h in self.heads])


def test_method_loss_mixup_and_known_prior():
    torch.manual_seed(0)
    model = _ThreeHeads()
    method = X.BalPoEMethod()
    method.setup(model, _Data(), 10, "cpu")
    x, y, y2 = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 0]), torch.tensor([1, 1, 0, 2, 0])
    lp = log_prior_of(_Data.train_counts / _Data.train_counts.sum())
    z = model(x)
    loss, terms = method.loss(model, _Batch(x, y, y2, 0.3), 0)
    want = 0.3 * method.balpoe.loss(z, y, lp) + 0.7 * method.balpoe.loss(z, y2, lp)
    assert torch.allclose(loss, want, atol=1e-6)
    assert set(terms) == {"expert_0", "expert_1", "expert_2"}
    assert torch.allclose(method.predict(model, x), z.mean(0))
    tlp = log_prior_of(torch.tensor([0.2, 0.3, 0.5]))
    assert torch.allclose(method.predict_for_prior(model, x, tlp), z.mean(0) + tlp)
    with pytest.raises(ValueError, match="num_experts=5"):
        X.BalPoEMethod(X.evenly_spaced_lambdas(5)).setup(model, _Data(), 10, "cpu")


def _tiny_data(x_shape, n=24, num_classes=3):
    from ltlab.data import LTData

    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0] * 14 + [1] * 7 + [2] * 3)[:n]
    return LTData(torch.randn(n, *x_shape, generator=g), y, torch.randn(9, *x_shape, generator=g),
                  torch.tensor([0, 1, 2] * 3), torch.bincount(y, minlength=num_classes),
                  [str(c) for c in range(num_classes)])


@pytest.mark.parametrize("arch", ["cnn1d", "resnet32"])
def test_balpoe_trains_with_fit_and_mixup_on_multi_expert_models(arch):
    from ltlab.models import CNN1D, ResNet32
    from ltlab.train import fit

    if arch == "cnn1d":
        model, data = CNN1D(num_classes=3, num_experts=3, cosine=True), _tiny_data((40,))
    else:
        model, data = ResNet32(num_classes=3, num_experts=3, cosine=True), _tiny_data((3, 32, 32))
    method = X.BalPoEMethod((1.0, 0.0, -1.0))
    history = fit(model, method, data, steps=3, batch_size=8, lr=0.01, mixup_alpha=0.4,
                  device="cpu", progress=False)
    assert set(history.terms) == {"expert_0", "expert_1", "expert_2"}
    assert all(torch.isfinite(torch.tensor(v)).all() for v in history.terms.values())
    # the method's prior came from the data's counts, and predictions are [N, C]
    assert torch.allclose(method.log_prior.exp(), data.train_prior, atol=1e-6)
    assert method.predict(model.eval(), data.x_test).shape == (9, 3)


def test_bad_ranges_and_priors_say_what_is_wrong():
    with pytest.raises(ValueError, match="need low <= high"):
        X.evenly_spaced_lambdas(3, low=1.0, high=-1.0)
    with pytest.raises(ValueError, match="high must be a finite number"):
        X.midpoint_lambdas(2, high=float("inf"))
    with pytest.raises(ValueError, match="zero entries"):
        X.expert_target_priors((1.0, -1.0), [1.0, 0.0])
    with pytest.raises(ValueError, match="sum to 1"):
        X.expert_target_priors((1.0, -1.0), [0.5, 0.6])
    assert X.BalPoE(0.0).num_experts == 1  # a single number is one expert


def test_miscalibrated_logits_bias_the_balanced_decision_as_derived():
    g = torch.Generator().manual_seed(0)
    ll = torch.randn(500, 4, generator=g, dtype=torch.float64) * 2  # log p(x|y)
    lp = torch.tensor([0.6, 0.25, 0.1, 0.05], dtype=torch.float64).log()
    for lam in (1.0, 0.0, -1.0):
        # calibrated (T = 1): z - λ log π is log p(x|y) up to a per-row constant
        z = X.miscalibrated_logits(ll, lp, lam, 1.0)
        d = z - lam * lp - ll
        assert torch.allclose(d, d[:, :1].expand_as(d), atol=1e-10)
        # any T: z = T log p(x|y) + (T - 1 + λ) log π + c(x), computed independently
        for t in (0.5, 2.0):
            z = X.miscalibrated_logits(ll, lp, lam, t)
            d = z - (t * ll + (t - 1 + lam) * lp)
            assert torch.allclose(d, d[:, :1].expand_as(d), atol=1e-10)
    # over-confident LA models predict the head more often than the Bayes rule, under-confident less
    bayes = torch.bincount(ll.argmax(1), minlength=4)
    hot = torch.bincount(X.miscalibrated_logits(ll, lp, 0.0, 3.0).argmax(1), minlength=4)
    cold = torch.bincount(X.miscalibrated_logits(ll, lp, 0.0, 0.3).argmax(1), minlength=4)
    assert hot[0] > bayes[0] > cold[0]
    with pytest.raises(ValueError, match="temperature"):
        X.miscalibrated_logits(ll, lp, 0.0, 0.0)


def test_experts_is_the_contract_path_of_balpoe():
    """`ltlab.balpoe` holds the code; `ltlab.experts` re-exports the very same objects."""
    import ltlab.balpoe as B

    assert set(X.__all__) == set(B.__all__)
    for name in B.__all__:
        assert getattr(X, name) is getattr(B, name), name
    assert X.BalPoE.__module__ == "ltlab.balpoe"
    assert "Taught in: notebook 02" in B.__doc__
