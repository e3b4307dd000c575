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

__all__ = [
    "check_prior",
    "kl_divergence",
    "long_tailed_counts",
    "prior_from_counts",
    "shifted_prior",
    "tempered",
]

PRIOR_TOLERANCE = 1e-4


def _as_float_vector(values, name: str) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float64) if not torch.is_tensor(values) else values
    if t.dim() != 1:
        raise ValueError(f"{name} must be a 1-D vector (got shape {tuple(t.shape)}).")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty.")
    return t


def check_prior(prior, name: str = "prior") -> torch.Tensor:
    """Validate that ``prior`` is a probability vector and return it as a float tensor.

    >>> check_prior([0.5, 0.5]).tolist()
    [0.5, 0.5]
    """
    p = _as_float_vector(prior, name)
    if not p.is_floating_point():
        p = p.double()
    if not torch.isfinite(p).all():
        raise ValueError(f"{name} has non-finite entries (got {p.tolist()}).")
    if (p < 0).any():
        raise ValueError(
            f"{name} has negative entries (got min {p.min().item():.4g}); a prior is a "
            "probability vector: pass counts to `prior_from_counts` instead."
        )
    total = p.sum().item()
    if abs(total - 1.0) > PRIOR_TOLERANCE:
        raise ValueError(
            f"{name} must sum to 1 (got {total:.6g}); pass counts to `prior_from_counts` "
            "or normalise it first."
        )
    return p


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
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 (got {num_classes!r}).")
    if not isinstance(max_count, int) or max_count < 1:
        raise ValueError(f"max_count must be a positive int (got {max_count!r}).")
    if not (isinstance(imbalance_ratio, (int, float)) and imbalance_ratio >= 1):
        raise ValueError(
            f"imbalance_ratio must be >= 1 (got {imbalance_ratio!r}); it is n_max / n_min, "
            "so 100 means the head has 100x the images of the tail."
        )
    imb_factor = 1.0 / imbalance_ratio
    if profile == "exponential":
        counts = [
            int(max_count * (imb_factor ** (i / (num_classes - 1.0)))) for i in range(num_classes)
        ]
    elif profile == "step":
        half = num_classes // 2
        counts = [max_count] * half + [int(max_count * imb_factor)] * (num_classes - half)
    else:
        raise ValueError(f"profile must be 'exponential' or 'step' (got {profile!r}).")
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
    c = _as_float_vector(counts, "counts").double()
    if not torch.isfinite(c).all() or (c < 0).any():
        raise ValueError(f"counts must be finite and non-negative (got {c.tolist()}).")
    if c.sum() <= 0:
        raise ValueError("counts sum to zero; at least one class needs samples.")
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
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 (got {num_classes!r}).")
    if direction == "uniform":
        return torch.full((num_classes,), 1.0 / num_classes)
    if direction not in ("forward", "backward"):
        raise ValueError(
            f"direction must be 'forward', 'uniform' or 'backward' (got {direction!r})."
        )
    if not (isinstance(rho, (int, float)) and rho >= 1 and math.isfinite(rho)):
        raise ValueError(f"rho must be a finite number >= 1 (got {rho!r}).")
    i = torch.arange(num_classes, dtype=torch.float64)
    exponent = i if direction == "forward" else (num_classes - 1 - i)
    p = float(rho) ** (-exponent / (num_classes - 1))
    return (p / p.sum()).float()


def tempered(prior, alpha: float) -> torch.Tensor:
    """The tempered prior p^alpha / sum(p^alpha) (alpha = 1: unchanged, 0: uniform)."""
    p = check_prior(prior)
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha)):
        raise ValueError(f"alpha must be a finite number (got {alpha!r}).")
    if alpha < 0 and (p == 0).any():
        raise ValueError("a negative alpha needs a prior without zero entries.")
    q = torch.where(p > 0, p.double() ** alpha, torch.zeros_like(p.double()))
    if alpha == 0:
        q = torch.ones_like(q)
    return (q / q.sum()).to(torch.float32)


def kl_divergence(p, q) -> float:
    """KL(p || q) = sum_i p_i log(p_i / q_i), with 0 log 0 = 0 (inf where q_i = 0 < p_i)."""
    p = check_prior(p, "p").double()
    q = check_prior(q, "q").double()
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same length (got {p.numel()} and {q.numel()}).")
    mask = p > 0
    if (q[mask] == 0).any():
        return math.inf
    return float((p[mask] * (p[mask].log() - q[mask].log())).sum().clamp_min(0.0))


def counts_to_list(counts: Sequence[int] | torch.Tensor) -> list[int]:
    """Counts as a plain list of ints (for tables and JSON)."""
    return [int(c) for c in torch.as_tensor(counts).tolist()]
