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
from ..metrics import balanced_accuracy, per_class_accuracy, shot_accuracy
from ..models import CNN1D
from ..train import CrossEntropy, fit, predict_logits, seed_everything

NOTEBOOK = "00_tour"

__all__ = ["NOTEBOOK", "TourResult", "compare", "measure", "recorded_results", "settings"]


def settings(quick: bool = True) -> dict[str, Any]:
    """The tour's sizes: MNIST-1D-LT's head class count and the CE model's `fit` arguments
    (SGD, lr 0.05, batch 64; 30 epochs quick, 100 full).

    >>> settings()["max_count"], settings(quick=False)["epochs"]
    (400, 100)
    """
    max_count, epochs = (400, 30) if quick else (4000, 100)
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
