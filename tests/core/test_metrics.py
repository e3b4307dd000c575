import math

import pytest
import torch
import torch.nn.functional as F

from ltlab.metrics import (
    accuracy,
    balanced_accuracy,
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    fit_temperature,
    maximum_calibration_error,
    negative_log_likelihood,
    per_class_accuracy,
    reliability_bins,
    shot_accuracy,
    shot_calibration_error,
    shot_groups,
)
from ltlab.priors import long_tailed_counts


def _probs(conf_and_label):
    """Two-class probabilities whose top-1 confidence and prediction are given."""
    rows = []
    for conf, pred in conf_and_label:
        rows.append([conf, 1 - conf] if pred == 0 else [1 - conf, conf])
    return torch.tensor(rows, dtype=torch.float64)


def test_accuracy_and_balanced_accuracy_by_hand():
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    y = torch.tensor([0, 0, 0, 1, 1])
    assert accuracy(logits, y) == pytest.approx(4 / 5)
    assert per_class_accuracy(logits, y).tolist() == [1.0, 0.5]
    assert balanced_accuracy(logits, y) == pytest.approx(0.75)
    assert accuracy(torch.tensor([0, 1]), torch.tensor([0, 0])) == 0.5  # labels work too
    pc = per_class_accuracy(logits, y, num_classes=3)
    assert math.isnan(pc[2])  # absent class: NaN, excluded from the mean
    assert balanced_accuracy(logits, y, num_classes=3) == pytest.approx(0.75)


def test_shot_groups_of_cifar100_lt_ir100():
    g = shot_groups(long_tailed_counts(100, 500, 100))
    assert [len(g[k]) for k in ("many", "medium", "few")] == [35, 35, 30]
    g50 = shot_groups(long_tailed_counts(100, 500, 50))
    assert [len(g50[k]) for k in ("many", "medium", "few")] == [41, 41, 18]


def test_shot_accuracy_by_hand():
    counts = torch.tensor([500, 50, 5])
    logits = F.one_hot(torch.tensor([0, 0, 1, 0, 2, 2]), 3).float()
    y = torch.tensor([0, 0, 1, 1, 2, 0])
    out = shot_accuracy(logits, y, counts)
    # class 0: 2/3 correct, class 1: 1/2, class 2: 1/1
    assert out == pytest.approx({"many": 2 / 3, "medium": 0.5, "few": 1.0})
    assert math.isnan(shot_accuracy(logits, y, counts, many=1000, few=1)["many"])


def test_ece_by_hand_with_the_edges():
    # 15 bins of width 1/15; confidences on bin edges go to the bin below: (lo, hi]
    p = _probs([(1.0, 0), (0.8, 0), (0.8, 1), (0.6, 0)])
    y = torch.tensor([0, 1, 1, 1])
    # bins: 1.0 -> last bin (acc 1, conf 1); 0.8 -> bin (0.7333, 0.8] twice (acc 1/2, conf .8);
    # 0.6 -> (0.5333, 0.6] (acc 0, conf 0.6)
    expected = (1 * 0 + 2 * abs(0.5 - 0.8) + 1 * abs(0 - 0.6)) / 4
    assert expected_calibration_error(p, y) == pytest.approx(expected)
    assert maximum_calibration_error(p, y) == pytest.approx(0.6)
    bins = reliability_bins(p, y)
    assert bins["count"][-1] == 1 and bins["count"][11] == 2 and bins["count"][8] == 1
    assert int(bins["count"].sum()) == 4
    assert torch.isnan(bins["accuracy"][0])  # empty bins are NaN


def test_ece_single_sample_and_all_confident():
    p = _probs([(0.9, 0)])
    assert expected_calibration_error(p, torch.tensor([0])) == pytest.approx(0.1)
    assert expected_calibration_error(p, torch.tensor([1])) == pytest.approx(0.9)
    ones = torch.eye(3)[[0, 1, 2, 0]]
    assert expected_calibration_error(ones, torch.tensor([0, 1, 2, 0])) == 0.0
    assert expected_calibration_error(ones, torch.tensor([1, 1, 2, 0])) == pytest.approx(0.25)


def test_edge_convention_differs_from_left_closed_bins():
    # confidence exactly 0.8 with 10 bins: (lo, hi] puts it in (0.7, 0.8]; [lo, hi) in [0.8, 0.9)
    p = _probs([(0.8, 0), (0.75, 0)])
    y = torch.tensor([0, 1])
    ours = expected_calibration_error(p, y, n_bins=10)
    # both samples share the bin (0.7, 0.8]: |1/2 - 0.775| = 0.275
    assert ours == pytest.approx(0.275)
    # the [lo, hi) convention (torchmetrics) separates them: (|1-.8| + |0-.75|) / 2 = 0.475
    conf = torch.tensor([0.8, 0.75])
    left_closed = torch.floor(conf * 10).long()
    assert left_closed.tolist() == [8, 7]


def test_bad_calibration_input():
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="sum to 1"):
        expected_calibration_error(torch.tensor([[0.5, 0.4], [0.5, 0.5]]), y)
    with pytest.raises(ValueError, match="softmax"):
        expected_calibration_error(torch.tensor([[2.0, -1.0], [0.5, 0.5]]), y)
    with pytest.raises(ValueError, match="lengths must match"):
        expected_calibration_error(torch.tensor([[0.5, 0.5]]), y)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(torch.tensor([[0.5, 0.5], [0.5, 0.5]]), y, n_bins=0)
    with pytest.raises(ValueError, match="NaN"):
        negative_log_likelihood(torch.tensor([[math.nan, 0.5], [0.5, 0.5]]), y)


def test_nll_brier_classwise_by_hand():
    p = torch.tensor([[0.7, 0.3], [0.4, 0.6]])
    y = torch.tensor([0, 0])
    assert negative_log_likelihood(p, y) == pytest.approx(-(math.log(0.7) + math.log(0.4)) / 2)
    assert brier_score(p, y) == pytest.approx(((0.3**2 + 0.3**2) + (0.6**2 + 0.6**2)) / 2)
    # class-wise: class 0 probs 0.7 (bin 10, hit) and 0.4 (bin 5, hit): |1-.7| + |1-.4|
    # class 1 probs 0.3 and 0.6, never hit: .3 + .6; each divided by N=2, then averaged
    expected = ((0.3 + 0.6) / 2 + (0.3 + 0.6) / 2) / 2
    assert classwise_calibration_error(p, y) == pytest.approx(expected)


def test_shot_calibration_error_restricts_to_each_group():
    counts = torch.tensor([500, 50, 5])
    p = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    y = torch.tensor([0, 1, 0])
    out = shot_calibration_error(p, y, counts)
    assert out["many"] == pytest.approx((0.1 + 0.8) / 2)  # samples with y = 0
    assert out["medium"] == pytest.approx(0.2)
    assert math.isnan(out["few"])


def test_fit_temperature_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(0)
    true_logits = 3 * torch.randn(20000, 10, generator=g)
    y = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=g).squeeze(1)
    t = fit_temperature(true_logits * 2.5, y)  # over-confident by a factor 2.5
    assert t == pytest.approx(2.5, rel=0.05)
    with pytest.raises(ValueError, match="shape"):
        fit_temperature(torch.zeros(5), torch.zeros(5, dtype=torch.long))


def test_intervals_match_scipy_and_pair_by_seed():
    import numpy as np
    from scipy import stats

    from ltlab.metrics import mean_interval, paired_interval

    a, b = [0.61, 0.58, 0.66, 0.63, 0.60], [0.55, 0.54, 0.60, 0.59, 0.52]
    low, high = stats.t.interval(0.95, len(a) - 1, loc=np.mean(a), scale=stats.sem(a))
    r = mean_interval(a)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((low, high), abs=1e-12)
    d = np.subtract(a, b)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    p = paired_interval(a, b)
    assert (p["mean"], p["ci_low"], p["ci_high"]) == pytest.approx((d.mean(), low, high))
    # paired differences remove the seed-to-seed spread both methods share
    assert p["ci_high"] - p["ci_low"] < r["ci_high"] - r["ci_low"]
    with pytest.raises(ValueError, match="same, non-empty seeds"):
        paired_interval(a, b[:3])
