"""Exercises of notebook 02 (BalPoE): the core exercise, the aggregation of the experts'
logits with the test-time prior (`check_ensemble_logits`); the ensemble's bias and a
λ-expert's target prior."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..experts import BalPoE, expert_target_priors
from .protocol import Exercise, StudentError, not_answered, run_student

__all__ = ["EXERCISES", "check_ensemble_bias", "check_ensemble_logits", "check_expert_prior"]


def _reference_ensemble(z, lambdas, log_prior, target_log_prior=None):
    out = z.mean(0) - lambdas.mean() * log_prior  # Eq. 7, minus the bias lambda_bar log pi_s
    return out if target_log_prior is None else out + target_log_prior


def _ensemble_mistakes(z, lam, lp, tlp):
    """(logits of a classic mistake, its hint), for the checker to recognise."""
    t = 0.0 if tlp is None else tlp
    mean_probs = torch.log(torch.softmax(z, 2).mean(0))
    return (
        (mean_probs - lam.mean() * lp + t,
         "You averaged probabilities: BalPoE averages the experts' *logits* (a product of "
         "experts, Eq. 7)."),
        (z.mean(0) + t,
         "You did not remove the ensemble's bias: subtract mean(lambda) * log_prior (with "
         "mean lambda = 0.5 the raw mean favours the prior proportional to pi_s^0.5)."),
        (z.mean(0) + lam.mean() * lp + t,
         "Sign: the ensemble's bias is +mean(lambda) * log_prior, so *subtract* it."),
        (z.mean(0) - lp + t,
         "You removed the whole log prior: the bias to remove is mean(lambda) * log_prior."),
        (z.mean(0) - lam.mean() * lp - t,
         "Sign of the test prior: *add* log pi_t to move the prediction toward pi_t."),
        (z.mean(0) - lam.mean() * lp,
         "You ignored the test prior: when target_log_prior is given, add it."),
    )


def _same_prediction(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to a constant per row (softmax and argmax cannot see it)."""
    return torch.allclose(torch.log_softmax(a, -1), torch.log_softmax(b, -1), atol=1e-6)


def check_ensemble_logits(answer: Any) -> bool:
    """``answer(expert_logits [E, N, C], lambdas [E], log_prior [C], target_log_prior=None)
    -> logits [N, C]`` must give BalPoE's prediction: the mean of the experts' logits minus
    the bias mean(λ) log π_s, plus log π_t when a test prior is given (equal up to a
    constant per row). Checked with λ̄ = 0 and λ̄ = 0.5, with and without a test prior; the
    classic mistakes (averaging probabilities, keeping the bias, the signs, ignoring π_t)
    get their own hint."""
    if not_answered(answer):
        return False
    g = torch.Generator().manual_seed(2)
    z = 3 * torch.randn(3, 40, 5, generator=g, dtype=torch.float64)
    lp = torch.log_softmax(2 * torch.randn(5, generator=g, dtype=torch.float64), 0)
    tlp = torch.log_softmax(2 * torch.randn(5, generator=g, dtype=torch.float64), 0)
    cases = [(torch.tensor(lam, dtype=torch.float64), t) for lam in ((1.0, 0.0, -1.0),
             (1.0, 0.5, 0.0)) for t in (None, tlp)]
    for lam, t in cases:
        args = (z.clone(), lam.clone(), lp.clone()) + (() if t is None else (t.clone(),))
        try:
            got = run_student(answer, *args)
        except StudentError:
            return False
        try:
            got = torch.as_tensor(got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            print(f"Return the logits as a tensor [N, C] (got {type(got).__name__}).")
            return False
        want = _reference_ensemble(z, lam, lp, t)
        if got.shape != want.shape:
            print(f"Return one row of logits per signal: expected shape {tuple(want.shape)}, "
                  f"got {tuple(got.shape)} (average over the experts, dimension 0).")
            return False
        if not _same_prediction(got, want):
            where = (f"mean lambda = {float(lam.mean()):g}, "
                     f"{'with' if t is not None else 'without'} a test prior")
            hint = next((h for wrong, h in _ensemble_mistakes(z, lam, lp, t)
                         if _same_prediction(got, wrong)), "Average the logits, subtract "
                        "mean(lambda) * log_prior, add target_log_prior when given.")
            print(f"Not quite ({where}). {hint}")
            return False
    print("Correct: mean of the logits, minus mean(lambda) * log pi_s, plus log pi_t when "
          "the test prior is known.")
    return True


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


def _ensemble_averaging_probabilities(z, lambdas, log_prior, target_log_prior=None):
    out = torch.log(torch.softmax(z, 2).mean(0)) - lambdas.mean() * log_prior
    return out if target_log_prior is None else out + target_log_prior


def _ensemble_keeping_the_bias(z, lambdas, log_prior, target_log_prior=None):
    out = z.mean(0)
    return out if target_log_prior is None else out + target_log_prior


_PRIOR = (0.7, 0.2, 0.1)
EXERCISES = (
    Exercise(check_ensemble_logits, reference=lambda: _reference_ensemble,
             mistake=lambda: _ensemble_averaging_probabilities,
             hint="averages the experts' *logits*"),
    Exercise(check_ensemble_logits, reference=lambda: _reference_ensemble,
             mistake=lambda: _ensemble_keeping_the_bias,
             hint="did not remove the ensemble's bias"),
    Exercise(check_ensemble_bias, reference=lambda: 3.5 / 3, mistake=lambda: 1 - 3.5 / 3,
             hint="the bias is the mean of lambda", kwargs={"lambdas": (2.0, 1.0, 0.5)}),
    Exercise(check_expert_prior, reference=lambda: [(1 / p) / sum(1 / q for q in _PRIOR) for p in _PRIOR],
             mistake=lambda: [1 / p for p in _PRIOR], hint="normalise pi^lambda by its sum",
             kwargs={"lam": -1.0, "prior": _PRIOR}),
)
