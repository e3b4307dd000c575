"""Exercises of notebook 02 (BalPoE): the ensemble's bias and a λ-expert's target prior."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..experts import BalPoE, expert_target_priors
from .protocol import Exercise, not_answered

__all__ = ["EXERCISES", "check_ensemble_bias", "check_expert_prior"]


def check_ensemble_bias(answer: Any, lambdas: Sequence[float] = (2.0, 1.0, 0.5)) -> bool:
    """The ensemble bias (mean λ) of experts with these ``lambdas``."""
    if not_answered(answer):
        return False
    want = BalPoE(lambdas).bias
    try:
        got = float(answer)
    except (TypeError, ValueError):
        print(f"Expected a number, got {answer!r}.")
        return False
    if abs(got - want) < 1e-6:
        verdict = "balanced" if abs(want) < 1e-9 else f"biased toward pi^{want:g}"
        print(f"Correct: mean lambda = {want:g}, so the ensemble is {verdict}.")
        return True
    taus = [1 - v for v in lambdas]
    if abs(got - sum(taus) / len(taus)) < 1e-6:
        print("That is the mean tau (tau = 1 - lambda); the bias is the mean of lambda.")
    else:
        print(f"Not quite: you gave {got:g}. Average the lambdas.")
    return False


def check_expert_prior(answer: Any, lam: float = -1.0,
                       prior: Sequence[float] = (0.7, 0.2, 0.1)) -> bool:
    """The target prior (a vector) of a λ-expert: pi^λ / sum(pi^λ)."""
    if not_answered(answer):
        return False
    want = expert_target_priors([lam], torch.tensor(prior, dtype=torch.float64))[0]
    try:
        got = torch.as_tensor(answer, dtype=torch.float32).flatten()
    except (TypeError, ValueError, RuntimeError):
        print(f"Expected a vector of {len(prior)} numbers, got {answer!r}.")
        return False
    if got.shape != want.shape:
        print(f"Expected {want.numel()} numbers, got {got.numel()}.")
        return False
    if torch.allclose(got, want, atol=1e-3):
        print(f"Correct: {[round(v, 4) for v in want.tolist()]}.")
        return True
    if abs(float(got.sum()) - 1) > 1e-3:
        print("A prior sums to 1: normalise pi^lambda by its sum.")
    else:
        print(f"Not quite: expected pi^{lam:g} normalised; you gave {[round(v, 4) for v in got.tolist()]}.")
    return False


_PRIOR = (0.7, 0.2, 0.1)
EXERCISES = (
    Exercise(check_ensemble_bias, reference=lambda: 3.5 / 3, mistake=lambda: 1 - 3.5 / 3,
             hint="the bias is the mean of lambda", kwargs={"lambdas": (2.0, 1.0, 0.5)}),
    Exercise(check_expert_prior, reference=lambda: [(1 / p) / sum(1 / q for q in _PRIOR) for p in _PRIOR],
             mistake=lambda: [1 / p for p in _PRIOR], hint="normalise pi^lambda by its sum",
             kwargs={"lam": -1.0, "prior": _PRIOR}),
)
