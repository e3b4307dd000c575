"""Accuracy under imbalance and calibration metrics, as pure functions of tensors.

Conventions (the same as the BalPoE reference code, `utils/calibration_metrics.py`):

* Accuracy metrics take logits ``[N, C]`` (or predicted labels ``[N]``) and integer targets.
* Calibration metrics take probabilities ``[N, C]`` (rows sum to 1) and integer targets.
* ECE uses ``n_bins`` equal-width bins that are open on the left and closed on the right,
  (lo, hi]; a confidence of exactly 1.0 falls in the last bin and a confidence of 0 in the
  first. ECE = sum_b (n_b / N) |acc_b - conf_b|, reported as a fraction (papers print x100).
  Other libraries (torchmetrics) use [lo, hi) bins, which moves samples that sit exactly on
  an edge such as 0.8 or 1.0 into another bin.
* Many / medium / few are groups of classes by their *training* count:
  many > 100, 20 <= medium <= 100, few < 20 (thresholds are parameters).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "accuracy",
    "balanced_accuracy",
    "per_class_accuracy",
    "shot_groups",
    "shot_accuracy",
    "reliability_bins",
    "expected_calibration_error",
    "maximum_calibration_error",
    "classwise_calibration_error",
    "shot_calibration_error",
    "negative_log_likelihood",
    "brier_score",
    "fit_temperature",
]


# ----------------------------------------------------------------------------- validation
def _check_targets(targets: torch.Tensor, n: int, num_classes: int | None) -> torch.Tensor:
    targets = torch.as_tensor(targets)
    if targets.dim() != 1:
        raise ValueError(f"targets must be 1-D class indices (got shape {tuple(targets.shape)}).")
    if targets.numel() != n:
        raise ValueError(f"got {n} predictions but {targets.numel()} targets; lengths must match.")
    if targets.is_floating_point():
        raise ValueError("targets must be integer class indices (got a float tensor).")
    if n == 0:
        raise ValueError("got zero samples; metrics need at least one.")
    if num_classes is not None and (targets.min() < 0 or targets.max() >= num_classes):
        raise ValueError(
            f"targets must lie in [0, {num_classes - 1}] (got {int(targets.min())}.."
            f"{int(targets.max())})."
        )
    return targets.long()


def _predictions(logits_or_preds: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(logits_or_preds)
    if t.dim() == 2:
        return t.argmax(dim=1)
    if t.dim() == 1 and not t.is_floating_point():
        return t
    raise ValueError(
        "pass logits of shape [N, C] or predicted labels of shape [N] "
        f"(got shape {tuple(t.shape)}, dtype {t.dtype})."
    )


def _check_probs(probs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.as_tensor(probs)
    if probs.dim() != 2:
        raise ValueError(f"probs must have shape [N, C] (got {tuple(probs.shape)}).")
    probs = probs.detach().double()
    if not torch.isfinite(probs).all():
        raise ValueError("probs contains NaN or inf.")
    if (probs < 0).any() or (probs > 1).any():
        raise ValueError(
            "probs must lie in [0, 1]; pass softmax(logits), not logits "
            f"(got range {probs.min().item():.3g}..{probs.max().item():.3g})."
        )
    sums = probs.sum(1)
    if ((sums - 1).abs() > 1e-3).any():
        bad = sums[(sums - 1).abs().argmax()].item()
        raise ValueError(f"each row of probs must sum to 1 (found a row summing to {bad:.4g}).")
    targets = _check_targets(targets, probs.shape[0], probs.shape[1])
    return probs, targets


def _check_bins(n_bins: int) -> None:
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be an int >= 1 (got {n_bins!r}).")


# ----------------------------------------------------------------------------- accuracy
def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Top-1 accuracy (a fraction)."""
    pred = _predictions(logits)
    targets = _check_targets(targets, pred.numel(), None)
    return float((pred == targets).double().mean())


def per_class_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """Recall of every class, shape [C]; NaN for a class absent from ``targets``."""
    t = torch.as_tensor(logits)
    pred = _predictions(t)
    if num_classes is None:
        num_classes = t.shape[1] if t.dim() == 2 else int(max(pred.max(), targets.max())) + 1
    targets = _check_targets(targets, pred.numel(), num_classes)
    correct = torch.bincount(targets[pred == targets], minlength=num_classes).double()
    total = torch.bincount(targets, minlength=num_classes).double()
    return torch.where(total > 0, correct / total.clamp_min(1), torch.full_like(total, math.nan))


def balanced_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None
) -> float:
    """Mean per-class recall over the classes present in ``targets``."""
    return float(torch.nanmean(per_class_accuracy(logits, targets, num_classes)))


def shot_groups(train_counts, many: int = 100, few: int = 20) -> dict[str, torch.Tensor]:
    """Class indices per group: many (n > many), medium (few <= n <= many), few (n < few)."""
    c = torch.as_tensor(train_counts)
    if c.dim() != 1:
        raise ValueError(f"train_counts must be 1-D (got shape {tuple(c.shape)}).")
    if few > many:
        raise ValueError(f"few ({few}) must not exceed many ({many}).")
    return {
        "many": torch.nonzero(c > many).flatten(),
        "medium": torch.nonzero((c >= few) & (c <= many)).flatten(),
        "few": torch.nonzero(c < few).flatten(),
    }


def shot_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, train_counts, many: int = 100, few: int = 20
) -> dict[str, float]:
    """Mean per-class accuracy of the many / medium / few groups (NaN for an empty group)."""
    counts = torch.as_tensor(train_counts)
    acc = per_class_accuracy(logits, targets, counts.numel())
    out = {}
    for name, idx in shot_groups(counts, many, few).items():
        vals = acc[idx]
        out[name] = float(torch.nanmean(vals)) if vals.numel() else math.nan
    return out


# ----------------------------------------------------------------------------- calibration
def _bin_index(conf: torch.Tensor, n_bins: int) -> torch.Tensor:
    # bucketize(right=False) gives i with edges[i-1] < x <= edges[i]: (lo, hi] bins.
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)[1:-1]
    return torch.bucketize(conf.contiguous(), edges, right=False)


def reliability_bins(probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15) -> dict:
    """Per-bin statistics of top-label confidence: ``lo``, ``hi``, ``count``, ``accuracy``,
    ``confidence`` (NaN for empty bins), all tensors of length ``n_bins``."""
    _check_bins(n_bins)
    probs, targets = _check_probs(probs, targets)
    conf, pred = probs.max(1)
    correct = (pred == targets).double()
    b = _bin_index(conf, n_bins)
    count = torch.bincount(b, minlength=n_bins).double()
    acc_sum = torch.bincount(b, weights=correct, minlength=n_bins)
    conf_sum = torch.bincount(b, weights=conf, minlength=n_bins)
    nan = torch.full_like(count, math.nan)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    return {
        "lo": edges[:-1],
        "hi": edges[1:],
        "count": count,
        "accuracy": torch.where(count > 0, acc_sum / count.clamp_min(1), nan),
        "confidence": torch.where(count > 0, conf_sum / count.clamp_min(1), nan),
    }


def expected_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15
) -> float:
    """ECE = sum_b (n_b / N) |acc_b - conf_b| over ``n_bins`` equal-width (lo, hi] bins.

    >>> p = torch.tensor([[0.9, 0.1], [0.6, 0.4]]); y = torch.tensor([0, 1])
    >>> round(expected_calibration_error(p, y, n_bins=10), 4)  # (|1-.9| + |0-.6|) / 2
    0.35
    """
    bins = reliability_bins(probs, targets, n_bins)
    gap = (bins["accuracy"] - bins["confidence"]).abs().nan_to_num(0.0)
    return float((bins["count"] * gap).sum() / bins["count"].sum())


def maximum_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15
) -> float:
    """MCE = max over non-empty bins of |acc_b - conf_b|."""
    bins = reliability_bins(probs, targets, n_bins)
    gap = (bins["accuracy"] - bins["confidence"]).abs()
    return float(gap[bins["count"] > 0].max())


def classwise_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15
) -> float:
    """Static (class-wise) calibration error: for every class c, bin p_c of *all* samples,
    compare with the frequency of y = c in each bin, and average the C errors (Nixon et al.)."""
    _check_bins(n_bins)
    probs, targets = _check_probs(probs, targets)
    n, num_classes = probs.shape
    total = 0.0
    for c in range(num_classes):
        p = probs[:, c]
        hit = (targets == c).double()
        b = _bin_index(p, n_bins)
        gap = (torch.bincount(b, weights=hit, minlength=n_bins)
               - torch.bincount(b, weights=p, minlength=n_bins)).abs()
        total += float(gap.sum() / n)
    return total / num_classes


def shot_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, train_counts, n_bins: int = 15,
    many: int = 100, few: int = 20,
) -> dict[str, float]:
    """ECE restricted to the test samples of each shot group (NaN for an empty group)."""
    probs, targets = _check_probs(probs, targets)
    out = {}
    for name, classes in shot_groups(train_counts, many, few).items():
        mask = torch.isin(targets, classes)
        out[name] = (
            expected_calibration_error(probs[mask], targets[mask], n_bins)
            if mask.any() else math.nan
        )
    return out


def negative_log_likelihood(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean -log p_y (probabilities clamped at 1e-12)."""
    probs, targets = _check_probs(probs, targets)
    return float(-probs.gather(1, targets[:, None]).clamp_min(1e-12).log().mean())


def brier_score(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean over samples of sum_c (p_c - 1[y = c])^2 (between 0 and 2)."""
    probs, targets = _check_probs(probs, targets)
    onehot = F.one_hot(targets, probs.shape[1]).double()
    return float(((probs - onehot) ** 2).sum(1).mean())


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor, max_iter: int = 100) -> float:
    """Temperature scaling (Guo et al., 2017): T minimising the NLL of softmax(z / T) on
    held-out logits, by L-BFGS over log T (so T stays positive)."""
    logits = torch.as_tensor(logits).detach().double()
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape [N, C] (got {tuple(logits.shape)}).")
    if not torch.isfinite(logits).all():
        raise ValueError("logits contains NaN or inf.")
    targets = _check_targets(targets, logits.shape[0], logits.shape[1])
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())
