"""Malformed input to the core (issue 25): every call below used to return a wrong number
without a word, or to fail deep inside torch with a message that blamed another argument.
Each must now raise the named exception with a message that names the argument (and, where
there is one, says what to pass instead); the positive controls show that valid input of the
same shape still gives the right answer.
"""

from __future__ import annotations

import math

import pytest
import torch

from ltlab.analysis import class_mean_cosines, frequency_groups, group_accuracy
from ltlab.augment import hflip, shift_signal
from ltlab.data import GaussianMixtureLT, digits_lt, mnist1d_lt, ssl_split
from ltlab.flexda import PriorEstimator, flexda_supervised_loss
from ltlab.label_shift import BBSEWarning, bbse_prior, calibrated_probs
from ltlab.losses import (
    LDAMDRW,
    ClassBalancedLoss,
    CrossEntropyPostHoc,
    adjust_logits,
    ldam_loss,
    log_prior_of,
    logit_adjusted_cross_entropy,
)
from ltlab.metrics import (
    accuracy,
    balanced_accuracy,
    expected_calibration_error,
    mean_interval,
    negative_log_likelihood,
    paired_interval,
    per_class_accuracy,
    reliability_bins,
    shot_accuracy,
    summary,
)
from ltlab.models import CosineClassifier
from ltlab.priors import tempered
from ltlab.semi_supervised import FlexDA

Z = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [0.0, 2.0, 0.0]])
Y = torch.tensor([0, 1, 2, 2])
P = Z.softmax(1)


def _with(t: torch.Tensor, row: int, col: int, value: float) -> torch.Tensor:
    t = t.clone()
    t[row, col] = value
    return t


NAN_Z = _with(Z, 1, 1, math.nan)
INF_Z = _with(Z, 2, 0, math.inf)
NEG_INF_Z = _with(Z, 0, 0, -math.inf)
PRIOR = torch.tensor([0.6, 0.3, 0.1])


def _small_pool():
    return GaussianMixtureLT(num_classes=3, imbalance_ratio=1, max_count=40).dataset(10)


# (id, call, exception, words the message must contain: the argument first)
CASES = [
    # metrics on NaN / inf: argmax of a NaN row is class 0, a silent class-0 predictor
    ("accuracy-nan", lambda: accuracy(NAN_Z, Y), ValueError, ["logits", "NaN or inf"]),
    ("accuracy-inf", lambda: accuracy(INF_Z, Y), ValueError, ["logits", "NaN or inf"]),
    ("balanced-accuracy-neg-inf", lambda: balanced_accuracy(NEG_INF_Z, Y), ValueError,
     ["logits", "NaN or inf"]),
    ("per-class-accuracy-nan", lambda: per_class_accuracy(NAN_Z, Y), ValueError, ["logits"]),
    ("shot-accuracy-nan", lambda: shot_accuracy(NAN_Z, Y, [200, 50, 5]), ValueError,
     ["logits"]),
    ("summary-inf", lambda: summary(INF_Z, Y, [200, 50, 5]), ValueError, ["logits"]),
    ("ece-nan-probs", lambda: expected_calibration_error(_with(P, 0, 0, math.nan), Y),
     ValueError, ["probs", "NaN or inf"]),
    ("nll-inf-probs", lambda: negative_log_likelihood(_with(P, 0, 0, math.inf), Y), ValueError,
     ["probs"]),
    ("reliability-bins-nan-probs", lambda: reliability_bins(_with(P, 3, 2, math.nan), Y),
     ValueError, ["probs"]),
    # shot groups of classes that do not exist, or an error that blames the targets
    ("shot-accuracy-counts-too-long", lambda: shot_accuracy(Z, Y, [200, 50, 5, 1]), ValueError,
     ["train_counts", "expected length 3"]),
    ("shot-accuracy-counts-too-short", lambda: shot_accuracy(Z, Y, [200, 50]), ValueError,
     ["train_counts", "expected length 3"]),
    # post-hoc adjustment by a zero prior sends every prediction to the empty class
    ("posthoc-zero-prior", lambda: CrossEntropyPostHoc(prior=[0.5, 0.5, 0.0]), ValueError,
     ["prior", "zero entries", "Smooth"]),
    ("posthoc-zero-count", lambda: CrossEntropyPostHoc(counts=[5, 5, 0]), ValueError,
     ["counts", "empty classes"]),
    # the classic mistake: the prior where the log-prior belongs
    ("la-loss-prior-not-log-prior", lambda: logit_adjusted_cross_entropy(Z, Y, PRIOR),
     ValueError, ["log_prior", "prior.log()"]),
    ("adjust-logits-prior-not-log-prior", lambda: adjust_logits(Z, PRIOR), ValueError,
     ["log_prior", "prior.log()"]),
    ("la-loss-negative-soft-targets",
     lambda: logit_adjusted_cross_entropy(Z, torch.tensor([[1.5, -0.5, 0.0]] * 4),
                                          log_prior_of(PRIOR)),
     ValueError, ["targets", "negative"]),
    ("la-loss-all-zero-soft-targets",
     lambda: logit_adjusted_cross_entropy(Z, torch.zeros(4, 3), log_prior_of(PRIOR)),
     ValueError, ["targets", "sum to 1"]),
    ("la-loss-soft-targets-not-summing-to-one",
     lambda: logit_adjusted_cross_entropy(Z, torch.full((4, 3), 0.5), log_prior_of(PRIOR)),
     ValueError, ["targets", "sum to 1"]),
    # momentum 1 freezes the estimate at uniform
    ("prior-estimator-momentum-one", lambda: PriorEstimator(3, momentum=1.0), ValueError,
     ["momentum", "[0, 1)"]),
    ("prior-estimator-prior-momentum-one", lambda: PriorEstimator(3, prior_momentum=1.0),
     ValueError, ["prior_momentum", "[0, 1)"]),
    ("prior-estimator-momentum-negative", lambda: PriorEstimator(3, prior_momentum=-0.1),
     ValueError, ["prior_momentum"]),
    ("flexda-momentum-one", lambda: FlexDA(momentum=1.0), ValueError, ["momentum", "[0, 1)"]),
    ("flexda-prior-momentum-one", lambda: FlexDA(prior_momentum=1.0), ValueError,
     ["prior_momentum", "[0, 1)"]),
    # FlexDA's supervised loss: torch broadcast / index errors before
    ("flexda-loss-labeled-prior-length",
     lambda: flexda_supervised_loss(Z, Y, [0.5, 0.5], PRIOR), ValueError,
     ["labeled_prior", "3 classes"]),
    ("flexda-loss-q-alpha-length",
     lambda: flexda_supervised_loss(Z, Y, PRIOR, [0.25] * 4), ValueError, ["q_alpha"]),
    ("flexda-loss-targets-length",
     lambda: flexda_supervised_loss(Z, Y[:3], PRIOR, PRIOR), ValueError, ["targets"]),
    ("flexda-loss-targets-out-of-range",
     lambda: flexda_supervised_loss(Z, torch.tensor([0, 1, 2, 3]), PRIOR, PRIOR), ValueError,
     ["targets"]),
    # NaN parameters used to give NaN losses / data
    ("ldam-scale-nan", lambda: ldam_loss(Z, Y, torch.full((3,), 0.1), scale=math.nan),
     ValueError, ["scale"]),
    ("mixture-radius-nan", lambda: GaussianMixtureLT(radius=math.nan), ValueError, ["radius"]),
    ("mixture-sample-counts-length",
     lambda: GaussianMixtureLT(num_classes=3, imbalance_ratio=1).sample_counts([5, 5]),
     ValueError, ["counts", "3 classes"]),
    # data splits that ran on
    ("ssl-split-negative-unlabeled-max",
     lambda: ssl_split(_small_pool(), 10, -5, 2, profile="uniform"), ValueError,
     ["unlabeled_max", ">= 1"]),
    ("ssl-split-zero-labeled-max", lambda: ssl_split(_small_pool(), 0, 5, 2), ValueError,
     ["labeled_max"]),
    ("mnist1d-test-per-class-zero", lambda: mnist1d_lt(test_per_class=0), ValueError,
     ["test_per_class", ">= 1"]),
    ("digits-test-per-class-zero", lambda: digits_lt(test_per_class=0), ValueError,
     ["test_per_class"]),
    # applying a BCTS fit with a bias of the wrong length
    ("calibrated-probs-bias-length", lambda: calibrated_probs(Z, 2.0, [0.0, 1.0]), ValueError,
     ["bias", "length 3"]),
    # statistics over seeds: a NaN seed made the whole interval NaN
    ("mean-interval-nan", lambda: mean_interval([0.5, math.nan, 0.7]), ValueError,
     ["values[1]", "finite"]),
    ("paired-interval-nan", lambda: paired_interval([0.5, 0.6], [0.4, math.nan]), ValueError,
     ["b[1]", "finite"]),
    # analysis helpers of notebook 06
    ("group-accuracy-counts-length", lambda: group_accuracy(Z, Y, [100, 50, 20, 5]),
     ValueError, ["train_counts", "expected length 3"]),
    ("frequency-groups-negative-counts", lambda: frequency_groups([100, -5, 20]), ValueError,
     ["train_counts", "non-negative"]),
    ("class-mean-cosines-label-out-of-range",
     lambda: class_mean_cosines(torch.randn(4, 2), torch.tensor([0, 1, 2, 3]), 3), ValueError,
     ["labels", "[0, 2]"]),
    ("cosine-head-scale-nan", lambda: CosineClassifier(4, 3, scale=math.nan), ValueError,
     ["scale"]),
    # methods refuse bad settings when built, not at the first training step
    ("ldam-drw-scale-nan", lambda: LDAMDRW(scale=math.nan), ValueError, ["scale"]),
    ("class-balanced-beta-one", lambda: ClassBalancedLoss(beta=1.0), ValueError,
     ["beta", "[0, 1)"]),
    # augmentations: a probability above 1 flipped everything, a negative shift hit torch
    ("hflip-p-above-one", lambda: hflip(torch.zeros(2, 1, 4, 4), torch.Generator(), p=1.5),
     ValueError, ["p", "[0, 1]"]),
    ("shift-signal-negative", lambda: shift_signal(torch.zeros(2, 8), -3, torch.Generator()),
     ValueError, ["max_shift", ">= 0"]),
    ("shift-signal-images", lambda: shift_signal(torch.zeros(2, 1, 4, 4), 2, torch.Generator()),
     ValueError, ["x", "[N, L]"]),
]


@pytest.mark.parametrize("call, exc, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input_raises_a_clear_error(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


# ----------------------------------------------------------------------------- positive controls
def test_metrics_on_valid_logits_still_score():
    # predictions 0, 1, 2, 1 against 0, 1, 2, 2: three of four right, class 2 half right
    assert accuracy(Z, Y) == 0.75
    assert balanced_accuracy(Z, Y) == pytest.approx((1 + 1 + 0.5) / 3)
    assert shot_accuracy(Z, Y, [200, 50, 5]) == {"many": 1.0, "medium": 1.0, "few": 0.5}
    # predicted labels [N] are still accepted (no logits columns to check against)
    assert accuracy(torch.tensor([0, 1, 2, 1]), Y) == 0.75


def test_posthoc_adjustment_with_a_positive_prior_still_predicts():
    method = CrossEntropyPostHoc(prior=[0.5, 0.3, 0.2])
    z = torch.zeros(2, 3)
    got = method.predict(lambda x: x, z)
    assert torch.allclose(got, -log_prior_of([0.5, 0.3, 0.2]).expand(2, 3))
    assert got.argmax(1).tolist() == [2, 2]  # the rarest class wins a tie of raw logits


def test_log_prior_and_soft_targets_that_are_right_still_work():
    lp = log_prior_of(PRIOR)
    hard = logit_adjusted_cross_entropy(Z, Y, lp)
    soft = logit_adjusted_cross_entropy(Z, torch.nn.functional.one_hot(Y, 3).float(), lp)
    assert torch.allclose(hard, soft)
    assert torch.allclose(hard, torch.nn.functional.cross_entropy(Z + lp, Y))
    # a degenerate but legal log-prior (one class holds everything) is not mistaken for a prior
    assert torch.isfinite(adjust_logits(Z, log_prior_of([1.0, 0.0, 0.0]))).all()


def test_momentum_alias_and_its_edge_zero_still_work():
    est = PriorEstimator(2, momentum=0.5)
    assert est.prior_momentum == est.momentum == 0.5
    assert est.update(torch.tensor([[1.0, 0.0]])).tolist() == [0.75, 0.25]
    assert PriorEstimator(2, prior_momentum=0.0).update(torch.tensor([[1.0, 0.0]])).tolist() == [
        1.0, 0.0]


def test_flexda_supervised_loss_is_the_adjusted_cross_entropy():
    q = torch.tensor([0.2, 0.3, 0.5])
    want = torch.nn.functional.cross_entropy(Z + (PRIOR.log() - q.log()).float(), Y)
    assert torch.allclose(flexda_supervised_loss(Z, Y, PRIOR, q), want, atol=1e-6)


def test_tempered_with_a_huge_alpha_is_the_one_hot_of_the_mode():
    got = tempered(PRIOR, 1e4)
    assert torch.isfinite(got).all() and got.tolist() == [1.0, 0.0, 0.0]
    assert tempered(PRIOR, 1.0).tolist() == pytest.approx(PRIOR.tolist())


def test_bbse_warns_on_a_singular_confusion_matrix_and_not_on_a_good_one():
    # the classifier never predicts class 2: row 2 of C is zero, C is singular
    src = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.6, 0.4, 0.0]] * 10)
    y = torch.tensor([0, 1, 2] * 10)
    with pytest.warns(BBSEWarning, match="unreliable") as record:
        prior = bbse_prior(src, y, src[:6])
    assert issubclass(BBSEWarning, UserWarning)
    assert "condition number" in str(record[0].message)
    assert torch.isfinite(prior).all() and float(prior.sum()) == pytest.approx(1.0)
    good = torch.eye(3).repeat(10, 1) * 0.8 + 0.2 / 3
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", BBSEWarning)
        est = bbse_prior(good, y, good[y == 0])
    assert est.argmax().item() == 0 and float(est[0]) == pytest.approx(1.0)


def test_intervals_and_analysis_on_valid_input_still_work():
    import numpy as np

    r = mean_interval([1.0, np.float32(2.0), torch.tensor(3.0)])  # numpy / torch numbers welcome
    assert r["mean"] == 2.0 and r["ci_low"] == pytest.approx(-0.484, abs=1e-3)
    assert paired_interval([2.0, 3.0, 4.0], [1.0, 1.0, 1.0])["mean"] == 2.0
    acc = group_accuracy(Z, Y, [100, 50, 5])
    assert acc["many"] == 1.0 and acc["few"] == 0.5 and acc["all"] == pytest.approx(2.5 / 3)
    cos = class_mean_cosines(torch.eye(3), torch.tensor([0, 1, 2]), 3, centre=False)
    assert torch.allclose(cos, torch.eye(3))


def test_mixture_and_splits_with_valid_arguments_still_build():
    gm = GaussianMixtureLT(num_classes=3, imbalance_ratio=1, max_count=40, radius=0.0)
    assert torch.equal(gm.means, torch.zeros(3, 2))  # radius 0 is legal: all means at 0
    data = ssl_split(_small_pool(), 10, 5, 2, profile="uniform")
    assert data.x_unlabeled.shape[0] == 15 and data.train_counts.tolist() == [10, 7, 5]
