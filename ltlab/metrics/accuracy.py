"""Accuracy under class imbalance, as pure functions of tensors.

Accuracy metrics take logits ``[N, C]`` (or predicted labels ``[N]``) and integer targets
``[N]``; they return fractions. Many / medium / few are groups of classes by their
*training* count: many > 100, 20 <= medium <= 100, few < 20 (the thresholds are
parameters), as in the BalPoE reference code and most long-tailed papers.

>>> logits = torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
>>> targets = torch.tensor([0, 1, 1])
>>> round(accuracy(logits, targets), 3), balanced_accuracy(logits, targets)
(0.667, 0.75)
"""

from __future__ import annotations

import math

import torch

from .._validation import as_counts, as_finite, as_targets

__all__ = [
    "accuracy",
    "balanced_accuracy",
    "per_class_accuracy",
    "shot_groups",
    "shot_accuracy",
]


def _predictions(logits_or_preds: torch.Tensor) -> torch.Tensor:
    """Predicted labels ``[N]`` from logits ``[N, C]`` (argmax) or from labels themselves."""
    t = torch.as_tensor(logits_or_preds)
    if t.dim() == 2:
        # argmax over a NaN row is 0: refuse it rather than score a silent class-0 predictor
        return as_finite(t, "logits", "check the model's outputs (a diverged run?).").argmax(1)
    if t.dim() == 1 and not t.is_floating_point():
        return t
    raise ValueError(
        "pass logits of shape [N, C] or predicted labels of shape [N] "
        f"(got shape {tuple(t.shape)}, dtype {t.dtype})."
    )


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Top-1 accuracy (a fraction)."""
    pred = _predictions(logits)
    targets = as_targets(targets, pred.numel())
    return float((pred == targets).double().mean())


def per_class_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """Recall of every class, shape [C]; NaN for a class absent from ``targets``."""
    t = torch.as_tensor(logits)
    pred = _predictions(t)
    targets = torch.as_tensor(targets)
    if num_classes is None:
        num_classes = t.shape[1] if t.dim() == 2 else int(max(pred.max(), targets.max())) + 1
    targets = as_targets(targets, pred.numel(), num_classes)
    correct = torch.bincount(targets[pred == targets], minlength=num_classes).double()
    total = torch.bincount(targets, minlength=num_classes).double()
    return torch.where(total > 0, correct / total.clamp_min(1), torch.full_like(total, math.nan))


def balanced_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None
) -> float:
    """Mean per-class recall over the classes present in ``targets``."""
    return float(torch.nanmean(per_class_accuracy(logits, targets, num_classes)))


def shot_groups(train_counts, many: int = 100, few: int = 20) -> dict[str, torch.Tensor]:
    """Class indices per group: many (n > many), medium (few <= n <= many), few (n < few).

    >>> {k: v.tolist() for k, v in shot_groups([500, 50, 5]).items()}
    {'many': [0], 'medium': [1], 'few': [2]}
    """
    c = as_counts(train_counts, "train_counts", allow_zero=True)
    if few > many:
        raise ValueError(f"few ({few}) must not exceed many ({many}); few < 20 <= medium <= 100 "
                         "< many by default.")
    return {
        "many": torch.nonzero(c > many).flatten(),
        "medium": torch.nonzero((c >= few) & (c <= many)).flatten(),
        "few": torch.nonzero(c < few).flatten(),
    }


def shot_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, train_counts, many: int = 100, few: int = 20
) -> dict[str, float]:
    """Mean per-class accuracy of the many / medium / few groups (NaN for an empty group)."""
    counts = as_counts(train_counts, "train_counts", allow_zero=True)
    t = torch.as_tensor(logits)
    if t.dim() == 2 and counts.numel() != t.shape[1]:
        raise ValueError(f"train_counts has {counts.numel()} entries but the logits have "
                         f"{t.shape[1]} classes; pass one training count per class "
                         f"(expected length {t.shape[1]}).")
    if t.dim() == 1 and t.numel() and int(t.max()) >= counts.numel():
        raise ValueError(f"train_counts has {counts.numel()} entries but the predictions "
                         f"reach class {int(t.max())}; pass one training count per class.")
    acc = per_class_accuracy(logits, targets, counts.numel())
    out = {}
    for name, idx in shot_groups(counts, many, few).items():
        vals = acc[idx]
        out[name] = float(torch.nanmean(vals)) if vals.numel() else math.nan
    return out
