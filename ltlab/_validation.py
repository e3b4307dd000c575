"""Every input check of ltlab, written once.

Public functions of the core modules call these ``as_*`` helpers at their boundary. Each
helper returns the validated value (as a tensor or a plain number) or raises ``ValueError``
with a message that says what was expected, what arrived and what to do instead. One
tolerance, :data:`SUM_TOLERANCE`, decides whether a prior or a row of probabilities "sums
to one" everywhere in the library.

(``check_*`` names elsewhere in ltlab are exercise checkers that grade a student's answer;
they never raise.)

>>> as_prior([0.25, 0.75]).tolist()
[0.25, 0.75]
>>> as_prior([0.5, 0.6])
Traceback (most recent call last):
...
ValueError: prior must sum to 1 (got 1.1); pass counts to `ltlab.priors.prior_from_counts` or normalise it first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

__all__ = [
    "SUM_TOLERANCE",
    "as_choice",
    "as_counts",
    "as_fraction",
    "as_int",
    "as_log_prior",
    "as_logits",
    "as_number",
    "as_positive",
    "as_prior",
    "as_probs",
    "as_finite",
    "as_soft_targets",
    "as_targets",
    "as_vector",
]

#: How far a prior's sum, or a row of probabilities, may be from 1 (float32 softmax over
#: hundreds of classes stays far inside it; a hand-typed prior that forgot a class does not).
SUM_TOLERANCE = 1e-3


# ----------------------------------------------------------------------------- numbers
def as_number(value: Any, name: str, hint: str = "") -> float:
    """A finite real number (bools are refused: ``True`` is almost always a typo)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (got {value!r}). {hint}".rstrip())
    return float(value)


def as_positive(value: Any, name: str, hint: str = "", allow_zero: bool = False) -> float:
    """A finite number > 0 (or >= 0 with ``allow_zero``)."""
    v = as_number(value, name, hint)
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} (got {value!r}). {hint}".rstrip())
    return v


def as_fraction(value: Any, name: str, hint: str = "", *, low_open: bool = False,
                high_open: bool = False) -> float:
    """A number in [0, 1]; ``low_open`` / ``high_open`` exclude an end."""
    v = as_number(value, name, hint)
    lo_bad = v <= 0 if low_open else v < 0
    hi_bad = v >= 1 if high_open else v > 1
    if lo_bad or hi_bad:
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {interval} (got {value!r}). {hint}".rstrip())
    return v


def as_int(value: Any, name: str, minimum: int | None = None, hint: str = "") -> int:
    """An integer (Python or 0-d tensor), at least ``minimum`` when given."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = int(value.item())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer (got {value!r}). {hint}".rstrip())
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum} (got {value}). {hint}".rstrip())
    return value


def as_choice(value: Any, choices: Sequence[Any], name: str) -> Any:
    """One of ``choices``; the error lists them."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options} (got {value!r}).")
    return value


# ----------------------------------------------------------------------------- vectors
def as_vector(values: Any, name: str) -> torch.Tensor:
    """A non-empty 1-D tensor (lists and arrays are converted; floats become float64)."""
    t = values if torch.is_tensor(values) else torch.as_tensor(values, dtype=torch.float64)
    if t.dim() != 1:
        raise ValueError(f"{name} must be a 1-D vector (got shape {tuple(t.shape)}).")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty.")
    return t


def as_prior(prior: Any, name: str = "prior", *, num_classes: int | None = None,
             positive: bool = False) -> torch.Tensor:
    """A probability vector: finite, non-negative, summing to 1 within :data:`SUM_TOLERANCE`.

    Returned as a float tensor (integers become float64), not renormalised. ``positive``
    also refuses zero entries (needed wherever the prior divides or is logged);
    ``num_classes`` checks the length.

    >>> as_prior([0.2, 0.8], num_classes=3)
    Traceback (most recent call last):
    ...
    ValueError: prior has 2 entries but there are 3 classes; they must match.
    """
    p = as_vector(prior, name)
    if not p.is_floating_point():
        p = p.double()
    if num_classes is not None and p.numel() != num_classes:
        raise ValueError(
            f"{name} has {p.numel()} entries but there are {num_classes} classes; they must match."
        )
    if not torch.isfinite(p).all():
        raise ValueError(f"{name} has non-finite entries (got {p.tolist()}).")
    if (p < 0).any():
        raise ValueError(
            f"{name} has negative entries (got min {p.min().item():.4g}); a prior is a "
            "probability vector: pass counts to `ltlab.priors.prior_from_counts` instead."
        )
    total = p.sum().item()
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(
            f"{name} must sum to 1 (got {total:.6g}); pass counts to "
            "`ltlab.priors.prior_from_counts` or normalise it first."
        )
    if positive and (p <= 0).any():
        empty = torch.nonzero(p <= 0).flatten().tolist()
        raise ValueError(
            f"{name} has zero entries at classes {empty}; the method divides by (or takes the "
            "log of) the prior there. Smooth it (e.g. (counts + 1) / (N + C)) or drop those "
            "classes."
        )
    return p


def as_counts(counts: Any, name: str = "train_counts", *, allow_zero: bool = False) -> torch.Tensor:
    """Class counts: a 1-D vector of non-negative whole numbers, returned as float64.

    Zero counts are refused unless ``allow_zero`` (an empty class has no prior to adjust by).
    """
    c = as_vector(counts, name).double()
    if not torch.isfinite(c).all() or (c < 0).any() or (c != c.round()).any():
        raise ValueError(
            f"{name} must hold non-negative whole numbers, one per class (got {c.tolist()})."
        )
    if not allow_zero and (c == 0).any():
        empty = torch.nonzero(c == 0).flatten().tolist()
        raise ValueError(
            f"{name} has empty classes {empty}; drop them or smooth the counts (counts + 1)."
        )
    if c.sum() <= 0:
        raise ValueError(f"{name} must not be all zero.")
    return c


def as_log_prior(log_prior: Any, num_classes: int, like: torch.Tensor | None = None,
                 name: str = "log_prior") -> torch.Tensor:
    """A finite vector of length ``num_classes``, moved to ``like``'s device and dtype."""
    if log_prior is None:
        raise ValueError(f"{name} is required; build it with `ltlab.losses.log_prior_of(prior)`.")
    lp = torch.as_tensor(log_prior)
    if lp.dim() != 1 or lp.numel() != num_classes:
        raise ValueError(
            f"{name} must be a vector of length {num_classes}, one entry per class of the "
            f"logits (got shape {tuple(lp.shape)})."
        )
    if not torch.isfinite(lp).all():
        raise ValueError(
            f"{name} has non-finite entries (got {lp.tolist()}); an empty class gives "
            "log(0) = -inf: build it with `ltlab.losses.log_prior_of(prior)` or "
            "`log_prior_from_counts(counts)`, which add the documented epsilon 1e-12."
        )
    if (lp >= 0).all() and abs(float(lp.double().sum()) - 1.0) <= SUM_TOLERANCE:
        raise ValueError(
            f"{name} looks like a probability vector (non-negative, sums to 1: "
            f"{lp.tolist()}), not a log-prior; pass {name} = prior.log(), or build it with "
            "`ltlab.losses.log_prior_of(prior)`."
        )
    return lp if like is None else lp.to(device=like.device, dtype=like.dtype)


# ----------------------------------------------------------------------------- matrices
def as_logits(logits: Any, name: str = "logits", *, ndim: int = 2) -> torch.Tensor:
    """A float tensor of logits, ``[N, C]`` (or ``[E, N, C]`` with ``ndim=3``), unchanged."""
    if not torch.is_tensor(logits):
        raise ValueError(f"{name} must be a torch.Tensor of shape [N, C] (got {type(logits)}).")
    if logits.dim() != ndim:
        want = "[N, C]" if ndim == 2 else "[E, N, C]"
        extra = (" for expert logits [E, N, C] use `ltlab.experts.BalPoE`."
                 if ndim == 2 and logits.dim() == 3 else "")
        raise ValueError(f"{name} must have shape {want} (got {tuple(logits.shape)});{extra}"
                         .rstrip(";"))
    if not logits.is_floating_point():
        raise ValueError(f"{name} must be a float tensor (got {logits.dtype}).")
    return logits


def as_probs(probs: Any, name: str = "probs", *, renormalise: bool = False) -> torch.Tensor:
    """Class probabilities ``[N, C]`` (C >= 2): finite, in [0, 1], rows summing to 1 within
    :data:`SUM_TOLERANCE`. Returned detached as float64; ``renormalise`` divides each row by
    its sum (removing float32 rounding)."""
    p = torch.as_tensor(probs)
    if p.dim() != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(
            f"{name} must be a non-empty matrix [N, C] with C >= 2 (got shape {tuple(p.shape)})."
        )
    if not p.is_floating_point():
        raise ValueError(f"{name} must be a float tensor of probabilities (got {p.dtype}).")
    p = p.detach().double()
    if not torch.isfinite(p).all():
        raise ValueError(f"{name} contains NaN or inf; check the model's outputs.")
    if (p < 0).any() or (p > 1 + SUM_TOLERANCE).any():
        raise ValueError(
            f"{name} must lie in [0, 1] (got range {p.min().item():.4g}..{p.max().item():.4g}); "
            "pass softmax(logits, dim=1), not logits."
        )
    sums = p.sum(1)
    worst = int((sums - 1).abs().argmax())
    if abs(sums[worst].item() - 1) > SUM_TOLERANCE:
        raise ValueError(
            f"each row of {name} must sum to 1 (row {worst} sums to {sums[worst].item():.6g}); "
            "pass softmax(logits, dim=1)."
        )
    return p / sums[:, None] if renormalise else p


def as_targets(targets: Any, n: int | None = None, num_classes: int | None = None, *,
               soft: bool = False, name: str = "targets") -> torch.Tensor:
    """Integer class indices ``[N]`` in ``[0, num_classes)``, returned as int64.

    With ``soft=True``, soft targets ``[N, C]`` (mixup) are accepted and returned unchanged.

    >>> as_targets([0, 2, 1], n=3, num_classes=3).tolist()
    [0, 2, 1]
    """
    t = targets if torch.is_tensor(targets) else torch.as_tensor(targets)
    if t.dim() == 2 and soft:
        if n is not None and t.shape[0] != n or num_classes is not None and t.shape[1] != num_classes:
            raise ValueError(
                f"soft {name} must have the logits' shape {(n, num_classes)} "
                f"(got {tuple(t.shape)})."
            )
        return as_soft_targets(t, name)
    if t.dim() != 1:
        kinds = "class indices [N] or soft targets [N, C]" if soft else "1-D class indices [N]"
        raise ValueError(f"{name} must be {kinds} (got shape {tuple(t.shape)}).")
    if t.is_floating_point():
        raise ValueError(f"{name} of shape [N] must be integer class indices (got {t.dtype}).")
    if n is not None and t.numel() != n:
        raise ValueError(f"got {n} rows of predictions but {t.numel()} {name}; lengths must match.")
    if t.numel() == 0:
        raise ValueError(f"got zero {name}; at least one sample is needed.")
    if num_classes is not None and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes - 1}] (got {int(t.min())}..{int(t.max())})."
        )
    return t.long()


# ----------------------------------------------------------------------------- appended helpers
def as_finite(t: torch.Tensor, name: str, hint: str = "check the model's outputs.") -> torch.Tensor:
    """``t`` unchanged if every entry is finite; NaN or +-inf raise (an argmax over NaN is 0,
    which would score as a silent class-0 predictor)."""
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN or inf entries; {hint}")
    return t


def as_soft_targets(targets: torch.Tensor, name: str = "targets") -> torch.Tensor:
    """Soft targets ``[N, C]``: a float tensor, finite, non-negative, each row summing to 1
    within :data:`SUM_TOLERANCE`; returned unchanged (gradients and dtype kept)."""
    t = targets
    if not t.is_floating_point():
        raise ValueError(f"soft {name} [N, C] must be a float tensor (got {t.dtype}); pass "
                         "class indices [N] for hard labels.")
    d = t.detach()
    as_finite(d, f"soft {name}", "each row must be a probability vector.")
    if bool((d < 0).any()):
        raise ValueError(f"soft {name} has negative entries (min {d.min().item():.4g}); each "
                         "row must be a probability vector (e.g. mixup's lam * onehot(y) + "
                         "(1 - lam) * onehot(y_mix)).")
    sums = d.double().sum(1)
    if sums.numel() and bool(((sums - 1).abs() > SUM_TOLERANCE).any()):
        worst = int((sums - 1).abs().argmax())
        raise ValueError(f"each row of soft {name} must sum to 1 (row {worst} sums to "
                         f"{sums[worst].item():.6g}); normalise the rows, or pass class "
                         "indices [N].")
    return t
