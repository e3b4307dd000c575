"""Exercises of notebook 00 (the tour): the long-tailed profile's class counts.

The core exercise: write the exponential profile of CIFAR-10-LT and CIFAR-100-LT (Cui et
al., CVPR 2019), n_i = floor(n_max * rho^(-i/(C-1))) for classes i = 0, ..., C-1, as a
function ``(n_max, rho, num_classes) -> counts``; `check_exponential_counts` runs it on
several data sets' sizes and names the classic mistakes (the exponent i/C, which never lets
the tail reach n_max/rho; counts that are not rounded down; the tail first).

>>> def counts(n_max, rho, num_classes):
...     return [int(n_max * rho ** (-i / (num_classes - 1))) for i in range(num_classes)]
>>> check_exponential_counts(counts)
Correct: your counts match the exponential profile on all 4 cases (e.g. 400, 239, 143, 86, 51, 30, 18, 11, 6, 4).
True
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .protocol import Exercise, StudentError, check_value, not_answered, run_student

__all__ = ["CASES", "EXERCISES", "check_exponential_counts", "check_imbalance_ratio",
           "check_tail_share", "exponential_counts"]

#: ``(n_max, rho, num_classes)`` the checker tries: the tour's MNIST-1D-LT, CIFAR-100-LT
#: and CIFAR-10-LT at ratio 100, and a small odd case
CASES = ((400, 100, 10), (500, 100, 100), (5000, 100, 10), (1000, 10, 7))


def exponential_counts(n_max: float, rho: float, num_classes: int) -> list[int]:
    """The reference: n_i = floor(n_max * rho^(-i/(C-1))), head first (class 0 has n_max).

    >>> exponential_counts(400, 100, 10)
    [400, 239, 143, 86, 51, 30, 18, 11, 6, 4]
    """
    return [math.floor(n_max * rho ** (-i / (num_classes - 1)) + 1e-9)
            for i in range(num_classes)]


def _as_counts(got: Any, length: int) -> list[float] | str:
    """The student's counts as floats, or the reason they are not a list of counts."""
    try:
        values = [float(v) for v in torch.as_tensor(got, dtype=torch.float64).reshape(-1)]
    except (TypeError, ValueError, RuntimeError):
        return f"Expected a list of {length} counts, got {type(got).__name__}."
    if len(values) != length:
        return f"Expected {length} counts (one per class), got {len(values)}."
    return values


def _matches(values: list[float], want: list[float]) -> bool:
    return all(abs(v - w) < 1e-6 for v, w in zip(values, want))


def _diagnose(values: list[float], n_max: float, rho: float, c: int) -> str:
    """The hint for a wrong answer on one case: the classic mistake it matches, if any."""
    exact = [n_max * rho ** (-i / (c - 1)) for i in range(c)]
    if _matches(values, [math.floor(n_max * rho ** (-i / c) + 1e-9) for i in range(c)]) or \
            _matches(values, [n_max * rho ** (-i / c) for i in range(c)]):
        return ("The exponent is i/(C - 1), not i/C: with i/C the last class (i = C - 1) "
                "gets n_max * rho^(-(C-1)/C), more than n_max / rho, so the ratio is not rho.")
    if _matches(values, exact):
        return ("Counts are whole numbers of images: round down (floor) each "
                "n_max * rho^(-i/(C - 1)).")
    if _matches(values, [round(x) for x in exact]):
        return "Round down (floor), not to the nearest integer: int() or math.floor."
    if _matches(values[::-1], [math.floor(x + 1e-9) for x in exact]):
        return "Class 0 is the head (n_0 = n_max) and class C - 1 the tail: reverse the order."
    return "Check the formula n_i = floor(n_max * rho^(-i/(C - 1))) for i = 0, ..., C - 1."


def check_exponential_counts(answer: Any) -> bool:
    """Check a function ``(n_max, rho, num_classes) -> counts`` against the exponential
    profile on `CASES`; on the first case it gets wrong, say which and give the hint for
    the mistake it makes."""
    if not_answered(answer):
        return False
    for n_max, rho, c in CASES:
        try:
            got = run_student(answer, n_max, rho, c)
        except StudentError:
            return False
        values = _as_counts(got, c)
        if isinstance(values, str):
            print(f"Not quite (n_max={n_max}, rho={rho}, C={c}): {values}")
            return False
        exact = [n_max * rho ** (-i / (c - 1)) for i in range(c)]
        # a count within 1e-6 of an integer may round either way in floating point
        allowed = [{math.floor(x - 1e-6), math.floor(x + 1e-6)} for x in exact]
        if not all(v in ok for v, ok in zip(values, allowed)):
            shown = ", ".join(f"{v:g}" for v in values[:4]) + (", ..." if c > 4 else "")
            print(f"Not quite (n_max={n_max}, rho={rho}, C={c}): you gave {shown}. "
                  f"{_diagnose(values, n_max, rho, c)}")
            return False
    first = ", ".join(str(n) for n in exponential_counts(*CASES[0]))
    print(f"Correct: your counts match the exponential profile on all {len(CASES)} cases "
          f"(e.g. {first}).")
    return True


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


def _over_c(n_max, rho, c):  # the classic mistake: exponent i/C
    return [int(n_max * rho ** (-i / c)) for i in range(c)]


def _not_rounded(n_max, rho, c):
    return [n_max * rho ** (-i / (c - 1)) for i in range(c)]


def _nearest(n_max, rho, c):
    return [round(n_max * rho ** (-i / (c - 1))) for i in range(c)]


def _tail_first(n_max, rho, c):
    return exponential_counts(n_max, rho, c)[::-1]


_COUNTS = [400, 200, 100, 50, 20, 8, 4]
EXERCISES = (
    Exercise(check_exponential_counts, reference=lambda: exponential_counts,
             mistake=lambda: _over_c, hint="i/(C - 1), not i/C"),
    Exercise(check_exponential_counts, reference=lambda: exponential_counts,
             mistake=lambda: _not_rounded, hint="round down (floor)"),
    Exercise(check_exponential_counts, reference=lambda: exponential_counts,
             mistake=lambda: _nearest, hint="not to the nearest integer"),
    Exercise(check_exponential_counts, reference=lambda: exponential_counts,
             mistake=lambda: _tail_first, hint="class 0 is the head"),
    Exercise(check_imbalance_ratio, reference=lambda: 100.0,
             mistake=lambda: 4 / 400, hint="largest class count by the smallest",
             kwargs={"train_counts": _COUNTS}),
    Exercise(check_tail_share, reference=lambda: (20 + 8 + 4) / 782,
             mistake=lambda: 20.0 + 8 + 4, hint="divide by the total",
             kwargs={"train_counts": _COUNTS}),
)
