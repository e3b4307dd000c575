"""Automatic checkers for the notebooks' exercises.

Each checker takes the student's answer, prints feedback and returns True / False; ``None``
(the placeholder in the notebook) prints "not answered yet" and returns False, so a notebook
runs top to bottom before anyone has answered.
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["check_value", "check_imbalance_ratio", "check_tail_share"]


def check_value(answer: Any, expected: float, tol: float = 1e-6, hint: str = "") -> bool:
    """Compare a numeric answer with the expected value within ``tol`` (absolute)."""
    if answer is None:
        print("Not answered yet: replace None with your answer and run the cell again.")
        return False
    try:
        value = float(answer)
    except (TypeError, ValueError):
        print(f"Expected a number, got {answer!r}.")
        return False
    if math.isfinite(value) and abs(value - expected) <= tol:
        print(f"Correct: {value:.6g}.")
        return True
    print(f"Not quite: you gave {value:.6g}. {hint}".rstrip())
    return False


def check_imbalance_ratio(answer: Any, train_counts) -> bool:
    """Exercise: the imbalance ratio is n_max / n_min of the training counts."""
    counts = torch.as_tensor(train_counts).double()
    return check_value(answer, float(counts.max() / counts.min()), tol=1e-6,
                       hint="Divide the largest class count by the smallest.")


def check_tail_share(answer: Any, train_counts, num_tail: int = 3) -> bool:
    """Exercise: the share of training images in the last ``num_tail`` classes."""
    counts = torch.as_tensor(train_counts).double()
    return check_value(answer, float(counts[-num_tail:].sum() / counts.sum()), tol=1e-3,
                       hint=f"Sum the last {num_tail} counts and divide by the total.")
