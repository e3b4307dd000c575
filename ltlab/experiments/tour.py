"""Notebook 00 (the tour): one cross-entropy model on MNIST-1D-LT and its head-tail gap.

The notebook trains and measures in its own cells (that is what it teaches); this module
holds its sizes (`settings`), the same run as one call (`compare`, for tests and sweeps) and
its contract keys (`recorded_results`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..data import LTData, mnist1d_lt
from ..metrics import balanced_accuracy, per_class_accuracy, shot_accuracy, shot_groups
from ..models import CNN1D
from ..train import CrossEntropy, fit, predict_logits, seed_everything

NOTEBOOK = "00_tour"

__all__ = ["NOTEBOOK", "TourResult", "compare", "describe_shot_groups", "measure",
           "recorded_results", "settings"]


def settings(quick: bool = True) -> dict[str, Any]:
    """The tour's sizes: MNIST-1D-LT's head class count and the CE model's `fit` arguments
    (SGD, lr 0.05, batch 64; 30 epochs quick, 100 full). Full size has 1,500 signals in the
    head class, so at ratio 100 the tail keeps 15 (< 20: the *few* group is not empty).

    >>> settings()["max_count"], settings(quick=False)["epochs"]
    (400, 100)
    """
    max_count, epochs = (400, 30) if quick else (1500, 100)
    return {"max_count": max_count, "epochs": epochs, "batch_size": 64, "lr": 0.05}


@dataclass
class TourResult:
    """What the tour measures on the balanced test set: the training counts, per-class
    accuracy, many / medium / few accuracy and balanced accuracy."""

    train_counts: torch.Tensor
    per_class_accuracy: torch.Tensor
    shot_accuracy: dict[str, float]
    balanced_accuracy: float

    def rows(self) -> list[dict[str, Any]]:
        """One row per class, head first: its training count and test accuracy."""
        return [{"class": c, "train_count": int(n), "accuracy": float(a)}
                for c, (n, a) in enumerate(zip(self.train_counts, self.per_class_accuracy))]

    def __str__(self) -> str:
        return (f"balanced accuracy {100 * self.balanced_accuracy:.1f}%\n"
                + describe_shot_groups(self.shot_accuracy, self.train_counts))


_RULES = (("many", "more than {many}"), ("medium", "{few} to {many}"), ("few", "fewer than {few}"))


def describe_shot_groups(shot_accuracy: dict[str, float], train_counts, many: int = 100,
                         few: int = 20) -> str:
    """Many / medium / few accuracy in words, one line per group, and the gap between the
    outermost groups that hold a class. A group without a class (e.g. *few* at imbalance
    ratio 10 with a head of 400: every class has 40 or more images) reads "no class in
    this group" instead of NaN.

    >>> print(describe_shot_groups({"many": 0.9, "medium": 0.5, "few": float("nan")}, [400, 40]))
    many   (more than 100 training images): classes [0], accuracy 90.0%
    medium (20 to 100 training images): classes [1], accuracy 50.0%
    few    (fewer than 20 training images): no class in this group
    many minus medium: +40.0 points
    """
    groups = shot_groups(train_counts, many, few)
    lines, filled = [], []
    for name, rule in _RULES:
        head = f"{name:<6} ({rule.format(many=many, few=few)} training images): "
        classes = groups[name].tolist()
        if not classes:
            lines.append(head + "no class in this group")
            continue
        filled.append(name)
        lines.append(head + f"classes {classes}, accuracy {100 * shot_accuracy[name]:.1f}%")
    if len(filled) >= 2:
        top, bottom = filled[0], filled[-1]
        gap = 100 * (shot_accuracy[top] - shot_accuracy[bottom])
        lines.append(f"{top} minus {bottom}: {gap:+.1f} points")
    return "\n".join(lines)


def measure(logits: torch.Tensor, data: LTData) -> TourResult:
    """The tour's numbers for test ``logits`` on ``data``."""
    y, c = data.y_test, data.num_classes
    return TourResult(data.train_counts, per_class_accuracy(logits, y, c),
                      shot_accuracy(logits, y, data.train_counts), balanced_accuracy(logits, y, c))


def compare(data: LTData | None = None, *, quick: bool = True, seed: int = 0,
            imbalance_ratio: float = 100, device: str = "auto",
            progress: bool = False) -> TourResult:
    """The notebook's run in one call: MNIST-1D-LT (default sizes of `settings`), a `CNN1D`
    trained with plain cross-entropy, measured on the balanced test set."""
    s = settings(quick)
    seed_everything(seed)
    if data is None:
        data = mnist1d_lt(imbalance_ratio=imbalance_ratio, max_count=s["max_count"], seed=seed)
    seed_everything(seed)
    model, method = CNN1D(num_classes=data.num_classes), CrossEntropy()
    fit(model, method, data, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
        device=device, seed=seed, progress=progress)
    return measure(predict_logits(model, method, data.x_test, device=device), data)


def recorded_results(result: TourResult) -> dict[str, Any]:
    """Notebook 00's contract keys."""
    return {
        "train_counts": result.train_counts,
        "balanced_accuracy": result.balanced_accuracy,
        "shot_accuracy": result.shot_accuracy,
        "per_class_accuracy": result.per_class_accuracy,
    }
