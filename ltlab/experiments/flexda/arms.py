r"""Notebook 03, the demonstration setting: which prior should the pseudo-labels be aligned to?

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
profile (the labeled tail is the unlabeled head), a small MLP (a 1-D CNN with
``data="mnist1d"``) trained for a few hundred steps. `compare_arms` runs every arm on several seeds (the seeds share nothing but the pool)
and `recorded_arms_results` gives the per-arm means with 95 % t-intervals and the paired
differences.
`PseudoLabelMonitor` (`ltlab.experiments.flexda.monitor`) follows the pseudo-labels per true
class during training; `bayes_pass_rate` says how often a calibrated model could pass the
confidence threshold at all.
"""

from __future__ import annotations

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
from .monitor import PseudoLabelMonitor, late_rates, noise_view
from .profiles import HARD_TO_EASY, mnist1d_pool, reorder_classes, true_unlabeled_prior

__all__ = [
    "ARMS",
    "ArmsComparison",
    "ArmsSettings",
    "PseudoLabelMonitor",
    "TRAINED",
    "arms_settings",
    "bayes_balanced_accuracy",
    "bayes_pass_rate",
    "compare_arms",
    "compare_arms_settings",
    "late_rates",
    "make_arm",
    "noise_view",
    "recorded_arms_results",
    "run_arm",
    "split_summary",
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
    """The demonstration setting (notebook 03 justifies it): ten Gaussian classes in ``dim``
    dimensions (means at norm ``radius``, unit covariance: heavily overlapping classes,
    `bayes_balanced_accuracy` gives the balanced Bayes rule's accuracy); labeled
    ``labeled_max`` down to ``labeled_max / imbalance_ratio`` per class; unlabeled
    ``unlabeled_max`` down to ``unlabeled_max / unlabeled_imbalance_ratio`` per class with
    the ``profile`` (reversed: the labeled tail is the unlabeled head; `split_summary`
    gives the counts); an MLP with two hidden layers of ``hidden``; ``fit``: Adam steps on
    all labeled points plus ``unlabeled_ratio`` times as many unlabeled ones; Q̂ with
    ``prior_momentum``; ``seeds``: how many seeds `compare_arms` runs.
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
    z - log P_L (the ``fixmatch_la`` arm); for FlexDA arms ``q_hat`` and KL(Q̂ || Q), for
    ADELLO also ``distill_temperature`` (T_imb as frozen); with ``monitor_every`` > 0 the
    `PseudoLabelMonitor` curves (``"pseudo_labels"``)."""
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
        if method.distill:
            out["distill_temperature"] = float(method.distill_temperature)
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


def bayes_pass_rate(settings: ArmsSettings | None = None, seed: int = 0,
                    threshold: float = 0.95) -> float:
    """The fraction of the unlabeled samples on which the Bayes posterior under the
    unlabeled prior Q, p(y | x) ∝ p(x | y) Q(y), reaches ``threshold`` (FixMatch's κ):
    how often a perfectly calibrated model that knows Q would pass the confidence
    threshold (default `arms_settings`, the mixture only)."""
    s = settings or arms_settings()
    if s.data != "mixture":
        raise ValueError(f"the Bayes posterior is known for data='mixture' only (got {s.data!r}).")
    data = _split(seed, **s.split())
    gm = GaussianMixtureLT(num_classes=10, dim=s.dim, imbalance_ratio=1, radius=s.radius,
                           seed=0)
    log_post = gm.log_likelihood(data.x_unlabeled) + true_unlabeled_prior(data).log()
    conf = torch.softmax(log_post.double(), 1).max(1).values
    return float((conf >= threshold).double().mean())


def split_summary(settings: ArmsSettings | None = None, seed: int = 0) -> dict[str, Any]:
    """The counts of one seed's split (default `arms_settings`): ``labeled_counts`` and
    ``unlabeled_counts`` per class, their totals, ``unlabeled_per_labeled`` (how many times
    larger the unlabeled set is) and the labeled ``imbalance_ratio`` (head / tail)."""
    s = settings or arms_settings()
    data = _split(seed, **s.split())
    lab = data.train_counts.tolist()
    unl = torch.bincount(data.y_unlabeled, minlength=data.num_classes).tolist()
    return {"labeled_counts": lab, "unlabeled_counts": unl, "labeled": sum(lab),
            "unlabeled": sum(unl), "unlabeled_per_labeled": sum(unl) / sum(lab),
            "imbalance_ratio": max(lab) / min(lab)}


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


def _checked(settings: ArmsSettings | None) -> ArmsSettings:
    s = settings or arms_settings()
    if not isinstance(s, ArmsSettings):
        raise TypeError(f"settings must be an ArmsSettings (got {type(s).__name__}); "
                        "see arms_settings().")
    unknown = [a for a in s.arms if a not in ARMS + ("flexda_fixed_true",)]
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; choose from {ARMS}.")
    return s


def compare_arms_settings(many: Sequence[ArmsSettings], *, seeds: Sequence[int] | None = None,
                          device: str = "auto", workers: int = 1) -> list[ArmsComparison]:
    """`compare_arms` for several settings at once, in one process pool (the trainings of
    all of them share the ``workers``); one `ArmsComparison` per settings, same results
    as one `compare_arms` call each."""
    many = [_checked(s) for s in many]
    tasks, slots = [], []
    for k, s in enumerate(many):
        xs = list(range(s.seeds)) if seeds is None else [int(x) for x in seeds]
        arms = tuple(s.arms)
        trained = [a for a in TRAINED if a in arms or (a == "fixmatch" and "fixmatch_la" in arms)]
        datasets = {x: _split(x, **s.split()) for x in xs}
        for x in xs:
            for a in trained:
                tasks.append((datasets[x], a, s, dict(
                    seed=x, device=device, monitor_every=s.monitor_every if x == xs[0] else 0)))
                slots.append(k)
    cpu = resolve_device(device).type == "cpu"
    outputs = map_tasks(_run_task, tasks, workers if cpu else 1)
    results = []
    for k, s in enumerate(many):
        by_arm: dict[str, list[dict[str, Any]]] = {a: [] for a in s.arms}
        for slot, (_, a, _, _), out in zip(slots, tasks, outputs):
            if slot != k:
                continue
            if a in by_arm:
                by_arm[a].append(out)
            if a == "fixmatch" and "fixmatch_la" in by_arm:
                by_arm["fixmatch_la"].append(out["post_hoc_la"])
        results.append(ArmsComparison(
            by_arm, list(range(s.seeds)) if seeds is None else [int(x) for x in seeds]))
    return results


def compare_arms(settings: ArmsSettings | None = None, *, seeds: Sequence[int] | None = None,
                 device: str = "auto", workers: int = 1) -> ArmsComparison:
    """Every arm of ``settings`` (default `arms_settings`) on every seed (split and model
    seeded alike per seed). ``seeds`` defaults to ``range(settings.seeds)``;
    ``settings.monitor_every`` > 0 records the pseudo-label curves on the first seed.
    ``workers`` > 1 trains in that many processes (CPU only; same results)."""
    return compare_arms_settings([_checked(settings)], seeds=seeds, device=device,
                                 workers=workers)[0]


def recorded_arms_results(result: ArmsComparison) -> dict[str, Any]:
    """``prior_arms[arm]`` and ``prior_arms_ece[arm]`` (`mean_interval` over seeds of the
    balanced accuracy and of the ECE), ``prior_arms_paired[name]``, the paired
    differences FlexDA - FixMatch, FlexDA - (aligned to P_L), FlexDA - (aligned to u),
    oracle - FlexDA, ADELLO - FlexDA, ADELLO - FixMatch, (true Q everywhere) - FlexDA when
    that arm ran, FlexDA's ECE - FixMatch's and ADELLO's ECE - FlexDA's (each where both
    arms ran), and, where the first seed was monitored, ``pass_rate_late[arm]``: per class,
    the fraction of its unlabeled samples that passed the threshold over the last quarter
    of training (`late_rates`)."""
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
             "adello_minus_fixmatch": ("adello", "fixmatch", "balanced_accuracy"),
             "fixed_true_minus_flexda": ("flexda_fixed_true", "flexda", "balanced_accuracy"),
             "ece_flexda_minus_fixmatch": ("flexda", "fixmatch", "ece"),
             "ece_adello_minus_flexda": ("adello", "flexda", "ece")}
    out["prior_arms_paired"] = {
        name: paired_interval(result.values(a, key), result.values(b, key))
        for name, (a, b, key) in pairs.items() if a in arms and b in arms}
    late = {a: late_rates(runs[0]["pseudo_labels"]) for a, runs in arms.items()
            if a in ARMS and runs and "pseudo_labels" in runs[0]}
    if late:
        out["pass_rate_late"] = late
    return out
