"""Exercises of notebooks 06 and 08 (Geometric Harmonization). Notebook 06's coded core
exercise, a Sinkhorn allocation written by the student (`check_allocation`), and the inner
product of two anchors of a simplex structure (`check_simplex_inner_product`); notebook 08's,
how far GH's estimated marginal is from the class prior without matching anchors to classes
(`check_prior_distance`)."""

from __future__ import annotations

from typing import Any

import torch

from ..gh import geometric_logits, marginal_errors, sinkhorn_allocation, uniform_structure
from .protocol import Exercise, StudentError, check_value, not_answered, run_student

__all__ = ["EXERCISES", "check_allocation", "check_prior_distance", "check_simplex_inner_product"]

#: The anchor marginal of `check_allocation`'s batch (a long-tailed cluster prior).
ALLOCATION_PRIOR = (0.4, 0.25, 0.15, 0.12, 0.08)


def check_simplex_inner_product(answer: Any, num_prototypes: int = 10) -> bool:
    """The inner product of two distinct rows of a K-anchor simplex ETF: -1/(K-1)."""
    return check_value(
        answer, -1.0 / (num_prototypes - 1), tol=1e-4,
        hint="The K rows are unit vectors that sum to zero, so expand |sum_k M_k|^2 = 0.",
    )


def _batch(seed: int) -> torch.Tensor:
    """Geometric logits ``[48, 5]`` of random projector outputs on a 5-anchor structure."""
    g = torch.Generator().manual_seed(seed)
    return geometric_logits(torch.randn(48, 5, generator=g), uniform_structure(5, 5, seed))


def check_allocation(fn: Any, seed: int = 0) -> bool:
    """``fn(scores, prior, eps, n_iter)`` should return the Sinkhorn allocation (rows sum to
    1, column means = prior); compared with `ltlab.gh.sinkhorn_allocation` on a toy batch."""
    if not_answered(fn):
        return False
    scores, prior = _batch(seed), torch.tensor(ALLOCATION_PRIOR)
    try:
        mine = torch.as_tensor(run_student(fn, scores, prior, 0.05, 300)).float()
    except StudentError:
        return False
    except (TypeError, ValueError, RuntimeError) as err:  # not convertible to a tensor
        print(f"Expected a tensor of shape {tuple(scores.shape)}: {err}")
        return False
    if mine.shape != scores.shape:
        print(f"Expected an allocation of shape {tuple(scores.shape)}, got {tuple(mine.shape)}.")
        return False
    errors = marginal_errors(mine, prior) if torch.isfinite(mine).all() else None
    if errors is not None and errors["rows"] <= 1e-3 and errors["columns"] > 1e-3:
        print(f"Each row sums to 1, but the column means miss the prior by up to "
              f"{errors['columns']:.3g}: a softmax per sample ignores the anchor marginal; "
              "alternate the two scalings (anchors, then samples) for n_iter rounds.")
        return False
    if errors is None or errors["rows"] > 1e-3 or errors["columns"] > 1e-3:
        print(f"The marginals are off: {errors}. Rows must sum to 1 and column means must "
              "equal the prior; alternate the two scalings and end with the row (sample) one.")
        return False
    gap = float((mine - sinkhorn_allocation(scores, prior)).abs().max())
    if gap > 1e-2:
        print(f"Marginals are right, but the allocation differs from the reference by {gap:.3g}: "
              "check the kernel exp(scores / eps).")
        return False
    print("Correct: both marginals hold and the allocation matches sinkhorn_allocation.")
    return True


def _reference_allocation(scores, prior, eps, n_iter):
    return sinkhorn_allocation(scores, prior, eps, n_iter)


def _softmax_allocation(scores, prior, eps, n_iter):
    """The classic mistake: a softmax per sample, which ignores the anchor marginal."""
    return torch.softmax(scores / eps, 1)


#: The pairs `check_prior_distance` tries: (pi_hat, class prior), neither in the other's order.
_PRIOR_PAIRS = (
    ((0.1, 0.3, 0.2, 0.4), (0.7, 0.2, 0.05, 0.05)),
    ((0.25, 0.25, 0.25, 0.25), (0.05, 0.1, 0.6, 0.25)),
    ((0.5, 0.1, 0.4), (0.5, 0.4, 0.1)),
)


def _sorted_total_variation(pi_hat, prior) -> float:
    p = torch.as_tensor(pi_hat, dtype=torch.float64).sort(descending=True).values
    q = torch.as_tensor(prior, dtype=torch.float64).sort(descending=True).values
    return float(0.5 * (p - q).abs().sum())


def check_prior_distance(fn: Any) -> bool:
    """``fn(pi_hat, prior)`` should return the total variation between the two marginals
    sorted largest first, (1/2) sum_k |pi_hat_(k) - prior_(k)|: anchors are not classes, so
    without labels only the sorted shares can be compared. Tried on `_PRIOR_PAIRS`."""
    if not_answered(fn):
        return False
    got = []
    for pi_hat, prior in _PRIOR_PAIRS:
        try:
            value = run_student(fn, torch.tensor(pi_hat), torch.tensor(prior))
            got.append(float(value))
        except StudentError:
            return False
        except (TypeError, ValueError, RuntimeError) as err:
            print(f"Expected one number per pair of marginals: {err}")
            return False
    want = [_sorted_total_variation(p, q) for p, q in _PRIOR_PAIRS]
    unsorted = [float(0.5 * (torch.tensor(p) - torch.tensor(q)).abs().sum().double())
                for p, q in _PRIOR_PAIRS]
    if all(abs(g - w) < 1e-6 for g, w in zip(got, want)):
        print("Correct: the total variation between the sorted marginals.")
        return True
    if all(abs(g - 2 * w) < 1e-6 for g, w in zip(got, want)):
        print("Twice the answer: the total variation is half the sum of |differences|.")
    elif all(abs(g - u) < 1e-6 for g, u in zip(got, unsorted)):
        print("That compares anchor k with class k, but anchors are not classes: sort both "
              "marginals (largest first) before taking the differences.")
    else:
        print(f"Expected {[round(w, 4) for w in want]}, got {[round(g, 4) for g in got]}: sort "
              "both marginals largest first, then take (1/2) sum |differences|.")
    return False


def _reference_prior_distance(pi_hat, prior):
    return _sorted_total_variation(pi_hat, prior)


def _unsorted_prior_distance(pi_hat, prior):
    """The classic mistake: anchor k compared with class k."""
    return float(0.5 * (pi_hat - prior).abs().sum())


EXERCISES = (
    # the classic mistake: orthogonal anchors (inner product 0)
    Exercise(check_simplex_inner_product, reference=lambda: -1 / 9, mistake=lambda: 0.0,
             hint="sum to zero", kwargs={"num_prototypes": 10}),
    Exercise(check_allocation, reference=lambda: _reference_allocation,
             mistake=lambda: _softmax_allocation, hint="alternate the two scalings"),
    Exercise(check_prior_distance, reference=lambda: _reference_prior_distance,
             mistake=lambda: _unsorted_prior_distance, hint="sort both"),
)
