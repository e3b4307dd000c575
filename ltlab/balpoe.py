r"""BalPoE: the Balanced Product of Calibrated Experts (Sanchez Aimar et al., CVPR 2023).

**λ-experts.** Expert k is trained with the logit-adjusted loss (Menon et al., 2021) at
:math:`\tau_k = 1 - \lambda_k` (paper Eq. 5; the reference code stores τ, the paper writes
λ, and ``BalPoE(lambdas=...)`` takes **λ**):

.. math:: \ell_k = \mathrm{CE}\big(z_k + (1 - \lambda_k)\log\pi,\; y\big),
          \qquad L = \frac{1}{M}\sum_{k=1}^{M} \ell_k \quad\text{(a mean, paper Eq. 6).}

Since :math:`z_k + \tau_k\log\pi \approx \log p_{train}(y|x)`, expert k learns
:math:`z_k \approx \log p_{bal}(y|x) + \lambda_k \log\pi + c(x)`: the Bayes classifier for
the target prior :math:`\propto \pi^{\lambda_k}` (λ = 1: the train prior; 0: uniform;
−1: the inverse prior).

**Product of experts.** The ensemble averages *logits* (paper Eq. 7), which is a normalised
geometric mean of the expert softmaxes, not an average of probabilities:

.. math:: \bar z = \frac1M \sum_k z_k \approx \log p_{bal}(y|x) + \bar\lambda \log\pi + c(x),
          \qquad \bar\lambda = \frac1M\sum_k \lambda_k .

So the ensemble is a single logit-adjusted model with bias :math:`\bar\lambda\log\pi`
(``BalPoE.bias`` is the scalar :math:`\bar\lambda`; ``bias_vector(log_prior)`` is
:math:`\bar\lambda\log\pi`). It is Fisher-consistent for the balanced error iff
:math:`\bar\lambda = 0` (paper Theorem 1).

**Known test prior** :math:`\pi^t` (paper Table 3, "prior ✓"; the reference's
``--posthoc_bias_correction``, which assumes :math:`\bar\lambda = 0`): predict with
:math:`\bar z - \bar\lambda\log\pi + \log\pi^t` (`BalPoE.adjust_to_prior`).

**Mixup** (paper Sec. 4.3) is applied to the whole adjusted multi-expert loss:
``batch.mix_loss`` gives :math:`\lambda_{mix} L(\tilde x, y) + (1-\lambda_{mix}) L(\tilde x, y')`.

λ sets: `evenly_spaced_lambdas` (the reference's ``"limits"``: the endpoints are included,
so 3 experts in [−1, 1] are (1, 0, −1)) and `midpoint_lambdas` (the reference's
``"uniform"``: cell midpoints). Both have mean λ = (low + high)/2.

>>> import torch
>>> bpe = BalPoE((1.0, 0.0, -1.0))
>>> bpe.bias
0.0
>>> bpe.aggregate(torch.ones(3, 2, 4)).shape
torch.Size([2, 4])

`ltlab.experts` re-exports this module (the contract import path of the design).

Taught in: notebook 02, driver `ltlab.experiments.balpoe`, exercises `ltlab.exercises.balpoe`,
figures `ltlab.viz.balpoe`, panel `ltlab.widgets.balpoe`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from ._validation import (
    as_int,
    as_log_prior,
    as_logits,
    as_number,
    as_positive,
    as_prior,
    as_vector,
)
from .losses import log_prior_from_counts, log_prior_of, logit_adjusted_cross_entropy

__all__ = [
    "BalPoE",
    "BalPoEMethod",
    "BiasedEnsembleWarning",
    "evenly_spaced_lambdas",
    "midpoint_lambdas",
    "lambdas_from_taus",
    "expert_target_priors",
    "miscalibrated_logits",
]


class BiasedEnsembleWarning(UserWarning):
    """A balanced prediction was asked of an ensemble whose mean λ is not 0."""


_LAMBDAS_HINT = "give one λ per expert; the BalPoE default is (1.0, 0.0, -1.0)."


def _lambda_vector(lambdas: Any) -> torch.Tensor:
    """λ's as a float64 vector ``[E]`` (a single number is one expert)."""
    try:
        lam = torch.as_tensor(lambdas, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"lambdas must be a sequence of numbers (got {lambdas!r}); "
                         f"{_LAMBDAS_HINT}") from err
    lam = as_vector(lam.reshape(1) if lam.dim() == 0 else lam, "lambdas")
    for value in lam.tolist():
        as_number(value, "every entry of lambdas", _LAMBDAS_HINT)
    return lam


def _lambda_range(num_experts: int, low: float, high: float) -> tuple[int, float, float]:
    m = as_int(num_experts, "num_experts", minimum=1)
    low, high = as_number(low, "low"), as_number(high, "high")
    if low > high:
        raise ValueError(f"need low <= high (got low={low!r}, high={high!r}).")
    return m, low, high


def evenly_spaced_lambdas(num_experts: int, low: float = -1.0, high: float = 1.0) -> tuple[float, ...]:
    """M λ's evenly spaced from ``high`` down to ``low``, endpoints included (the reference's
    ``tau_list="limits"`` with τ in [1 - high, 1 - low]); one expert gets the midpoint.

    >>> evenly_spaced_lambdas(3)
    (1.0, 0.0, -1.0)
    >>> evenly_spaced_lambdas(1)
    (0.0,)
    """
    m, low, high = _lambda_range(num_experts, low, high)
    if m == 1:
        return ((low + high) / 2,)
    return tuple(high - (high - low) * i / (m - 1) for i in range(m))


def midpoint_lambdas(num_experts: int, low: float = -1.0, high: float = 1.0) -> tuple[float, ...]:
    """The midpoints of M equal cells of [low, high], from high to low (the reference's
    ``tau_list="uniform"``).

    >>> midpoint_lambdas(2)
    (0.5, -0.5)
    """
    m, low, high = _lambda_range(num_experts, low, high)
    return tuple(high - (high - low) * (i + 0.5) / m for i in range(m))


def lambdas_from_taus(taus: Sequence[float]) -> tuple[float, ...]:
    """λ = 1 − τ: convert the reference configs' ``tau_list`` (e.g. [0, 1, 2] -> (1, 0, -1))."""
    return tuple(float(1.0 - t) for t in _lambda_vector(taus).tolist())


def expert_target_priors(lambdas: Sequence[float], prior: Any) -> torch.Tensor:
    r"""The prior each λ-expert is Bayes-optimal for: :math:`\pi^{\lambda_k} / \sum \pi^{\lambda_k}`,
    shape ``[E, C]`` (``prior`` must be positive)."""
    lam = _lambda_vector(lambdas)
    p = as_prior(prior, positive=True).double()
    logq = lam[:, None] * p.log()[None, :]
    return torch.softmax(logq, dim=1).float()


def miscalibrated_logits(log_likelihood: torch.Tensor, log_prior: torch.Tensor,
                         lam: float = 0.0, temperature: float = 1.0) -> torch.Tensor:
    r"""The logits of a λ-expert (or of an LA model, λ = 0) that is miscalibrated by T.

    A model trained with :math:`\mathrm{CE}(z + \tau\log\pi_s, y)`, τ = 1 − λ, learns adjusted
    logits :math:`z + \tau\log\pi_s \approx \log p_{train}(y|x)`. A miscalibrated model gets
    the scale of that posterior wrong: :math:`z + \tau\log\pi_s = T\log p_{train}(y|x)`
    (T > 1 over-confident, T < 1 under-confident; softmax of the adjusted logits over T is
    calibrated again). So

    .. math:: z = T\log p_{train}(y|x) - (1-\lambda)\log\pi_s ,

    with :math:`\log p_{train}(y|x) = \mathrm{log\,softmax}(\log p(x|y) + \log\pi_s)`. The
    prior inside :math:`p_{train}` is scaled by T, the one that is subtracted is not: for
    T ≠ 1 the balanced prediction :math:`\arg\max(z - \lambda\log\pi_s)` keeps a bias
    :math:`(T - 1)\log\pi_s` (toward the head when T > 1). This is the model of
    miscalibration of notebooks 02 and 04; scaling whole logits by a temperature instead
    never changes a decision.

    ``log_likelihood``: :math:`\log p(x|y)` (``[N, C]``, up to a per-row constant);
    ``log_prior``: :math:`\log\pi_s` (``[C]``). Returns ``[N, C]`` (float64).

    >>> ll = torch.tensor([[0.0, 0.0]]); lp = torch.tensor([0.9, 0.1]).log()
    >>> miscalibrated_logits(ll, lp, lam=0.0, temperature=1.0).softmax(1)  # LA: balanced
    tensor([[0.5000, 0.5000]], dtype=torch.float64)
    >>> miscalibrated_logits(ll, lp, lam=0.0, temperature=2.0).argmax(1)  # over-confident: head
    tensor([0])
    """
    t = as_positive(temperature, "temperature",
                    "T = 1 is calibrated; T > 1 over-confident, T < 1 under-confident.")
    lam = as_number(lam, "lam")
    ll = torch.as_tensor(log_likelihood, dtype=torch.float64)
    if ll.dim() != 2:
        raise ValueError(f"log_likelihood must be [N, C] (got shape {tuple(ll.shape)}).")
    lp = as_log_prior(torch.as_tensor(log_prior, dtype=torch.float64), ll.shape[1], ll)
    log_post = torch.log_softmax(ll + lp, dim=1)
    return t * log_post - (1.0 - lam) * lp  # z = T log p_train(y|x) - (1 - lambda) log pi_s


class BalPoE:
    r"""A balanced product of λ-experts (see the module docstring for the math).

    ``lambdas``: one λ per expert (λ = 1 − τ of the reference code). Attributes:
    ``lambdas`` and ``taus`` (float tensors ``[E]``), ``num_experts``, ``bias`` (the scalar
    :math:`\bar\lambda`). ``expert_logits`` are ``[E, N, C]``.
    """

    def __init__(self, lambdas: Sequence[float] = (1.0, 0.0, -1.0)) -> None:
        self.lambdas = _lambda_vector(lambdas).float()
        self.taus = 1.0 - self.lambdas

    @property
    def num_experts(self) -> int:
        return self.lambdas.numel()

    @property
    def bias(self) -> float:
        r""":math:`\bar\lambda`, the mean λ: the ensemble acts like one model with logit bias
        :math:`\bar\lambda\log\pi` (use `bias_vector` for that vector)."""
        return float(self.lambdas.double().mean())

    def bias_vector(self, log_prior: torch.Tensor) -> torch.Tensor:
        r""":math:`\bar\lambda\log\pi`, the ensemble's bias per class."""
        lp = torch.as_tensor(log_prior, dtype=torch.float32)
        if lp.dim() != 1:
            raise ValueError(f"log_prior must be a 1-D vector (got shape {tuple(lp.shape)}).")
        return self.bias * as_log_prior(lp, lp.numel(), lp)

    def __repr__(self) -> str:
        lams = ", ".join(f"{v:g}" for v in self.lambdas.tolist())
        return f"BalPoE(lambdas=({lams}), bias={self.bias:g})"

    # -- validation ---------------------------------------------------------------------
    def _expert_logits(self, expert_logits: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(expert_logits) or expert_logits.dim() != 3:
            shape = tuple(expert_logits.shape) if torch.is_tensor(expert_logits) else type(expert_logits)
            raise ValueError(
                f"expert_logits must have shape [E, N, C] with E = {self.num_experts} experts "
                f"(got {shape}); a model built with num_experts={self.num_experts} returns it."
            )
        if expert_logits.shape[0] != self.num_experts:
            raise ValueError(
                f"expert_logits has {expert_logits.shape[0]} experts but this BalPoE has "
                f"{self.num_experts} lambdas {self.lambdas.tolist()}; build the model with "
                f"num_experts={self.num_experts}."
            )
        return as_logits(expert_logits, "expert_logits", ndim=3)

    # -- training -----------------------------------------------------------------------
    def expert_losses(self, expert_logits: torch.Tensor, targets: torch.Tensor,
                      log_prior: torch.Tensor) -> torch.Tensor:
        r"""Per-expert losses :math:`\ell_k = \mathrm{CE}(z_k + \tau_k\log\pi, y)`, shape ``[E]``."""
        z = self._expert_logits(expert_logits)
        lp = as_log_prior(log_prior, z.shape[2], z)
        return torch.stack([
            # l_k = CE(z_k + tau_k log pi, y), tau_k = 1 - lambda_k (Eqs. 5-6)
            logit_adjusted_cross_entropy(z[k], targets, lp, float(self.taus[k]))
            for k in range(self.num_experts)
        ])

    def loss(self, expert_logits: torch.Tensor, targets: torch.Tensor,
             log_prior: torch.Tensor) -> torch.Tensor:
        r"""The BalPoE loss :math:`\frac1M\sum_k \mathrm{CE}(z_k + (1-\lambda_k)\log\pi, y)`
        (paper Eq. 6; a mean over experts). ``targets``: indices ``[N]`` or soft ``[N, C]``."""
        return self.expert_losses(expert_logits, targets, log_prior).mean()  # L = (1/M) sum_k l_k

    # -- inference ----------------------------------------------------------------------
    def aggregate(self, expert_logits: torch.Tensor) -> torch.Tensor:
        r"""The product of experts: the mean of the expert *logits*, :math:`\bar z`, ``[N, C]``."""
        return self._expert_logits(expert_logits).mean(0)  # z_bar = (1/M) sum_k z_k (Eq. 7)

    def adjust_to_prior(self, logits: torch.Tensor, log_prior: torch.Tensor,
                        target_log_prior: torch.Tensor) -> torch.Tensor:
        r"""Aggregated logits moved to a known target prior :math:`\pi^t`:
        :math:`\bar z - \bar\lambda\log\pi + \log\pi^t` (the reference adds
        :math:`\log\pi^t` and assumes :math:`\bar\lambda = 0`)."""
        if not torch.is_tensor(logits) or logits.dim() != 2:
            raise ValueError(
                "logits must be the aggregated logits [N, C] (call `aggregate` on expert logits "
                f"first); got {tuple(logits.shape) if torch.is_tensor(logits) else type(logits)}."
            )
        lp = as_log_prior(log_prior, logits.shape[1], logits)
        tlp = as_log_prior(target_log_prior, logits.shape[1], logits, "target_log_prior")
        return logits - self.bias * lp + tlp  # z_bar - lambda_bar log pi + log pi^t

    def predict(self, expert_logits: torch.Tensor, log_prior: torch.Tensor | None = None,
                target_log_prior: torch.Tensor | None = None) -> torch.Tensor:
        r"""Aggregated logits for the balanced test distribution, or for ``target_log_prior``.

        Balanced (no target): :math:`\bar z`, minus :math:`\bar\lambda\log\pi` when
        ``log_prior`` is given. If :math:`\bar\lambda \neq 0` and no ``log_prior`` is given,
        the prediction is biased toward :math:`\pi^{\bar\lambda}` and a
        `BiasedEnsembleWarning` says so.
        """
        z = self.aggregate(expert_logits)
        if target_log_prior is not None:
            if log_prior is None:
                if abs(self.bias) > 1e-12:
                    raise ValueError(
                        f"mean lambda is {self.bias:g}, not 0: moving to a target prior needs "
                        "log_prior (the training log-prior) to remove the ensemble's bias."
                    )
                log_prior = torch.zeros(z.shape[1])
            return self.adjust_to_prior(z, log_prior, target_log_prior)
        if abs(self.bias) > 1e-12:
            if log_prior is None:
                warnings.warn(
                    f"mean lambda is {self.bias:g}, not 0: the aggregated logits are biased "
                    f"toward prior^{self.bias:g}, so this is not a balanced prediction. Pass "
                    "log_prior to remove the bias, or use lambdas with mean 0.",
                    BiasedEnsembleWarning, stacklevel=2,
                )
                return z
            return z - self.bias * as_log_prior(log_prior, z.shape[1], z)
        return z


class BalPoEMethod:
    r"""BalPoE as a `ltlab.train.fit` method.

    The model must return expert logits ``[E, N, C]`` (build it with
    ``num_experts=len(lambdas)``: `ltlab.models.ResNet32`, `CNN1D` or `MLP`; a one-expert
    model's ``[N, C]`` is accepted for a single λ). The loss is `BalPoE.loss` with the
    training log-prior, mixed by ``batch.mix_loss`` under mixup (so ``fit(...,
    mixup_alpha=0.4)`` is BalPoE with mixup). ``predict`` returns balanced logits, or
    logits for ``target_log_prior`` when it is set (the "known test prior" of Table 3);
    `predict_for_prior` does that for one call. The per-expert losses are logged as
    ``expert_0``, ``expert_1``, ...

    >>> method = BalPoEMethod(lambdas=(1.0, 0.0, -1.0))
    >>> method.balpoe.bias
    0.0
    """

    def __init__(self, lambdas: Sequence[float] = (1.0, 0.0, -1.0), prior: Any = None,
                 counts: Any = None, target_log_prior: torch.Tensor | None = None) -> None:
        self.balpoe = BalPoE(lambdas)
        if prior is not None and counts is not None:
            raise ValueError("give prior= or counts=, not both.")
        self.log_prior: torch.Tensor | None = None
        if prior is not None:
            self.log_prior = log_prior_of(prior)
        elif counts is not None:
            self.log_prior = log_prior_from_counts(counts)
        self.target_log_prior = target_log_prior

    def __repr__(self) -> str:
        return f"BalPoEMethod({self.balpoe!r})"

    def setup(self, model: nn.Module, data: Any, total_steps: int, device: Any) -> None:
        experts = getattr(model, "num_experts", None)
        if experts is not None and experts != self.balpoe.num_experts:
            raise ValueError(
                f"the model has num_experts={experts} but BalPoE has {self.balpoe.num_experts} "
                f"lambdas {self.balpoe.lambdas.tolist()}; build the model with "
                f"num_experts={self.balpoe.num_experts}."
            )
        if self.log_prior is None:
            self.log_prior = log_prior_from_counts(data.train_counts)
        self.log_prior = self.log_prior.to(device)

    def expert_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        z = model(x)
        return z.unsqueeze(0) if z.dim() == 2 else z

    def _lp(self, like: torch.Tensor) -> torch.Tensor:
        if self.log_prior is None:
            raise ValueError(
                "BalPoEMethod has no prior yet: pass prior= or counts=, or train it with "
                "`ltlab.train.fit`, which calls setup(model, data, ...)."
            )
        return self.log_prior.to(like)

    def loss(self, model: nn.Module, batch: Any, step: int):
        z = self.expert_logits(model, batch.x)
        lp = self._lp(z)
        per_expert = batch.mix_loss(lambda y: self.balpoe.expert_losses(z, y, lp))
        terms = {f"expert_{k}": per_expert[k].detach() for k in range(per_expert.numel())}
        return per_expert.mean(), terms

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        z = self.expert_logits(model, x)
        tlp = self.target_log_prior
        return self.balpoe.predict(z, self._lp(z), None if tlp is None else tlp.to(z))

    def predict_for_prior(self, model: nn.Module, x: torch.Tensor,
                          target_log_prior: torch.Tensor) -> torch.Tensor:
        """Aggregated logits adjusted to a known test prior (Table 3, "prior ✓")."""
        z = self.expert_logits(model, x)
        return self.balpoe.predict(z, self._lp(z), torch.as_tensor(target_log_prior).to(z))
