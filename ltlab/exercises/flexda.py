"""Exercises of notebooks 03 and 07 (FlexDA): one step of the prior estimate and the
consistency loss's adjustment written by the student (`check_flexda_update`, 03's core
exercise), the alpha schedule, the smoothed prior; Saerens' EM written by the student
(`check_em_prior`, 07's core exercise) and the EMA's memory (`check_ema_steps`, 07)."""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validation import as_fraction
from ..flexda import PriorEstimator, alpha_schedule, flexda_adjustment, smoothed_prior
from .protocol import Exercise, StudentError, check_value, not_answered, run_student

__all__ = ["EXERCISES", "check_alpha", "check_em_prior", "check_ema_steps",
           "check_flexda_update", "check_smoothed_prior"]


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


#: The EM exercise's source prior (the classifier's training prior) and the target prior
#: its unlabelled inputs are drawn with.
EM_SOURCE = (0.4, 0.3, 0.2, 0.1)
EM_TARGET = (0.1, 0.2, 0.3, 0.4)


def _em_batch(seed: int = 0, n: int = 2000) -> torch.Tensor:
    """Exact posteriors p_s(y | x) ``[n, 4]`` under `EM_SOURCE` of 2-D inputs drawn with
    `EM_TARGET` from four overlapping unit Gaussians (a calibrated classifier under label
    shift, the case EM is made for)."""
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5], [1.5, 1.5]], dtype=torch.float64)
    y = torch.multinomial(torch.tensor(EM_TARGET, dtype=torch.float64), n, True, generator=g)
    x = means[y] + torch.randn(n, 2, generator=g, dtype=torch.float64)
    log_density = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(-1)
    return torch.softmax(log_density + torch.tensor(EM_SOURCE, dtype=torch.float64).log(), 1)


def _em_fixed_point(probs: torch.Tensor, source: torch.Tensor, divide: bool = True,
                    steps: int = 2000) -> torch.Tensor:
    prior = source.clone()
    for _ in range(steps):
        w = probs * (prior / source if divide else prior)
        prior = (w / w.sum(1, keepdim=True)).mean(0)
    return prior


def check_em_prior(fn: Any, steps: int = 500, seed: int = 0) -> bool:
    """``fn(probs, source_prior, steps)`` -> the estimated target prior ``[C]``: Saerens'
    EM, started at the source prior, ``steps`` times re-weighting every posterior by
    pi_hat(y) / pi_s(y), normalising it over y (E-step) and averaging them (M-step).
    Compared with `ltlab.label_shift.em_prior` on the exact posteriors of a small label-shift
    problem (`_em_batch`); names the classic mistakes (the plain mean of the posteriors,
    re-weighting by pi_hat without dividing by pi_s, no normalisation)."""
    from ..label_shift import em_prior

    if not_answered(fn):
        return False
    probs = _em_batch(seed)
    source = torch.tensor(EM_SOURCE, dtype=torch.float64)
    try:
        out = run_student(fn, probs.clone(), source.clone(), steps)
    except StudentError:
        return False
    got = _as_vector(out, "the estimated prior", len(EM_SOURCE))
    if got is None:
        return False
    expected = em_prior(probs, source, max_iter=10 * steps, tol=1e-12)[0].double()
    if _close(got, expected, tol=2e-3):
        print(f"Correct: EM moves the prior from the source {list(EM_SOURCE)} to "
              f"{[round(v, 2) for v in got.tolist()]} (the inputs were drawn with "
              f"{list(EM_TARGET)}).")
        return True
    if abs(float(got.sum()) - 1) > 1e-3:
        print(f"Not quite: the estimate sums to {float(got.sum()):.3g}. Normalise every "
              "re-weighted posterior over the classes (divide each row by its sum) before "
              "averaging.")
    elif _close(got, probs.mean(0), tol=2e-3):
        print("Not quite: that is the mean of the posteriors, one M-step from the source "
              "prior (the rule of FlexDA's online estimate). EM re-weights each posterior by "
              "pi_hat / pi_s, normalises, averages, and repeats.")
    elif _close(got, _em_fixed_point(probs, source, divide=False), tol=2e-3):
        print("Not quite: re-weight by pi_hat(y) / pi_s(y), not by pi_hat(y) alone: the "
              "posteriors already carry the source prior, which must be divided out.")
    else:
        print(f"Not quite: off by {float((got - expected).abs().max()):.3g}. Start at the "
              "source prior; each step: w = probs * (prior / source_prior), "
              "w = w / w.sum(1, keepdim=True), prior = w.mean(0).")
    return False


def _reference_em(probs, source_prior, steps):
    prior = source_prior.clone()
    for _ in range(steps):
        w = probs * (prior / source_prior)
        prior = (w / w.sum(1, keepdim=True)).mean(0)
    return prior


def _mean_em(probs, source_prior, steps):
    """The classic mistake: the mean of the posteriors (no re-weighting, no iteration)."""
    return probs.mean(0)


_Q = [0.6, 0.3, 0.1]
EXERCISES = (
    Exercise(check_em_prior, reference=lambda: _reference_em, mistake=lambda: _mean_em,
             hint="mean of the posteriors"),
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
