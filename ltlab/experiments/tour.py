"""Notebook 00 (the tour): one cross-entropy model on MNIST-1D-LT and its head-tail gap.

The protocol of `ltlab.experiments.protocol`: `settings(quick)` (a `TourSettings`),
`compare(settings, *, seeds, device, workers)` (a `TourResult`, with the trained model and
its history for the notebook's figures), `recorded_results(result)`, and the bands the
notebook's Checks, its test and the full-size test read (`BANDS`, `FULL_BANDS`).
`CLAIMS` is the paper's headline the notebook's "Paper vs this lab" table checks: the gap
between the head's and the tail's accuracy under plain cross-entropy, with a 95 % interval
over the test samples (`shot_gap_interval`: one seed, so the noise of a finite test set).
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
from .paper_vs_lab import Claim
from .protocol import Band, FitOptions, one_seed

NOTEBOOK = "00_tour"

__all__ = ["NOTEBOOK", "BANDS", "CLAIMS", "FULL_BANDS", "TourSettings", "TourResult", "compare",
           "describe_shot_groups", "hashed_settings", "make_data", "measure", "recorded_results",
           "settings", "shot_gap_interval", "train"]


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
    shot_gap: dict[str, Any] | None = None  # `shot_gap_interval` of the test predictions
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


def shot_gap_interval(logits, targets, train_counts, many: int = 100,
                      few: int = 20) -> dict[str, Any]:
    """The accuracy of the head's shot group minus the tail's (many − few; when a group is
    empty, the outermost groups that hold a class, as `describe_shot_groups` does), with a
    95 % normal interval over the test samples.

    A group's accuracy is the mean of its classes' accuracies, acc_G = (1/|G|) sum_{c in G}
    acc_c; each acc_c is a mean of n_c independent 0/1 outcomes, with variance s_c^2 / n_c
    (s_c^2 the unbiased sample variance), and the classes are disjoint samples, so
    var(acc_top − acc_bottom) = sum_top s_c^2/n_c / |top|^2 + sum_bottom s_c^2/n_c / |bottom|^2
    and the interval is the gap ± 1.96 sd. One seed: it says nothing about the spread over
    seeds. Returns ``{"mean", "ci_low", "ci_high", "per_seed": [], "over": "test samples",
    "groups": [top, bottom]}`` (fractions; NaN when fewer than two groups hold a class).

    >>> r = shot_gap_interval(torch.tensor([0, 0, 1, 0]), torch.tensor([0, 0, 1, 1]), [200, 5])
    >>> r["mean"], r["groups"], round(r["ci_high"] - r["ci_low"], 3)
    (0.5, ['many', 'few'], 1.96)
    """
    t = torch.as_tensor(logits)
    pred = t.argmax(dim=1) if t.dim() == 2 else t.long()
    y = torch.as_tensor(targets).long()
    filled = [(name, g.tolist()) for name, g in shot_groups(train_counts, many, few).items()
              if g.numel()]
    if len(filled) < 2:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "per_seed": [],
                "over": "test samples", "groups": [name for name, _ in filled]}
    correct = (pred == y).double()
    stats = []
    for _name, classes in (filled[0], filled[-1]):
        means, variances = [], []
        for c in classes:
            hits = correct[y == c]
            if hits.numel() == 0:
                raise ValueError(f"class {c} has no test sample; the shot gap needs every "
                                 "class of the training counts in targets.")
            means.append(float(hits.mean()))
            var = float(hits.var(unbiased=True)) if hits.numel() > 1 else 0.0
            variances.append(var / hits.numel())
        k = len(classes)
        stats.append((sum(means) / k, sum(variances) / k ** 2))
    (top, var_top), (bottom, var_bottom) = stats
    gap, half = top - bottom, 1.959964 * math.sqrt(var_top + var_bottom)
    return {"mean": gap, "ci_low": gap - half, "ci_high": gap + half, "per_seed": [],
            "over": "test samples", "groups": [filled[0][0], filled[-1][0]]}


def measure(logits: torch.Tensor, data: LTData) -> TourResult:
    """The tour's numbers for test ``logits`` on ``data``."""
    y, c = data.y_test, data.num_classes
    return TourResult(data.train_counts, per_class_accuracy(logits, y, c),
                      shot_accuracy(logits, y, data.train_counts), balanced_accuracy(logits, y, c),
                      shot_gap_interval(logits, y, data.train_counts))


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


#: The paper's headline that notebook 00 measures (its "Paper vs this lab" table); the
#: notebook records ``result.shot_gap`` under the claim's key
CLAIMS = (
    Claim("Plain cross-entropy leaves the tail behind: the many-shot classes' accuracy "
          "minus the few-shot classes'",
          paper="+55.5 points (many 66.1 %, few 10.6 %): cross-entropy on CIFAR-100-LT, "
                "ratio 100, ResNet-32, as reported by Wang et al. (RIDE, ICLR 2021)",
          key="many_minus_few",
          reason="one seed, so the interval is over the test samples only (100 per class), "
                 "and MNIST-1D-LT is a ten-class toy whose few classes train on 4 to 18 "
                 "signals"),
)


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
