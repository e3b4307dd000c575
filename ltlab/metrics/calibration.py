r"""Calibration metrics: the ECE family, reliability bins, NLL and Brier score.

A classifier is *calibrated* when, among the samples it predicts with confidence
:math:`c`, a fraction :math:`c` is correct. Under class imbalance this fails in a
structured way: a long-tailed model is over-confident on its head predictions and, once one
temperature removes the common over-confidence, under-confident on its tail predictions.

Conventions (the same as the BalPoE reference code, ``utils/calibration_metrics.py``):

* Calibration metrics take probabilities ``[N, C]`` (rows sum to 1) and integer targets.
* ECE uses :math:`N_{\text{bins}}` = ``n_bins`` equal-width bins :math:`I_m` that are open
  on the left and closed on the right, (lo, hi]; a confidence of exactly 1.0 falls in the
  last bin and a confidence of 0 in the first.
  :math:`\mathrm{ECE} = \sum_m (\lvert I_m \rvert / N)\,|\mathrm{acc}(I_m) - \mathrm{conf}(I_m)|`,
  reported as a fraction (papers and the notebooks print it in %). Other libraries (torchmetrics) use [lo, hi) bins, which
  moves samples that sit exactly on an edge such as 0.8 or 1.0 into another bin.
* Shot groups (many / medium / few) are by *training* count, see `ltlab.metrics.shot_groups`.

Beyond the ECE: `adaptive_calibration_error` (equal-mass bins), `calibration_error_split`
(over- + under-confident parts), `overconfidence_error` (Thulasidasan et al., 2019),
`per_class_calibration_error` and `shot_calibration_gap` (per class and per group, grouped
by the *predicted* class, where the head/tail asymmetry shows, or by the *true* class).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._validation import as_choice, as_int, as_probs, as_targets
from .accuracy import shot_groups

__all__ = [
    "reliability_bins",
    "expected_calibration_error",
    "maximum_calibration_error",
    "classwise_calibration_error",
    "shot_calibration_error",
    "negative_log_likelihood",
    "brier_score",
    "adaptive_calibration_error",
    "calibration_error_split",
    "overconfidence_error",
    "per_class_calibration_error",
    "shot_calibration_gap",
]

_GROUPINGS = ("predicted", "true")


def _probs_and_targets(probs, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities as float64 ``[N, C]`` and matching int64 targets ``[N]``."""
    p = as_probs(probs)
    return p, as_targets(targets, p.shape[0], p.shape[1])


def _bin_index(conf: torch.Tensor, n_bins: int) -> torch.Tensor:
    # bucketize(right=False) gives i with edges[i-1] < x <= edges[i]: (lo, hi] bins.
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)[1:-1]
    return torch.bucketize(conf.contiguous(), edges, right=False)


# ----------------------------------------------------------------------------- equal-width ECE
def reliability_bins(probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15) -> dict:
    """Per-bin statistics of top-label confidence: ``lo``, ``hi``, ``count``, ``accuracy``,
    ``confidence`` (NaN for empty bins), all tensors of length ``n_bins``."""
    n_bins = as_int(n_bins, "n_bins", minimum=1)
    probs, targets = _probs_and_targets(probs, targets)
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
    """ECE = sum_m (|I_m| / N) |acc(I_m) - conf(I_m)| over the N_bins = ``n_bins``
    equal-width (lo, hi] bins I_m.

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
    """MCE = max over non-empty bins I_m of |acc(I_m) - conf(I_m)|."""
    bins = reliability_bins(probs, targets, n_bins)
    gap = (bins["accuracy"] - bins["confidence"]).abs()
    return float(gap[bins["count"] > 0].max())


def classwise_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15
) -> float:
    """Static (class-wise) calibration error: for every class c, bin p_c of *all* samples,
    compare with the frequency of y = c in each bin, and average the C errors (Nixon et al.)."""
    n_bins = as_int(n_bins, "n_bins", minimum=1)
    probs, targets = _probs_and_targets(probs, targets)
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
    probs, targets = _probs_and_targets(probs, targets)
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
    probs, targets = _probs_and_targets(probs, targets)
    return float(-probs.gather(1, targets[:, None]).clamp_min(1e-12).log().mean())


def brier_score(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean over samples of sum_c (p_c - 1[y = c])^2 (between 0 and 2)."""
    probs, targets = _probs_and_targets(probs, targets)
    onehot = F.one_hot(targets, probs.shape[1]).double()
    return float(((probs - onehot) ** 2).sum(1).mean())


# ----------------------------------------------------------------------------- beyond the ECE
def adaptive_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15
) -> float:
    r"""Top-label ECE over ``n_bins`` *equal-mass* bins (adaptive binning, Nixon et al. 2019).

    The samples are sorted by confidence (ties keep their input order) and cut into
    ``n_bins`` consecutive chunks whose sizes differ by at most one (the first
    ``N mod n_bins`` chunks hold one more); then, as for the equal-width ECE,
    :math:`\mathrm{ACE} = \sum_m (\lvert I_m \rvert / N)\,|\mathrm{acc}(I_m) - \mathrm{conf}(I_m)|`.
    With ``n_bins >= N`` every sample is its own bin and ACE = mean |1[correct] - conf|.

    >>> p = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.8, 0.2]])
    >>> y = torch.tensor([0, 1, 0, 0])
    >>> # bins {.6 (wrong), .7}: |1 - 1.3|, and {.8, .9}: |2 - 1.7|; (0.3 + 0.3) / 4
    >>> round(adaptive_calibration_error(p, y, n_bins=2), 4)
    0.15
    """
    n_bins = as_int(n_bins, "n_bins", minimum=1)
    probs, targets = _probs_and_targets(probs, targets)
    conf, pred = probs.max(1)
    correct = (pred == targets).double()
    order = torch.sort(conf, stable=True).indices
    total = 0.0
    for chunk in torch.tensor_split(order, n_bins):
        if chunk.numel():
            total += float((correct[chunk].sum() - conf[chunk].sum()).abs())
    return total / conf.numel()


def calibration_error_split(
    probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15
) -> dict[str, float]:
    r"""ECE split into its over- and under-confident parts, which add up to the ECE:

    :math:`\mathrm{over} = \sum_m (\lvert I_m \rvert/N)\max(\mathrm{conf}(I_m) - \mathrm{acc}(I_m), 0)`,
    :math:`\mathrm{under} = \sum_m (\lvert I_m \rvert/N)\max(\mathrm{acc}(I_m) - \mathrm{conf}(I_m), 0)`,
    over the equal-width (lo, hi] bins of `expected_calibration_error`.
    Returns ``{"over": ..., "under": ...}``.
    """
    bins = reliability_bins(probs, targets, n_bins)
    w = bins["count"] / bins["count"].sum()
    gap = (bins["confidence"] - bins["accuracy"]).nan_to_num(0.0)
    return {"over": float((w * gap.clamp_min(0)).sum()),
            "under": float((w * (-gap).clamp_min(0)).sum())}


def overconfidence_error(probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15) -> float:
    r"""OE (Thulasidasan et al., NeurIPS 2019, Eq. 3), which penalises confident mistakes:
    :math:`\sum_m (\lvert I_m \rvert/N)\,\mathrm{conf}(I_m) \max(\mathrm{conf}(I_m) - \mathrm{acc}(I_m), 0)`."""
    bins = reliability_bins(probs, targets, n_bins)
    w = bins["count"] / bins["count"].sum()
    conf = bins["confidence"].nan_to_num(0.0)
    gap = (bins["confidence"] - bins["accuracy"]).nan_to_num(0.0)
    return float((w * conf * gap.clamp_min(0)).sum())


def per_class_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15, by: str = "predicted"
) -> torch.Tensor:
    r"""Top-label ECE of the samples of each class, shape ``[C]`` (NaN for a class with no
    sample).

    ``by="predicted"``: class c's samples are those *predicted* as c, so the ECE compares
    confidence with precision; a long-tailed model is over-confident on head predictions
    and under-confident on tail predictions. ``by="true"``: the samples *labelled* c, as
    in `shot_calibration_error` (confidence against recall-side accuracy).
    Same (lo, hi] bins as `expected_calibration_error`.
    """
    by = as_choice(by, _GROUPINGS, "by")  # predicted class or label
    probs, targets = _probs_and_targets(probs, targets)
    key = probs.argmax(1) if by == "predicted" else targets
    out = torch.full((probs.shape[1],), math.nan, dtype=torch.float64)
    for c in range(probs.shape[1]):
        mask = key == c
        if mask.any():
            out[c] = expected_calibration_error(probs[mask], targets[mask], n_bins)
    return out


def shot_calibration_gap(
    probs: torch.Tensor, targets: torch.Tensor, train_counts, n_bins: int = 15,
    by: str = "predicted", many: int = 100, few: int = 20,
) -> dict[str, dict[str, float]]:
    r"""Calibration of each many / medium / few group of classes (by *training* counts).

    For the samples of a group (``by="predicted"``: predicted as one of its classes;
    ``by="true"``: labelled so) returns ``{"ece", "gap", "confidence", "accuracy",
    "count"}``, where ``gap`` = mean confidence - accuracy is signed: positive means
    over-confident. A group without samples gets NaN values and count 0.
    """
    by = as_choice(by, _GROUPINGS, "by")  # predicted class or label
    probs, targets = _probs_and_targets(probs, targets)
    conf, pred = probs.max(1)
    key = pred if by == "predicted" else targets
    out: dict[str, dict[str, float]] = {}
    for name, classes in shot_groups(train_counts, many, few).items():
        mask = torch.isin(key, classes)
        n = int(mask.sum())
        if n == 0:
            out[name] = {"ece": math.nan, "gap": math.nan, "confidence": math.nan,
                         "accuracy": math.nan, "count": 0}
            continue
        acc = float((pred[mask] == targets[mask]).double().mean())
        mean_conf = float(conf[mask].mean())
        out[name] = {
            "ece": expected_calibration_error(probs[mask], targets[mask], n_bins),
            "gap": mean_conf - acc, "confidence": mean_conf, "accuracy": acc, "count": n,
        }
    return out
