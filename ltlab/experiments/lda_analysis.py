"""Notebook 05's read-out of an LDA run: the balance factor's weight per fifth of training,
the heads' training-batch accuracy per fifth, the paired differences (one seed, intervals
over the test samples) and the paper's claims they test ("Paper vs this lab")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..metrics import balanced_accuracy_difference
from .paper_vs_lab import Claim

__all__ = ["CLAIMS", "PAIRED_DIFFERENCES", "balance_weight_by_fifth", "batch_accuracy_by_fifth",
           "mean_by_part", "paired_differences"]


def mean_by_part(values: Sequence[float], parts: int = 5) -> list[float]:
    """The mean of ``values`` over ``parts`` consecutive stretches of (nearly) equal length:
    per fifth of training for a per-step log (the first ``len % parts`` stretches hold one
    more value).

    >>> mean_by_part([1.0, 1.0, 0.5, 0.5, 0.0], parts=5)
    [1.0, 1.0, 0.5, 0.5, 0.0]
    >>> mean_by_part([4.0, 2.0, 1.0, 1.0, 0.0, 0.0], parts=3)
    [3.0, 1.0, 0.0]
    """
    from .._validation import as_int

    parts = as_int(parts, "parts", minimum=1)
    v = torch.as_tensor(list(values), dtype=torch.float64).reshape(-1)
    if v.numel() < parts:
        raise ValueError(f"values has {v.numel()} entries, fewer than parts={parts}: log at "
                         "least one value per part (train for more steps, or ask for fewer "
                         "parts).")
    return [float(chunk.mean()) for chunk in torch.tensor_split(v, parts)]


def balance_weight_by_fifth(history: Any, parts: int = 5) -> list[float]:
    r"""The mean weight LDA gave its balanced risk, :math:`\min(\zeta_{\text{bal}}\,\omega,
    \text{cap})`, per fifth of the training steps (`mean_by_part` of the logged
    ``balanced_weight``). ``history``: the `ltlab.train.History` of an `ltlab.lda.LDA` run, or
    its ``step_terms``. For contrast, DRW's weight is 0 for four fifths and 1 in the last,
    RW's is 1 throughout."""
    terms = getattr(history, "step_terms", history)
    if not isinstance(terms, Mapping) or "balanced_weight" not in terms:
        got = sorted(terms) if isinstance(terms, Mapping) else type(terms).__name__
        raise ValueError(f"history has no logged 'balanced_weight' (got {got}); pass the "
                         "History of an ltlab.lda.LDA run.")
    return mean_by_part(terms["balanced_weight"], parts)


def batch_accuracy_by_fifth(result: Any) -> dict[str, list[float]]:
    """The training-batch accuracy of h (``lda``) and h' (``lda_unbalanced``) per fifth of
    the LDA run's steps (`mean_by_part` of the logged accuracies), as fractions."""
    terms = result.histories["lda"].step_terms
    scale = 100.0 if getattr(result.methods.get("lda"), "accuracy_in_percent", False) else 1.0
    return {head: [a / scale for a in mean_by_part(terms[f"accuracy_{key}"])]
            for head, key in (("lda", "balanced"), ("lda_unbalanced", "unbalanced"))}


#: The paired differences notebook 05 records (``paired_differences[key]``): balanced
#: accuracy of the first method minus the second's on the same test samples, with a 95 %
#: interval over the test samples (`ltlab.metrics.balanced_accuracy_difference`).
PAIRED_DIFFERENCES = {
    "lda_minus_ce": ("lda", "ce"),
    "lda_minus_rw": ("lda", "rw"),
    "lda_minus_drw": ("lda", "drw"),
    "lda_minus_la": ("lda", "la"),
}


def paired_differences(result: Any) -> dict[str, dict[str, Any]]:
    """`PAIRED_DIFFERENCES` of ``result`` whose two methods were trained: each a
    ``{"mean", "ci_low", "ci_high", ...}`` dict over the test samples of this one seed."""
    if result.data is None:
        raise ValueError("result has no data: pass the LDAComparison of compare or "
                         "compare_methods (it keeps the test targets).")
    return {key: balanced_accuracy_difference(result.predictions[a], result.predictions[b],
                                              result.data.y_test, result.data.num_classes)
            for key, (a, b) in PAIRED_DIFFERENCES.items()
            if a in result.predictions and b in result.predictions}


#: The paper's headlines that notebook 05 tests ("Paper vs this lab"), all from its ablation
#: on ImageNet-LT (Table 5: ResNeXt-50, without the distance terms): each one LDA's balanced
#: head h against one arm, here as a paired difference over this run's test samples.
CLAIMS = (
    Claim("LDA's balanced head h beats plain CE",
          paper="+5.0 points (h 52.9 % vs CE 47.9 %), ImageNet-LT, ResNeXt-50, Table 5",
          key="paired_differences.lda_minus_ce",
          reason="one seed: the interval covers the test samples, not the training noise"),
    Claim("LDA's h beats re-weighting from the first step (RW)",
          paper="+11.6 points (h 52.9 % vs RW 41.3 %), ImageNet-LT, ResNeXt-50, Table 5",
          key="paired_differences.lda_minus_rw",
          reason="10 classes and a small CNN: RW does not fall below CE here as it does on "
                 "ImageNet-LT's 1,000 classes, so little is left between RW and h"),
    Claim("LDA's h beats deferred re-weighting (DRW: CE, then RW)",
          paper="+1.0 point (h 52.9 % vs CE then RW 51.9 %), ImageNet-LT, ResNeXt-50, Table 5",
          key="paired_differences.lda_minus_drw",
          reason="once both heads fit the training batches, ω = gap^ν withdraws "
                 "the balanced risk, while DRW applies it at full weight in the last fifth "
                 "(section 6)"),
)
