"""Calibration beyond the ECE: adaptive bins, over-confidence, per-class and per-shot-group
errors, and logit scaling fits (vector and bias-corrected temperature scaling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .accuracy import (
    _check_bins,
    _check_probs,
    _check_targets,
    expected_calibration_error,
    reliability_bins,
    shot_groups,
)

__all__ = [
    "adaptive_calibration_error",
    "calibration_error_split",
    "overconfidence_error",
    "per_class_calibration_error",
    "shot_calibration_gap",
    "LogitScaling",
    "fit_vector_scaling",
    "fit_bias_corrected_temperature",
]


# ----------------------------------------------------------------------------- metrics
def adaptive_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15
) -> float:
    r"""Top-label ECE over ``n_bins`` *equal-mass* bins (adaptive binning, Nixon et al. 2019).

    The samples are sorted by confidence (ties keep their input order) and cut into
    ``n_bins`` consecutive chunks whose sizes differ by at most one (the first
    ``N mod n_bins`` chunks hold one more); then, as for the equal-width ECE,
    :math:`\mathrm{ACE} = \sum_b (n_b / N)\,|\mathrm{acc}_b - \mathrm{conf}_b|`.
    With ``n_bins >= N`` every sample is its own bin and ACE = mean |1[correct] - conf|.

    >>> p = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.8, 0.2]])
    >>> y = torch.tensor([0, 1, 0, 0])
    >>> round(adaptive_calibration_error(p, y, n_bins=2), 4)  # bins {.6,.7} and {.8,.9}
    0.25
    """
    _check_bins(n_bins)
    probs, targets = _check_probs(probs, targets)
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

    :math:`\mathrm{over} = \sum_b (n_b/N)\max(\mathrm{conf}_b - \mathrm{acc}_b, 0)`,
    :math:`\mathrm{under} = \sum_b (n_b/N)\max(\mathrm{acc}_b - \mathrm{conf}_b, 0)`,
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
    :math:`\sum_b (n_b/N)\,\mathrm{conf}_b \max(\mathrm{conf}_b - \mathrm{acc}_b, 0)`."""
    bins = reliability_bins(probs, targets, n_bins)
    w = bins["count"] / bins["count"].sum()
    conf = bins["confidence"].nan_to_num(0.0)
    gap = (bins["confidence"] - bins["accuracy"]).nan_to_num(0.0)
    return float((w * conf * gap.clamp_min(0)).sum())


_GROUPINGS = ("predicted", "true")


def _check_by(by: str) -> None:
    if by not in _GROUPINGS:
        raise ValueError(
            f"by must be 'predicted' (group samples by the predicted class) or 'true' (by the "
            f"label) (got {by!r})."
        )


def per_class_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 15, by: str = "predicted"
) -> torch.Tensor:
    r"""Top-label ECE of the samples of each class, shape ``[C]`` (NaN for a class with no
    sample).

    ``by="predicted"``: class c's samples are those *predicted* as c, so the ECE compares
    confidence with precision; a long-tailed model is over-confident on head predictions
    and under-confident on tail predictions. ``by="true"``: the samples *labelled* c, as
    in `ltlab.metrics.shot_calibration_error` (confidence against recall-side accuracy).
    Same (lo, hi] bins as `expected_calibration_error`.
    """
    _check_by(by)
    probs, targets = _check_probs(probs, targets)
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
    _check_by(by)
    probs, targets = _check_probs(probs, targets)
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


# ----------------------------------------------------------------------------- scaling
@dataclass
class LogitScaling:
    r"""A per-class affine map of logits, :math:`z \mapsto w \odot z + b` (``weight`` and
    ``bias`` have shape ``[C]``). Temperature scaling is :math:`w = 1/T`, bias-corrected
    temperature scaling (BCTS) is :math:`w = 1/T` plus a bias, vector scaling has a free
    :math:`w`. The bias is stored with mean 0 (softmax ignores a common shift).
    Call it on logits; `probs` gives the calibrated probabilities."""

    weight: torch.Tensor
    bias: torch.Tensor
    kind: str = "vector"

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        logits = torch.as_tensor(logits)
        if logits.dim() != 2 or logits.shape[1] != self.weight.numel():
            raise ValueError(
                f"logits must have shape [N, {self.weight.numel()}] (got {tuple(logits.shape)})."
            )
        w, b = self.weight.to(logits), self.bias.to(logits)
        return logits * w + b

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        return self(logits).softmax(1)

    @property
    def temperature(self) -> float:
        """1 / w when all weights are equal (temperature and BCTS), else NaN."""
        w = self.weight
        return float(1.0 / w[0]) if bool((w == w[0]).all()) else math.nan


def _check_logits(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.as_tensor(logits).detach().double()
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape [N, C] (got {tuple(logits.shape)}).")
    if not torch.isfinite(logits).all():
        raise ValueError("logits contains NaN or inf.")
    return logits, _check_targets(targets, logits.shape[0], logits.shape[1])


def _minimise_nll(logits, targets, params, transform, max_iter):
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(transform(logits), targets)
        loss.backward()
        return loss

    opt.step(closure)


def fit_vector_scaling(
    logits: torch.Tensor, targets: torch.Tensor, max_iter: int = 200
) -> LogitScaling:
    r"""Vector scaling (Guo et al., ICML 2017, Sec. 4.2): per-class weight ``w`` and bias
    ``b`` minimising the NLL of :math:`\mathrm{softmax}(w \odot z + b)` on held-out logits
    (L-BFGS, float64, started at w = 1, b = 0)."""
    logits, targets = _check_logits(logits, targets)
    c = logits.shape[1]
    w = torch.ones(c, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(c, dtype=torch.float64, requires_grad=True)
    _minimise_nll(logits, targets, [w, b], lambda z: z * w + b, max_iter)
    b = b.detach()
    return LogitScaling(w.detach().float(), (b - b.mean()).float(), "vector")


def fit_bias_corrected_temperature(
    logits: torch.Tensor, targets: torch.Tensor, max_iter: int = 200
) -> LogitScaling:
    r"""Bias-corrected temperature scaling, BCTS (Alexandari et al., ICML 2020, Sec. 3):
    one temperature T and a per-class bias b minimising the NLL of
    :math:`\mathrm{softmax}(z / T + b)` on held-out logits. The class biases fix a
    systematic over-prediction of some classes that one temperature cannot, which is what
    EM prior estimation under label shift needs (their "BCTS + EM is hard to beat")."""
    logits, targets = _check_logits(logits, targets)
    c = logits.shape[1]
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(c, dtype=torch.float64, requires_grad=True)
    _minimise_nll(logits, targets, [log_t, b], lambda z: z / log_t.exp() + b, max_iter)
    inv_t = float(torch.exp(-log_t.detach()))
    b = b.detach()
    return LogitScaling(torch.full((c,), inv_t), (b - b.mean()).float(), "bcts")


# ----------------------------------------------------------------------------- notebook 04
