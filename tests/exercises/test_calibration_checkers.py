"""ltlab.exercises.calibration: notebook 04's checkers (an ECE by hand, Bayes' rule under
label shift); the three-way run of their `EXERCISES` is in test_checkers.py."""

from __future__ import annotations

import pytest

from ltlab.exercises import check_ece_by_hand, check_prior_correction
from ltlab.exercises.calibration import EXERCISE_BINS, EXERCISES, exercise_predictions
from ltlab.exercises.protocol import NOT_ANSWERED


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
    assert exercise.checker in (check_ece_by_hand, check_prior_correction)
