"""Statistics over seeds: a mean with its 95 % Student-t interval, and paired differences.

A notebook that compares methods over seeds reports these, computed, never typed: for seeds
s = 1..n with values v_s, the interval is mean ± t_{0.975, n-1} · sd / sqrt(n). Two methods
run on the same seeds (same split, same initialisation) are compared through the paired
differences a_s - b_s, whose interval is much narrower than the two separate ones.

>>> r = mean_interval([1.0, 2.0, 3.0])
>>> r["mean"], round(r["ci_low"], 3), round(r["ci_high"], 3), r["per_seed"]
(2.0, -0.484, 4.484, [1.0, 2.0, 3.0])
>>> r = paired_interval([2.0, 3.0, 4.0], [1.0, 1.0, 1.0])
>>> r["mean"], round(r["ci_low"], 3), round(r["ci_high"], 3)
(2.0, -0.484, 4.484)
>>> format_interval(r), interval_verdict(r)
('+200.0 [-48.4, +448.4]', 'includes zero')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .._validation import as_int, as_number

__all__ = [
    "balanced_accuracy_difference",
    "ece_difference",
    "format_interval",
    "interval_verdict",
    "mean_interval",
    "paired_interval",
]


def _t_quantile(df: int) -> float:
    from scipy.stats import t  # scipy comes with scikit-learn

    return float(t.ppf(0.975, df))


def _finite(x: Any, name: str) -> float:
    """One seed's value as a finite float (numpy and 0-d torch numbers welcome; NaN refused)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        pass  # as_number names the argument and the value
    return as_number(x, name, "one finite value per seed; a NaN usually means a diverged run: "
                     "find it rather than average it.")


def mean_interval(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95 % Student-t interval of ``values`` (one per seed): ``{"mean", "ci_low",
    "ci_high", "per_seed"}``; a single value gives NaN bounds."""
    v = [_finite(x, f"values[{i}]") for i, x in enumerate(values)]
    n = len(v)
    if n == 0:
        raise ValueError("mean_interval needs at least one value (one per seed).")
    mean = sum(v) / n
    if n < 2:
        return {"mean": mean, "ci_low": math.nan, "ci_high": math.nan, "per_seed": v}
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    half = _t_quantile(n - 1) * sd / math.sqrt(n)  # t_{0.975, n-1} sd / sqrt(n)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "per_seed": v}


def paired_interval(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """`mean_interval` of the paired differences a_s - b_s (the same seed s for both)."""
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"paired values need the same, non-empty seeds (got {len(a)} and "
                         f"{len(b)}).")
    a = [_finite(x, f"a[{i}]") for i, x in enumerate(a)]
    b = [_finite(x, f"b[{i}]") for i, x in enumerate(b)]
    return mean_interval([x - y for x, y in zip(a, b)])  # a_s - b_s, same seed s


def format_interval(r: dict[str, Any], scale: float = 100.0) -> str:
    """``"mean [low, high]"`` of an interval, times ``scale`` (default: fractions as points)."""
    return f"{scale * r['mean']:+.1f} [{scale * r['ci_low']:+.1f}, {scale * r['ci_high']:+.1f}]"


def interval_verdict(r: dict[str, Any]) -> str:
    """Where a 95 % interval lies: ``"above zero"``, ``"below zero"`` or ``"includes zero"``."""
    if r["ci_low"] > 0:
        return "above zero"
    if r["ci_high"] < 0:
        return "below zero"
    return "includes zero"


def balanced_accuracy_difference(pred_a, pred_b, targets, num_classes: int | None = None
                                 ) -> dict[str, Any]:
    """Balanced accuracy of predictions ``a`` minus that of ``b`` on the same test set, with
    a 95 % normal interval over the test samples (one seed: the noise of a finite test set).

    With d_i = 1[a_i = y_i] - 1[b_i = y_i], the difference is (1/C) sum_c mean_{i in c} d_i
    and its variance (1/C^2) sum_c var_c(d) / n_c (the classes are disjoint samples), so the
    interval is mean +- 1.96 sd. It says nothing about the spread over seeds: use
    `paired_interval` over seeds for that. Returns ``{"mean", "ci_low", "ci_high",
    "per_seed": [], "over": "test samples"}``.

    >>> r = balanced_accuracy_difference([0, 1, 1, 1], [0, 0, 1, 0], [0, 1, 1, 1])
    >>> round(r["mean"], 3), r["over"]
    (0.333, 'test samples')
    """
    import torch

    a, b, y = (torch.as_tensor(v).reshape(-1).long() for v in (pred_a, pred_b, targets))
    if not (len(a) == len(b) == len(y)) or len(y) == 0:
        raise ValueError(f"pred_a, pred_b and targets need the same, non-empty length (got "
                         f"{len(a)}, {len(b)}, {len(y)}); pass class indices, one per sample.")
    classes = torch.unique(y) if num_classes is None else torch.arange(num_classes)
    d = (a == y).double() - (b == y).double()
    means, variances = [], []
    for c in classes.tolist():
        dc = d[y == c]
        if len(dc) == 0:
            raise ValueError(f"class {c} has no test sample; balanced accuracy needs every "
                             "class in targets (or pass num_classes=None).")
        means.append(float(dc.mean()))
        var = float(dc.var(unbiased=True)) if len(dc) > 1 else 0.0
        variances.append(var / len(dc))
    k = len(means)
    mean = sum(means) / k
    half = 1.959964 * math.sqrt(sum(variances)) / k
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "per_seed": [],
            "over": "test samples"}


def _resampled_ece(probs, y, idx, n_bins: int = 15):
    """`expected_calibration_error` of every resample (a row of ``idx``) at once: with the
    same (lo, hi] bins, ECE = sum over bins m of |sum_{i in m} (correct_i - conf_i)| / N."""
    import torch

    conf, pred = probs.max(1)
    gap = (pred == y).double() - conf
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)[1:-1]
    bins = torch.bucketize(conf.contiguous(), edges, right=False)
    sums = torch.zeros(idx.shape[0], n_bins, dtype=torch.float64)
    sums.scatter_add_(1, bins[idx], gap[idx])
    return sums.abs().sum(1) / idx.shape[1]


def ece_difference(probs_a, probs_b, targets, n_bins: int = 15, *, resamples: int = 1000,
                   seed: int = 0) -> dict[str, Any]:
    """ECE of ``probs_a`` minus ECE of ``probs_b`` on the same test samples, with a 95 %
    paired bootstrap interval over the test samples (one seed: the noise of a finite test
    set, not of training).

    ``mean`` is the difference on the whole test set. Each of ``resamples`` draws
    (deterministic for ``seed``) resamples the N test samples with replacement, the *same*
    draw for both models, and recomputes both ECEs with the same (lo, hi] bins;
    ``ci_low`` / ``ci_high`` are the 2.5 and 97.5 percentiles of the differences. Returns
    ``{"mean", "ci_low", "ci_high", "per_seed": [], "over"}`` (fractions), the layout of
    `balanced_accuracy_difference`.

    >>> import torch
    >>> p = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.7, 0.3]])
    >>> r = ece_difference(p, p, torch.tensor([0, 1, 0, 0]), n_bins=5, resamples=50)
    >>> (r["mean"], r["ci_low"], r["ci_high"])
    (0.0, 0.0, 0.0)
    """
    import torch

    n_bins = as_int(n_bins, "n_bins", minimum=1)
    resamples = as_int(resamples, "resamples", minimum=10)
    a, b = (torch.as_tensor(p, dtype=torch.float64) for p in (probs_a, probs_b))
    y = torch.as_tensor(targets).reshape(-1).long()
    if a.shape != b.shape or a.dim() != 2 or a.shape[0] != y.numel() or y.numel() == 0:
        raise ValueError(f"probs_a {tuple(a.shape)} and probs_b {tuple(b.shape)} must both be "
                         f"[N, C] for the same test samples (N = len(targets) = {y.numel()}).")
    everyone = torch.arange(y.numel()).unsqueeze(0)
    mean = float(_resampled_ece(a, y, everyone, n_bins) - _resampled_ece(b, y, everyone, n_bins))
    g = torch.Generator().manual_seed(int(seed))
    draws = torch.randint(0, y.numel(), (resamples, y.numel()), generator=g)
    diffs = _resampled_ece(a, y, draws, n_bins) - _resampled_ece(b, y, draws, n_bins)
    low, high = torch.quantile(diffs, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return {"mean": mean, "ci_low": low, "ci_high": high, "per_seed": [],
            "over": f"test samples (paired bootstrap, {resamples} resamples)"}
