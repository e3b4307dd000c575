"""ltlab.exercises.calibration: notebook 04's checkers (the ECE written by the student, an
ECE by hand, Bayes' rule under label shift); the three-way run of their `EXERCISES` is in
test_checkers.py."""

from __future__ import annotations

import pytest
import torch

from ltlab.exercises import check_ece_by_hand, check_prior_correction
from ltlab.exercises.calibration import (
    EXERCISE_BINS,
    EXERCISES,
    check_ece,
    ece_test_cases,
    exercise_predictions,
)
from ltlab.exercises.protocol import NOT_ANSWERED
from ltlab.metrics import expected_calibration_error


def _binned_ece(probs, targets, n_bins, index=None, weighted=True, signed=False):
    """An independent ECE over the bins ``index`` (default: (lo, hi] bins by confidence)."""
    conf, pred = probs.max(1)
    correct = (pred == targets).double()
    if index is None:
        index = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    gaps, shares = [], []
    for m in torch.unique(index).tolist():
        mask = index == m
        gap = float(correct[mask].mean() - conf[mask].mean())
        gaps.append(gap if signed else abs(gap))
        shares.append(float(mask.double().mean()))
    if not weighted:
        return sum(gaps) / len(gaps)
    total = sum(s * g for s, g in zip(shares, gaps))
    return abs(total) if signed else total


def test_ece_test_cases_tell_every_classic_slip_apart():
    """On the second case each slip gives its own number, far from the ECE: the checker can
    name the one a student made."""
    probs, targets, n_bins = ece_test_cases()[1]
    conf = probs.max(1).values
    assert ((conf * n_bins) % 1 == 0).sum() > 50  # many confidences sit on a bin edge
    assert torch.allclose(probs.sum(1), torch.ones(len(probs), dtype=torch.float64))
    ece = expected_calibration_error(probs, targets, n_bins)
    assert _binned_ece(probs, targets, n_bins) == pytest.approx(ece)
    slips = [
        _binned_ece(probs, targets, n_bins, weighted=False),
        _binned_ece(probs, targets, n_bins, index=probs.argmax(1)),
        _binned_ece(probs, targets, n_bins,
                    index=torch.floor(conf * n_bins).long().clamp(0, n_bins - 1)),
        _binned_ece(probs, targets, n_bins, signed=True),
    ]
    values = [ece, *slips]
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 1e-4, values


def test_ece_checker_names_the_classic_mistakes(capsys):
    def reference(p, y, n):
        return _binned_ece(p, y, n)

    assert check_ece(None) is False
    assert NOT_ANSWERED in capsys.readouterr().out
    assert check_ece(reference) is True
    assert "Correct" in capsys.readouterr().out
    assert check_ece(lambda p, y, n: torch.tensor(_binned_ece(p, y, n))) is True  # 0-d tensor
    capsys.readouterr()
    mistakes = {
        "share of the samples": lambda p, y, n: _binned_ece(p, y, n, weighted=False),
        "not by the class they predict": lambda p, y, n: _binned_ece(p, y, n, index=p.argmax(1)),
        "(lo, hi]": lambda p, y, n: _binned_ece(
            p, y, n, index=torch.floor(p.max(1).values * n).long().clamp(0, n - 1)),
        "absolute value": lambda p, y, n: _binned_ece(p, y, n, signed=True),
        "in percent": lambda p, y, n: 100 * _binned_ece(p, y, n),
    }
    for hint, fn in mistakes.items():
        assert check_ece(fn) is False, hint
        out = capsys.readouterr().out
        assert hint in out and out.count("\n") == 1, (hint, out)
    assert check_ece(lambda p, y, n: 0.5) is False
    assert "Bin by confidence" in capsys.readouterr().out
    assert check_ece(lambda p, y, n: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert check_ece(lambda p, y, n: [0.1, 0.2]) is False
    assert "one number" in capsys.readouterr().out


def test_ece_by_hand(capsys):
    assert check_ece_by_hand(None) is False
    assert NOT_ANSWERED in capsys.readouterr().out
    p, y = exercise_predictions()
    assert p.shape == (6, 2) and EXERCISE_BINS == 4
    # (0.75, 1]: .95, .85, both right; (0.5, 0.75]: .75 (on the edge), .65, .55, .60 with
    # two right
    by_hand = 2 / 6 * abs(1 - 0.9) + 4 / 6 * abs(0.5 - (0.75 + 0.65 + 0.55 + 0.60) / 4)
    assert check_ece_by_hand(by_hand) is True
    assert check_ece_by_hand(by_hand + 0.05) is False
    assert "share of the samples" in capsys.readouterr().out
    assert check_ece_by_hand("about 0.1") is False
    # the predictions are copies: a student who edits them does not change the answer
    p[0, 0] = 0.0
    assert check_ece_by_hand(by_hand) is True


def test_prior_correction(capsys):
    def right(p, ps, pt):
        q = p * pt / ps
        return q / q.sum(1, keepdim=True)

    def broken(p, ps, pt):
        raise RuntimeError("oops")

    assert check_prior_correction(None) is False
    assert check_prior_correction(right) is True
    assert "Correct" in capsys.readouterr().out
    assert check_prior_correction(lambda p, ps, pt: p * pt / ps) is False
    assert "sum to 1" in capsys.readouterr().out
    assert check_prior_correction(lambda p, ps, pt: right(p, pt, ps)) is False
    assert "target_prior / source_prior" in capsys.readouterr().out
    assert check_prior_correction(broken) is False
    assert "RuntimeError: oops" in capsys.readouterr().out
    assert check_prior_correction(lambda p, ps, pt: p[:, :2]) is False
    assert "Expected shape (8, 5)" in capsys.readouterr().out
    assert check_prior_correction(lambda p, ps, pt: "posteriors") is False


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_every_checker_is_listed(exercise):
    assert exercise.checker in (check_ece, check_ece_by_hand, check_prior_correction)
