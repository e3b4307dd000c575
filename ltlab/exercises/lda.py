"""Exercises of notebook 05 (LDA): the balance factor of Eq. 6 and a balanced-risk weight."""

from __future__ import annotations

from typing import Any

from ..lda import balance_factor_trace, balanced_risk_weights
from .protocol import Exercise, check_value

__all__ = ["EXERCISES", "check_balance_factor", "check_tail_weight"]


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


EXERCISES = (
    # the classic mistake: averaging over the two filled slots only, (85 - 50) ** 2
    Exercise(check_balance_factor, reference=lambda: 17.5 ** 2, mistake=lambda: 35.0 ** 2,
             hint="empty ones count as 0"),
    # the classic mistake: 1 / n_min, forgetting the number of classes C
    Exercise(check_tail_weight, reference=lambda: 1 / 8, mistake=lambda: 1 / 4,
             hint="use the number of classes", kwargs={"train_counts": [400, 4]}),
)
