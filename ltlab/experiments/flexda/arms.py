r"""Notebook 03, part 2, the demonstration setting: which prior should the pseudo-labels be aligned to?

Seven *arms* on the same split and seed (`ARMS`), each a method of `ltlab.semi_supervised`:

* ``fixmatch``: FixMatch, raw predictions;
* ``fixmatch_la``: the same trained model, predicting with z - log P_L (post-hoc logit
  adjustment, the cheap balancing baseline; no extra training);
* ``flexda``: FlexDA with the online estimate Q̂;
* ``flexda_fixed_labeled``: FlexDA with Q̂ replaced everywhere by the labeled prior P_L
  (``fixed_prior``; distribution alignment to a fixed, here wrong, guess);
* ``flexda_uniform``: the same with the uniform prior u;
* ``flexda_oracle``: the reference's ``adello_gt``: the true Q as the alignment target, the
  online Q̂ in the consistency numerator and the temperature (``unlabeled_prior``);
* ``adello``: FlexDA + the complementary consistency (distillation) loss.

The setting (`arms_settings`) is harsh on purpose: a labeled set whose tail has a handful of
labels per class (ratio 50), an unlabeled set several times larger with the *reversed*
profile (the labeled tail is the unlabeled head), a small 1-D CNN trained for a few hundred
steps. `compare_arms` runs every arm on several seeds (the seeds share nothing but the pool)
and `recorded_arms_results` gives the per-arm means with 95 % t-intervals and the paired
differences.
`PseudoLabelMonitor` follows the pseudo-labels per true class during training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...augment import signal_weak
from ...data import GaussianMixtureLT, LTData, ssl_split
from ...metrics import (
    balanced_accuracy,
    mean_interval,
    paired_interval,
    per_class_accuracy,
    summary,
)
from ...models import CNN1D, MLP
from ...priors import kl_divergence
from ...semi_supervised import ADELLO, FixMatch, FlexDA
from ...train import fit, predict_logits, resolve_device, seed_everything
from ..process_pool import map_tasks
from ..protocol import FitOptions
from .profiles import HARD_TO_EASY, mnist1d_pool, reorder_classes, true_unlabeled_prior

__all__ = [
    "ARMS",
    "ArmsComparison",
    "ArmsSettings",
    "PseudoLabelMonitor",
    "TRAINED",
    "arms_settings",
    "bayes_balanced_accuracy",
    "compare_arms",
    "make_arm",
    "noise_view",
    "recorded_arms_results",
    "run_arm",
]

#: The arms, in the order of notebook 03's table.
ARMS = ("fixmatch", "fixmatch_la", "flexda", "flexda_fixed_labeled", "flexda_uniform",
        "flexda_oracle", "adello")

#: Arms that need their own training (``fixmatch_la`` reuses ``fixmatch``'s model), and
#: ``flexda_fixed_true``: the true Q replacing Q̂ *everywhere* (ltlab's oracle before it
#: matched the reference; kept to show why that oracle loses).
TRAINED = tuple(a for a in ARMS if a != "fixmatch_la") + ("flexda_fixed_true",)

#: The settings that size the split; the others go to `run_arm`.
SPLIT_KEYS = ("data", "profile", "labeled_max", "unlabeled_max", "imbalance_ratio",
              "unlabeled_imbalance_ratio", "test_per_class", "dim", "radius")


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class ArmsSettings:
    """The demonstration setting (notebook 03 justifies it): ten Gaussian classes in 8-D
    (means at norm ``radius``, unit covariance: the balanced Bayes rule is right about 85 %
    of the time); labeled 300 down to 6 per class (ratio 50); unlabeled 150 up to 1,500 per
    class with the reversed profile (ratio 50); an MLP with two hidden layers of ``hidden``;
    ``fit``: 400 Adam steps on all labeled points plus twice as many unlabeled ones; Q̂
    with ``prior_momentum`` 0.98; ``seeds``: how many seeds `compare_arms` runs.
    ``data="mnist1d"`` runs the same arms on MNIST-1D signals with a 1-D CNN
    (``channels``; slower and, at this budget, much noisier: see notebook 03's "For
    researchers"). ``monitor_every`` > 0 records the pseudo-label curves on the first seed."""

    data: str = "mixture"
    profile: str = "reversed"
    labeled_max: int = 300
    unlabeled_max: int = 1500
    imbalance_ratio: float = 50
    unlabeled_imbalance_ratio: float | None = 50
    test_per_class: int = 300
    dim: int = 8
    radius: float = 2.5
    fit: FitOptions = FitOptions(batch_size=1024, lr=0.01, weight_decay=0.0, extra=(
        ("steps", 400), ("unlabeled_ratio", 2), ("optimizer", "adam"), ("schedule", "constant")))
    prior_momentum: float = 0.98
    ema: float = 0.99
    hidden: int = 64
    channels: int = 16
    feature_dim: int = 64
    view_noise: tuple[float, float] = (0.1, 0.5)
    distill_start: float = 0.2
    seeds: int = 5
    arms: tuple[str, ...] = ARMS + ("flexda_fixed_true",)
    monitor_every: int = 10

    def split(self) -> dict[str, Any]:
        """The keywords of the split (`SPLIT_KEYS`)."""
        return {k: getattr(self, k) for k in SPLIT_KEYS}

    def legacy(self) -> dict[str, Any]:
        """The flat dict of ltlab before the protocol (what the full-size settings hash
        covers, so the committed records stay valid)."""
        extra = dict(self.fit.extra)
        return dict(**self.split(), steps=extra["steps"], batch_size=self.fit.batch_size,
                    unlabeled_ratio=extra["unlabeled_ratio"], lr=self.fit.lr,
                    optimizer=extra["optimizer"], weight_decay=self.fit.weight_decay,
                    momentum=self.prior_momentum, ema=self.ema, hidden=self.hidden,
                    channels=self.channels, feature_dim=self.feature_dim,
                    view_noise=self.view_noise, distill_start=self.distill_start,
                    seeds=self.seeds)


def arms_settings(quick: bool = True) -> ArmsSettings:
    """Quick: 5 seeds of 400 Adam steps at lr 0.01; full: twice the steps at half the lr
    (the same lr x steps), EMA 0.995, 10 seeds.

    >>> arms_settings().seeds, arms_settings(quick=False).fit.lr
    (5, 0.005)
    """
    if quick:
        return ArmsSettings()
    return ArmsSettings(
        fit=FitOptions(batch_size=1024, lr=0.005, weight_decay=0.0, extra=(
            ("steps", 800), ("unlabeled_ratio", 2), ("optimizer", "adam"),
            ("schedule", "constant"))),
        ema=0.995, seeds=10)


# ----------------------------------------------------------------------------- views, monitor
def noise_view(std: float):
    """A view function ``(x, generator) -> x + std * noise`` for points (no shifts)."""

    def view(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return x + std * torch.randn(x.shape, generator=g, device=x.device)

    return view



class PseudoLabelMonitor:
    """Follows FixMatch-style pseudo-labels per *true* class (the unlabeled labels are known
    here, never to the method). Set as ``method.monitor``; every ``every`` steps it stores,
    per true class c, over the samples of c seen since the last record:

    * ``mask_rate``: the fraction that passed the threshold (got a pseudo-label);
    * ``recall``: the fraction that passed with the right label;
    * ``precision``: of the samples pseudo-labeled c, the fraction truly of class c (NaN when
      none was);
    * ``discarded_correct``: of the samples below the threshold, the fraction whose argmax is
      right (what a loss on the discarded samples, as ADELLO's distillation, can use);

    and the method's current estimate ``q_hat`` (when it has one)."""

    def __init__(self, y_unlabeled: torch.Tensor, num_classes: int, threshold: float,
                 every: int, q_hat=None) -> None:
        self.y = y_unlabeled.long().cpu()
        self.c, self.threshold, self.every = num_classes, float(threshold), max(1, int(every))
        self.q_hat = q_hat
        self.calls = 0
        self.curves: dict[str, list] = {k: [] for k in ("step", "mask_rate", "recall",
                                                        "precision", "discarded_correct",
                                                        "q_hat")}
        self._reset()

    def _reset(self) -> None:
        z = torch.zeros(self.c, dtype=torch.float64)
        self.seen, self.passed, self.right = z.clone(), z.clone(), z.clone()
        self.labeled_as, self.dropped, self.dropped_right = z.clone(), z.clone(), z.clone()

    @torch.no_grad()
    def __call__(self, batch, logits_weak: torch.Tensor) -> None:
        if batch.index_unlabeled is None:
            return
        y = self.y[batch.index_unlabeled.cpu()]
        conf, yhat = torch.softmax(logits_weak.float().cpu(), 1).max(1)
        ok, hit = conf >= self.threshold, yhat == y

        def count(labels, keep):
            return torch.bincount(labels[keep], minlength=self.c).double()

        everyone = torch.ones_like(ok)
        self.seen += count(y, everyone)
        self.passed += count(y, ok)
        self.right += count(y, ok & hit)
        self.labeled_as += count(yhat, ok)
        self.dropped += count(y, ~ok)
        self.dropped_right += count(y, ~ok & hit)
        self.calls += 1
        if self.calls % self.every == 0:
            self._record()

    def _record(self) -> None:
        def ratio(a, b):
            return torch.where(b > 0, a / b.clamp_min(1), torch.full_like(a, math.nan)).tolist()

        self.curves["step"].append(self.calls)
        self.curves["mask_rate"].append(ratio(self.passed, self.seen))
        self.curves["recall"].append(ratio(self.right, self.seen))
        self.curves["precision"].append(ratio(self.right, self.labeled_as))
        self.curves["discarded_correct"].append(ratio(self.dropped_right, self.dropped))
        q = self.q_hat() if callable(self.q_hat) else None
        self.curves["q_hat"].append(None if q is None else q.detach().cpu().double().tolist())
        self._reset()


# ----------------------------------------------------------------------------- one arm
def make_arm(arm: str, data: LTData, *, prior_momentum: float = 0.99, ema: float = 0.99,
             distill_start: float = 0.2, **method_kwargs: Any) -> FixMatch:
    """The method of one trained arm (`TRAINED`) for ``data`` (the oracle reads the true
    unlabeled prior from it)."""
    if arm not in TRAINED:
        raise ValueError(f"arm must be one of {TRAINED} (got {arm!r}); 'fixmatch_la' is "
                         "'fixmatch' predicting with z - log P_L.")
    if arm == "fixmatch":  # FlexDA's own options (alpha_min, power, ...) do not apply
        keep = {k: v for k, v in method_kwargs.items()
                if k in ("threshold", "lambda_u", "weak", "strong")}
        return FixMatch(ema=ema, **keep)
    flex = dict(prior_momentum=prior_momentum, ema=ema, distill_start=distill_start,
                **method_kwargs)
    c = data.num_classes
    prior = {"flexda_fixed_labeled": dict(fixed_prior=data.train_prior),
             "flexda_fixed_true": dict(fixed_prior=true_unlabeled_prior(data)),
             "flexda_uniform": dict(fixed_prior=torch.full((c,), 1.0 / c)),
             "flexda_oracle": dict(unlabeled_prior=true_unlabeled_prior(data))}.get(arm, {})
    return (ADELLO if arm == "adello" else FlexDA)(**flex, **prior)


def _evaluate(logits: torch.Tensor, data: LTData) -> dict[str, Any]:
    s = summary(logits, data.y_test, data.train_counts, many=100, few=20)
    return {"balanced_accuracy": s["balanced_accuracy"], "ece": s["ece"],
            "per_class_accuracy": per_class_accuracy(logits, data.y_test,
                                                     data.num_classes).tolist()}


def run_arm(data: LTData, arm: str, settings: ArmsSettings | None = None, *,
            monitor_every: int = 0, seed: int = 0, device: str = "auto",
            **method_kwargs: Any) -> dict[str, Any]:
    """Train one arm on ``data`` (``settings``: the model, the method's EMAs and ``fit``'s
    options; default `arms_settings`) and measure it on the balanced test split. Points
    ``[N, D]`` of a mixture (``data.name`` starts with "gaussian") get an MLP with two
    ``hidden`` layers and Gaussian-noise views of std ``view_noise`` (weak, strong); signals
    get `ltlab.models.CNN1D` (``channels``, ``feature_dim``) with the signal views, the
    labeled batch the weak one. Returns ``balanced_accuracy``, ``ece`` (15 bins),
    ``per_class_accuracy``; for ``"fixmatch"`` also ``"post_hoc_la"``, the same measures of
    z - log P_L (the ``fixmatch_la`` arm); for FlexDA arms ``q_hat`` and KL(Q̂ || Q);
    with ``monitor_every`` > 0 the `PseudoLabelMonitor` curves (``"pseudo_labels"``)."""
    s = settings or arms_settings()
    hidden, view_noise = s.hidden, s.view_noise
    seed_everything(seed)
    points = data.name.startswith("gaussian")
    if points:
        model = MLP(data.x_train.shape[1], data.num_classes, hidden=(hidden, hidden))
        views = dict(weak=noise_view(view_noise[0]), strong=noise_view(view_noise[1]))
    else:
        model = CNN1D(data.num_classes, length=data.x_train.shape[1], channels=s.channels,
                      feature_dim=s.feature_dim)
        views = {}
    method = make_arm(arm, data, prior_momentum=s.prior_momentum, ema=s.ema,
                      distill_start=s.distill_start, **views, **method_kwargs)
    monitor = None
    if monitor_every:
        monitor = PseudoLabelMonitor(data.y_unlabeled, data.num_classes, method.threshold,
                                     monitor_every)
        if isinstance(method, FlexDA):
            monitor.q_hat = lambda: method.estimator.prior
        method.monitor = monitor
    fit(model, method, data, augment=None if points else signal_weak, eval_every=10**9,
        device=device, seed=seed, progress=False, **s.fit.as_kwargs())
    logits = predict_logits(model, method, data.x_test, device)
    out = _evaluate(logits, data)
    out["labeled_counts"] = data.train_counts.tolist()
    if arm == "fixmatch":
        out["post_hoc_la"] = _evaluate(logits - data.train_prior.log().to(logits), data)
    if isinstance(method, FlexDA):
        q = true_unlabeled_prior(data)
        q_hat = method.estimator.prior.detach().cpu().float()
        out.update(q_hat=q_hat.tolist(), kl_to_true_prior=kl_divergence(q_hat, q))
    if monitor is not None:
        out["pseudo_labels"] = monitor.curves
    return out


# ----------------------------------------------------------------------------- the comparison
def _split(seed: int, data: str, profile: str, labeled_max: int, unlabeled_max: int,
           imbalance_ratio: float, unlabeled_imbalance_ratio: float | None,
           test_per_class: int, dim: int, radius: float) -> LTData:
    """The split of one seed: a fresh draw of the mixture (means fixed) or a fresh split of
    the MNIST-1D pool (`ltlab.experiments.flexda.mnist1d_pool`, digits in `HARD_TO_EASY`)."""
    if data == "mixture":
        gm = GaussianMixtureLT(num_classes=10, dim=dim, imbalance_ratio=1,
                               max_count=labeled_max + unlabeled_max, radius=radius, seed=0)
        pool = gm.dataset(test_per_class=test_per_class, seed=1000 + seed)
    elif data == "mnist1d":
        pool = reorder_classes(mnist1d_pool(labeled_max + unlabeled_max, test_per_class),
                               HARD_TO_EASY)
    else:
        raise ValueError(f"data must be 'mixture' or 'mnist1d' (got {data!r}).")
    return ssl_split(pool, labeled_max, unlabeled_max, imbalance_ratio, profile,
                     unlabeled_imbalance_ratio=unlabeled_imbalance_ratio, seed=seed)


def bayes_balanced_accuracy(settings: ArmsSettings | None = None, seed: int = 0) -> float:
    """Balanced accuracy of the balanced Bayes rule argmax_y p(x | y) on the test split of
    the mixture setting (the ceiling of every arm; default `arms_settings`)."""
    s = settings or arms_settings()
    data = _split(seed, **s.split())
    gm = GaussianMixtureLT(num_classes=10, dim=s.dim, imbalance_ratio=1, radius=s.radius,
                           seed=0)
    return balanced_accuracy(gm.log_likelihood(data.x_test), data.y_test, data.num_classes)


@dataclass
class ArmsComparison:
    """What `compare` returns: ``results[arm]`` is a list (one per seed) of `run_arm` dicts
    (``fixmatch_la`` holds the post-hoc measures of the ``fixmatch`` model); ``seeds``."""

    results: dict[str, list[dict[str, Any]]]
    seeds: list[int]

    def values(self, arm: str, key: str = "balanced_accuracy") -> list[float]:
        """``key`` of ``arm`` on every seed."""
        return [float(r[key]) for r in self.results[arm]]

    def rows(self) -> list[dict[str, Any]]:
        """One row per arm: mean balanced accuracy and ECE with their 95 % intervals, and the
        paired difference to FixMatch."""
        rows = []
        for arm in self.results:
            acc, ece = mean_interval(self.values(arm)), mean_interval(self.values(arm, "ece"))
            diff = paired_interval(self.values(arm), self.values("fixmatch"))
            rows.append({"arm": arm, "balanced_accuracy": acc["mean"], "ci_low": acc["ci_low"],
                         "ci_high": acc["ci_high"], "ece": ece["mean"],
                         "minus_fixmatch": diff["mean"], "minus_fixmatch_low": diff["ci_low"],
                         "minus_fixmatch_high": diff["ci_high"]})
        return rows


def _run_task(args: tuple) -> dict[str, Any]:
    data, arm, settings, kwargs = args
    return run_arm(data, arm, settings, **kwargs)


def compare_arms(settings: ArmsSettings | None = None, *, seeds: Sequence[int] | None = None,
                 device: str = "auto", workers: int = 1) -> ArmsComparison:
    """Every arm of ``settings`` (default `arms_settings`) on every seed (split and model
    seeded alike per seed). ``seeds`` defaults to ``range(settings.seeds)``;
    ``settings.monitor_every`` > 0 records the pseudo-label curves on the first seed.
    ``workers`` > 1 trains in that many processes (CPU only; same results)."""
    s = settings or arms_settings()
    if not isinstance(s, ArmsSettings):
        raise TypeError(f"settings must be an ArmsSettings (got {type(s).__name__}); "
                        "see arms_settings().")
    seeds = list(range(s.seeds)) if seeds is None else [int(x) for x in seeds]
    arms = tuple(s.arms)
    unknown = [a for a in arms if a not in ARMS + ("flexda_fixed_true",)]
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; choose from {ARMS}.")
    trained = [a for a in TRAINED if a in arms or (a == "fixmatch" and "fixmatch_la" in arms)]
    datasets = {x: _split(x, **s.split()) for x in seeds}
    tasks = [(datasets[x], a, s, dict(seed=x, device=device,
                                      monitor_every=s.monitor_every if x == seeds[0] else 0))
             for x in seeds for a in trained]
    cpu = resolve_device(device).type == "cpu"
    outputs = map_tasks(_run_task, tasks, workers if cpu else 1)
    by_arm: dict[str, list[dict[str, Any]]] = {a: [] for a in arms}
    for (_, a, _, _), out in zip(tasks, outputs):
        if a in by_arm:
            by_arm[a].append(out)
        if a == "fixmatch" and "fixmatch_la" in by_arm:
            by_arm["fixmatch_la"].append(out["post_hoc_la"])
    return ArmsComparison(by_arm, seeds)


def recorded_arms_results(result: ArmsComparison) -> dict[str, Any]:
    """``prior_arms[arm]`` and ``prior_arms_ece[arm]`` (`mean_interval` over seeds of the
    balanced accuracy and of the ECE) and ``prior_arms_paired[name]``, the paired
    differences FlexDA - FixMatch, FlexDA - (aligned to P_L), FlexDA - (aligned to u),
    oracle - FlexDA, ADELLO - FlexDA, (true Q everywhere) - FlexDA when that arm ran, and
    FlexDA's ECE - FixMatch's."""
    arms = result.results
    out: dict[str, Any] = {
        "prior_arms": {a: mean_interval(result.values(a)) for a in arms if a in ARMS},
        "prior_arms_ece": {a: mean_interval(result.values(a, "ece")) for a in arms if a in ARMS},
    }
    pairs = {"flexda_minus_fixmatch": ("flexda", "fixmatch", "balanced_accuracy"),
             "flexda_minus_fixed_labeled": ("flexda", "flexda_fixed_labeled", "balanced_accuracy"),
             "flexda_minus_uniform": ("flexda", "flexda_uniform", "balanced_accuracy"),
             "oracle_minus_flexda": ("flexda_oracle", "flexda", "balanced_accuracy"),
             "adello_minus_flexda": ("adello", "flexda", "balanced_accuracy"),
             "fixed_true_minus_flexda": ("flexda_fixed_true", "flexda", "balanced_accuracy"),
             "ece_flexda_minus_fixmatch": ("flexda", "fixmatch", "ece")}
    out["prior_arms_paired"] = {
        name: paired_interval(result.values(a, key), result.values(b, key))
        for name, (a, b, key) in pairs.items() if a in arms and b in arms}
    return out
