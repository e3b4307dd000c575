r"""Long-tailed semi-supervised learning: FixMatch, FlexDA and ADELLO as `ltlab.train.fit` methods.

**FixMatch** (Sohn et al., NeurIPS 2020, eqs. 1-4). Each step sees B labeled samples and
mu B unlabeled ones (``fit(..., unlabeled_ratio=mu)`` fills ``batch.x_unlabeled``). Every
unlabeled sample gets a weak view omega(u) and a strong view Omega(u); the weak view's
prediction p_w = softmax(f(omega(u))) gives the hard pseudo-label yhat = argmax p_w, kept only
when max p_w >= tau = 0.95:

    L = (1/B) sum_b CE(f(x_b), y_b) + lambda_u (1/(mu B)) sum_b 1[max p_w,b >= tau] CE(f(Omega(u_b)), yhat_b).

Under a long tail the pseudo-labels inherit the labeled bias: tail samples rarely pass the
threshold and, when they do, are often labeled as head classes.

**FlexDA** (`FlexDA`) replaces both terms by their logit-adjusted forms and estimates the
unlabeled prior online (see `ltlab.flexda` for the formulas); **ADELLO** (`ADELLO`) adds the
complementary consistency loss on the samples FixMatch drops. Both follow the reference code
``emasa/ADELLO-LTSSL`` (``DummyClass(ADELLO, FixMatchDistill)``): one forward pass over the
concatenated labeled, weak and strong batches; the estimate is updated from step 0 with the
soft weak-view predictions of the current model; evaluation uses raw logits.

Differences from the reference, all deliberate and small: the evaluated weight average
(``ema``; 0.999 in the reference) and the prior EMA (``momentum``) default to shorter time
constants in quick mode, the strong augmentation of 1-D signals is
`ltlab.augment.signal_strong` (shift, scale, noise, cutout) instead of RandAugment, and the
learning rate of the short CPU run is higher. `compare` runs the notebook's experiment
(three unlabeled profiles x three methods) as one library call, so tests can repeat it for
several seeds; `quick_settings` and `full_settings` hold its sizes.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .augment import image_strong, image_weak, signal_strong, signal_weak
from .data import LTData, label_shift_subset, mnist1d_lt, ssl_split
from .experiments.process_pool import map_tasks
from .flexda import (
    EPS,
    PriorEstimator,
    alpha_schedule,
    complementary_consistency_loss,
    imbalance_temperature,
    pseudo_labels,
    smoothed_prior,
)
from .label_shift import calibrated_probs, em_prior, fit_bias_corrected_temperature
from .metrics import (
    balanced_accuracy,
    expected_calibration_error,
    fit_temperature,
    per_class_accuracy,
    shot_accuracy,
)
from .models import CNN1D
from .priors import kl_divergence
from .train import Batch, fit, predict_logits, resolve_device, seed_everything

__all__ = [
    "image_strong",
    "FixMatch",
    "FlexDA",
    "ADELLO",
    "SSL_METHODS",
    "quick_settings",
    "full_settings",
    "HARD_TO_EASY",
    "reorder_classes",
    "mnist1d_pool",
    "make_ssl_data",
    "true_unlabeled_prior",
    "heldout_split",
    "run_ssl",
    "compare",
]

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _default_views(x: torch.Tensor) -> tuple[Augment, Augment]:
    if x.dim() == 2:
        return signal_weak, signal_strong
    if x.dim() == 4:
        return image_weak, image_strong
    raise ValueError(f"no default augmentations for inputs of shape {tuple(x.shape)}; pass "
                     "weak= and strong= (functions (x, generator) -> x).")


class FixMatch(nn.Module):
    r"""FixMatch (Sohn et al., 2020): supervised CE plus lambda_u times the masked
    consistency CE(f(Omega(u)), yhat), yhat and the mask from the weak view (threshold 0.95),
    averaged over all mu B unlabeled samples. Predicts with the raw logits.

    ``weak`` / ``strong``: view functions ``(x, generator) -> x``; by default
    `ltlab.augment.signal_weak` / `signal_strong` for signals ``[N, L]`` and
    `ltlab.augment.image_weak` / `image_strong` for images. Pass ``augment=`` to `fit` for
    the labeled batch (the reference uses the weak view there). ``ema`` > 0 keeps an
    exponential moving average of the weights, theta_ema <- ema theta_ema + (1 - ema) theta,
    and predicts with it (the reference evaluates such a model, ema = 0.999)."""

    def __init__(self, threshold: float = 0.95, lambda_u: float = 1.0,
                 weak: Augment | None = None, strong: Augment | None = None,
                 ema: float = 0.0) -> None:
        super().__init__()
        if not (isinstance(ema, (int, float)) and 0.0 <= ema < 1.0):
            raise ValueError(f"ema must lie in [0, 1) (got {ema!r}); the reference evaluates an "
                             "EMA of the weights with 0.999, 0 turns it off.")
        self.ema = float(ema)
        self.ema_model: nn.Module | None = None
        if not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
            raise ValueError(f"threshold must lie in [0, 1] (got {threshold!r}); FixMatch uses 0.95.")
        if not (isinstance(lambda_u, (int, float)) and lambda_u >= 0):
            raise ValueError(f"lambda_u must be >= 0 (got {lambda_u!r}).")
        self.threshold = float(threshold)
        self.lambda_u = float(lambda_u)
        self.weak, self.strong = weak, strong
        self.total_steps = 1

    def setup(self, model: nn.Module, data: LTData, total_steps: int, device) -> None:
        if data.x_unlabeled is None:
            raise ValueError(f"{type(self).__name__} needs data with an unlabeled split; build it "
                             "with `ltlab.data.ssl_split` and pass unlabeled_ratio > 0 to fit.")
        if self.weak is None or self.strong is None:
            weak, strong = _default_views(data.x_unlabeled)
            self.weak = self.weak or weak
            self.strong = self.strong or strong
        self.total_steps = max(1, int(total_steps))
        if self.ema > 0:  # a frozen copy: no gradients, so the optimiser leaves it alone
            self.ema_model = copy.deepcopy(model).requires_grad_(False).to(device)

    @torch.no_grad()
    def _update_ema(self, model: nn.Module) -> None:
        """theta_ema <- ema * theta_ema + (1 - ema) * theta (buffers are copied)."""
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
            self.weak, self.strong = _default_views(batch.x_unlabeled)
        self._update_ema(model)
        g = batch.generator
        u = batch.x_unlabeled
        weak, strong = self.weak(u, g), self.strong(u, g)
        b, m = batch.x.shape[0], u.shape[0]
        logits = model(torch.cat([batch.x, weak, strong]))  # one pass, as use_cat=True
        if logits.dim() != 2:
            raise ValueError("semi-supervised methods need a single-head model (logits [N, C]).")
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

    L = L_s + lambda_u L_u (+ lambda_d L_uC with ``distill=True``, i.e. ADELLO), where

    * L_s = CE(z_l + log(P_L / Q̂_alpha), y) (`ltlab.flexda.flexda_supervised_loss`),
    * L_u = mean_b M_b CE(z_s + log(Q̂ / Q̂_alpha), yhat) (`flexda_consistency_loss`),
    * L_uC = mean_b (1 - M_b) H(p_w^{1/T}, softmax((z_s + log(Q̂ / Q̂_alpha)) / T))
      (`complementary_consistency_loss`), from ``distill_start`` x T_max on,

    with alpha_t = `alpha_schedule`(t / T_max, ``alpha_min``, ``power``) and Q̂ the
    `PriorEstimator` (``momentum``), updated after the losses, so step t uses Q̂ of step t-1.

    Options: ``temperature`` = ``"paper"`` (exp(KL(U || Q̂)) at the first distillation step,
    then frozen), ``"released"`` (T = 1, what the released configs run) or a number;
    ``mask_labeled_copies`` leaves labeled copies in the unlabeled stream out of Q̂ (off in
    the released configs); ``estimator_correct="em"`` uses the EM-corrected estimate (see
    `PriorEstimator`); ``unlabeled_prior``: a fixed prior instead of the estimate (the
    reference's ``adello_gt`` oracle when it is the true one, or a wrong guess).
    ``trace_every`` > 0 keeps ``self.trace``: the step, alpha, Q̂ and an EM estimate
    (`ltlab.label_shift.em_prior`, train prior Q̂_alpha) on the last ``trace_window``
    weak-view predictions, every ``trace_every`` steps.
    """

    def __init__(
        self,
        alpha_min: float = 0.1,
        power: float = 2.0,
        momentum: float = 0.999,
        threshold: float = 0.95,
        lambda_u: float = 1.0,
        distill: bool = False,
        lambda_distill: float = 1.0,
        distill_start: float = 0.2,
        temperature: str | float = "paper",
        mask_labeled_copies: bool = False,
        estimator_correct: str | None = None,
        unlabeled_prior: torch.Tensor | None = None,
        trace_every: int = 0,
        trace_window: int = 1024,
        weak: Augment | None = None,
        strong: Augment | None = None,
        ema: float = 0.0,
    ) -> None:
        super().__init__(threshold, lambda_u, weak, strong, ema)
        alpha_schedule(0.5, alpha_min, power)  # validates alpha_min and power
        if not 0.0 <= distill_start <= 1.0:
            raise ValueError(f"distill_start must lie in [0, 1], a fraction of training "
                             f"(got {distill_start!r}); the CIFAR configs start at 50k/262k = 0.19.")
        if not (temperature in ("paper", "released") or (
                isinstance(temperature, (int, float)) and temperature > 0)):
            raise ValueError(f"temperature must be 'paper', 'released' or a positive number "
                             f"(got {temperature!r}).")
        if not isinstance(trace_every, int) or trace_every < 0:
            raise ValueError(f"trace_every must be an int >= 0 (got {trace_every!r}).")
        self.alpha_min, self.power = float(alpha_min), float(power)
        self.distill, self.lambda_distill = bool(distill), float(lambda_distill)
        self.distill_start = float(distill_start)
        self.temperature = temperature
        self.mask_labeled_copies = mask_labeled_copies
        self.trace_every, self.trace_window = trace_every, int(trace_window)
        self.fixed_prior = None if unlabeled_prior is None else smoothed_prior(unlabeled_prior, 1.0)
        self.estimator: PriorEstimator | None = None
        self.momentum, self.estimator_correct = momentum, estimator_correct
        PriorEstimator(2, momentum, estimator_correct)  # validate early
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
        self.estimator = PriorEstimator(c, self.momentum, self.estimator_correct).to(device)
        self.labeled_prior = data.train_prior.double().to(device)
        self.q_alpha = torch.full((c,), 1.0 / c, dtype=torch.float64, device=device)
        self.distill_temperature = torch.tensor(math.nan, dtype=torch.float64, device=device)
        if self.fixed_prior is not None and self.fixed_prior.numel() != c:
            raise ValueError(f"unlabeled_prior has {self.fixed_prior.numel()} classes, data {c}.")
        labeled = set(data.indices.get("labeled", []))
        unl = data.indices.get("unlabeled", [])
        self.is_copy = torch.tensor([i in labeled for i in unl], dtype=torch.bool, device=device) \
            if labeled and len(unl) == data.x_unlabeled.shape[0] else None
        self.trace = {"step": [], "alpha": [], "q_hat": [], "q_hat_em": [], "em": [],
                      "mask_rate": []}
        self._recent = []
        # a second, EM-corrected estimate of the same predictions, for comparison only
        self.shadow = PriorEstimator(c, self.momentum, "em").to(device) if self.trace_every else None

    @property
    def q_hat(self) -> torch.Tensor:
        """The current unlabeled prior used by the losses (the estimate, or the fixed prior)."""
        if self.fixed_prior is not None:
            return self.fixed_prior.to(self.labeled_prior.device)
        if self.estimator is None:
            raise RuntimeError("call setup (fit does) before reading q_hat.")
        return self.estimator.prior

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
        q_alpha = smoothed_prior(q_hat, alpha)
        self.q_alpha = q_alpha
        log_qa = torch.log(q_alpha + EPS)
        # L_s: CE(z + log(P_L / Q_alpha), y)
        adj_s = (torch.log(self.labeled_prior + EPS) - log_qa).to(z_l.dtype)
        sup = batch.mix_loss(lambda y: F.cross_entropy(z_l + adj_s, y))
        # L_u: mask and pseudo-labels from the unadjusted weak view; CE(z_s + log(Q / Q_alpha))
        yhat, mask = pseudo_labels(z_w, self.threshold)
        adj_u = (torch.log(q_hat + EPS) - log_qa).to(z_s.dtype)
        unsup = (F.cross_entropy(z_s + adj_u, yhat, reduction="none") * mask).mean()
        total = sup + self.lambda_u * unsup
        terms = {"supervised": sup.detach(), "consistency": unsup.detach(),
                 "mask_rate": mask.mean(), "alpha": alpha}
        if self.distill and step >= self.distill_start * self.total_steps:
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


# ----------------------------------------------------------------------------- experiments
#: MNIST-1D digits ordered head -> tail so that the confusable pairs sit in the head: a small
#: CNN trained on the balanced pool recognises 9 (46%), 7 (55%), 4 (72%) and 2 (79%) worst,
#: because 9 and 4 are near-copies and so are 7 and 3; 1, 6, 8 and 0 are easy (89-98%).
#: With this order the tail digits can be learned from their few labels (see notebook 03).
HARD_TO_EASY = (9, 4, 7, 3, 2, 5, 1, 6, 8, 0)


def reorder_classes(data: LTData, order: Sequence[int]) -> LTData:
    """Relabel ``data`` so that old class ``order[k]`` becomes class k (class 0 is the head
    of every long-tailed split made from it). ``classes`` keeps the old names."""
    order = [int(c) for c in order]
    if sorted(order) != list(range(data.num_classes)):
        raise ValueError(f"order must be a permutation of 0..{data.num_classes - 1} (got {order}).")
    new_label = torch.empty(data.num_classes, dtype=torch.long)
    new_label[torch.tensor(order)] = torch.arange(data.num_classes)
    return LTData(
        data.x_train, new_label[data.y_train], data.x_test, new_label[data.y_test],
        data.train_counts[torch.tensor(order)], [data.classes[c] for c in order],
        name=f"{data.name}-order{''.join(map(str, order))}", indices=dict(data.indices),
    )


#: many / few thresholds of the shot groups (labeled counts): CIFAR's 100 and 20 leave the
#: few group empty on the quick split (200 down to 20 labels), so few is < 40 here.
SHOTS = (100, 40)


def mnist1d_pool(max_count: int, test_per_class: int) -> LTData:
    """A balanced MNIST-1D pool (`ltlab.data.mnist1d_lt` with ratio 1 and seed 0); its
    signals come from the data layer's on-disk cache (``$LTLAB_CACHE_DIR``)."""
    return mnist1d_lt(imbalance_ratio=1, max_count=max_count, test_per_class=test_per_class,
                      seed=0)


def make_ssl_data(profile: str, labeled_max: int, unlabeled_max: int, imbalance_ratio: float,
                  test_per_class: int = 100, seed: int = 0,
                  class_order: Sequence[int] | None = HARD_TO_EASY,
                  include_labeled_in_unlabeled: bool = False) -> LTData:
    """An MNIST-1D split for long-tailed SSL: the balanced pool of `mnist1d_pool`, classes
    relabeled head -> tail in ``class_order`` (default `HARD_TO_EASY`; None keeps the
    natural order, 0 the head), then `ssl_split` with ``seed`` (labeled head
    ``labeled_max``, unlabeled head ``unlabeled_max``, both with ``imbalance_ratio``)."""
    pool = mnist1d_pool(labeled_max + unlabeled_max, test_per_class)
    if class_order is not None:
        pool = reorder_classes(pool, class_order)
    return ssl_split(pool, labeled_max, unlabeled_max, imbalance_ratio, profile,
                     include_labeled_in_unlabeled=include_labeled_in_unlabeled, seed=seed)


def true_unlabeled_prior(data: LTData) -> torch.Tensor:
    """The (hidden) class prior Q of the unlabeled split, for evaluating estimates only."""
    if data.y_unlabeled is None:
        raise ValueError("data has no unlabeled split; build it with `ssl_split`.")
    counts = torch.bincount(data.y_unlabeled, minlength=data.num_classes).double()
    return (counts / counts.sum()).float()


def heldout_split(data: LTData, q: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint index sets of the balanced test split, never trained on: a balanced
    *calibration* half (labeled held-out source data for `fit_bias_corrected_temperature`)
    and, from the other half, an *estimation* subset whose class proportions follow ``q``
    (`ltlab.data.label_shift_subset`)."""
    g = torch.Generator().manual_seed(seed)
    cal, rest = [], []
    for c in range(data.num_classes):
        idx = torch.nonzero(data.y_test == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        cal.append(idx[: idx.numel() // 2])
        rest.append(idx[idx.numel() // 2 :])
    cal_idx, rest_idx = torch.cat(cal), torch.cat(rest)
    est_idx = rest_idx[label_shift_subset(data.y_test[rest_idx], q, seed=seed)]
    return cal_idx, est_idx


def run_ssl(data: LTData, method: str | FixMatch, *, steps: int, batch_size: int = 32,
            unlabeled_ratio: int = 2, lr: float = 0.03, momentum: float = 0.99,
            channels: int = 32, feature_dim: int = 64, distill_start: float = 0.2,
            weight_decay: float = 5e-4, ema: float = 0.99, trace_every: int = 0, seed: int = 0,
            device: str = "auto",
            **method_kwargs: Any) -> dict[str, Any]:
    """Train one model with one SSL method on ``data`` and measure it.

    Returns balanced accuracy, many / medium / few accuracy (groups by *labeled* counts,
    `SHOTS`: > 100, 40..100, < 40), ECE (15 bins), the fitted temperature, per-class accuracy and the
    last mask rate. For FlexDA / ADELLO also: the final online estimate ``q_hat`` and
    ``kl_to_true_prior`` = KL(q_hat || Q); the EM estimate on held-out predictions
    (`heldout_split`: BCTS-calibrated on a balanced half of the test split, then
    `ltlab.label_shift.em_prior` on a subset of the other half drawn with Q) and
    ``kl_em_to_true_prior``; the same EM without calibration (``kl_em_uncalibrated``); the
    EM-corrected online estimate (``kl_online_em_to_true_prior``, with ``trace_every`` > 0)
    and the training ``trace``. SGD with Nesterov momentum 0.9 at a constant learning rate,
    as in the reference; the labeled batch gets the weak view.
    """
    seed_everything(seed)
    model = CNN1D(data.num_classes, length=data.x_train.shape[1], channels=channels,
                  feature_dim=feature_dim)
    if isinstance(method, str):
        if method not in SSL_METHODS:
            raise ValueError(f"method must be one of {sorted(SSL_METHODS)} (got {method!r}).")
        cls = SSL_METHODS[method]
        method_kwargs = {"ema": ema, **method_kwargs}
        if cls is not FixMatch:
            method_kwargs = {"momentum": momentum, "distill_start": distill_start,
                             "trace_every": trace_every, **method_kwargs}
        method = cls(**method_kwargs)
    history = fit(model, method, data, steps=steps, batch_size=batch_size, lr=lr,
                  weight_decay=weight_decay, schedule="constant", unlabeled_ratio=unlabeled_ratio, augment=signal_weak,
                  eval_every=10**9, device=device, seed=seed, progress=False)
    logits = predict_logits(model, method, data.x_test, device)
    probs = torch.softmax(logits, 1)
    out: dict[str, Any] = {
        "balanced_accuracy": balanced_accuracy(logits, data.y_test, data.num_classes),
        **shot_accuracy(logits, data.y_test, data.train_counts, many=SHOTS[0], few=SHOTS[1]),
        "ece": expected_calibration_error(probs, data.y_test),
        "temperature": fit_temperature(logits, data.y_test),
        "per_class_accuracy": per_class_accuracy(logits, data.y_test, data.num_classes).tolist(),
        "mask_rate": history.last("mask_rate"),
        "seconds": history.seconds,
    }
    if isinstance(method, FlexDA):
        q = true_unlabeled_prior(data)
        q_hat = method.q_hat.detach().cpu().float()
        q_alpha = method.q_alpha.detach().cpu().float()
        cal_idx, est_idx = heldout_split(data, q, seed)
        # EM on held-out predictions: calibrate on the balanced half (BCTS), so the source
        # prior is that half's (uniform) prior, then estimate on the Q-shaped subset
        temp, bias = fit_bias_corrected_temperature(logits[cal_idx], data.y_test[cal_idx])
        cal_prior = torch.bincount(data.y_test[cal_idx], minlength=data.num_classes).float()
        em, _ = em_prior(calibrated_probs(logits[est_idx], temp, bias), cal_prior / cal_prior.sum())
        # the same EM on the raw predictions, with the prior the raw model was trained toward
        em_raw, _ = em_prior(probs[est_idx], q_alpha / q_alpha.sum())
        out.update(
            q_hat=q_hat.tolist(), true_prior=q.tolist(), em_prior=em.tolist(),
            em_prior_uncalibrated=em_raw.tolist(),
            kl_to_true_prior=kl_divergence(q_hat / q_hat.sum(), q),
            kl_em_to_true_prior=kl_divergence(em / em.sum(), q),
            kl_em_uncalibrated=kl_divergence(em_raw / em_raw.sum(), q),
            kl_online_em_to_true_prior=(kl_divergence(method.shadow.prior.cpu().float(), q)
                                        if method.shadow is not None else math.nan),
            trace=method.trace,
        )
    return out


SPLIT_KEYS = ("labeled_max", "unlabeled_max", "imbalance_ratio", "test_per_class", "class_order")


def quick_settings() -> dict[str, Any]:
    """Quick mode (CPU, about 10 s per run on one core); notebook 03 explains the choices.

    The labeled set has 200 down to 20 samples (ratio 10), the unlabeled set 400 down to 40
    (or 400 of every class); 800 steps of 64 labeled + 128 unlabeled signals at a constant
    lr of 0.1 with weight decay 1.5e-4 (the reference's lr x weight decay, 0.03 x 5e-4); the
    weight average and the prior estimate use an EMA of 0.99 (a time constant of 100 steps;
    the reference's 0.999 suits its 262,144 steps)."""
    return dict(
        labeled_max=200, unlabeled_max=400, imbalance_ratio=10, test_per_class=200,
        class_order=HARD_TO_EASY, steps=800, batch_size=64, unlabeled_ratio=2, lr=0.1,
        weight_decay=1.5e-4, momentum=0.99, ema=0.99, channels=32, feature_dim=64,
        distill_start=0.2,
    )


def full_settings() -> dict[str, Any]:
    """Full mode (GPU): a larger split, 8,000 steps, the reference's lr, weight decay and
    EMAs of 0.999, a wider CNN."""
    return dict(
        labeled_max=400, unlabeled_max=1000, imbalance_ratio=20, test_per_class=200,
        class_order=HARD_TO_EASY, steps=8000, batch_size=64, unlabeled_ratio=2, lr=0.03,
        weight_decay=5e-4, momentum=0.999, ema=0.999, channels=64, feature_dim=128,
        distill_start=0.2,
    )


def _run_task(args: tuple) -> dict[str, Any]:
    data, name, kwargs = args
    return run_ssl(data, name, **kwargs)


def compare(
    profiles: Sequence[str] = ("consistent", "uniform", "reversed"),
    methods: Sequence[str] = ("fixmatch", "flexda", "adello"),
    quick: bool = True,
    seed: int = 0,
    device: str = "auto",
    trace_every: int = 40,
    workers: int = 1,
    **overrides: Any,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The notebook-03 experiment: every method on every unlabeled profile, same split and
    seed per profile. Returns ``results[profile][method]`` = the dict of `run_ssl`.
    ``overrides`` replace entries of `quick_settings` / `full_settings`. ``workers`` > 1
    runs the trainings in that many processes (one thread each; CPU only): the results are
    the same as with one worker."""
    settings = {**(quick_settings() if quick else full_settings()), **overrides}
    sizes = {k: settings.pop(k) for k in SPLIT_KEYS if k in settings}
    unknown = set(settings) - set(inspect.signature(run_ssl).parameters)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; see quick_settings().")
    datasets = {p: make_ssl_data(p, seed=seed, **sizes) for p in profiles}
    tasks = [(datasets[p], m, dict(seed=seed, device=device, trace_every=trace_every, **settings))
             for p in profiles for m in methods]
    outputs = map_tasks(_run_task, tasks, workers if resolve_device(device).type == "cpu" else 1)
    results: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in profiles}
    for (data, name, _), out in zip(tasks, outputs):
        results[_profile_of(data, datasets)][name] = out
    return results


def _profile_of(data: LTData, datasets: dict[str, LTData]) -> str:
    return next(p for p, d in datasets.items() if d is data)
