r"""FlexDA: flexible distribution alignment for long-tailed semi-supervised learning.

Sanchez Aimar, Helgesen, Xu, Kuhlmann & Felsberg, *Flexible Distribution Alignment: Towards
Long-tailed Semi-supervised Learning with Proper Calibration* (ADELLO), ECCV 2024; reference
code ``emasa/ADELLO-LTSSL`` (``semilearn/imb_algorithms/adello``).

**The problem.** A labeled set with prior P_L (long-tailed) and an unlabeled set with an
*unknown* prior Q (the same long tail, uniform, or reversed). FixMatch's pseudo-labels
inherit the labeled bias; aligning them to a fixed guess (P_L, or uniform) is wrong whenever
the guess is wrong. Under label shift the best classifier for the unlabeled data is
argmax_y P_L(y|x) Q(y) / P_L(y), while the balanced test wants argmax_y Q(y|x) / Q(y).

**FlexDA's answer** (notation of the paper, names in the code):

* ``q_hat`` = Q̂: an online estimate of Q, the exponential moving average of the batch-mean
  *soft, unadjusted* weak-view predictions, started at uniform (`PriorEstimator`):
  Q̂ <- m Q̂ + (1 - m) mean_b softmax(z_w,b), m = 0.999.
* ``alpha_t`` = alpha_t: a schedule from 1 down to alpha_min (`alpha_schedule`):
  alpha_t = 1 - (1 - alpha_min) (t / T)^ξ, alpha_min = 0.1, ξ = 2 (the paper's d).
* ``q_alpha`` = Q̂_alpha: the smoothed prior Q̂^alpha / sum_j Q̂_j^alpha (`smoothed_prior`):
  the target moves from Q̂ (alpha = 1) toward uniform (alpha = 0).
* Supervised loss (`flexda_supervised_loss`):
  L_s = (1/B) sum_b H(y_b, softmax(z_b + log(P_L / Q̂_alpha))).
* Consistency loss (`flexda_consistency_loss`), hard pseudo-labels yhat and the mask
  M = 1[max p_w >= 0.95] both from the *unadjusted* weak-view probabilities p_w:
  L_u = (1/(mu B)) sum_b M_b H(yhat_b, softmax(z_s,b + log(Q̂ / Q̂_alpha))).
* ADELLO adds the complementary consistency (distillation) loss on the under-confident
  samples (`complementary_consistency_loss`), with the imbalance-aware temperature
  T = exp(KL(U || Q̂)) (`imbalance_temperature`):
  L_uC = (1/(mu B)) sum_b (1 - M_b) H(p_w,b^{1/T}, softmax((z_s,b + log(Q̂ / Q̂_alpha)) / T)).

Every adjustment is log((P + eps) / (Q̂_alpha + eps)) with eps = 1e-9, as in the reference
code, so an empty class gives a large finite bias rather than -inf.

**Where the released configuration differs from the paper** (both paths are offered):

* *Temperature.* The paper infers T = exp(KL(U || Q̂)) once, after a warm-up, and freezes it.
  The released configs never reach that code (``distill_T`` is None), so they distil at
  T = 1. `ltlab.semi_supervised.FlexDA` takes ``temperature="paper"`` (the default: exp-KL,
  computed at the first distillation step, then frozen), ``"released"`` (T = 1), or a number.
* *Labeled copies.* The released configs put every labeled image into the unlabeled stream
  and average the predictions on them into Q̂ too (the masking path exists but is off).
  `PriorEstimator.update` takes a ``mask`` to leave them out; `ltlab.data.ssl_split` builds
  either stream (``include_labeled_in_unlabeled``).

Q̂ is updated from step 0 and the losses at step t use Q̂ as it stood after step t - 1.
Because the raw model is trained toward Q̂_alpha, its mean raw prediction (and hence Q̂)
drifts toward Q̂_alpha as alpha falls: that is how the reference behaves and ltlab keeps it.
`PriorEstimator` also offers the EM-corrected update (``correct="em"``) that re-weights each
prediction to Q̂ first (one stochastic step of Saerens' EM, see `ltlab.label_shift`).

Taught in: notebook 03, driver `ltlab.experiments.flexda` (parts `.profiles`, `.arms`, `.toy`),
exercises `ltlab.exercises.flexda`, figures `ltlab.viz.flexda`, panel `ltlab.widgets.flexda`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validation import (
    as_choice,
    as_fraction,
    as_int,
    as_logits,
    as_positive,
    as_prior,
    as_probs,
    as_targets,
)

__all__ = [
    "PriorEstimator",
    "as_prior_momentum",
    "alpha_schedule",
    "smoothed_prior",
    "flexda_adjustment",
    "flexda_supervised_loss",
    "pseudo_labels",
    "flexda_consistency_loss",
    "complementary_consistency_loss",
    "imbalance_temperature",
]

#: The eps of every adjustment log((P + eps) / (Q̂_alpha + eps)), as in the reference code.
EPS = 1e-9

def _prior(prior, name: str, num_classes: int | None = None) -> torch.Tensor:
    """`as_prior`, detached (priors here are estimates and targets, never trained)."""
    return as_prior(prior, name, num_classes=num_classes).detach()


# ----------------------------------------------------------------------------- the estimate
class PriorEstimator(nn.Module):
    r"""Online estimate Q̂ of the unlabeled class prior (FlexDA, Sec. 3.2 of the paper;
    ``compute_prob`` in the reference code).

    Starts uniform; every `update` folds in the batch mean of soft predictions:

        Q̂ <- m * Q̂ + (1 - m) * mean_b probs_b,   m = ``prior_momentum``.

    ``prior_momentum`` m = 0.999 in the paper (a time constant of 1 / (1 - m) = 1,000 steps);
    short runs need a shorter one. It must lie in [0, 1): m = 1 would freeze Q̂ at uniform.
    ``momentum=`` is accepted as a keyword alias of ``prior_momentum`` (the name of the
    design contract); ``prior_momentum`` keeps it apart from SGD's momentum in `fit`. The
    estimate is a buffer (float64), so it is saved with the method's state. ``correct="em"`` re-weights each prediction from the prior the model was
    trained toward (``source_prior`` of `update`) to the current Q̂ before averaging: one
    stochastic step of Saerens' EM per batch, which removes the drift of the raw estimate
    toward the model's training prior. ``correct=None`` (default) is the reference rule.

    >>> est = PriorEstimator(2, prior_momentum=0.5)
    >>> est.update(torch.tensor([[1.0, 0.0], [1.0, 0.0]])).tolist()
    [0.75, 0.25]
    """

    prior: torch.Tensor

    def __init__(self, num_classes: int, prior_momentum: float = 0.999,
                 correct: str | None = None, *, momentum: float | None = None) -> None:
        super().__init__()
        self.num_classes = as_int(num_classes, "num_classes", minimum=2)
        self.prior_momentum = as_prior_momentum(prior_momentum, momentum)
        self.correct = as_choice(correct, (None, "em"), "correct")
        self.register_buffer("prior", torch.full((num_classes,), 1.0 / num_classes,
                                                 dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def reset(self) -> None:
        """Back to the uniform prior."""
        self.prior.fill_(1.0 / self.num_classes)
        self.steps.zero_()

    @torch.no_grad()
    def update(self, probs: torch.Tensor, mask: torch.Tensor | None = None,
               source_prior: torch.Tensor | None = None) -> torch.Tensor:
        """Fold in one batch of soft predictions ``probs`` ``[N, C]`` (rows sum to 1).

        ``mask``: optional boolean ``[N]``, True for the samples to use (pass
        ``~is_labeled_copy`` to leave labeled copies out); if it keeps none, nothing changes.
        ``source_prior``: the prior the predictions were trained toward (needed by
        ``correct="em"``). Returns the new estimate (a view of the buffer)."""
        p = as_probs(probs, renormalise=True)
        if p.shape[1] != self.num_classes:
            raise ValueError(f"probs has {p.shape[1]} classes, the estimator {self.num_classes}.")
        if mask is not None:
            mask = torch.as_tensor(mask, device=p.device)
            if mask.dtype != torch.bool or mask.shape != (p.shape[0],):
                raise ValueError(f"mask must be a boolean tensor of shape [{p.shape[0]}] "
                                 f"(got {mask.dtype} {tuple(mask.shape)}).")
            p = p[mask]
            if p.shape[0] == 0:
                return self.prior
        if self.correct == "em":
            if source_prior is None:
                raise ValueError("correct='em' needs source_prior (the prior the model was "
                                 "trained toward, e.g. Q̂_alpha for FlexDA).")
            src = _prior(source_prior, "source_prior", self.num_classes)
            w = self.prior.to(p.device) / (src.to(p.device, torch.float64) + EPS)
            p = p * w
            p = p / p.sum(1, keepdim=True).clamp_min(1e-300)
        m = self.prior_momentum
        new = m * self.prior.to(p.device) + (1.0 - m) * p.mean(0)  # Q̂ <- m Q̂ + (1 - m) mean_b p_b
        self.prior.copy_(new / new.sum())
        self.steps += 1
        return self.prior

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, prior_momentum={self.prior_momentum}, "
                f"correct={self.correct}")

    @property
    def momentum(self) -> float:
        """Alias of ``prior_momentum`` (the name of the design contract)."""
        return self.prior_momentum


def as_prior_momentum(prior_momentum: float, momentum: float | None = None) -> float:
    """The EMA factor of Q̂, from ``prior_momentum`` or its keyword alias ``momentum``: a
    number in [0, 1) (1 would freeze the estimate at its uniform start)."""
    name = "prior_momentum"
    if momentum is not None:
        if prior_momentum != 0.999:
            raise ValueError(f"give prior_momentum or its alias momentum, not both (got "
                             f"{prior_momentum!r} and {momentum!r}).")
        prior_momentum, name = momentum, "momentum"
    return as_fraction(prior_momentum, name, "it is the EMA factor of the prior estimate: 0.999 "
                       "is the paper's value, 0.99 suits runs of ~1,000 steps.", high_open=True)


# ----------------------------------------------------------------------------- the schedule
def alpha_schedule(progress: float, alpha_min: float = 0.1, power: float = 2.0) -> float:
    r"""alpha_t = 1 - (1 - alpha_min) * progress^power (FlexDA, Sec. 3.3; the power ξ,
    the paper's d, is ``power``), with progress = t / T in [0, 1]. alpha = 1 at the start
    (align to Q̂), alpha_min at the end (close to balanced).

    >>> alpha_schedule(0.0), round(alpha_schedule(1.0), 12), round(alpha_schedule(0.5), 3)
    (1.0, 0.1, 0.775)
    """
    progress = as_fraction(progress, "progress", "Pass step / total_steps.")
    alpha_min = as_fraction(alpha_min, "alpha_min", "0.1 is the paper's value.")
    power = as_positive(power, "power", "The paper uses 2.")
    return 1.0 - (1.0 - alpha_min) * progress**power  # alpha_t = 1 - (1 - alpha_min) (t/T)^ξ


def smoothed_prior(q_hat, alpha: float) -> torch.Tensor:
    r"""Q̂_alpha = Q̂^alpha / sum_j Q̂_j^alpha (no eps inside the power, as in the reference).

    >>> smoothed_prior(torch.tensor([0.8, 0.2]), 0.0).tolist()
    [0.5, 0.5]
    """
    q = _prior(q_hat, "q_hat")
    alpha = as_fraction(alpha, "alpha", "Take it from `alpha_schedule`.")
    qa = torch.where(q > 0, q.pow(alpha), torch.zeros_like(q)) if alpha > 0 else torch.ones_like(q)
    return qa / qa.sum()  # Q̂_alpha = Q̂^alpha / sum_j Q̂_j^alpha


def flexda_adjustment(current_prior, q_alpha, eps: float = EPS) -> torch.Tensor:
    """The logit adjustment log((P + eps) / (Q̂_alpha + eps)) added to the logits in training."""
    p = _prior(current_prior, "current_prior")
    qa = _prior(q_alpha, "q_alpha", p.numel())
    return torch.log(p.double() + eps) - torch.log(qa.to(p.device).double() + eps)  # log(P / Q̂_a)


# ----------------------------------------------------------------------------- the losses
def flexda_supervised_loss(logits: torch.Tensor, targets: torch.Tensor, labeled_prior,
                           q_alpha) -> torch.Tensor:
    r"""L_s = (1/B) sum_b CE(z_b + log(P_L / Q̂_alpha), y_b) (FlexDA's supervised loss; at
    t = 0, with Q̂ uniform and alpha = 1, the logit-adjusted loss of Menon et al.).

    ``targets``: labels ``[B]`` or soft targets ``[B, C]`` (mixup); both priors have one
    entry per column of ``logits``."""
    as_logits(logits, "logits")
    targets = as_targets(targets, *logits.shape, soft=True)
    c = logits.shape[1]
    adj = flexda_adjustment(_prior(labeled_prior, "labeled_prior", c), _prior(q_alpha, "q_alpha", c))
    return F.cross_entropy(logits + adj.to(logits.device, logits.dtype), targets)  # CE(z + log(P_L/Q̂_a), y)


@torch.no_grad()
def pseudo_labels(logits_weak: torch.Tensor, threshold: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard pseudo-labels and the FixMatch mask from the *unadjusted* weak-view logits:
    yhat = argmax p_w, mask = 1[max p_w >= threshold] (float ``[N]``)."""
    as_logits(logits_weak, "logits_weak")
    threshold = as_fraction(threshold, "threshold", "FixMatch uses 0.95.")
    conf, yhat = torch.softmax(logits_weak.detach().float(), dim=1).max(1)
    return yhat, (conf >= threshold).to(logits_weak.dtype)


def flexda_consistency_loss(logits_strong: torch.Tensor, logits_weak: torch.Tensor, q_hat,
                            q_alpha, threshold: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    r"""L_u = (1/(mu B)) sum_b M_b CE(z_s,b + log(Q̂ / Q̂_alpha), yhat_b).

    yhat and M from `pseudo_labels` on the unadjusted weak logits. The mean runs over *all*
    mu B samples, masked ones included (as ``consistency_loss(...).mean()`` in the reference).
    With Q̂ = Q̂_alpha (alpha = 1) this is FixMatch's loss. Returns ``(loss, mask)``."""
    as_logits(logits_strong, "logits_strong")
    if logits_strong.shape != logits_weak.shape:
        raise ValueError(f"logits_strong {tuple(logits_strong.shape)} and logits_weak "
                         f"{tuple(logits_weak.shape)} must have the same shape.")
    yhat, mask = pseudo_labels(logits_weak, threshold)
    adj = flexda_adjustment(q_hat, q_alpha).to(logits_strong.device, logits_strong.dtype)
    per_sample = F.cross_entropy(logits_strong + adj, yhat, reduction="none")
    return (per_sample * mask).mean(), mask  # (1/(mu B)) sum_b M_b CE(z_s + log(Q̂/Q̂_a), yhat)


def complementary_consistency_loss(logits_strong: torch.Tensor, logits_weak: torch.Tensor,
                                   q_hat, q_alpha, mask: torch.Tensor,
                                   temperature: float = 1.0) -> torch.Tensor:
    r"""ADELLO's complementary consistency (distillation) loss, on the samples FixMatch drops:

    L_uC = (1/(mu B)) sum_b (1 - M_b) H(p~_b, softmax((z_s,b + log(Q̂ / Q̂_alpha)) / T)),
    p~_b = p_w,b^{1/T} / sum_c p_w,b,c^{1/T} (the weak-view softmax, tempered; no gradient).

    H is the soft cross-entropy; ``mask`` is M of `flexda_consistency_loss`."""
    as_logits(logits_strong, "logits_strong")
    if logits_strong.shape != logits_weak.shape:
        raise ValueError("logits_strong and logits_weak must have the same shape.")
    temperature = as_positive(temperature, "temperature",
                              "Take it from `imbalance_temperature`, or 1 as the released configs.")
    mask = torch.as_tensor(mask, device=logits_strong.device)
    if mask.shape != logits_strong.shape[:1]:
        raise ValueError(f"mask must have shape [{logits_strong.shape[0]}] (got {tuple(mask.shape)}).")
    adj = flexda_adjustment(q_hat, q_alpha).to(logits_strong.device, logits_strong.dtype)
    # p_w^{1/T} normalised = softmax(z_w / T)
    teacher = torch.softmax(logits_weak.detach() / temperature, dim=1)
    log_student = torch.log_softmax((logits_strong + adj) / temperature, dim=1)
    per_sample = -(teacher * log_student).sum(1)  # H(p~_b, softmax((z_s + adj) / T))
    return (per_sample * (1.0 - mask.to(per_sample.dtype))).mean()


def imbalance_temperature(q_hat) -> float:
    r"""T = exp(KL(U || Q̂)) = exp(sum_c (1/C) log((1/C) / Q̂_c)) (ADELLO, the paper's
    imbalance-aware temperature; ``F.kl_div(log Q̂, U)`` in the reference, U first).
    T = 1 for a uniform Q̂ and grows with the imbalance.

    >>> imbalance_temperature(torch.tensor([0.5, 0.5]))
    1.0
    """
    q = _prior(q_hat, "q_hat").double()
    if (q <= 0).any():
        raise ValueError("q_hat has zero entries; KL(U || q_hat) is infinite.")
    c = q.numel()
    kl = float((torch.full_like(q, 1.0 / c) * (math.log(1.0 / c) - q.log())).sum())
    return math.exp(kl)  # T = exp(KL(U || Q̂))
