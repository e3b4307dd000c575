"""Exercises of notebook 05 (LDA): the balance factor of Eq. 6, and the balanced risk's
class weights (Eq. 5) written by the student (`check_balanced_weights`, the core exercise;
`check_tail_weight` is its one-number form)."""

from __future__ import annotations

from typing import Any

import torch

from ..lda import balance_factor_trace, balanced_risk_weights
from .protocol import Exercise, StudentError, check_value, not_answered, run_student

__all__ = ["EXERCISES", "WEIGHT_COUNTS", "check_balance_factor", "check_balanced_weights",
           "check_tail_weight"]

#: The class counts `check_balanced_weights` runs the student's function on: a long tail,
#: a short one (three classes) and a balanced set.
WEIGHT_COUNTS = ((400, 251, 158, 99, 62, 39, 25, 16, 10, 4), (60, 20, 5), (30, 30, 30, 30))


def check_balance_factor(answer: Any) -> bool:
    """Window 4 (zeros in the empty slots), gamma 2, after two batches with accuracies
    h' = 80 %, 90 % and h = 40 %, 60 %: what is the balance factor omega (the paper's alpha)?"""
    expected = float(balance_factor_trace([80.0, 90.0], [40.0, 60.0], window=4, gamma=2.0)[-1])
    return check_value(answer, expected, tol=1e-6, hint=(
        "Each window mean divides by all 4 slots, empty ones count as 0: "
        "mean(h') = (80 + 90 + 0 + 0) / 4. Then omega = max(0, mean(h') - mean(h)) ** 2."))


def check_tail_weight(answer: Any, train_counts) -> bool:
    """The balanced-risk weight (Eq. 5) of one image of the rarest class."""
    expected = float(balanced_risk_weights(train_counts).max())
    return check_value(answer, expected, tol=1e-6, hint=(
        "w_y = 1 / (C * n_y): use the number of classes and the smallest count."))


def _diagnose(got: torch.Tensor, counts: torch.Tensor) -> str:
    """The hint for a wrong weight vector: which classic mistake it matches."""
    c, n = counts.numel(), counts.double()
    close = lambda want: torch.allclose(got, want, rtol=1e-4, atol=1e-12)  # noqa: E731
    ref = 1.0 / (c * n)
    if close(1.0 / n):
        return ("these are 1/n_y, not normalised: divide by the number of classes C too, "
                "w_y = 1 / (C n_y) (a self-normalised risk would not notice, a plain weighted "
                "mean would)")
    if close(n / n.sum()) or close(n) or close(n / (c * n.sum())):
        return ("these grow with the class count (the prior pi_s): the importance weight is "
                "p_b(y) / p_u(y) = (1/C) / pi_s,y, the inverse of the prior")
    if close(n.sum() * ref):
        return ("these are the importance weights N / (C n_y) themselves; the reference "
                "drops the N: w_y = 1 / (C n_y)")
    if close(ref / ref.sum()):
        return ("these sum to 1; Eq. 5's weights do not: w_y = 1 / (C n_y), without "
                "normalising the vector")
    if (got > 0).all() and close(ref * float((got / ref).mean())):
        return "the shape is right but the scale is off: w_y = 1 / (C n_y) exactly"
    return "w_y = 1 / (C n_y): one over the number of classes times the class's count"


def check_balanced_weights(fn: Any) -> bool:
    """The core exercise: ``fn(train_counts)`` must return the balanced risk's class weights
    of Eq. 5, ``w_y = 1 / (C n_y)`` (`ltlab.lda.balanced_risk_weights`), checked on the
    counts of `WEIGHT_COUNTS`; the feedback names the classic mistake (1/n_y without C, the
    prior instead of its inverse, the N of the importance weight, a vector normalised to 1)."""
    if not_answered(fn):
        return False
    for counts in WEIGHT_COUNTS:
        counts = torch.tensor(counts)
        try:
            got = run_student(fn, counts.clone())
        except StudentError:
            return False
        try:
            got = torch.as_tensor(got, dtype=torch.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError):
            print(f"Expected a tensor of {counts.numel()} weights, got {type(got).__name__}.")
            return False
        if got.numel() != counts.numel():
            print(f"Expected one weight per class ({counts.numel()}), got {got.numel()}.")
            return False
        want = balanced_risk_weights(counts).double()
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-12):
            print(f"Not quite (counts {counts.tolist()}): {_diagnose(got, counts)}.")
            return False
    print("Correct: w_y = 1 / (C n_y); the rarest class weighs n_max / n_min times the head.")
    return True


def _reference_weights(train_counts):
    counts = torch.as_tensor(train_counts, dtype=torch.float64)
    return 1.0 / (counts.numel() * counts)


EXERCISES = (
    # the classic mistake: averaging over the two filled slots only, (85 - 50) ** 2
    Exercise(check_balance_factor, reference=lambda: 17.5 ** 2, mistake=lambda: 35.0 ** 2,
             hint="empty ones count as 0"),
    # the classic mistake: 1 / n_min, forgetting the number of classes C
    Exercise(check_tail_weight, reference=lambda: 1 / 8, mistake=lambda: 1 / 4,
             hint="use the number of classes", kwargs={"train_counts": [400, 4]}),
    # the core exercise; the classic mistakes: 1 / n_y without C, and the prior itself
    Exercise(check_balanced_weights, reference=lambda: _reference_weights,
             mistake=lambda: (lambda counts: 1.0 / torch.as_tensor(counts).double()),
             hint="not normalised"),
    Exercise(check_balanced_weights, reference=lambda: _reference_weights,
             mistake=lambda: (lambda counts: torch.as_tensor(counts).double()
                              / torch.as_tensor(counts).sum()),
             hint="the inverse of the prior"),
)
