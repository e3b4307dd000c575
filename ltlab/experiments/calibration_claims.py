"""Notebook 04's "Paper vs this lab": the BalPoE paper's calibration claims and the paired
differences (one seed, intervals over the test samples) that measure them on the model zoo
of `ltlab.experiments.calibration`."""

from __future__ import annotations

from typing import Any

from ..metrics import balanced_accuracy_difference, ece_difference
from .paper_vs_lab import Claim

__all__ = ["CLAIMS", "PAIRED_DIFFERENCES", "paired_differences"]


#: The paired differences notebook 04 records (``paired_differences[key]``), one per claim of
#: the BalPoE paper's Table 2 it tests: key -> (quantity, model a, model b), a minus b.
PAIRED_DIFFERENCES = {
    "ece_ce_mixup_minus_ce": ("ece", "ce_mixup", "ce"),
    "ece_balpoe_mixup_minus_balpoe": ("ece", "balpoe_mixup", "balpoe"),
    "ece_balpoe_mixup_minus_ce": ("ece", "balpoe_mixup", "ce"),
    "balanced_accuracy_balpoe_mixup_minus_balpoe": ("balanced_accuracy", "balpoe_mixup",
                                                    "balpoe"),
}


def paired_differences(zoo: Any, n_bins: int = 15, *, seed: int = 0,
                       resamples: int = 1000) -> dict[str, dict[str, Any]]:
    """`PAIRED_DIFFERENCES` on the zoo's test half, for the pairs whose models it holds: ECE
    differences by `ece_difference` (paired bootstrap over the test samples), balanced
    accuracy differences by `ltlab.metrics.balanced_accuracy_difference` (a normal interval
    over the test samples)."""
    out = {}
    for key, (quantity, a, b) in PAIRED_DIFFERENCES.items():
        if a not in zoo.logits or b not in zoo.logits:
            continue
        if quantity == "ece":
            out[key] = ece_difference(zoo.probs(a), zoo.probs(b), zoo.y_test, n_bins,
                                      resamples=resamples, seed=seed)
        else:
            out[key] = balanced_accuracy_difference(
                zoo.logits[a]["test"].argmax(1), zoo.logits[b]["test"].argmax(1), zoo.y_test,
                zoo.data.num_classes)
    return out


#: The BalPoE paper's calibration claims that notebook 04 tests ("Paper vs this lab"), from
#: its Table 2 (CIFAR-100-LT, imbalance ratio 100; ECE and accuracy in %); each one a paired
#: difference over this run's test half (one seed).
CLAIMS = (
    Claim("mixup lowers CE's ECE",
          paper="-22.4 points (ECE 32.0 % -> 9.6 %), CIFAR-100-LT-100, Table 2",
          key="paired_differences.ece_ce_mixup_minus_ce", direction=-1,
          reason="the less a model over-fits its training set, the less over-confidence "
                 "there is for mixup to remove (compare quick and full size)"),
    Claim("mixup lowers BalPoE's ECE",
          paper="-12.7 points (ECE 17.6 % -> 4.9 %), CIFAR-100-LT-100, Table 2",
          key="paired_differences.ece_balpoe_mixup_minus_balpoe", direction=-1,
          reason="as for CE: with more training data BalPoE is less over-confident, and "
                 "mixup can push it to under-confidence (a fitted T below 1)"),
    Claim("BalPoE + mixup is better calibrated than CE",
          paper="-27.1 points (ECE 32.0 % -> 4.9 %), CIFAR-100-LT-100, Table 2",
          key="paired_differences.ece_balpoe_mixup_minus_ce", direction=-1,
          reason="CE on 10 classes of MNIST-1D is over-confident mainly when it over-fits a "
                 "small training set; at full size little is left to calibrate"),
    Claim("mixup raises BalPoE's accuracy",
          paper="+2.8 points (accuracy 49.2 % -> 52.0 %), CIFAR-100-LT-100, Table 2",
          key="paired_differences.balanced_accuracy_balpoe_mixup_minus_balpoe",
          reason="one seed and a test half of 1,000 signals: an interval over test samples "
                 "this wide cannot resolve a gain of a few points"),
)
