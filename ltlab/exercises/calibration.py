"""Exercises of notebook 04 (calibration): an ECE by hand and Bayes' rule under label shift."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..label_shift import reweight_posteriors
from ..metrics import expected_calibration_error
from .protocol import Exercise, StudentError, check_value, not_answered, run_student

__all__ = ["EXERCISES", "EXERCISE_BINS", "check_ece_by_hand", "check_prior_correction",
           "exercise_predictions"]

_EXERCISE_PROBS = torch.tensor([[0.95, 0.05], [0.85, 0.15], [0.75, 0.25], [0.65, 0.35],
                                [0.55, 0.45], [0.40, 0.60]], dtype=torch.float64)
_EXERCISE_TARGETS = torch.tensor([0, 0, 1, 0, 1, 1])
EXERCISE_BINS = 4


def exercise_predictions() -> tuple[torch.Tensor, torch.Tensor]:
    """The six two-class predictions of exercise 1 (probabilities, labels)."""
    return _EXERCISE_PROBS.clone(), _EXERCISE_TARGETS.clone()


def check_ece_by_hand(answer: Any) -> bool:
    """Exercise 1: the ECE of `exercise_predictions` with 4 equal-width (lo, hi] bins."""
    p, y = exercise_predictions()
    return check_value(
        answer, expected_calibration_error(p, y, EXERCISE_BINS), tol=5e-4,
        hint="Confidence is the largest probability of a row; a confidence of exactly 0.75 "
             "belongs to the bin (0.5, 0.75]. Weight each bin's |accuracy - mean confidence| "
             "by its share of the samples.",
    )


def check_prior_correction(fn: Callable | None) -> bool:
    """Exercise 2: ``fn(probs, source_prior, target_prior)`` must return the posteriors
    adapted to ``target_prior`` (Bayes' rule under label shift). Checked on random inputs
    against `ltlab.label_shift.reweight_posteriors`; prints feedback."""
    if not_answered(fn):
        return False
    g = torch.Generator().manual_seed(0)
    for trial in range(3):
        p = torch.randn(8, 5, generator=g).softmax(1)
        ps = torch.rand(5, generator=g) + 0.1
        pt = torch.rand(5, generator=g) + 0.1
        ps, pt = ps / ps.sum(), pt / pt.sum()
        try:
            got = run_student(fn, p.clone(), ps.clone(), pt.clone())
        except StudentError:
            return False
        try:
            got = torch.as_tensor(got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            print(f"Expected a tensor of posteriors, got {type(got).__name__}.")
            return False
        want = reweight_posteriors(p, ps, pt).double()
        if got.shape != want.shape:
            print(f"Expected shape {tuple(want.shape)}, got {tuple(got.shape)}.")
            return False
        if not torch.allclose(got, want, atol=1e-4):
            rows = got.sum(1)
            hint = ("rows must sum to 1: normalise after re-weighting"
                    if (rows - 1).abs().max() > 1e-3 else
                    "multiply by target_prior / source_prior (not the other way round)")
            print(f"Not quite (trial {trial + 1}): {hint}.")
            return False
    print("Correct: p_t(y|x) is p_s(y|x) * pi_t(y) / pi_s(y), normalised over y.")
    return True


def _bayes_rule(p, ps, pt):
    q = p * pt / ps
    return q / q.sum(1, keepdim=True)


def _upside_down(p, ps, pt):
    q = p * ps / pt
    return q / q.sum(1, keepdim=True)


def _unweighted_ece() -> float:
    """The classic slip: the plain mean of the non-empty bins' gaps, not weighted by size."""
    p, y = exercise_predictions()
    conf, pred = p.max(1)
    correct = (pred == y).double()
    gaps = [abs(float(correct[m].mean() - conf[m].mean()))
            for m in ((conf > 0.5) & (conf <= 0.75), conf > 0.75)]
    return sum(gaps) / len(gaps)


EXERCISES = (
    Exercise(check_ece_by_hand,
             reference=lambda: expected_calibration_error(*exercise_predictions(), EXERCISE_BINS),
             mistake=_unweighted_ece, hint="by its share of the samples"),
    Exercise(check_prior_correction, reference=lambda: _bayes_rule,
             mistake=lambda: _upside_down, hint="multiply by target_prior / source_prior"),
    Exercise(check_prior_correction, reference=lambda: _bayes_rule,
             mistake=lambda: (lambda p, ps, pt: p * pt / ps),
             hint="normalise after re-weighting"),
)
