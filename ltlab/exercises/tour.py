"""Exercises of notebook 00 (the tour): reading the long tail off the class counts."""

from __future__ import annotations

from typing import Any

import torch

from .protocol import Exercise, check_value

__all__ = ["EXERCISES", "check_imbalance_ratio", "check_tail_share"]


def check_imbalance_ratio(answer: Any, train_counts) -> bool:
    """The imbalance ratio is n_max / n_min of the training counts."""
    counts = torch.as_tensor(train_counts).double()
    return check_value(answer, float(counts.max() / counts.min()), tol=1e-6,
                       hint="Divide the largest class count by the smallest.")


def check_tail_share(answer: Any, train_counts, num_tail: int = 3) -> bool:
    """The share of training samples in the last ``num_tail`` classes."""
    counts = torch.as_tensor(train_counts).double()
    return check_value(answer, float(counts[-num_tail:].sum() / counts.sum()), tol=1e-3,
                       hint=f"Sum the last {num_tail} counts and divide by the total.")


_COUNTS = [400, 200, 100, 50, 20, 8, 4]
EXERCISES = (
    Exercise(check_imbalance_ratio, reference=lambda: 100.0,
             mistake=lambda: 4 / 400, hint="largest class count by the smallest",
             kwargs={"train_counts": _COUNTS}),
    Exercise(check_tail_share, reference=lambda: (20 + 8 + 4) / 782,
             mistake=lambda: 20.0 + 8 + 4, hint="divide by the total",
             kwargs={"train_counts": _COUNTS}),
)
