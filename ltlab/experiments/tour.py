"""Notebook 00 (the tour): one cross-entropy model on MNIST-1D-LT and its head-tail gap.

The protocol of `ltlab.experiments.protocol`: `settings(quick)` (a `TourSettings`),
`compare(settings, *, seeds, device, workers)` (a `TourResult`, with the trained model and
its history for the notebook's figures), `recorded_results(result)`, and the bands the
notebook's Checks, its test and the full-size test read (`BANDS`, `FULL_BANDS`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validation import as_int
from ..data import LTData, mnist1d_lt
from ..metrics import balanced_accuracy, per_class_accuracy, shot_accuracy, shot_groups
from ..models import CNN1D
from ..train import CrossEntropy, History, fit, predict_logits, seed_everything
from .protocol import Band, FitOptions, one_seed

NOTEBOOK = "00_tour"

__all__ = ["NOTEBOOK", "BANDS", "FULL_BANDS", "TourSettings", "TourResult", "compare",
           "describe_shot_groups", "hashed_settings", "make_data", "measure", "recorded_results",
           "settings", "train"]


@dataclass(frozen=True)
class TourSettings:
    """The tour's sizes: MNIST-1D-LT's ``imbalance_ratio`` and head class count
    (``max_count``), the CE model's `fit` options and the ``seeds``."""

    imbalance_ratio: float = 100
    max_count: int = 400
    fit: FitOptions = FitOptions(epochs=30, batch_size=64, lr=0.05)
    seeds: tuple[int, ...] = (0,)


def settings(quick: bool = True) -> TourSettings:
    """The tour's sizes: SGD, lr 0.05, batch 64; 30 epochs and a head of 400 quick, 100
    epochs and a head of 1,500 full. Full size keeps 15 signals in the tail at ratio 100
    (< 20: the *few* group is not empty).

    >>> settings().max_count, settings(quick=False).fit.epochs
    (400, 100)
    """
    if quick:
        return TourSettings()
    return TourSettings(max_count=1500, fit=FitOptions(epochs=100, batch_size=64, lr=0.05))


def hashed_settings(s: TourSettings) -> dict[str, Any]:
    """What the full-size settings hash covers, in the key layout the committed record was
    hashed with (`ltlab.experiments.full_size.settings_hash`)."""
    return {"max_count": s.max_count, "epochs": s.fit.epochs, "batch_size": s.fit.batch_size,
            "lr": s.fit.lr}


@dataclass
class TourResult:
    """What the tour measures on the balanced test set: the training counts, per-class
    accuracy, many / medium / few accuracy and balanced accuracy."""

    train_counts: torch.Tensor
    per_class_accuracy: torch.Tensor
    shot_accuracy: dict[str, float]
    balanced_accuracy: float
    data: LTData | None = field(default=None, repr=False, compare=False)
    model: torch.nn.Module | None = field(default=None, repr=False, compare=False)
    method: Any = field(default=None, repr=False, compare=False)
    history: History | None = field(default=None, repr=False, compare=False)

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


def make_data(s: TourSettings, seed: int = 0) -> LTData:
    """MNIST-1D-LT at the settings' imbalance ratio and head count (seeded as the notebook)."""
    seed_everything(seed)
    return mnist1d_lt(imbalance_ratio=s.imbalance_ratio, max_count=s.max_count, seed=seed)


def train(s: TourSettings, data: LTData, seed: int = 0, device: str = "auto",
          progress: bool = False) -> tuple[CNN1D, CrossEntropy, History]:
    """The tour's whole recipe: one model, one method and `fit` with the settings' options."""
    seed_everything(seed)
    model, method = CNN1D(num_classes=data.num_classes), CrossEntropy()
    history = fit(model, method, data, device=device, seed=seed, progress=progress,
                  **s.fit.as_kwargs())
    return model, method, history


def compare(settings: TourSettings, *, seeds=None, device: str = "auto",
            workers: int = 1) -> TourResult:
    """The notebook's run: MNIST-1D-LT (`make_data`), a `CNN1D` trained with plain
    cross-entropy (`train`), measured on the balanced test set. One seed (``seeds``: one
    entry, default the settings'); ``workers`` is accepted for the protocol (one model)."""
    seed = one_seed(settings, seeds)
    as_int(workers, "workers", minimum=1)
    data = make_data(settings, seed)
    model, method, history = train(settings, data, seed, device)
    result = measure(predict_logits(model, method, data.x_test, device=device), data)
    return dataclasses.replace(result, data=data, model=model, method=method, history=history)


def recorded_results(result: TourResult) -> dict[str, Any]:
    """Notebook 00's contract keys."""
    return {
        "train_counts": result.train_counts,
        "balanced_accuracy": result.balanced_accuracy,
        "shot_accuracy": result.shot_accuracy,
        "per_class_accuracy": result.per_class_accuracy,
    }


#: quick mode, seed 0, imbalance ratio 100 (the notebook's Checks and its test)
BANDS = (
    Band("balanced_accuracy", low=0.25, high=0.8, reason="well above chance, well below perfect"),
    Band("shot_accuracy", test=lambda g: g["many"] - g["few"] > 0.3,
         reason="many beats few by more than 30 points"),
    Band("shot_accuracy", test=lambda g: g["many"] > g["medium"] > g["few"] - 0.05,
         reason="accuracy falls from the head to the tail"),
)

#: full size (`results/full/00_tour.json`, tests/full)
FULL_BANDS = (
    Band("balanced_accuracy", low=0.3, high=0.98, reason="well above chance"),
    Band("shot_accuracy", test=lambda g: math.isfinite(g["few"]),
         reason="the few group is not empty at full size"),
    Band("shot_accuracy", test=lambda g: g["many"] - g["few"] > 0.2,
         reason="many beats few by more than 20 points"),
)
