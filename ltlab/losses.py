r"""The logit-adjusted cross-entropy family and the classic long-tail baselines.

**Logit adjustment** (Menon et al., *Long-tail learning via logit adjustment*, ICLR 2021).
Under label shift the Bayes classifier for the *balanced* error is

.. math:: \arg\max_y \; p_{train}(y \mid x) / \pi_y = \arg\max_y \; \log p_{train}(y\mid x) - \log \pi_y ,

with :math:`\pi` the training class prior. Two ways make it learnable:

* **post hoc** (paper Eq. 9): train with plain cross-entropy, then predict with
  ``adjust_logits(z, log_prior, tau)`` = :math:`z - \tau \log \pi` (the bias is *subtracted*);
* **in the loss** (paper Eq. 10): train with ``logit_adjusted_cross_entropy`` =
  :math:`\mathrm{CE}(z + \tau \log \pi, y)` (the bias is *added*) and predict with the raw
  logits :math:`z`. Adding the bias again at test time over-corrects.

With :math:`\tau = 1` the loss is the *balanced softmax* of Ren et al. (NeurIPS 2020),
``balanced_softmax_cross_entropy``.

**Where the epsilon goes (one convention for all of ltlab).** A log-prior is
:math:`\log(\pi + \varepsilon)` with :math:`\varepsilon` = ``LOG_PRIOR_EPS`` = 1e-12, added
to the normalised prior *inside* the log, and :math:`\tau` multiplies it *outside*:
:math:`\tau \log(\pi + \varepsilon)`. For every class with :math:`\pi_y > 0` this agrees
with the Google reference, :math:`\log(\pi^\tau + 10^{-12})`, and with the BalPoE reference,
:math:`\tau \log(\pi + 10^{-9})`, to well under 1e-6. For an *empty* class the three differ
by orders of magnitude; ours gives the finite value :math:`\tau \log 10^{-12} \approx
-27.6\,\tau`, so losses and gradients stay finite (``LTData.log_prior`` uses the same
convention). Build log-priors with `log_prior_of` or `log_prior_from_counts`; a log-prior
holding ``-inf`` is rejected with a message that points there.

**Baselines** a course compares against:

* focal loss (Lin et al., ICCV 2017, Eq. 5): :math:`-(1 - p_y)^\gamma \log p_y`;
* class-balanced loss (Cui et al., CVPR 2019, Eq. 4 and Sec. 3): weights
  :math:`w_y \propto (1 - \beta) / (1 - \beta^{n_y})`, normalised to sum to C;
* LDAM with deferred re-weighting (Cao et al., NeurIPS 2019, Eq. 13 and Alg. 1): margins
  :math:`\Delta_y = c / n_y^{1/4}` subtracted from the true-class cosine, and the
  class-balanced weights switched on late in training.

Every loss takes logits ``[N, C]`` and targets that are either class indices ``[N]`` or soft
targets ``[N, C]`` (rows summing to 1, as mixup produces), and returns the batch mean.

Train-loop *methods* (objects with ``loss(model, batch, step)`` and ``predict(model, x)``,
see `ltlab.train`) wrap each loss: `CrossEntropyPostHoc`, `LogitAdjustedLoss`,
`BalancedSoftmax`, `FocalLoss`, `ClassBalancedLoss`, `LDAMDRW`. Each reads the training
counts from the data in ``setup`` unless given a prior, and mixes its loss under mixup with
``batch.mix_loss``.

>>> import torch
>>> z = torch.tensor([[2.0, 0.0]]); lp = log_prior_of(torch.tensor([0.9, 0.1]))
>>> bool(torch.isclose(logit_adjusted_cross_entropy(z, torch.tensor([1]), lp),
...                    torch.nn.functional.cross_entropy(z + lp, torch.tensor([1]))))
True

Taught in: notebook 01, driver `ltlab.experiments.logit_adjustment`, exercises
`ltlab.exercises.logit_adjustment`, figures `ltlab.viz.logit_adjustment`, panel
`ltlab.widgets.logit_adjustment`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validation import (
    as_choice,
    as_counts,
    as_fraction,
    as_log_prior,
    as_logits,
    as_number,
    as_positive,
    as_prior,
    as_targets,
    as_vector,
)

__all__ = [
    "LOG_PRIOR_EPS", "log_prior_of", "log_prior_from_counts",
    "logit_adjusted_cross_entropy", "adjust_logits", "balanced_softmax_cross_entropy", "focal_loss",
    "class_balanced_weights", "class_balanced_cross_entropy", "ldam_margins", "ldam_loss",
    "CrossEntropyPostHoc", "LogitAdjustedLoss", "BalancedSoftmax", "FocalLoss",
    "ClassBalancedLoss", "LDAMDRW",
]

LOG_PRIOR_EPS = 1e-12


def _logits_and_targets(logits: Any, targets: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``[N, C]`` and class indices ``[N]`` or soft targets ``[N, C]`` that match."""
    logits = as_logits(logits)
    return logits, as_targets(targets, *logits.shape, soft=True)


def _tau(tau: Any) -> float:
    return as_number(tau, "tau", "tau = 1 is the default.")


def _class_vector(values: Any, logits: torch.Tensor, name: str) -> torch.Tensor:
    """One finite entry per class of ``logits``, on their device and dtype."""
    v = as_vector(values, name)
    if v.numel() != logits.shape[1] or not torch.isfinite(v).all():
        raise ValueError(f"{name} must be a finite vector of length {logits.shape[1]}, one entry "
                         f"per class (got {v.tolist()}).")
    return v.to(device=logits.device, dtype=logits.dtype)


def _class_weights(weight: Any, logits: torch.Tensor) -> torch.Tensor:
    w = _class_vector(weight, logits, "weight")
    if (w < 0).any():
        raise ValueError(f"weight must be non-negative (got {w.tolist()}).")
    return w


# ----------------------------------------------------------------------------- log-priors
def log_prior_of(prior: Any, eps: float = LOG_PRIOR_EPS) -> torch.Tensor:
    """log(prior + eps): the log-prior of ltlab's one epsilon convention (see module doc).

    ``prior`` must be a probability vector (non-negative, sums to 1); zeros are allowed and
    give log(eps) ≈ -27.6.

    >>> [round(v, 2) for v in log_prior_of([0.5, 0.5, 0.0]).tolist()]
    [-0.69, -0.69, -27.63]
    """
    p = as_prior(prior).float()
    eps = as_positive(eps, "eps", "ltlab's convention is 1e-12 (`LOG_PRIOR_EPS`).")
    return torch.log(p + eps)


def log_prior_from_counts(counts: Any, eps: float = LOG_PRIOR_EPS) -> torch.Tensor:
    """log(n_y / sum(n) + eps) from per-class training counts (empty classes allowed).

    >>> log_prior_from_counts([3, 1]).exp().tolist()
    [0.75, 0.25]
    """
    c = as_counts(counts, "counts", allow_zero=True)
    return log_prior_of((c / c.sum()).float(), eps)


# ----------------------------------------------------------------------------- losses
def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                        weight: torch.Tensor | None = None) -> torch.Tensor:
    """Batch mean of CE, optionally with per-class weights w: mean_n sum_c t_nc w_c (-log p_nc).

    (Not torch's weighted mean, which divides by the summed weights of the batch.)"""
    logp = F.log_softmax(logits, dim=1)
    t = targets if targets.dim() == 2 else F.one_hot(targets, logits.shape[1]).to(logp.dtype)
    w = 1.0 if weight is None else weight.to(logp)
    return -(t * w * logp).sum(1).mean()


def logit_adjusted_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, log_prior: torch.Tensor, tau: float = 1.0
) -> torch.Tensor:
    r"""Logit-adjusted loss (Menon et al., 2021, Eq. 10): :math:`\mathrm{CE}(z + \tau \log\pi, y)`.

    The bias :math:`\tau\log\pi` is *added* to the logits during training only; evaluate the
    trained model on its raw logits. ``targets``: class indices ``[N]`` or soft ``[N, C]``.
    Returns the batch mean. ``tau = 1`` is `balanced_softmax_cross_entropy`; ``tau = 0``
    is plain cross-entropy.
    """
    logits, targets = _logits_and_targets(logits, targets)
    lp = as_log_prior(log_prior, logits.shape[1], logits)
    return _soft_cross_entropy(logits + _tau(tau) * lp, targets)  # CE(z + tau log pi, y), Eq. 10


def adjust_logits(logits: torch.Tensor, log_prior: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    r"""Post-hoc logit adjustment (Menon et al., 2021, Eq. 9): :math:`z - \tau \log \pi`.

    Use it on a model trained with plain cross-entropy; its argmax estimates the
    balanced-error Bayes classifier :math:`\arg\max_y p(y|x)/\pi_y^\tau`. To move to a known
    test prior :math:`\pi^t` add ``log_prior_of(test_prior)`` afterwards.
    """
    logits = as_logits(logits)
    lp = as_log_prior(log_prior, logits.shape[1], logits)
    return logits - _tau(tau) * lp  # z - tau log pi (Eq. 9)


def balanced_softmax_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, log_prior: torch.Tensor
) -> torch.Tensor:
    r"""Balanced softmax (Ren et al., NeurIPS 2020, Eq. 4):
    :math:`-\log \frac{\pi_y e^{z_y}}{\sum_j \pi_j e^{z_j}} = \mathrm{CE}(z + \log\pi, y)`,
    i.e. the logit-adjusted loss with :math:`\tau = 1`."""
    return logit_adjusted_cross_entropy(logits, targets, log_prior, tau=1.0)


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    r"""Focal loss (Lin et al., ICCV 2017, Eq. 5): :math:`-(1 - p_y)^\gamma \log p_y`.

    Soft targets give :math:`-\sum_c t_c (1 - p_c)^\gamma \log p_c`. ``weight``: optional
    per-class weights ``[C]`` (the :math:`\alpha_t` of the paper, or class-balanced weights).
    ``gamma = 0`` is cross-entropy.
    """
    logits, targets = _logits_and_targets(logits, targets)
    gamma = as_positive(gamma, "gamma", "the paper uses 2.", allow_zero=True)
    logp = F.log_softmax(logits, dim=1)
    t = targets if targets.dim() == 2 else F.one_hot(targets, logits.shape[1]).to(logp.dtype)
    focal = (1 - logp.exp()).clamp_min(0) ** gamma  # (1 - p_y)^gamma of -(1 - p_y)^gamma log p_y
    w = 1.0 if weight is None else _class_weights(weight, logits)
    return -(t * w * focal * logp).sum(1).mean()


def class_balanced_weights(counts: Any, beta: float = 0.9999) -> torch.Tensor:
    r"""Class-balanced weights (Cui et al., CVPR 2019, Sec. 3): with the effective number
    :math:`E_n = (1 - \beta^{n}) / (1 - \beta)`, :math:`w_y = 1 / E_{n_y}`, normalised so that
    :math:`\sum_y w_y = C`. ``beta = 0``: all ones; ``beta -> 1``: inverse frequency.
    An empty class gets weight 0 (it has no samples to weight).

    >>> class_balanced_weights([100, 1], beta=0.0).tolist()
    [1.0, 1.0]
    """
    c = as_counts(counts, "counts", allow_zero=True)
    beta = as_fraction(beta, "beta", "Cui et al. use 0.9999.", high_open=True)
    effective = (1.0 - beta**c) / (1.0 - beta) if beta > 0 else (c > 0).double()
    w = torch.where(c > 0, 1.0 / effective.clamp_min(1e-300), torch.zeros_like(c))  # 1 / E_n
    return (w * c.numel() / w.sum()).float()


def class_balanced_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, counts: Any,
                                 beta: float = 0.9999) -> torch.Tensor:
    r"""Class-balanced softmax CE (Cui et al., 2019, Eq. 4 with softmax):
    :math:`\frac1N \sum_n w_{y_n} \mathrm{CE}(z_n, y_n)` with `class_balanced_weights`."""
    logits, targets = _logits_and_targets(logits, targets)
    w = class_balanced_weights(counts, beta).to(logits)
    if w.numel() != logits.shape[1]:
        raise ValueError(f"counts has {w.numel()} classes but the logits have {logits.shape[1]}.")
    return _soft_cross_entropy(logits, targets, w)


def ldam_margins(counts: Any, max_margin: float = 0.5) -> torch.Tensor:
    r"""LDAM margins (Cao et al., 2019, Eq. 13): :math:`\Delta_y = c / n_y^{1/4}`, with c chosen
    so that the largest margin (the rarest class) is ``max_margin`` (0.5 in the reference)."""
    c = as_counts(counts, "counts")  # an empty class would have an infinite margin
    max_margin = as_positive(max_margin, "max_margin", "the reference uses 0.5.")
    m = 1.0 / c.pow(0.25)  # Delta_y = c / n_y^(1/4)
    return (m * (max_margin / m.max())).float()


def ldam_loss(logits: torch.Tensor, targets: torch.Tensor, margins: torch.Tensor,
              scale: float = 30.0, weight: torch.Tensor | None = None) -> torch.Tensor:
    r"""LDAM loss (Cao et al., 2019, Eq. 13), for logits of a cosine head :math:`z = s\cos`:

    :math:`\mathrm{CE}(z - s\,\Delta_y e_y,\; y)`, i.e. :math:`s(\cos_y - \Delta_y)` for the
    true class and :math:`s\cos_j` for the others (the reference's ``s * (x - m)``).
    ``scale`` is the head's s (30 in ltlab's cosine heads and in the reference).

    ``weight``: optional per-class weights w (deferred re-weighting), reduced as the
    reference (``F.cross_entropy(..., weight=w)``) does, by the weighted mean
    :math:`\sum_n w_{y_n}\mathrm{CE}_n / \sum_n w_{y_n}`. (Earlier ltlab versions divided by N
    instead, which made the re-weighted phase several times weaker than the reference's.)
    Soft targets :math:`t` give :math:`\sum_n\sum_c t_{nc} w_c \mathrm{CE}(z_n - s\Delta_c e_c,
    c) / \sum_n\sum_c t_{nc} w_c`, the same for one-hot rows; without weights, the batch mean.
    """
    logits, targets = _logits_and_targets(logits, targets)
    num_classes = logits.shape[1]
    scale = as_positive(scale, "scale", "it is the cosine head's s (30 in the reference).")
    m = _class_vector(margins, logits, "margins") * scale
    w = torch.ones(num_classes, device=logits.device, dtype=logits.dtype) if weight is None \
        else _class_weights(weight, logits)
    if targets.dim() == 1:
        # z - s Delta_y e_y: s (cos_y - Delta_y) for the true class (Eq. 13)
        shifted = logits - F.one_hot(targets, num_classes).to(logits) * m[targets][:, None]
        ce = F.cross_entropy(shifted, targets, reduction="none")
        return (w[targets] * ce).sum() / w[targets].sum()
    # soft targets: for each candidate class c, the CE with class c's margin applied to column c
    shifted = logits[:, None, :] - torch.diag_embed(m)[None]  # [N, c, j]
    ce = torch.logsumexp(shifted, dim=2) - shifted.diagonal(dim1=1, dim2=2)  # [N, c]
    return (targets * w * ce).sum() / (targets * w).sum()


# ----------------------------------------------------------------------------- methods
class _PriorMethod:
    """Shared plumbing: the training log-prior, from ``prior`` / ``counts`` or from the data
    in ``setup``. ``log_prior`` is set after ``setup`` (or at once when a prior is given)."""

    def __init__(self, prior: Any = None, counts: Any = None) -> None:
        if prior is not None and counts is not None:
            raise ValueError("give prior= or counts=, not both.")
        self.counts = None if counts is None else torch.as_tensor(counts)
        self.log_prior: torch.Tensor | None = None
        if prior is not None:
            self.log_prior = log_prior_of(prior)
        elif counts is not None:
            self.log_prior = log_prior_from_counts(counts)

    def setup(self, model: nn.Module, data: Any, total_steps: int, device: Any) -> None:
        if self.counts is None:
            self.counts = torch.as_tensor(data.train_counts)
        if self.log_prior is None:
            self.log_prior = log_prior_from_counts(self.counts)
        self.log_prior = self.log_prior.to(device)

    def _lp(self, like: torch.Tensor) -> torch.Tensor:
        if self.log_prior is None:
            raise ValueError(
                f"{type(self).__name__} has no prior yet: pass prior= or counts=, or train it "
                "with `ltlab.train.fit`, which calls setup(model, data, ...)."
            )
        return self.log_prior.to(like)

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)

    def __repr__(self) -> str:
        keys = [k for k in ("tau", "gamma", "beta", "max_margin", "drw_start") if hasattr(self, k)]
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)}' for k in keys)})"


class CrossEntropyPostHoc(_PriorMethod):
    r"""Train with plain CE, predict :math:`z - \tau\log\pi` (post-hoc logit adjustment,
    Menon et al., 2021, Eq. 9). ``raw_logits(model, x)`` gives the unadjusted CE logits,
    so one trained model serves both the CE and the post-hoc rows of a table.

    The prior must have no zero entry: the rule divides by pi_y, and an empty class's
    log(pi + eps) = -27.6 would add +27.6 tau to its logit and win every prediction. Smooth
    the counts ((counts + 1) / (N + C)) or drop the class."""

    def __init__(self, tau: float = 1.0, prior: Any = None, counts: Any = None) -> None:
        if prior is not None:
            as_prior(prior, positive=True)
        if counts is not None:
            as_counts(counts, "counts")  # refuses empty classes, see the docstring
        super().__init__(prior, counts)
        self.tau = _tau(tau)

    def setup(self, model: nn.Module, data: Any, total_steps: int, device: Any) -> None:
        if self.counts is None and self.log_prior is None:
            as_counts(data.train_counts, "data.train_counts")  # no empty class, see above
        super().setup(model, data, total_steps, device)

    def loss(self, model: nn.Module, batch: Any, step: int) -> torch.Tensor:
        logits = model(batch.x)
        return batch.mix_loss(lambda y: F.cross_entropy(logits, y))

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        z = model(x)
        return adjust_logits(z, self._lp(z), self.tau)

    def raw_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)


class LogitAdjustedLoss(_PriorMethod):
    r"""Train with :math:`\mathrm{CE}(z + \tau\log\pi, y)` (Menon et al., 2021, Eq. 10) and
    predict the raw logits :math:`z` (no adjustment at test time)."""

    def __init__(self, tau: float = 1.0, prior: Any = None, counts: Any = None) -> None:
        super().__init__(prior, counts)
        self.tau = _tau(tau)

    def loss(self, model: nn.Module, batch: Any, step: int) -> torch.Tensor:
        logits = model(batch.x)
        lp = self._lp(logits)
        return batch.mix_loss(lambda y: logit_adjusted_cross_entropy(logits, y, lp, self.tau))


class BalancedSoftmax(LogitAdjustedLoss):
    """Balanced softmax (Ren et al., 2020): `LogitAdjustedLoss` with tau = 1."""

    def __init__(self, prior: Any = None, counts: Any = None) -> None:
        super().__init__(1.0, prior, counts)


class FocalLoss(_PriorMethod):
    r"""Train with the focal loss :math:`-(1-p_y)^\gamma \log p_y` (Lin et al., 2017), predict
    the raw logits."""

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = as_positive(gamma, "gamma", "the paper uses 2.", allow_zero=True)

    def setup(self, model: nn.Module, data: Any, total_steps: int, device: Any) -> None:
        pass

    def loss(self, model: nn.Module, batch: Any, step: int) -> torch.Tensor:
        logits = model(batch.x)
        return batch.mix_loss(lambda y: focal_loss(logits, y, self.gamma))


class ClassBalancedLoss(_PriorMethod):
    r"""Class-balanced loss (Cui et al., 2019): per-class weights from the effective number
    of samples, on softmax CE (``base="ce"``) or on the focal loss (``base="focal"``)."""

    def __init__(self, beta: float = 0.9999, base: str = "ce", gamma: float = 2.0,
                 counts: Any = None) -> None:
        super().__init__(counts=counts)
        as_choice(base, ("ce", "focal"), "base")
        as_fraction(beta, "beta", "Cui et al. use 0.9999.", high_open=True)
        as_positive(gamma, "gamma", "the paper uses 2.", allow_zero=True)
        self.beta, self.base, self.gamma = float(beta), base, float(gamma)
        self.weight: torch.Tensor | None = None
        if counts is not None:
            self.weight = class_balanced_weights(counts, beta)

    def setup(self, model: nn.Module, data: Any, total_steps: int, device: Any) -> None:
        super().setup(model, data, total_steps, device)
        self.weight = class_balanced_weights(self.counts, self.beta).to(device)

    def loss(self, model: nn.Module, batch: Any, step: int) -> torch.Tensor:
        logits = model(batch.x)
        w = self.weight.to(logits)
        if self.base == "focal":
            return batch.mix_loss(lambda y: focal_loss(logits, y, self.gamma, w))
        return batch.mix_loss(lambda y: _soft_cross_entropy(logits, y, w))


class LDAMDRW(_PriorMethod):
    r"""LDAM loss with deferred re-weighting (Cao et al., 2019, Alg. 1).

    Loss :math:`\mathrm{CE}(z - s\Delta_y e_y, y)` (`ldam_loss`), unweighted for the first
    ``drw_start`` fraction of the steps, then weighted by `class_balanced_weights` with
    ``beta`` (the reference: epoch 160 of 200, i.e. 0.8, and beta = 0.9999). Use a model
    with a cosine head (``cosine=True``, scale 30) as the reference does. Predicts the raw
    logits.
    """

    def __init__(self, max_margin: float = 0.5, scale: float = 30.0, drw_start: float = 0.8,
                 beta: float = 0.9999, counts: Any = None) -> None:
        super().__init__(counts=counts)
        as_fraction(drw_start, "drw_start", "it is the fraction of training before re-weighting.")
        as_positive(max_margin, "max_margin", "the reference uses 0.5.")
        as_positive(scale, "scale", "it is the cosine head's s (30 in the reference).")
        as_fraction(beta, "beta", "the reference uses 0.9999.", high_open=True)
        self.max_margin, self.scale, self.drw_start, self.beta = max_margin, scale, drw_start, beta
        self.total_steps = 0
        if counts is not None:
            self._build()

    def _build(self) -> None:
        self.margins = ldam_margins(self.counts, self.max_margin)
        self.weight = class_balanced_weights(self.counts, self.beta)

    def setup(self, model: nn.Module, data: Any, total_steps: int, device: Any) -> None:
        super().setup(model, data, total_steps, device)
        self.total_steps = total_steps
        self._build()
        self.margins, self.weight = self.margins.to(device), self.weight.to(device)

    def loss(self, model: nn.Module, batch: Any, step: int) -> torch.Tensor:
        logits = model(batch.x)
        reweight = step >= int(self.drw_start * self.total_steps)
        w = self.weight if reweight else None
        return batch.mix_loss(lambda y: ldam_loss(logits, y, self.margins, self.scale, w))
