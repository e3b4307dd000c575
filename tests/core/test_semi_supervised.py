"""ltlab.semi_supervised: FixMatch / FlexDA / ADELLO methods inside `ltlab.train.fit`."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ltlab.augment import image_strong, image_weak, signal_strong, signal_weak
from ltlab.data import GaussianMixtureLT, ssl_split
from ltlab.flexda import imbalance_temperature, smoothed_prior
from ltlab.models import MLP
from ltlab.semi_supervised import ADELLO, FixMatch, FlexDA, default_views
from ltlab.train import Batch, CrossEntropy, fit


def _identity(x, g):
    return x


@pytest.fixture(scope="module")
def ssl_data():
    pool = GaussianMixtureLT(num_classes=4, dim=2, imbalance_ratio=1, max_count=400,
                             radius=4.0).dataset(test_per_class=100)
    return ssl_split(pool, 100, 150, 10, "reversed", include_labeled_in_unlabeled=True)


def _batch(data, n=12, m=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(0, data.x_train.shape[0], (n,), generator=g)
    u = torch.randint(0, data.x_unlabeled.shape[0], (m,), generator=g)
    return Batch(x=data.x_train[i], y=data.y_train[i], index=i, x_unlabeled=data.x_unlabeled[u],
                 index_unlabeled=u, generator=torch.Generator().manual_seed(seed))


def _model(seed=0):
    torch.manual_seed(seed)
    return MLP(2, 4, hidden=(16,))


def test_fixmatch_loss_against_direct_computation(ssl_data):
    method = FixMatch(threshold=0.6, weak=_identity, strong=lambda x, g: 0.5 * x)
    method.setup(None, ssl_data, 100, "cpu")
    model, batch = _model(), _batch(ssl_data)
    loss, terms = method.loss(model, batch, 0)
    z_l, z_w, z_s = model(batch.x), model(batch.x_unlabeled), model(0.5 * batch.x_unlabeled)
    p = torch.softmax(z_w, 1)
    mask = (p.max(1).values >= 0.6).float()
    expect = F.cross_entropy(z_l, batch.y) + (
        F.cross_entropy(z_s, p.argmax(1), reduction="none") * mask).sum() / batch.x_unlabeled.shape[0]
    assert torch.allclose(loss, expect, atol=1e-5)
    assert math.isclose(float(terms["mask_rate"]), float(mask.mean()), abs_tol=1e-6)


def test_flexda_at_step_zero_is_logit_adjustment_plus_fixmatch(ssl_data):
    """Q̂ starts uniform and alpha_0 = 1: L_s = CE(z + log P_L), L_u = FixMatch's."""
    flex = FlexDA(threshold=0.6, weak=_identity, strong=lambda x, g: 0.5 * x)
    flex.setup(None, ssl_data, 100, "cpu")
    fm = FixMatch(threshold=0.6, weak=_identity, strong=lambda x, g: 0.5 * x)
    fm.setup(None, ssl_data, 100, "cpu")
    model, batch = _model(), _batch(ssl_data)
    loss, terms = flex.loss(model, batch, 0)
    la = F.cross_entropy(model(batch.x) + torch.log(ssl_data.train_prior), batch.y)
    _, fm_terms = fm.loss(model, batch, 0)
    assert torch.allclose(terms["supervised"], la, atol=1e-5)
    assert torch.allclose(terms["consistency"], fm_terms["consistency"], atol=1e-6)
    assert torch.allclose(loss, la + fm_terms["consistency"], atol=1e-5)


def test_flexda_losses_use_the_previous_estimate_then_update_it(ssl_data):
    flex = FlexDA(threshold=0.6, momentum=0.9, weak=_identity, strong=_identity)
    flex.setup(None, ssl_data, 10, "cpu")
    model = _model()
    q_before = flex.q_hat.clone()
    batch = _batch(ssl_data, seed=1)
    flex.loss(model, batch, 0)
    probs = torch.softmax(model(batch.x_unlabeled), 1).double()
    assert torch.allclose(flex.q_hat, 0.9 * q_before + 0.1 * probs.mean(0), atol=1e-6)
    # step 5 of 10: alpha = 1 - 0.9 * 0.25; the supervised loss uses Q̂ as it stood
    q_prev = flex.q_hat.clone()
    batch = _batch(ssl_data, seed=2)
    _, terms = flex.loss(model, batch, 5)
    qa = smoothed_prior(q_prev, 1 - 0.9 * 0.25)
    adj = torch.log((ssl_data.train_prior.double() + 1e-9) / (qa + 1e-9)).float()
    assert torch.allclose(terms["supervised"], F.cross_entropy(model(batch.x) + adj, batch.y),
                          atol=1e-5)
    assert math.isclose(terms["alpha"], 1 - 0.9 * 0.25)


def test_labeled_copies_can_be_left_out_of_the_estimate(ssl_data):
    # include_labeled_in_unlabeled=True put the labeled samples first in the unlabeled stream
    n_lab = ssl_data.x_train.shape[0]
    flex = FlexDA(momentum=0.5, mask_labeled_copies=True, weak=_identity, strong=_identity)
    flex.setup(None, ssl_data, 10, "cpu")
    assert flex.is_copy is not None and int(flex.is_copy.sum()) == n_lab
    model = _model()
    batch = _batch(ssl_data)
    batch.index_unlabeled = torch.arange(4)  # only labeled copies: nothing changes
    batch.x_unlabeled = ssl_data.x_unlabeled[:4]
    before = flex.q_hat.clone()
    flex.loss(model, batch, 0)
    assert torch.equal(flex.q_hat, before)


def test_adello_temperature_paths(ssl_data):
    model = _model()
    paper = ADELLO(distill_start=0.5, momentum=0.5, weak=_identity, strong=_identity)
    paper.setup(None, ssl_data, 10, "cpu")
    for step in range(5):
        _, terms = paper.loss(model, _batch(ssl_data, seed=step), step)
        assert "distillation" not in terms
    q_at_start = paper.q_hat.clone()
    _, terms = paper.loss(model, _batch(ssl_data, seed=5), 5)
    assert "distillation" in terms
    assert math.isclose(float(paper.distill_temperature), imbalance_temperature(q_at_start))
    frozen = float(paper.distill_temperature)
    paper.loss(model, _batch(ssl_data, seed=6), 6)
    assert float(paper.distill_temperature) == frozen  # computed once, then frozen
    released = ADELLO(distill_start=0.0, temperature="released", weak=_identity, strong=_identity)
    released.setup(None, ssl_data, 10, "cpu")
    assert released._temperature(paper.q_hat) == 1.0


def test_fixed_prior_mode_never_moves(ssl_data):
    q = torch.bincount(ssl_data.y_unlabeled, minlength=4).float()
    q = q / q.sum()
    fixed = FlexDA(fixed_prior=q, weak=_identity, strong=_identity)
    fixed.setup(None, ssl_data, 10, "cpu")
    fixed.loss(_model(), _batch(ssl_data), 0)
    assert torch.allclose(fixed.q_hat.float(), q, atol=1e-6)
    assert torch.allclose(fixed.alignment_target.float(), q, atol=1e-6)


def _manual_oracle_loss(model, batch, labeled_prior, q_true, q_online, alpha, threshold, temp):
    """The reference's adello_gt, written out with plain torch (no ltlab.flexda helpers):
    L_s = CE(z + log(P_L / Q^a)), L_u = mean M CE(z_s + log(Q̂ / Q^a), yhat),
    L_uC = mean (1 - M) H(softmax(z_w / T), softmax((z_s + log(Q̂ / Q^a)) / T))."""
    eps = 1e-9
    qa = q_true.double() ** alpha
    qa = qa / qa.sum()
    z_l, z_w, z_s = model(batch.x), model(batch.x_unlabeled), model(batch.x_unlabeled)
    sup = F.cross_entropy(z_l + torch.log((labeled_prior.double() + eps) / (qa + eps)).float(),
                          batch.y)
    p_w = torch.softmax(z_w.detach(), 1)
    mask = (p_w.max(1).values >= threshold).float()
    adj = torch.log((q_online.double() + eps) / (qa + eps)).float()
    unsup = (F.cross_entropy(z_s + adj, p_w.argmax(1), reduction="none") * mask).mean()
    teacher = torch.softmax(z_w.detach() / temp, 1)
    student = torch.log_softmax((z_s + adj) / temp, 1)
    dist = (-(teacher * student).sum(1) * (1 - mask)).mean()
    return sup, unsup, dist


def test_oracle_aligns_to_the_true_prior_but_keeps_the_online_estimate(ssl_data):
    """``unlabeled_prior`` is adello_gt: Q only in the target, Q̂ in the numerator and in T."""
    q = torch.bincount(ssl_data.y_unlabeled, minlength=4).double()
    q = q / q.sum()
    oracle = ADELLO(unlabeled_prior=q, threshold=0.6, momentum=0.5, distill_start=0.0,
                    weak=_identity, strong=_identity)
    oracle.setup(None, ssl_data, 10, "cpu")
    model = _model()
    q_online = torch.full((4,), 0.25, dtype=torch.float64)
    # T = exp(KL(u || Q̂)) at the first distillation step (step 0 here), then frozen
    temp = math.exp(float((0.25 * torch.log(0.25 / q_online)).sum()))
    for step in range(4):
        batch = _batch(ssl_data, seed=step)
        alpha = 1 - 0.9 * (step / 10) ** 2
        loss, terms = oracle.loss(model, batch, step)
        sup, unsup, dist = _manual_oracle_loss(model, batch, ssl_data.train_prior, q, q_online,
                                               alpha, 0.6, temp)
        assert torch.allclose(terms["supervised"], sup, atol=1e-5)
        assert torch.allclose(terms["consistency"], unsup, atol=1e-5)
        assert torch.allclose(terms["distillation"], dist, atol=1e-5)
        assert torch.allclose(loss, sup + unsup + dist, atol=1e-5)
        # the online estimate keeps moving (EMA of the soft weak predictions), Q stays the target
        probs = torch.softmax(model(batch.x_unlabeled), 1).double().detach()
        q_online = 0.5 * q_online + 0.5 * probs.mean(0)
        assert torch.allclose(oracle.q_hat, q_online, atol=1e-6)
        assert not torch.allclose(oracle.q_hat, q, atol=1e-3)
    assert torch.allclose(oracle.alignment_target, q)


def test_oracle_and_fixed_prior_differ_and_cannot_be_combined(ssl_data):
    q = torch.tensor([0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="not both"):
        FlexDA(unlabeled_prior=q, fixed_prior=q)
    model, batch = _model(), _batch(ssl_data, seed=3)
    losses = {}
    for name, kwargs in (("oracle", dict(unlabeled_prior=q)), ("fixed", dict(fixed_prior=q))):
        m = FlexDA(threshold=0.3, weak=_identity, strong=_identity, **kwargs)
        m.setup(None, ssl_data, 10, "cpu")
        losses[name] = m.loss(model, batch, 5)[1]
    # same target, so the same supervised loss; a different consistency numerator (Q̂ vs Q)
    assert torch.allclose(losses["oracle"]["supervised"], losses["fixed"]["supervised"])
    assert not torch.allclose(losses["oracle"]["consistency"], losses["fixed"]["consistency"])


def test_methods_train_inside_fit_and_keep_state(ssl_data, tmp_path):
    model = _model()
    method = FlexDA(momentum=0.9, trace_every=5, weak=_identity, strong=_identity)
    hist = fit(model, method, ssl_data, steps=20, batch_size=32, lr=0.05, unlabeled_ratio=2,
               device="cpu", progress=False, checkpoint=tmp_path / "ck.pt")
    assert len(hist.step_terms["consistency"]) == 20
    assert method.trace["step"][-1] == 20 and len(method.trace["em"]) == len(method.trace["step"])
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert torch.allclose(state["method"]["estimator.prior"], method.q_hat)


def test_bad_use_raises_clear_errors(ssl_data):
    method = FixMatch()
    with pytest.raises(ValueError, match="unlabeled"):
        method.setup(None, ssl_data.__class__(ssl_data.x_train, ssl_data.y_train, ssl_data.x_test,
                                              ssl_data.y_test, ssl_data.train_counts,
                                              ssl_data.classes), 10, "cpu")
    with pytest.raises(ValueError, match="unlabeled_ratio"):
        method.loss(_model(), Batch(x=ssl_data.x_train[:4], y=ssl_data.y_train[:4],
                                    index=torch.arange(4)), 0)
    with pytest.raises(ValueError, match="threshold"):
        FixMatch(threshold=1.5)
    with pytest.raises(ValueError, match="alpha_min"):
        FlexDA(alpha_min=2.0)
    with pytest.raises(ValueError, match="temperature"):
        ADELLO(temperature=-1.0)


def test_image_strong_view_keeps_shape_and_cuts_a_hole():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 32, 32, generator=g) + 3.0
    y = image_strong(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    assert ((y == 0).flatten(1).sum(1) >= 3 * 8 * 8).all()  # the cutout is at least 8x8


def test_default_views_follow_the_input_shape():
    assert default_views(torch.zeros(2, 40)) == (signal_weak, signal_strong)
    assert default_views(torch.zeros(2, 3, 8, 8)) == (image_weak, image_strong)
    with pytest.raises(ValueError, match="weak= and strong="):
        default_views(torch.zeros(2, 3, 8))


def test_flexda_supervised_loss_mixes_soft_targets(ssl_data):
    """With mixup, L_s is lam CE(., y_a) + (1 - lam) CE(., y_b) of the adjusted logits."""
    from ltlab.flexda import flexda_supervised_loss

    flex = FlexDA(threshold=0.6, weak=_identity, strong=_identity)
    flex.setup(None, ssl_data, 10, "cpu")
    model, batch = _model(), _batch(ssl_data)
    batch.y_mix, batch.lam = batch.y.flip(0), 0.3
    qa = flex.q_hat.clone()  # alpha_0 = 1: Q̂_alpha is the estimate before the step
    _, terms = flex.loss(model, batch, 0)
    z = model(batch.x)
    expect = 0.3 * flexda_supervised_loss(z, batch.y, flex.labeled_prior, qa) + \
        0.7 * flexda_supervised_loss(z, batch.y_mix, flex.labeled_prior, qa)
    assert torch.allclose(terms["supervised"], expect.detach(), atol=1e-6)


def test_crossentropy_is_untouched_by_ssl_batches(ssl_data):
    # a plain method ignores x_unlabeled: fit with unlabeled_ratio still trains it
    model = nn.Sequential(nn.Linear(2, 4))
    hist = fit(model, CrossEntropy(), ssl_data, steps=5, batch_size=16, unlabeled_ratio=1,
               device="cpu", progress=False)
    assert hist.total_steps == 5


# one step of FlexDA and of ADELLO, recorded with the inline losses of ltlab 0.1 before
# FlexDA.loss was routed through `ltlab.flexda`'s functions (the numbers must not move)
GOLDEN = {
    "FlexDA": dict(loss=0.8550301790237427, supervised=0.8248090147972107,
                   consistency=0.030221186578273773, mask_rate=0.0416666679084301, alpha=0.775,
                   grad_norm2=1.087760761362901),
    "ADELLO": dict(loss=2.1533849239349365, supervised=0.8248090147972107,
                   consistency=0.030221186578273773, mask_rate=0.0416666679084301, alpha=0.775,
                   distillation=1.2983547449111938, grad_norm2=1.1240665710694133),
}
GOLDEN_Q_HAT = [0.11505283071548456, 0.20759583839985762, 0.3003856903533945, 0.37696564053126336]
GOLDEN_Q_ALPHA = [0.12527649222400475, 0.21437188716364733, 0.29352058000553033,
                  0.3668310406068175]
GOLDEN_TEMPERATURE = 1.129502504512306


@pytest.mark.parametrize("cls", [FlexDA, ADELLO], ids=lambda c: c.__name__)
def test_one_step_golden_numbers(ssl_data, cls):
    torch.manual_seed(0)
    model = MLP(2, 4, hidden=(16,))
    method = cls(threshold=0.6, momentum=0.9, distill_start=0.0, weak=_identity,
                 strong=lambda x, g: 0.5 * x)
    method.setup(model, ssl_data, 10, "cpu")
    method.estimator.prior.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    loss, terms = method.loss(model, _batch(ssl_data, seed=3), 5)
    loss.backward()
    got = {"loss": float(loss.detach()), **{k: float(v) for k, v in terms.items()},
           "grad_norm2": float(sum(p.grad.double().pow(2).sum() for p in model.parameters()))}
    assert got == pytest.approx(GOLDEN[cls.__name__], rel=1e-6, abs=1e-9)
    assert method.q_hat.tolist() == pytest.approx(GOLDEN_Q_HAT, rel=1e-12)
    assert method.q_alpha.tolist() == pytest.approx(GOLDEN_Q_ALPHA, rel=1e-12)
    if cls is ADELLO:
        assert float(method.distill_temperature) == pytest.approx(GOLDEN_TEMPERATURE, rel=1e-12)


def test_driver_names_are_not_forwarded_before_the_release():
    import ltlab.semi_supervised as old

    for name in ("compare", "run_ssl", "make_ssl_data", "true_unlabeled_prior", "HARD_TO_EASY",
                 "quick_settings", "full_settings", "heldout_split", "reorder_classes"):
        with pytest.raises(AttributeError):
            getattr(old, name)  # they live in ltlab.experiments.flexda
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert old.FlexDA is FlexDA  # the methods stay


def test_prior_momentum_and_its_momentum_alias_are_one_setting():
    a = FlexDA(prior_momentum=0.9, weak=_identity, strong=_identity)
    b = FlexDA(momentum=0.9, weak=_identity, strong=_identity)
    assert a.prior_momentum == b.prior_momentum == 0.9
    assert FlexDA(0.1, 2.0, 0.8).prior_momentum == 0.8  # positional order kept
    with pytest.raises(ValueError, match="prior_momentum or its alias momentum"):
        FlexDA(prior_momentum=0.9, momentum=0.8)
