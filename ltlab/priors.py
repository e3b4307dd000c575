"""Class priors: long-tailed counts, priors from counts, shifted test priors, tempering, KL.

A *prior* in ltlab is a 1-D float tensor of non-negative entries that sums to 1.

The long-tailed profile is the one of LDAM-DRW, BalPoE, LDA and GH (Cao et al., 2019):

    n_i = int(n_max * (1 / rho) ** (i / (C - 1))),   i = 0 .. C-1,

with class 0 the head. We evaluate exactly this float expression, so CIFAR-100-LT with
rho = 100 has 10,847 training images and CIFAR-10-LT 12,406, as in the papers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._validation import as_choice, as_counts, as_int, as_number, as_prior

__all__ = [
    "kl_divergence",
    "long_tailed_counts",
    "prior_from_counts",
    "shifted_prior",
    "tempered",
]


def long_tailed_counts(
    num_classes: int,
    max_count: int,
    imbalance_ratio: float,
    profile: str = "exponential",
) -> torch.Tensor:
    """Per-class training counts of a long-tailed split (head is class 0).

    ``"exponential"``: n_i = int(max_count * (1/ratio) ** (i / (C-1))) (the reference int()
    of LDAM-DRW/BalPoE). ``"step"``: the first half of the classes keep ``max_count``, the
    second half int(max_count / ratio).

    >>> int(long_tailed_counts(100, 500, 100).sum())
    10847
    >>> int(long_tailed_counts(10, 5000, 100).sum())
    12406
    """
    as_int(num_classes, "num_classes", minimum=2)
    as_int(max_count, "max_count", minimum=1)
    as_choice(profile, ("exponential", "step"), "profile")
    if as_number(imbalance_ratio, "imbalance_ratio") < 1:
        raise ValueError(
            f"imbalance_ratio must be >= 1 (got {imbalance_ratio!r}); it is n_max / n_min, "
            "so 100 means the head has 100x the images of the tail."
        )
    imb_factor = 1.0 / imbalance_ratio
    if profile == "exponential":
        counts = [
            int(max_count * (imb_factor ** (i / (num_classes - 1.0)))) for i in range(num_classes)
        ]
    else:  # "step"
        half = num_classes // 2
        counts = [max_count] * half + [int(max_count * imb_factor)] * (num_classes - half)
    if min(counts) < 1:
        raise ValueError(
            f"max_count={max_count} with imbalance_ratio={imbalance_ratio} leaves a class with "
            "zero samples; raise max_count or lower the ratio."
        )
    return torch.tensor(counts, dtype=torch.long)


def prior_from_counts(counts, allow_empty: bool = False) -> torch.Tensor:
    """The empirical prior pi_y = n_y / sum(n) as a float32 tensor.

    Zero counts raise unless ``allow_empty=True`` (a zero prior makes log pi = -inf, which
    the logit-adjusted losses handle only through their documented epsilon).

    >>> prior_from_counts([3, 1]).tolist()
    [0.75, 0.25]
    """
    c = as_counts(counts, "counts", allow_zero=True)
    if not allow_empty and (c == 0).any():
        empty = torch.nonzero(c == 0).flatten().tolist()
        raise ValueError(
            f"counts has empty classes {empty}; a zero prior gives log(prior) = -inf. "
            "Pass allow_empty=True if you mean it, or drop those classes."
        )
    return (c / c.sum()).float()


def shifted_prior(num_classes: int, rho: float, direction: str) -> torch.Tensor:
    """Test prior of the test-agnostic protocol (SADE / BalPoE Table 3).

    ``"forward"``: p_i ∝ rho^(-i/(C-1)) (head in the same classes as in training);
    ``"backward"``: p_i ∝ rho^(-(C-1-i)/(C-1)); ``"uniform"``: 1/C (rho is ignored).
    Forward-50 is the prior of `label_shift_subset` with rho = 50.
    """
    as_int(num_classes, "num_classes", minimum=2)
    as_choice(direction, ("forward", "uniform", "backward"), "direction")
    if direction == "uniform":
        return torch.full((num_classes,), 1.0 / num_classes)
    if as_number(rho, "rho", "It is the ratio of the most to the least frequent class.") < 1:
        raise ValueError(f"rho must be a finite number >= 1 (got {rho!r}); it is the ratio of "
                         "the most to the least frequent class.")
    i = torch.arange(num_classes, dtype=torch.float64)
    exponent = i if direction == "forward" else (num_classes - 1 - i)
    p = float(rho) ** (-exponent / (num_classes - 1))
    return (p / p.sum()).float()


def tempered(prior, alpha: float) -> torch.Tensor:
    """The tempered prior p^alpha / sum(p^alpha) (alpha = 1: unchanged, 0: uniform).

    A large |alpha| (where p^alpha under- or overflows float64) is computed in log space,
    softmax(alpha log p), so ``tempered(p, 1e4)`` is the one-hot of the largest entry.

    >>> tempered([0.6, 0.4], 1e4).tolist()
    [1.0, 0.0]
    """
    p = as_prior(prior)
    alpha = as_number(alpha, "alpha", "alpha = 1 keeps the prior, 0 makes it uniform.")
    if alpha < 0 and (p == 0).any():
        raise ValueError(f"alpha = {alpha!r} < 0 needs a prior without zero entries "
                         f"(got zeros at {torch.nonzero(p == 0).flatten().tolist()}).")
    q = torch.where(p > 0, p.double() ** alpha, torch.zeros_like(p.double()))
    if alpha == 0:
        q = torch.ones_like(q)
    total = q.sum()
    if not (bool(torch.isfinite(q).all()) and 0 < float(total) < math.inf):
        # p^alpha left float64's range: the same p^alpha / sum p^alpha in log space
        return torch.softmax(alpha * p.double().log(), dim=0).to(torch.float32)
    return (q / total).to(torch.float32)


def kl_divergence(p, q) -> float:
    """KL(p || q) = sum_i p_i log(p_i / q_i), with 0 log 0 = 0 (inf where q_i = 0 < p_i)."""
    p = as_prior(p, "p").double()
    q = as_prior(q, "q").double()
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same length (got {p.numel()} and {q.numel()}).")
    mask = p > 0
    if (q[mask] == 0).any():
        return math.inf
    return float((p[mask] * (p[mask].log() - q[mask].log())).sum().clamp_min(0.0))


def counts_to_list(counts: Sequence[int] | torch.Tensor) -> list[int]:
    """Counts as a plain list of ints (for tables and JSON)."""
    return [int(c) for c in torch.as_tensor(counts).tolist()]
