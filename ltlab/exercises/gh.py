"""Exercises of notebook 06 (Geometric Harmonization): the coded core exercise, a Sinkhorn
allocation written by the student (`check_allocation`), and the inner product of two anchors
of a simplex structure (`check_simplex_inner_product`)."""

from __future__ import annotations

from typing import Any

import torch

from ..gh import geometric_logits, marginal_errors, sinkhorn_allocation, uniform_structure
from .protocol import Exercise, StudentError, check_value, not_answered, run_student

__all__ = ["EXERCISES", "check_allocation", "check_simplex_inner_product"]

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


EXERCISES = (
    # the classic mistake: orthogonal anchors (inner product 0)
    Exercise(check_simplex_inner_product, reference=lambda: -1 / 9, mistake=lambda: 0.0,
             hint="sum to zero", kwargs={"num_prototypes": 10}),
    Exercise(check_allocation, reference=lambda: _reference_allocation,
             mistake=lambda: _softmax_allocation, hint="alternate the two scalings"),
)
