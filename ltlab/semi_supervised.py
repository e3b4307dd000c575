r"""Long-tailed semi-supervised learning: FixMatch, FlexDA and ADELLO as `ltlab.train.fit` methods.

**FixMatch** (Sohn et al., NeurIPS 2020, eqs. 1-4). Each step sees B labeled samples and
mu B unlabeled ones (``fit(..., unlabeled_ratio=mu)`` fills ``batch.x_unlabeled``). Every
unlabeled input x' gets a weak view weak(x') and a strong view strong(x'); the weak view's
prediction p_w = softmax(f(weak(x'))) gives the hard pseudo-label yhat = argmax p_w, kept only
when max p_w >= kappa = 0.95 (the mask M_b):

    L = (1/B) sum_b CE(f(x_b), y_b)
        + zeta_u (1/(mu B)) sum_b 1[max p_w,b >= kappa] CE(f(strong(x'_b)), yhat_b),

with zeta_u the ``lambda_u`` argument (the FixMatch paper's lambda_u; the paper's tau is kappa).
Under a long tail the pseudo-labels inherit the labeled bias: fewer tail samples pass the
threshold than head samples and, when they do, some are labeled as head classes.

**FlexDA** (`FlexDA`) replaces both terms by their logit-adjusted forms and estimates the
unlabeled prior online (see `ltlab.flexda` for the formulas); **ADELLO** (`ADELLO`) adds the
complementary consistency loss on the samples FixMatch drops. Both follow the reference code
``emasa/ADELLO-LTSSL`` (``DummyClass(ADELLO, FixMatchDistill)``): one forward pass over the
concatenated labeled, weak and strong batches; the estimate is updated from step 0 with the
soft weak-view predictions of the current model; evaluation uses raw logits.

Differences from the reference, all deliberate and small: the evaluated weight average
(``ema``; 0.999 in the reference) and the prior EMA (``prior_momentum``) default to shorter
time constants in quick mode, the strong augmentation of 1-D signals is
`ltlab.augment.signal_strong` (shift, scale, noise, cutout) instead of RandAugment, and the
learning rate of the short CPU run is higher. Notebook 03's experiments are
`ltlab.experiments.flexda` (three unlabeled profiles x three methods) and
`ltlab.experiments.flexda.arms` (seven choices of the prior, several seeds).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validation import as_choice, as_fraction, as_int, as_positive
from .augment import image_strong, image_weak, signal_strong, signal_weak
from .data import LTData
from .flexda import (
    PriorEstimator,
    alpha_schedule,
    as_prior_momentum,
    complementary_consistency_loss,
    flexda_consistency_loss,
    flexda_supervised_loss,
    imbalance_temperature,
    pseudo_labels,
    smoothed_prior,
)
from .label_shift import em_prior
from .train import Batch

__all__ = ["FixMatch", "FlexDA", "ADELLO", "SSL_METHODS", "default_views"]

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def default_views(x: torch.Tensor) -> tuple[Augment, Augment]:
    """The weak and strong views for inputs like ``x``: `ltlab.augment.signal_weak` /
    `signal_strong` for signals ``[N, L]``, `image_weak` / `image_strong` for images
    ``[N, C, H, W]``."""
    if x.dim() == 2:
        return signal_weak, signal_strong
    if x.dim() == 4:
        return image_weak, image_strong
    raise ValueError(f"no default augmentations for inputs of shape {tuple(x.shape)}; pass "
                     "weak= and strong= (functions (x, generator) -> x).")


class FixMatch(nn.Module):
    r"""FixMatch (Sohn et al., 2020): supervised CE plus zeta_u (``lambda_u``) times the masked
    consistency CE(f(strong(x')), yhat), yhat and the mask from the weak view (kappa = 0.95),
    averaged over all mu B unlabeled samples. Predicts with the raw logits.

    ``weak`` / ``strong``: view functions ``(x, generator) -> x``; by default
    `ltlab.augment.signal_weak` / `signal_strong` for signals ``[N, L]`` and
    `ltlab.augment.image_weak` / `image_strong` for images. Pass ``augment=`` to `fit` for
    the labeled batch (the reference uses the weak view there). ``ema`` > 0 keeps an
    exponential moving average of the weights, theta_ema <- ema theta_ema + (1 - ema) theta,
    updated by `fit` through the `before_step` hook, and predicts with it (the reference
    evaluates such a model, ema = 0.999)."""

    def __init__(self, threshold: float = 0.95, lambda_u: float = 1.0,
                 weak: Augment | None = None, strong: Augment | None = None,
                 ema: float = 0.0) -> None:
        super().__init__()
        self.ema = as_fraction(ema, "ema", "The reference evaluates an EMA of the weights with "
                               "0.999; 0 turns it off.", high_open=True)
        self.ema_model: nn.Module | None = None
        self.threshold = as_fraction(threshold, "threshold", "FixMatch uses 0.95.")
        self.lambda_u = as_positive(lambda_u, "lambda_u", "FixMatch uses 1.", allow_zero=True)
        self.weak, self.strong = weak, strong
        self.total_steps = 1
        #: optional ``monitor(batch, logits_weak)``, called every step with the detached
        #: weak-view logits (notebook 03 follows the pseudo-labels per true class with it)
        self.monitor: Callable[[Batch, torch.Tensor], None] | None = None

    def setup(self, model: nn.Module, data: LTData, total_steps: int, device) -> None:
        if data.x_unlabeled is None:
            raise ValueError(f"{type(self).__name__} needs data with an unlabeled split; build it "
                             "with `ltlab.data.ssl_split` and pass unlabeled_ratio > 0 to fit.")
        if self.weak is None or self.strong is None:
            weak, strong = default_views(data.x_unlabeled)
            self.weak = self.weak or weak
            self.strong = self.strong or strong
        self.total_steps = max(1, int(total_steps))
        if self.ema > 0:  # a frozen copy: no gradients, so the optimiser leaves it alone
            self.ema_model = copy.deepcopy(model).requires_grad_(False).to(device)

    @torch.no_grad()
    def before_step(self, model: nn.Module, step: int) -> None:
        """`fit`'s hook before each step's loss: theta_ema <- ema * theta_ema + (1 - ema) *
        theta, theta as the previous update left it (buffers are copied)."""
        if self.ema_model is None or not model.training:
            return
        for e, p in zip(self.ema_model.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1.0 - self.ema)
        for e, b in zip(self.ema_model.buffers(), model.buffers()):
            e.copy_(b)

    def _logits(self, model: nn.Module, batch: Batch):
        if batch.x_unlabeled is None:
            raise ValueError(f"{type(self).__name__} got a batch without unlabeled samples; "
                             "call fit(..., unlabeled_ratio=2) on data from `ssl_split`.")
        if self.weak is None or self.strong is None:
            self.weak, self.strong = default_views(batch.x_unlabeled)
        g = batch.generator
        u = batch.x_unlabeled
        weak, strong = self.weak(u, g), self.strong(u, g)
        b, m = batch.x.shape[0], u.shape[0]
        logits = model(torch.cat([batch.x, weak, strong]))  # one pass, as use_cat=True
        if logits.dim() != 2:
            raise ValueError("semi-supervised methods need a single-head model (logits [N, C]).")
        if self.monitor is not None:
            self.monitor(batch, logits[b : b + m].detach())
        return logits[:b], logits[b : b + m], logits[b + m :]

    def loss(self, model: nn.Module, batch: Batch, step: int):
        z_l, z_w, z_s = self._logits(model, batch)
        sup = batch.mix_loss(lambda y: F.cross_entropy(z_l, y))
        yhat, mask = pseudo_labels(z_w, self.threshold)
        unsup = (F.cross_entropy(z_s, yhat, reduction="none") * mask).mean()
        return sup + self.lambda_u * unsup, {
            "supervised": sup.detach(), "consistency": unsup.detach(), "mask_rate": mask.mean()}

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Raw logits, of the weight-averaged model when ``ema`` > 0."""
        return (self.ema_model if self.ema_model is not None else model)(x)


class FlexDA(FixMatch):
    r"""FlexDA on FixMatch (ADELLO paper, Sec. 3; ``adello.py`` of the reference):

    L = L_s + zeta_u L_u (+ zeta_d L_uC with ``distill=True``, i.e. ADELLO), where
    zeta_u = ``lambda_u`` and zeta_d = ``lambda_distill``, and

    * L_s = CE(z_l + log(P_L / Q̂_alpha), y) (`ltlab.flexda.flexda_supervised_loss`),
    * L_u = mean_b M_b CE(z_s + log(Q̂ / Q̂_alpha), yhat) (`flexda_consistency_loss`),
    * L_uC = mean_b (1 - M_b) H(p_w^{1/T}, softmax((z_s + log(Q̂ / Q̂_alpha)) / T))
      (`complementary_consistency_loss`), from ``distill_start`` x t_max on,

    with alpha_t = `alpha_schedule`(t / t_max, ``alpha_min``, ``power``) and Q̂ the
    `PriorEstimator` (``prior_momentum``; ``momentum=`` is its keyword alias), updated after
    the losses, so step t uses Q̂ of step t-1.

    Options: ``temperature`` = ``"paper"`` (exp(KL(U || Q̂)) at the first distillation step,
    then frozen), ``"released"`` (T = 1, what the released configs run) or a number;
    ``mask_labeled_copies`` leaves labeled copies in the unlabeled stream out of Q̂ (off in
    the released configs); ``estimator_correct="em"`` uses the EM-corrected estimate (see
    `PriorEstimator`).

    Two ways to plug in a known prior (both are arms of notebook 03):

    * ``unlabeled_prior`` = Q: the reference's ``adello_gt`` oracle. Q replaces Q̂ only as
      the *alignment target*, Q_alpha = Q^alpha / sum Q^alpha, in both losses; the online
      Q̂ keeps running and stays in the numerator of the consistency adjustment
      log(Q̂ / Q_alpha) and in the temperature exp(KL(U || Q̂)), as in ``adello/utils.py``.
    * ``fixed_prior`` = P: P replaces Q̂ *everywhere* (target, numerator, temperature), so
      the estimate plays no part: distribution alignment to a fixed guess (P_L, uniform).
      It is not the oracle, because the numerator must be the marginal of the model's own
      pseudo-labels (notebook 03).
    ``trace_every`` > 0 keeps ``self.trace``: the step, alpha, Q̂ and an EM estimate
    (`ltlab.label_shift.em_prior`, train prior Q̂_alpha) on the last ``trace_window``
    weak-view predictions, every ``trace_every`` steps.
    """

    def __init__(
        self,
        alpha_min: float = 0.1,
        power: float = 2.0,
        prior_momentum: float = 0.999,
        threshold: float = 0.95,
        lambda_u: float = 1.0,
        distill: bool = False,
        lambda_distill: float = 1.0,
        distill_start: float = 0.2,
        temperature: str | float = "paper",
        mask_labeled_copies: bool = False,
        estimator_correct: str | None = None,
        unlabeled_prior: torch.Tensor | None = None,
        fixed_prior: torch.Tensor | None = None,
        trace_every: int = 0,
        trace_window: int = 1024,
        weak: Augment | None = None,
        strong: Augment | None = None,
        ema: float = 0.0,
        *,
        momentum: float | None = None,
    ) -> None:
        super().__init__(threshold, lambda_u, weak, strong, ema)
        alpha_schedule(0.5, alpha_min, power)  # validates alpha_min and power
        self.alpha_min, self.power = float(alpha_min), float(power)
        self.distill_start = as_fraction(distill_start, "distill_start", "A fraction of training; "
                                         "the CIFAR configs start at 50k/262k = 0.19.")
        if isinstance(temperature, str):
            as_choice(temperature, ("paper", "released"), "temperature")
        else:
            temperature = as_positive(temperature, "temperature",
                                      "Or pass 'paper' (exp(KL(U || Q̂))) or 'released' (1).")
        trace_every = as_int(trace_every, "trace_every", minimum=0)
        self.distill = bool(distill)
        self.lambda_distill = as_positive(lambda_distill, "lambda_distill", allow_zero=True)
        self.temperature = temperature
        self.mask_labeled_copies = mask_labeled_copies
        self.trace_every = trace_every
        self.trace_window = as_int(trace_window, "trace_window", minimum=1)
        if unlabeled_prior is not None and fixed_prior is not None:
            raise ValueError("give unlabeled_prior (the oracle's target) or fixed_prior (a "
                             "prior that replaces Q̂ everywhere), not both.")
        self.target_prior = None if unlabeled_prior is None else smoothed_prior(unlabeled_prior, 1.0)
        self.fixed_prior = None if fixed_prior is None else smoothed_prior(fixed_prior, 1.0)
        self.estimator: PriorEstimator | None = None
        self.prior_momentum = as_prior_momentum(prior_momentum, momentum)  # in [0, 1)
        self.estimator_correct = as_choice(estimator_correct, (None, "em"), "estimator_correct")
        self.register_buffer("labeled_prior", torch.ones(1, dtype=torch.float64))
        self.register_buffer("distill_temperature", torch.tensor(math.nan, dtype=torch.float64))
        self.register_buffer("q_alpha", torch.ones(1, dtype=torch.float64))
        self.is_copy: torch.Tensor | None = None
        self.shadow: PriorEstimator | None = None
        self.trace: dict[str, list] = {}
        self._recent: list[torch.Tensor] = []

    def setup(self, model: nn.Module, data: LTData, total_steps: int, device) -> None:
        super().setup(model, data, total_steps, device)
        c = data.num_classes
        self.estimator = PriorEstimator(c, self.prior_momentum, self.estimator_correct).to(device)
        self.labeled_prior = data.train_prior.double().to(device)
        self.q_alpha = torch.full((c,), 1.0 / c, dtype=torch.float64, device=device)
        self.distill_temperature = torch.tensor(math.nan, dtype=torch.float64, device=device)
        for name, prior in (("unlabeled_prior", self.target_prior), ("fixed_prior", self.fixed_prior)):
            if prior is not None and prior.numel() != c:
                raise ValueError(f"{name} has {prior.numel()} classes, data {c}.")
        labeled = set(data.indices.get("labeled", []))
        unl = data.indices.get("unlabeled", [])
        self.is_copy = torch.tensor([i in labeled for i in unl], dtype=torch.bool, device=device) \
            if labeled and len(unl) == data.x_unlabeled.shape[0] else None
        self.trace = {"step": [], "alpha": [], "q_hat": [], "q_hat_em": [], "em": [],
                      "mask_rate": []}
        self._recent = []
        # a second, EM-corrected estimate of the same predictions, for comparison only
        self.shadow = (PriorEstimator(c, self.prior_momentum, "em").to(device)
                       if self.trace_every else None)

    @property
    def q_hat(self) -> torch.Tensor:
        """The unlabeled prior of the consistency numerator and the temperature: the online
        estimate, or ``fixed_prior`` when one is given."""
        if self.fixed_prior is not None:
            return self.fixed_prior.to(self.labeled_prior.device)
        if self.estimator is None:
            raise RuntimeError("call setup (fit does) before reading q_hat.")
        return self.estimator.prior

    @property
    def alignment_target(self) -> torch.Tensor:
        """The prior whose smoothed form Q̂_alpha the losses align to: ``unlabeled_prior``
        (the oracle), else `q_hat`."""
        if self.target_prior is not None:
            return self.target_prior.to(self.labeled_prior.device)
        return self.q_hat

    def _temperature(self, q_hat: torch.Tensor) -> float:
        if self.temperature == "released":
            return 1.0
        if not isinstance(self.temperature, str):
            return float(self.temperature)
        if math.isnan(float(self.distill_temperature)):  # computed once, then frozen
            self.distill_temperature.fill_(imbalance_temperature(q_hat))
        return float(self.distill_temperature)

    def loss(self, model: nn.Module, batch: Batch, step: int):
        if self.estimator is None:
            raise RuntimeError("FlexDA.setup was not called; train it with ltlab.train.fit.")
        z_l, z_w, z_s = self._logits(model, batch)
        alpha = alpha_schedule(min(1.0, step / self.total_steps), self.alpha_min, self.power)
        q_hat = self.q_hat.clone()  # as it stood after step t - 1
        q_alpha = smoothed_prior(self.alignment_target.clone(), alpha)
        self.q_alpha = q_alpha
        # L_s = CE(z + log(P_L / Q̂_alpha), y), per mixup target
        sup = batch.mix_loss(
            lambda y: flexda_supervised_loss(z_l, y, self.labeled_prior, q_alpha))
        # L_u = mean M CE(z_s + log(Q̂ / Q̂_alpha), yhat); yhat and M from the unadjusted weak view
        unsup, mask = flexda_consistency_loss(z_s, z_w, q_hat, q_alpha, self.threshold)
        total = sup + self.lambda_u * unsup
        terms = {"supervised": sup.detach(), "consistency": unsup.detach(),
                 "mask_rate": mask.mean(), "alpha": alpha}
        if self.distill and step >= self.distill_start * self.total_steps:
            # L_uC on the samples below the threshold, at T = exp(KL(U || Q̂)) (or 1, or given)
            temp = self._temperature(q_hat)
            dist = complementary_consistency_loss(z_s, z_w, q_hat, q_alpha, mask, temp)
            total = total + self.lambda_distill * dist
            terms["distillation"] = dist.detach()
        probs = torch.softmax(z_w.detach().float(), dim=1)
        keep = None
        if self.mask_labeled_copies and self.is_copy is not None and batch.index_unlabeled is not None:
            keep = ~self.is_copy[batch.index_unlabeled]
        self.estimator.update(probs, keep, source_prior=q_alpha)
        if self.shadow is not None:
            self.shadow.update(probs, keep, source_prior=q_alpha)
        if self.trace_every:
            self._record_trace(step, alpha, probs, q_alpha, mask)
        return total, terms

    @torch.no_grad()
    def _record_trace(self, step, alpha, probs, q_alpha, mask) -> None:
        self._recent.append(probs.cpu())
        while sum(p.shape[0] for p in self._recent) - self._recent[0].shape[0] >= self.trace_window:
            self._recent.pop(0)
        last = step == self.total_steps - 1
        if step % self.trace_every and not last:
            return
        window = torch.cat(self._recent)[-self.trace_window:]
        source = q_alpha.detach().cpu().double().clamp_min(1e-12)
        em, _ = em_prior(window, source / source.sum(), max_iter=300, tol=1e-6)
        self.trace["step"].append(step + 1)
        self.trace["alpha"].append(alpha)
        self.trace["q_hat"].append(self.q_hat.detach().cpu().float().tolist())
        if self.shadow is not None:
            self.trace["q_hat_em"].append(self.shadow.prior.detach().cpu().float().tolist())
        self.trace["em"].append(em.tolist())
        self.trace["mask_rate"].append(float(mask.mean()))


class ADELLO(FlexDA):
    """ADELLO = FlexDA + the complementary consistency (distillation) loss
    (``distill=True``; all other arguments as `FlexDA`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("distill", True)
        super().__init__(**kwargs)


SSL_METHODS: dict[str, type[FixMatch]] = {"fixmatch": FixMatch, "flexda": FlexDA, "adello": ADELLO}
