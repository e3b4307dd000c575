"""One evaluation of test logits, the same dictionary everywhere.

Notebooks, experiment drivers and recipes all report the same handful of numbers for a
trained model; :func:`summary` computes them once.
"""

from __future__ import annotations

import torch

from .._validation import as_counts, as_logits
from .accuracy import accuracy, balanced_accuracy, shot_accuracy
from .calibration import expected_calibration_error

__all__ = ["summary"]


def summary(logits: torch.Tensor, targets: torch.Tensor, train_counts, *, many: int = 100,
            few: int = 20, n_bins: int = 15) -> dict[str, float]:
    """Balanced accuracy, accuracy, many / medium / few accuracy and ECE of ``logits``.

    ``train_counts`` defines the shot groups (see `shot_accuracy`); ECE is computed on
    ``softmax(logits)`` in float64 with ``n_bins`` equal-width (lo, hi] bins. All values are
    fractions; a shot group without classes gives NaN.

    >>> z = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> s = summary(z, torch.tensor([0, 1, 1]), train_counts=[200, 10])
    >>> round(s["balanced_accuracy"], 3), s["many"], s["few"]
    (0.75, 1.0, 0.5)
    """
    logits = as_logits(logits)
    counts = as_counts(train_counts, "train_counts", allow_zero=True)
    shots = shot_accuracy(logits, targets, counts, many=many, few=few)
    return {
        "balanced_accuracy": balanced_accuracy(logits, targets, counts.numel()),
        "accuracy": accuracy(logits, targets),
        "many": shots["many"],
        "medium": shots["medium"],
        "few": shots["few"],
        "ece": expected_calibration_error(torch.softmax(logits.detach().double(), 1), targets,
                                          n_bins),
    }
