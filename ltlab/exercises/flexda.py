"""Exercises of notebook 03 (FlexDA): the alpha schedule, the smoothed prior, the EMA's memory."""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validation import as_fraction
from ..flexda import alpha_schedule, smoothed_prior
from .protocol import Exercise, check_value, not_answered

__all__ = ["EXERCISES", "check_alpha", "check_ema_steps", "check_smoothed_prior"]


def check_alpha(answer: Any, progress: float, alpha_min: float = 0.1, power: float = 2.0) -> bool:
    """alpha_t = 1 - (1 - alpha_min) * progress^power at a given training progress."""
    return check_value(answer, alpha_schedule(progress, alpha_min, power), tol=1e-3,
                       hint="alpha_t = 1 - (1 - alpha_min) * progress ** power.")


def check_smoothed_prior(answer: Any, q_hat, alpha: float) -> bool:
    """The smoothed prior Q̂_alpha = Q̂^alpha / sum_j Q̂_j^alpha (a list of C numbers)."""
    if not_answered(answer):
        return False
    expected = smoothed_prior(q_hat, alpha).double().cpu()
    try:
        got = torch.as_tensor(answer, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        print(f"Expected a list of {expected.numel()} numbers, got {answer!r}.")
        return False
    if got.numel() != expected.numel():
        print(f"Expected {expected.numel()} numbers, got {got.numel()}.")
        return False
    err = float((got - expected).abs().max())
    if err <= 1e-3:
        print("Correct: Q̂^alpha, normalised to sum to 1.")
        return True
    print(f"Not quite (largest error {err:.3g}). Raise each entry to the power alpha, then "
          "divide by the sum.")
    return False


def check_ema_steps(answer: Any, momentum: float, weight: float = 0.05) -> bool:
    """After how many updates does the uniform start weigh less than ``weight`` in Q̂?
    (the smallest T with momentum^T < weight)."""
    momentum = as_fraction(momentum, "momentum", "E.g. 0.999.", low_open=True, high_open=True)
    weight = as_fraction(weight, "weight", "E.g. 0.05 for 5%.", low_open=True, high_open=True)
    expected = math.floor(math.log(weight) / math.log(momentum)) + 1
    return check_value(answer, expected, tol=max(1.0, 0.01 * expected),
                       hint="The start weighs momentum**T after T updates; solve momentum**T < "
                            f"{weight} for T (about 3 / (1 - momentum) for 5%).")


_Q = [0.6, 0.3, 0.1]
EXERCISES = (
    Exercise(check_alpha, reference=lambda: 1 - (1 - 0.1) * 0.5**2,
             mistake=lambda: 1 - 0.5**2, hint="1 - (1 - alpha_min) * progress ** power",
             kwargs={"progress": 0.5, "alpha_min": 0.1, "power": 2.0}),
    Exercise(check_smoothed_prior,
             reference=lambda: [v**0.5 / sum(u**0.5 for u in _Q) for v in _Q],
             mistake=lambda: [v**0.5 for v in _Q], hint="divide by the sum",
             kwargs={"q_hat": _Q, "alpha": 0.5}),
    Exercise(check_ema_steps, reference=lambda: 2995,
             mistake=lambda: 1000, hint="solve momentum**T",
             kwargs={"momentum": 0.999}),
)
