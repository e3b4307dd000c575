r"""Post-hoc logit scaling, fitted on held-out logits by one L-BFGS routine.

Each scaling is a per-class affine map of the logits, :math:`z \mapsto w \odot z + b`,
whose parameters minimise the negative log-likelihood of :math:`\mathrm{softmax}(w \odot z
+ b)` on labeled held-out data:

* temperature scaling (Guo et al., ICML 2017, Sec. 4.2): :math:`w = 1/T`, :math:`b = 0`
  (`fit_temperature`, which returns :math:`T`);
* vector scaling (Guo et al., 2017): a free :math:`w` and :math:`b` (`fit_vector_scaling`);
* bias-corrected temperature scaling, BCTS (Alexandari, Kundaje & Shrikumar, ICML 2020,
  Sec. 3): :math:`w = 1/T` and a free :math:`b` (`fit_bias_corrected_temperature`). The
  class biases fix a systematic over-prediction of some classes that one temperature
  cannot, which is what EM prior estimation under label shift needs (their "BCTS + EM is
  hard to beat"; `ltlab.label_shift.calibrated_probs` applies the fit before EM).

All three run the same optimiser, `_minimise_nll` (L-BFGS with a strong-Wolfe line search,
step 0.5, float64, from :math:`T = 1`, :math:`w = 1`, :math:`b = 0`); the temperature is
optimised as :math:`\log T` so that it stays positive. Fitted biases are stored with mean 0
(softmax ignores a common shift).

>>> z = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [0.0, 4.0]])
>>> y = torch.tensor([0, 1, 1, 0])  # right half of the time: confidence should be 0.5
>>> fit_temperature(z, y) > 50
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._validation import as_choice, as_int, as_logits, as_targets

__all__ = [
    "LogitScaling",
    "fit_temperature",
    "fit_vector_scaling",
    "fit_bias_corrected_temperature",
]

_KINDS = ("temperature", "vector", "bcts")


@dataclass
class LogitScaling:
    r"""A per-class affine map of logits, :math:`z \mapsto w \odot z + b` (``weight`` and
    ``bias`` have shape ``[C]``). Temperature scaling is :math:`w = 1/T`, bias-corrected
    temperature scaling (BCTS) is :math:`w = 1/T` plus a bias, vector scaling has a free
    :math:`w`. Call it on logits; `probs` gives the calibrated probabilities.

    ``temperature`` is the fitted :math:`T` (float64) for temperature and BCTS fits;
    left out, it is 1 / w when all weights are equal, else NaN.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    kind: str = "vector"
    temperature: float = math.nan

    def __post_init__(self) -> None:
        w = self.weight
        if math.isnan(self.temperature) and bool((w == w[0]).all()):
            self.temperature = float(1.0 / w[0])

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        logits = as_logits(logits)
        if logits.shape[1] != self.weight.numel():
            raise ValueError(
                f"logits must have shape [N, {self.weight.numel()}], one column per class of "
                f"this scaling (got {tuple(logits.shape)})."
            )
        w, b = self.weight.to(logits), self.bias.to(logits)
        return logits * w + b

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """softmax(w * z + b)."""
        return self(logits).softmax(1)


def _logits_and_targets(logits, targets) -> tuple[torch.Tensor, torch.Tensor]:
    z = as_logits(logits).detach().double()
    if not torch.isfinite(z).all():
        raise ValueError("logits contains NaN or inf; check the model's outputs.")
    return z, as_targets(targets, z.shape[0], z.shape[1])


def _minimise_nll(z: torch.Tensor, y: torch.Tensor, params: Sequence[torch.Tensor],
                  transform: Callable[[torch.Tensor], torch.Tensor], max_iter: int) -> None:
    """The one fit: L-BFGS on mean cross-entropy of ``transform(z)``, updating ``params``."""
    opt = torch.optim.LBFGS(params, lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(transform(z), y)
        loss.backward()
        return loss

    opt.step(closure)


def _fit(logits, targets, kind: str, max_iter: int) -> LogitScaling:
    """Fit one of the three scalings (`_KINDS`) by `_minimise_nll`."""
    kind = as_choice(kind, _KINDS, "kind")
    max_iter = as_int(max_iter, "max_iter", minimum=1)
    z, y = _logits_and_targets(logits, targets)
    c = z.shape[1]
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    w = torch.ones(c, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(c, dtype=torch.float64, requires_grad=True)
    if kind == "temperature":  # softmax(z / T)
        _minimise_nll(z, y, [log_t], lambda v: v / log_t.exp(), max_iter)
    elif kind == "bcts":  # softmax(z / T + b)
        _minimise_nll(z, y, [log_t, b], lambda v: v / log_t.exp() + b, max_iter)
    else:  # softmax(w * z + b)
        _minimise_nll(z, y, [w, b], lambda v: v * w + b, max_iter)
    bias = b.detach()
    bias = (bias - bias.mean()).float()
    if kind == "vector":
        return LogitScaling(w.detach().float(), bias, "vector")
    t = float(log_t.detach().exp())
    weight = torch.full((c,), float(torch.exp(-log_t.detach())))
    return LogitScaling(weight, bias, kind, temperature=t)


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor, max_iter: int = 100) -> float:
    """Temperature scaling (Guo et al., 2017): T minimising the NLL of softmax(z / T) on
    held-out logits ``[N, C]`` (L-BFGS over log T, so T stays positive)."""
    return _fit(logits, targets, "temperature", max_iter).temperature


def fit_vector_scaling(
    logits: torch.Tensor, targets: torch.Tensor, max_iter: int = 200
) -> LogitScaling:
    r"""Vector scaling (Guo et al., ICML 2017, Sec. 4.2): per-class weight ``w`` and bias
    ``b`` minimising the NLL of :math:`\mathrm{softmax}(w \odot z + b)` on held-out logits."""
    return _fit(logits, targets, "vector", max_iter)


def fit_bias_corrected_temperature(
    logits: torch.Tensor, targets: torch.Tensor, max_iter: int = 200
) -> LogitScaling:
    r"""Bias-corrected temperature scaling, BCTS (Alexandari et al., ICML 2020, Sec. 3):
    one temperature T and a per-class bias b minimising the NLL of
    :math:`\mathrm{softmax}(z / T + b)` on held-out logits. Returns a `LogitScaling` with
    ``kind="bcts"`` (``.temperature`` is T, ``.bias`` is b); `ltlab.label_shift.calibrated_probs`
    takes it as it is (softmax(z / T + b) in float64) for EM under label shift."""
    return _fit(logits, targets, "bcts", max_iter)
