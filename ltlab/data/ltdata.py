"""`LTData`, the one dataclass every data set returns, and the seeded per-class draws
the data sets share (`take_per_class`, `lt_from_pool`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._validation import as_int
from ..priors import long_tailed_counts, prior_from_counts

__all__ = ["LTData", "take_per_class", "lt_from_pool"]


@dataclass
class LTData:
    """A long-tailed data set: tensors, class counts and the indices that built it.

    ``x_unlabeled`` / ``y_unlabeled`` are set only by `ssl_split` (``y_unlabeled`` holds the
    hidden true labels, for evaluating prior estimates; training must not read it).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_counts: torch.Tensor
    classes: list[str]
    name: str = ""
    indices: dict[str, list[int]] = field(default_factory=dict)
    x_unlabeled: torch.Tensor | None = None
    y_unlabeled: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"x_{split} has {x.shape[0]} rows but y_{split} has {y.shape[0]} labels."
                )
        if len(self.classes) != self.train_counts.numel():
            raise ValueError(
                f"{len(self.classes)} class names for {self.train_counts.numel()} counts."
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def train_prior(self) -> torch.Tensor:
        return prior_from_counts(self.train_counts, allow_empty=True)

    @property
    def log_prior(self) -> torch.Tensor:
        """log pi with the library's epsilon convention (see `ltlab.losses`)."""
        return torch.log(self.train_prior + 1e-12)

    def save_indices(self, path: str | os.PathLike) -> Path:
        """Write the indices that define this split as JSON (atomically)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps({"name": self.name, "indices": self.indices}))
        os.replace(tmp, path)
        return path

    def __repr__(self) -> str:  # a short, readable summary for notebooks
        counts = self.train_counts.tolist()
        extra = ""
        if self.x_unlabeled is not None:
            extra = f", unlabeled={self.x_unlabeled.shape[0]}"
        return (
            f"LTData({self.name!r}: train={self.x_train.shape[0]} "
            f"(head {counts[0]}, tail {counts[-1]}), test={self.x_test.shape[0]}, "
            f"classes={self.num_classes}, x shape={tuple(self.x_train.shape[1:])}{extra})"
        )


def take_per_class(
    y: np.ndarray, counts, rng: np.random.RandomState, offset=None
) -> list[np.ndarray]:
    """For each class c, shuffle its indices and keep the slice [offset_c, offset_c + n_c)."""
    out = []
    for c, n in enumerate(counts):
        idx = np.nonzero(y == c)[0]
        rng.shuffle(idx)
        start = 0 if offset is None else int(offset[c])
        if start + n > len(idx):
            raise ValueError(
                f"class {c} has {len(idx)} samples, {start + int(n)} are needed; lower the "
                "counts (max_count) or generate more data (num_samples)."
            )
        out.append(idx[start : start + int(n)])
    return out


def lt_from_pool(
    x_pool: np.ndarray, y_pool: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
    num_classes: int, max_count: int, imbalance_ratio: float, test_per_class: int | None,
    seed: int, name: str, classes: list[str], profile: str = "exponential",
) -> LTData:
    """A long-tailed train split of ``max_count`` · ratio profile images per class drawn from
    a pool, and ``test_per_class`` test images per class (default: as many as the rarest
    test class has); every draw seeded and its indices kept."""
    if test_per_class is not None:
        as_int(test_per_class, "test_per_class", minimum=1,
               hint="None takes as many as the rarest test class has.")
    counts = long_tailed_counts(num_classes, max_count, imbalance_ratio, profile)
    rng = np.random.RandomState(seed)
    train_idx = np.concatenate(take_per_class(y_pool, counts.tolist(), rng))
    if test_per_class is None:
        test_per_class = int(min(np.bincount(y_test, minlength=num_classes)))
    test_idx = np.concatenate(take_per_class(y_test, [test_per_class] * num_classes, rng))
    return LTData(
        torch.as_tensor(x_pool[train_idx], dtype=torch.float32),
        torch.as_tensor(y_pool[train_idx], dtype=torch.long),
        torch.as_tensor(x_test[test_idx], dtype=torch.float32),
        torch.as_tensor(y_test[test_idx], dtype=torch.long),
        counts, classes, name=name,
        indices={"train": train_idx.tolist(), "test": test_idx.tolist(), "seed": [seed]},
    )
