"""Notebook 04's label-shift part: calibrated posteriors under a shifted test prior, with and
without Saerens' EM correction (the sweep over backward / uniform / forward test priors).

`ltlab.experiments.calibration` (the notebook's driver) runs it inside ``compare`` and
re-exports every name here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .._validation import as_probs, as_targets
from ..data import label_shift_subset
from ..label_shift import em_prior, reweight_posteriors
from ..metrics import (
    classwise_calibration_error,
    expected_calibration_error,
    negative_log_likelihood,
)
from ..priors import shifted_prior

__all__ = ["SHIFT_SETTINGS", "EM_ITERATIONS", "prior_for_setting", "shifted_calibration",
           "label_shift_sweep"]


# ----------------------------------------------------------------------------- label shift
SHIFT_SETTINGS = ("backward-50", "backward-10", "backward-2", "uniform", "forward-2",
                  "forward-10", "forward-50")
EM_ITERATIONS = 5


def prior_for_setting(setting: str, num_classes: int) -> torch.Tensor:
    """The test prior named ``"forward-<rho>"``, ``"backward-<rho>"`` or ``"uniform"`` (the
    test-agnostic protocol, `ltlab.priors.shifted_prior`).

    >>> [round(v, 3) for v in prior_for_setting("forward-4", 3).tolist()]
    [0.571, 0.286, 0.143]
    """
    if setting == "uniform":
        return shifted_prior(num_classes, 1.0, "uniform")
    direction, _, rho = str(setting).partition("-")
    try:
        value = float(rho)
    except ValueError:
        value = math.nan
    if direction not in ("forward", "backward") or not value >= 1:
        raise ValueError(
            f"setting must be 'uniform', 'forward-<rho>' or 'backward-<rho>' with rho >= 1, "
            f"e.g. 'forward-50' (got {setting!r})."
        )
    return shifted_prior(num_classes, value, direction)


def shifted_calibration(
    probs: torch.Tensor, targets: torch.Tensor, setting: str, source_prior=None,
    n_bins: int = 15, seed: int = 0, em_iterations: int = EM_ITERATIONS,
) -> dict[str, Any]:
    r"""Calibration on a label-shifted subset of a balanced test set, before and after EM.

    Draws the subset of ``targets`` whose class proportions follow ``setting``
    (`prior_for_setting`, `ltlab.data.label_shift_subset`), then adapts the posteriors with
    the EM of Saerens et al. (`ltlab.label_shift.em_prior`), which needs the prior the
    posteriors were calibrated for (``source_prior``; uniform by default: a balanced model
    calibrated on balanced data). Returns ``index``, ``targets``, ``true_prior``,
    ``em_prior``, and for ``before`` (no adaptation), ``after`` (EM) and ``oracle``
    (re-weighted with the true test prior): ``probs_*``, ``mean_probs_*`` (the mean
    prediction per class, to hold against the true prior), ``ece_*`` (top label),
    ``classwise_ece_*``, ``nll_*`` and ``accuracy_*``.

    ``em_iterations`` caps the EM steps (`em_prior`'s ``max_iter``). Run to convergence
    on a few hundred samples, EM finds the maximum-likelihood prior, which overfits: classes
    with a handful of test samples get a prior near 0, and their samples an NLL near
    infinity. A few steps from the source prior act as a regulariser (5 by default;
    notebook 04 lets you slide it to 1000 and watch the collapse).

    Label shift shows in the class-wise ECE and the NLL far more than in the top-label
    ECE: the over-confident (now rarer) and under-confident (now commoner) classes share
    confidence bins, and their errors cancel there.
    """
    probs = as_probs(probs)
    targets = as_targets(targets, probs.shape[0], probs.shape[1])
    c = probs.shape[1]
    prior = prior_for_setting(setting, c)
    source = torch.full((c,), 1.0 / c) if source_prior is None else torch.as_tensor(source_prior)
    index = label_shift_subset(targets, prior, seed)
    p, y = probs[index], targets[index]
    estimate, adapted = em_prior(p, source, max_iter=em_iterations)
    oracle = reweight_posteriors(p, source, prior)
    out: dict[str, Any] = {"setting": setting, "em_iterations": em_iterations, "index": index,
                           "targets": y, "true_prior": prior, "em_prior": estimate}
    for key, q in (("before", p), ("after", adapted.double()), ("oracle", oracle.double())):
        q = q / q.sum(1, keepdim=True)
        out[f"probs_{key}"] = q
        out[f"mean_probs_{key}"] = q.mean(0)
        out[f"ece_{key}"] = expected_calibration_error(q, y, n_bins)
        out[f"classwise_ece_{key}"] = classwise_calibration_error(q, y, n_bins)
        out[f"nll_{key}"] = negative_log_likelihood(q, y)
        out[f"accuracy_{key}"] = float((q.argmax(1) == y).double().mean())
    return out


def label_shift_sweep(
    probs: torch.Tensor, targets: torch.Tensor, settings: Sequence[str] = SHIFT_SETTINGS,
    source_prior=None, n_bins: int = 15, seed: int = 0, em_iterations: int = EM_ITERATIONS,
) -> dict[str, dict[str, float]]:
    """`shifted_calibration` for each setting: setting -> top-label ECE, class-wise ECE,
    NLL and accuracy, each ``_before`` / ``_after`` EM and ``_oracle`` (true prior)."""
    keys = [f"{m}_{k}" for m in ("ece", "classwise_ece", "nll", "accuracy")
            for k in ("before", "after", "oracle")]
    out = {}
    for s in settings:
        r = shifted_calibration(probs, targets, s, source_prior, n_bins, seed, em_iterations)
        out[s] = {k: r[k] for k in keys}
    return out
