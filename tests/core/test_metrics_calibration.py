"""Calibration metrics (`ltlab.metrics.calibration`): ECE, MCE, the equal-mass ECE, the
over/under split, over-confidence, per-class and per-group errors, against hand
computations and an independent [lo, hi) implementation."""

from __future__ import annotations

import math

import pytest
import torch

from ltlab.metrics import (
    adaptive_calibration_error,
    calibration_error_split,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    overconfidence_error,
    per_class_calibration_error,
    shot_calibration_gap,
)


def two_class(confidences, correct):
    """Two-class probabilities whose top-label confidence and correctness are given."""
    conf = torch.tensor(confidences, dtype=torch.float64)
    probs = torch.stack([conf, 1 - conf], dim=1)
    targets = torch.tensor([0 if c else 1 for c in correct])
    return probs, targets


def ece_left_closed(probs, targets, n_bins=10):
    """An independent ECE with the [lo, hi) bins of torchmetrics-style libraries (1.0 goes
    to the last bin), written directly from the definition."""
    conf, pred = probs.max(1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        mask = (conf >= lo) & ((conf < hi) if b < n_bins - 1 else (conf <= hi))
        if mask.any():
            acc = (pred[mask] == targets[mask]).double().mean()
            total += float(mask.sum()) * abs(float(acc - conf[mask].mean()))
    return total / conf.numel()


# ----------------------------------------------------------------------------- ECE / MCE / ACE
def test_ece_and_mce_by_hand():
    # 10 bins of width 0.1: (0.5, 0.6] holds .55 (correct) and .58 (wrong): acc .5, conf .565
    # (0.9, 1.0] holds .95 and .97 (both correct): acc 1, conf .96
    probs, y = two_class([0.55, 0.58, 0.95, 0.97], [True, False, True, True])
    ece = (2 * abs(0.5 - 0.565) + 2 * abs(1 - 0.96)) / 4
    assert expected_calibration_error(probs, y, 10) == pytest.approx(ece)
    assert maximum_calibration_error(probs, y, 10) == pytest.approx(0.065)
    assert adaptive_calibration_error(probs, y, 2) == pytest.approx(ece)  # same two bins here


def test_all_confidences_one():
    probs = torch.eye(3)[[0, 1, 2, 0]]  # one-hot rows: confidence exactly 1.0
    y = torch.tensor([0, 1, 0, 0])  # one mistake
    # (lo, hi]: 1.0 is in the last bin, accuracy 3/4 there
    assert expected_calibration_error(probs, y, 15) == pytest.approx(0.25)
    assert maximum_calibration_error(probs, y, 15) == pytest.approx(0.25)
    assert adaptive_calibration_error(probs, y, 15) == pytest.approx(0.25)
    # class-wise: every p_c is 0 or 1, the 0s are in the first bin with frequency of y = c
    # 0 or 1 -> errors come only from the mistake (row 2 puts 1 on class 2, label is 0)
    assert classwise_calibration_error(probs, y, 15) == pytest.approx((0.25 + 0.0 + 0.25) / 3 * 1)


def test_all_zero_probabilities_go_to_the_first_bin():
    # a top-label confidence is at least 1/C, so only class-wise errors see p = 0;
    # with every p_c in {0, 1} and all predictions right, they are 0 exactly
    probs = torch.eye(4)
    y = torch.arange(4)
    assert classwise_calibration_error(probs, y, 10) == 0.0
    assert expected_calibration_error(probs, y, 10) == 0.0


def test_single_sample():
    probs, y = two_class([0.7], [False])
    for n_bins in (1, 5, 15):
        assert expected_calibration_error(probs, y, n_bins) == pytest.approx(0.7)
        assert adaptive_calibration_error(probs, y, n_bins) == pytest.approx(0.7)
        assert maximum_calibration_error(probs, y, n_bins) == pytest.approx(0.7)


def test_empty_bins_do_not_count():
    probs, y = two_class([0.62, 0.93], [True, False])  # 13 of 15 bins are empty
    assert expected_calibration_error(probs, y, 15) == pytest.approx((0.38 + 0.93) / 2)
    assert maximum_calibration_error(probs, y, 15) == pytest.approx(0.93)
    # more equal-mass bins than samples: every sample is its own bin
    assert adaptive_calibration_error(probs, y, 15) == pytest.approx((0.38 + 0.93) / 2)


def test_adaptive_bins_hold_equal_mass():
    # 6 samples, 3 equal-mass bins: {.55,.6} {.7,.75} {.9,.95}, whatever the bin edges
    probs, y = two_class([0.9, 0.55, 0.75, 0.6, 0.95, 0.7],
                         [True, False, True, True, False, True])
    by_hand = (abs(0.5 - 0.575) * 2 + abs(1.0 - 0.725) * 2 + abs(0.5 - 0.925) * 2) / 6
    assert adaptive_calibration_error(probs, y, 3) == pytest.approx(by_hand)
    # 7 samples into 3 bins: sizes 3, 2, 2
    probs, y = two_class([0.51, 0.52, 0.53, 0.8, 0.81, 0.9, 0.91],
                         [True, True, True, False, False, True, True])
    by_hand = (abs(1 - 0.52) * 3 + abs(0 - 0.805) * 2 + abs(1 - 0.905) * 2) / 7
    assert adaptive_calibration_error(probs, y, 3) == pytest.approx(by_hand)


def test_binning_convention_differs_from_left_closed_bins():
    """(lo, hi] (ltlab, BalPoE) against [lo, hi) (torchmetrics and others), 10 bins, on the
    same predictions: confidences sitting exactly on an edge change bins."""
    probs, y = two_class([0.6, 0.6, 0.65, 0.8, 0.8, 0.85], [True, True, False, False, False, True])
    ours = expected_calibration_error(probs, y, 10)
    theirs = ece_left_closed(probs, y, 10)
    # (lo, hi]: (.5,.6] {.6,.6} acc 1; (.6,.7] {.65} acc 0; (.7,.8] {.8,.8} acc 0; (.8,.9] {.85} acc 1
    by_hand_ours = (2 * 0.4 + 0.65 + 2 * 0.8 + 0.15) / 6
    # [lo, hi): [.6,.7) {.6,.6,.65} acc 2/3; [.8,.9) {.8,.8,.85} acc 1/3
    by_hand_theirs = (3 * abs(2 / 3 - 0.6167) + 3 * abs(1 / 3 - 0.8167)) / 6
    assert ours == pytest.approx(by_hand_ours)
    assert theirs == pytest.approx(by_hand_theirs, abs=1e-3)
    assert abs(ours - theirs) > 0.2
    # away from the edges both conventions agree
    g = torch.Generator().manual_seed(0)
    probs = torch.randn(500, 5, generator=g, dtype=torch.float64).mul(2).softmax(1)
    y = torch.randint(0, 5, (500,), generator=g)
    assert expected_calibration_error(probs, y, 10) == pytest.approx(ece_left_closed(probs, y, 10))


def test_split_adds_up_to_ece_and_oe_by_hand():
    g = torch.Generator().manual_seed(1)
    probs = torch.randn(400, 6, generator=g).mul(3).softmax(1)
    y = torch.randint(0, 6, (400,), generator=g)
    split = calibration_error_split(probs, y, 15)
    assert split["over"] + split["under"] == pytest.approx(expected_calibration_error(probs, y, 15))
    assert split["over"] > 0.3 and split["under"] < 0.05  # random labels: over-confident
    probs, y = two_class([0.55, 0.58, 0.95, 0.97], [True, False, True, True])
    split = calibration_error_split(probs, y, 10)
    assert split == pytest.approx({"over": 2 * 0.065 / 4, "under": 2 * 0.04 / 4})
    assert overconfidence_error(probs, y, 10) == pytest.approx(2 / 4 * 0.565 * 0.065)


def test_per_class_and_group_calibration_by_predicted_and_true_class():
    # class 0 (head) predicted for everything with confidence .9; half are really class 1
    probs = torch.tensor([[0.9, 0.05, 0.05]] * 4 + [[0.2, 0.2, 0.6]] * 2, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    by_pred = per_class_calibration_error(probs, y, 10, by="predicted")
    assert by_pred[0] == pytest.approx(0.4) and math.isnan(by_pred[1])
    assert by_pred[2] == pytest.approx(0.4)  # .6 confidence, always right: under-confident
    by_true = per_class_calibration_error(probs, y, 10, by="true")
    assert by_true.tolist()[:2] == pytest.approx([0.1, 0.9])
    counts = torch.tensor([500, 50, 5])  # many, medium, few
    gap = shot_calibration_gap(probs, y, counts, 10, by="predicted")
    assert gap["many"]["gap"] == pytest.approx(0.4) and gap["many"]["count"] == 4
    assert gap["few"]["gap"] == pytest.approx(-0.4)
    assert gap["medium"]["count"] == 0 and math.isnan(gap["medium"]["ece"])
    gap = shot_calibration_gap(probs, y, counts, 10, by="true")
    assert gap["medium"]["gap"] == pytest.approx(0.9) and gap["medium"]["count"] == 2


# ----------------------------------------------------------------------------- bad input
METRICS = [expected_calibration_error, maximum_calibration_error, adaptive_calibration_error,
           overconfidence_error, calibration_error_split, per_class_calibration_error]


@pytest.mark.parametrize("metric", METRICS)
def test_bad_inputs_raise_clear_errors(metric):
    good = torch.tensor([[0.7, 0.3], [0.4, 0.6]])
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metric(torch.tensor([[1.5, -0.5], [0.4, 0.6]]), y)
    with pytest.raises(ValueError, match="sum to 1"):
        metric(torch.tensor([[0.7, 0.7], [0.4, 0.6]]), y)
    with pytest.raises(ValueError, match="lengths must match"):
        metric(good, torch.tensor([0, 1, 1]))
    for n_bins in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n_bins"):
            metric(good, y, n_bins)


def test_grouping_must_be_predicted_or_true():
    probs = torch.tensor([[0.7, 0.3], [0.2, 0.8]], dtype=torch.float64)
    y = torch.tensor([0, 0])
    with pytest.raises(ValueError, match="by must be one of 'predicted', 'true'"):
        per_class_calibration_error(probs, y, by="label")
    with pytest.raises(ValueError, match="by must be"):
        shot_calibration_gap(probs, y, [10, 1], by="label")
