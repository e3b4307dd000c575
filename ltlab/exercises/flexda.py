"""Exercises of notebook 03 (FlexDA): one step of the prior estimate and the consistency
loss's adjustment written by the student (`check_flexda_update`, the core exercise), the
alpha schedule, the smoothed prior, the EMA's memory."""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validation import as_fraction
from ..flexda import PriorEstimator, alpha_schedule, flexda_adjustment, smoothed_prior
from .protocol import Exercise, StudentError, check_value, not_answered, run_student

__all__ = ["EXERCISES", "check_alpha", "check_ema_steps", "check_flexda_update",
           "check_smoothed_prior"]


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


#: The estimate the core exercise starts from (a long tail over 5 classes).
UPDATE_PRIOR = (0.45, 0.25, 0.15, 0.1, 0.05)


def _update_batch(seed: int) -> torch.Tensor:
    """Soft weak-view predictions ``[64, 5]`` of a model that is often unsure (so averaging
    the soft predictions and averaging hard pseudo-labels give different answers)."""
    g = torch.Generator().manual_seed(seed)
    logits = 1.5 * torch.randn(64, 5, generator=g, dtype=torch.float64)
    logits[:, 0] += 0.8  # a head class the model favours
    return torch.softmax(logits, 1)


def _as_vector(value: Any, name: str, c: int) -> torch.Tensor | None:
    try:
        v = torch.as_tensor(value, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        print(f"Expected {name} as a tensor of {c} numbers, got {type(value).__name__}.")
        return None
    if v.numel() != c or not bool(torch.isfinite(v).all()):
        print(f"Expected {name} as {c} finite numbers, got {v.numel()}: {v.tolist()}.")
        return None
    return v


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    return float((a - b).abs().max()) <= tol


def _centered(v: torch.Tensor) -> torch.Tensor:
    return v - v.mean()


def check_flexda_update(fn: Any, eta: float = 0.9, alpha: float = 0.5, seed: int = 0) -> bool:
    """``fn(q_hat, probs_weak, eta, alpha)`` -> ``(q_new, adjustment)``: one update of
    FlexDA's online estimate, Q̂ <- eta Q̂ + (1 - eta) mean_b p_b over the *soft* weak-view
    predictions ``probs_weak`` ``[B, C]``, and the consistency loss's logit adjustment
    log(Q̂ / Q̂_alpha) from the estimate as it stood *before* this update (the losses of step
    t use Q̂ after step t - 1), Q̂_alpha = Q̂^alpha / sum_j Q̂_j^alpha. The adjustment is
    accepted up to an added constant (the softmax ignores it). Compared with
    `ltlab.flexda.PriorEstimator` and `ltlab.flexda.flexda_adjustment`."""
    if not_answered(fn):
        return False
    c = len(UPDATE_PRIOR)
    q = torch.tensor(UPDATE_PRIOR, dtype=torch.float64)
    probs = _update_batch(seed)
    try:
        out = run_student(fn, q.clone(), probs.clone(), eta, alpha)
    except StudentError:
        return False
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        print("Expected two results, `return q_new, adjustment` (got "
              f"{type(out).__name__}).")
        return False
    q_new, adj = _as_vector(out[0], "q_new", c), _as_vector(out[1], "adjustment", c)
    if q_new is None or adj is None:
        return False
    estimator = PriorEstimator(c, prior_momentum=eta)
    estimator.prior.copy_(q)
    expected_q = estimator.update(probs).clone()
    hard = torch.nn.functional.one_hot(probs.argmax(1), c).double().mean(0)
    if not _close(q_new, expected_q):
        if _close(q_new, eta * q + (1 - eta) * hard):
            print("Not quite: q_new averages hard pseudo-labels (one-hot argmax). FlexDA "
                  "averages the soft predictions p_b themselves: mean over the batch of "
                  "probs_weak.")
        elif _close(q_new, (1 - eta) * q + eta * probs.mean(0)):
            print("Not quite: the weights are swapped. eta (close to 1) keeps the old "
                  "estimate: q_new = eta * q_hat + (1 - eta) * batch mean.")
        else:
            print(f"Not quite: q_new is off by {float((q_new - expected_q).abs().max()):.3g}. "
                  "q_new = eta * q_hat + (1 - eta) * probs_weak.mean(0).")
        return False
    expected_adj = flexda_adjustment(q, smoothed_prior(q, alpha))
    if not _close(_centered(adj), _centered(expected_adj)):
        after = flexda_adjustment(expected_q, smoothed_prior(expected_q, alpha))
        if _close(_centered(adj), -_centered(expected_adj)):
            print("Not quite: the adjustment has the wrong sign. It is log(Q̂ / Q̂_alpha), "
                  "with Q̂ on top.")
        elif _close(_centered(adj), _centered(after)):
            print("Not quite: the adjustment uses the updated estimate. Compute it from "
                  "q_hat as it stood before this step's update.")
        else:
            print("Not quite: the adjustment should be log(q_hat) - log(q_alpha), with "
                  "q_alpha = q_hat ** alpha / (q_hat ** alpha).sum().")
        return False
    print("Correct: the soft predictions update Q̂, and the adjustment log(Q̂ / Q̂_alpha) "
          "uses Q̂ from before the update.")
    return True


def _reference_update(q_hat, probs_weak, eta, alpha):
    q_alpha = q_hat**alpha / (q_hat**alpha).sum()
    adjustment = torch.log(q_hat) - torch.log(q_alpha)
    return eta * q_hat + (1 - eta) * probs_weak.mean(0), adjustment


def _hard_label_update(q_hat, probs_weak, eta, alpha):
    """The classic mistake: the estimate averages hard pseudo-labels."""
    q_alpha = q_hat**alpha / (q_hat**alpha).sum()
    hard = torch.nn.functional.one_hot(probs_weak.argmax(1), probs_weak.shape[1]).double()
    return eta * q_hat + (1 - eta) * hard.mean(0), torch.log(q_hat / q_alpha)


_Q = [0.6, 0.3, 0.1]
EXERCISES = (
    Exercise(check_flexda_update, reference=lambda: _reference_update,
             mistake=lambda: _hard_label_update, hint="soft predictions"),
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
