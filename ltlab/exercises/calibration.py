"""Exercises of notebook 04 (calibration): the ECE written by the student (`check_ece`, the
core exercise; `check_ece_by_hand` is its paper-and-pencil form) and Bayes' rule under label
shift (`check_prior_correction`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..label_shift import reweight_posteriors
from ..metrics import expected_calibration_error
from .protocol import Exercise, StudentError, check_value, not_answered, run_student

__all__ = ["EXERCISES", "EXERCISE_BINS", "check_ece", "check_ece_by_hand",
           "check_prior_correction", "ece_test_cases", "exercise_predictions"]

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


def ece_test_cases() -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """The (probs, targets, n_bins) cases `check_ece` runs the student's ECE on: the six
    predictions of `exercise_predictions` (4 bins), and 400 four-class predictions (8 bins)
    whose confidences are multiples of 1/16, so that many sit exactly on a bin edge, and that
    are under-confident when unsure and over-confident when sure: every classic slip gives
    another number."""
    g = torch.Generator().manual_seed(0)
    n, c, n_bins = 400, 4, 8
    conf = torch.randint(5, 17, (n,), generator=g).double() / 16  # 5/16 .. 1, exact in binary
    predicted = torch.randint(0, c, (n,), generator=g)
    right = torch.rand(n, generator=g, dtype=torch.float64) < 0.35 + 0.45 * conf
    other = (predicted + torch.randint(1, c, (n,), generator=g)) % c
    targets = torch.where(right, predicted, other)
    probs = ((1 - conf) / (c - 1))[:, None].repeat(1, c)
    probs[torch.arange(n), predicted] = conf
    return [(*exercise_predictions(), EXERCISE_BINS), (probs, targets, n_bins)]


def _slips(probs: torch.Tensor, targets: torch.Tensor, n_bins: int) -> dict[str, float]:
    """The ECE with each classic slip, keyed by the feedback that names it."""
    conf, pred = probs.max(1)
    correct = (pred == targets).double()
    n = len(targets)
    closed_right = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)  # (lo, hi]
    closed_left = torch.floor(conf * n_bins).long().clamp(0, n_bins - 1)  # [lo, hi)

    def binned(index, weighted=True, signed=False):
        total, gaps = 0.0, []
        for m in torch.unique(index).tolist():
            mask = index == m
            gap = float(correct[mask].mean() - conf[mask].mean())
            gap = gap if signed else abs(gap)
            gaps.append(gap)
            total += float(mask.double().sum()) / n * gap
        return total if weighted else sum(gaps) / len(gaps)

    true_conf = probs.gather(1, targets[:, None]).squeeze(1)
    true_bins = (torch.ceil(true_conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    true_gap = sum(float((true_bins == m).double().mean())
                   * abs(float(correct[true_bins == m].mean() - true_conf[true_bins == m].mean()))
                   for m in torch.unique(true_bins).tolist())
    reference = expected_calibration_error(probs, targets, n_bins)
    return {
        "the plain mean of the bins' gaps: weight each bin's |accuracy - confidence| by its "
        "share of the samples, |I_m| / N": binned(closed_right, weighted=False),
        "these bins are the predicted classes: bin the samples by their confidence (the "
        "largest probability), not by the class they predict": binned(pred),
        "a confidence on a bin's upper edge belongs to that bin: the bins are (lo, hi], so "
        "use ceil(conf * n_bins) - 1, not floor": binned(closed_left),
        "the gaps cancel: take the absolute value of each bin's accuracy - confidence "
        "before adding": abs(binned(closed_right, signed=True)),
        "the confidence is the largest probability of a row, not the probability of the "
        "true class": true_gap,
        "that is the ECE in percent: return a fraction (the metric is in [0, 1])":
            100 * reference,
    }


def check_ece(fn: Callable | None) -> bool:
    """The core exercise: ``fn(probs, targets, n_bins)`` must return the top-label ECE over
    equal-width (lo, hi] bins (`ltlab.metrics.expected_calibration_error`), checked on the
    cases of `ece_test_cases`; a wrong number is matched against the classic slips
    (unweighted bins, bins by predicted class, [lo, hi) edges, signed gaps, the true class's
    probability as confidence, percent) and the feedback names the one it matches."""
    if not_answered(fn):
        return False
    for probs, targets, n_bins in ece_test_cases():
        try:
            got = run_student(fn, probs.clone(), targets.clone(), n_bins)
        except StudentError:
            return False
        try:
            value = float(torch.as_tensor(got, dtype=torch.float64))
        except (TypeError, ValueError, RuntimeError):
            print(f"Expected one number (a float or a 0-d tensor), got {type(got).__name__}.")
            return False
        want = expected_calibration_error(probs, targets, n_bins)
        if math.isfinite(value) and abs(value - want) <= 1e-6:
            continue
        slip = next((why for why, v in _slips(probs, targets, n_bins).items()
                     if math.isfinite(value) and abs(value - v) <= 1e-6), None)
        where = f"{len(targets)} predictions, {n_bins} bins"
        print(f"Not quite ({where}): you gave {value:.6g}, the ECE is {want:.6g}. "
              + (f"It looks like {slip}." if slip else
                 "Bin by confidence into (lo, hi] bins, then add each bin's |accuracy - mean "
                 "confidence| weighted by its share of the samples."))
        return False
    print("Correct: your ECE matches ltlab.metrics.expected_calibration_error on every case.")
    return True


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


def _reference_ece(probs, targets, n_bins):
    conf, pred = probs.max(1)
    correct = (pred == targets).double()
    bins = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    return sum((bins == m).double().mean() * (correct[bins == m].mean()
                                             - conf[bins == m].mean()).abs()
               for m in range(n_bins) if (bins == m).any())


def _unweighted_bins_ece(probs, targets, n_bins):
    """The classic slip: the plain mean of the non-empty bins' gaps."""
    conf, pred = probs.max(1)
    correct = (pred == targets).double()
    bins = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    gaps = [(correct[bins == m].mean() - conf[bins == m].mean()).abs()
            for m in range(n_bins) if (bins == m).any()]
    return sum(gaps) / len(gaps)


def _class_bins_ece(probs, targets, n_bins):
    """The other classic slip: samples grouped by their predicted class, not confidence."""
    conf, pred = probs.max(1)
    correct = (pred == targets).double()
    return sum((pred == k).double().mean() * (correct[pred == k].mean()
                                             - conf[pred == k].mean()).abs()
               for k in torch.unique(pred).tolist())


EXERCISES = (
    Exercise(check_ece, reference=lambda: _reference_ece,
             mistake=lambda: _unweighted_bins_ece, hint="share of the samples"),
    Exercise(check_ece, reference=lambda: _reference_ece,
             mistake=lambda: _class_bins_ece, hint="not by the class they predict"),
    Exercise(check_ece_by_hand,
             reference=lambda: expected_calibration_error(*exercise_predictions(), EXERCISE_BINS),
             mistake=_unweighted_ece, hint="by its share of the samples"),
    Exercise(check_prior_correction, reference=lambda: _bayes_rule,
             mistake=lambda: _upside_down, hint="multiply by target_prior / source_prior"),
    Exercise(check_prior_correction, reference=lambda: _bayes_rule,
             mistake=lambda: (lambda p, ps, pt: p * pt / ps),
             hint="normalise after re-weighting"),
)
