r"""Notebook 07: FixMatch vs FlexDA vs ADELLO when the unlabeled prior is unknown.

The data are MNIST-1D signals, split by `make_ssl_data` into a long-tailed labeled set and an
unlabeled set whose prior Q follows one of three *profiles* (``"consistent"``: the labeled
long tail; ``"uniform"``; ``"reversed"``). `run_ssl` trains one `ltlab.models.CNN1D` with one
method of `ltlab.semi_supervised` and measures it on the balanced test split, and for FlexDA
/ ADELLO also how well the online estimate Q̂ and Saerens' EM on held-out predictions find Q.
`compare_profiles` runs every method on every profile (same split and seed per profile).

Its sizes are `ProfileSettings` (`profile_settings`: quick, CPU, about 10 s a run; full:
GPU); the notebook's driver, `ltlab.experiments.flexda_mnist1d`, runs it with the 2-D toy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...augment import signal_weak
from ...data import LTData, label_shift_subset, mnist1d_lt, ssl_split
from ...flexda import alpha_schedule, smoothed_prior
from ...label_shift import calibrated_probs, em_prior
from ...metrics import fit_bias_corrected_temperature, fit_temperature, per_class_accuracy, summary
from ...models import CNN1D
from ...priors import kl_divergence
from ...semi_supervised import SSL_METHODS, FixMatch, FlexDA
from ...train import fit, predict_logits, resolve_device, seed_everything
from ..process_pool import map_tasks
from ..protocol import FitOptions

__all__ = [
    "HARD_TO_EASY",
    "SHOTS",
    "SPLIT_KEYS",
    "ProfileSettings",
    "SSLComparison",
    "alpha_curves",
    "compare_profiles",
    "heldout_split",
    "make_ssl_data",
    "mnist1d_pool",
    "profile_settings",
    "recorded_profile_results",
    "reorder_classes",
    "run_ssl",
    "true_unlabeled_prior",
]

#: MNIST-1D digits ordered head -> tail so that the confusable pairs sit in the head: a small
#: CNN trained on the balanced pool recognises 9 (46%), 7 (55%), 4 (72%) and 2 (79%) worst,
#: because 9 and 4 are near-copies and so are 7 and 3; 1, 6, 8 and 0 are easy (89-98%).
#: With this order the tail digits can be learned from their few labels (see notebook 07).
HARD_TO_EASY = (9, 4, 7, 3, 2, 5, 1, 6, 8, 0)

#: The thresholds of notebook 07's groups by *labeled* counts: more than 100 labels, 40 to
#: 100, fewer than 40 (recorded under the keys ``many`` / ``medium`` / ``few`` of `summary`,
#: shown as "> 100 labels", "40–100 labels", "< 40 labels"). They are not the shot groups
#: of notebooks/NOTATION.md: its few group (n < 20) is empty on the quick split (200 down to
#: 20 labels).
SHOTS = (100, 40)

#: The settings that size the split (`make_ssl_data`); the others go to `run_ssl`.
SPLIT_KEYS = ("labeled_max", "unlabeled_max", "imbalance_ratio", "test_per_class", "class_order")


# ----------------------------------------------------------------------------- data
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


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class ProfileSettings:
    """The sizes of the profile comparison. ``fit``: `ltlab.train.fit`'s options (a step
    budget, SGD with Nesterov momentum 0.9 at a constant learning rate, as in the
    reference); ``prior_momentum``: the EMA factor of Q̂; ``ema``: the weight average's;
    ``trace_every``: how often FlexDA records its estimate (0: never)."""

    labeled_max: int = 200
    unlabeled_max: int = 400
    imbalance_ratio: float = 10
    test_per_class: int = 200
    class_order: tuple[int, ...] = HARD_TO_EASY
    fit: FitOptions = FitOptions(batch_size=64, lr=0.1, weight_decay=1.5e-4, extra=(
        ("steps", 800), ("unlabeled_ratio", 2), ("schedule", "constant")))
    prior_momentum: float = 0.99
    ema: float = 0.99
    channels: int = 32
    feature_dim: int = 64
    distill_start: float = 0.2
    profiles: tuple[str, ...] = ("consistent", "uniform", "reversed")
    methods: tuple[str, ...] = ("fixmatch", "flexda", "adello")
    trace_every: int = 40

    @property
    def steps(self) -> int:
        """The training steps of each run (``fit``'s step budget)."""
        return int(dict(self.fit.extra)["steps"])

    def split(self) -> dict[str, Any]:
        """The keywords of `make_ssl_data` (the `SPLIT_KEYS`)."""
        return {k: getattr(self, k) for k in SPLIT_KEYS}

    def legacy(self) -> dict[str, Any]:
        """The flat dict of ltlab before the protocol (what the full-size settings hash
        covers, so the committed records stay valid)."""
        extra = dict(self.fit.extra)
        return dict(**self.split(), steps=extra["steps"], batch_size=self.fit.batch_size,
                    unlabeled_ratio=extra["unlabeled_ratio"], lr=self.fit.lr,
                    weight_decay=self.fit.weight_decay, momentum=self.prior_momentum,
                    ema=self.ema, channels=self.channels, feature_dim=self.feature_dim,
                    distill_start=self.distill_start)


def profile_settings(quick: bool = True) -> ProfileSettings:
    """Quick mode (CPU, about 10 s per run on one core); notebook 07 explains the choices.

    The labeled set has 200 down to 20 samples (ratio 10), the unlabeled set 400 down to 40
    (or 400 of every class); 800 steps of 64 labeled + 128 unlabeled signals at a constant
    lr of 0.1 with weight decay 1.5e-4 (the reference's lr x weight decay, 0.03 x 5e-4); the
    weight average and the prior estimate use an EMA of 0.99 (a time constant of 100 steps;
    the reference's 0.999 suits its 262,144 steps).

    Full mode (about 30 s per run on one CPU core, seconds on a GPU): a larger split
    (labeled 400 down to 20, ratio 20; unlabeled up to 1,000), three times the steps at the
    reference's lr and weight decay (0.03, 5e-4), EMAs of 0.995 (a time constant of 200
    steps, so the prior estimate settles well within the 2,400 steps).

    >>> profile_settings().steps, profile_settings(quick=False).steps
    (800, 2400)
    """
    if quick:
        return ProfileSettings()
    return ProfileSettings(
        labeled_max=400, unlabeled_max=1000, imbalance_ratio=20,
        fit=FitOptions(batch_size=64, lr=0.03, weight_decay=5e-4, extra=(
            ("steps", 2400), ("unlabeled_ratio", 2), ("schedule", "constant"))),
        prior_momentum=0.995, ema=0.995)


# ----------------------------------------------------------------------------- one run
def run_ssl(data: LTData, method: str | FixMatch, settings: ProfileSettings | None = None, *,
            seed: int = 0, device: str = "auto", **method_kwargs: Any) -> dict[str, Any]:
    """Train one model with one SSL method on ``data`` and measure it (``settings``: the
    model, the method's EMAs and ``fit``'s options; default `profile_settings`).

    Returns `ltlab.metrics.summary` (balanced accuracy, accuracy, the accuracy of the groups
    by *labeled* counts of `SHOTS`, > 100, 40..100 and < 40 labels, under the keys ``many``,
    ``medium``, ``few``, and ECE with 15 bins), the fitted temperature, per-class accuracy,
    the last mask rate, and the test ``predictions`` with their ``targets`` (for paired
    differences over the test samples). For FlexDA /
    ADELLO also: the final online estimate ``q_hat`` and ``kl_to_true_prior`` = KL(q_hat ||
    Q); the EM estimate on held-out predictions (`heldout_split`: BCTS-calibrated on a
    balanced half of the test split, then `ltlab.label_shift.em_prior` on a subset of the
    other half drawn with Q) and ``kl_em_to_true_prior``; the same EM without calibration
    (``kl_em_uncalibrated``); the EM-corrected online estimate
    (``kl_online_em_to_true_prior``, with ``settings.trace_every`` > 0) and the training
    ``trace``. The labeled batch gets the weak view. ``method_kwargs`` go to the method.
    """
    s = settings or profile_settings()
    seed_everything(seed)
    model = CNN1D(data.num_classes, length=data.x_train.shape[1], channels=s.channels,
                  feature_dim=s.feature_dim)
    if isinstance(method, str):
        if method not in SSL_METHODS:
            raise ValueError(f"method must be one of {sorted(SSL_METHODS)} (got {method!r}).")
        cls = SSL_METHODS[method]
        method_kwargs = {"ema": s.ema, **method_kwargs}
        if cls is not FixMatch:
            method_kwargs = {"prior_momentum": s.prior_momentum,
                             "distill_start": s.distill_start, "trace_every": s.trace_every,
                             **method_kwargs}
        method = cls(**method_kwargs)
    history = fit(model, method, data, augment=signal_weak, eval_every=10**9, device=device,
                  seed=seed, progress=False, **s.fit.as_kwargs())
    logits = predict_logits(model, method, data.x_test, device)
    out: dict[str, Any] = {
        **summary(logits, data.y_test, data.train_counts, many=SHOTS[0], few=SHOTS[1]),
        "temperature": fit_temperature(logits, data.y_test),
        "per_class_accuracy": per_class_accuracy(logits, data.y_test, data.num_classes).tolist(),
        "mask_rate": history.last("mask_rate"),
        "seconds": history.seconds,
        "predictions": logits.argmax(1).tolist(),
        "targets": data.y_test.tolist(),
    }
    if isinstance(method, FlexDA):
        out.update(_prior_estimates(method, data, logits, seed))
    return out


def _prior_estimates(method: FlexDA, data: LTData, logits: torch.Tensor,
                     seed: int) -> dict[str, Any]:
    """The online estimate and the two EM estimates of Q, each with its KL to Q."""
    q = true_unlabeled_prior(data)
    q_hat = method.q_hat.detach().cpu().float()
    q_alpha = method.q_alpha.detach().cpu().float()
    cal_idx, est_idx = heldout_split(data, q, seed)
    # EM on held-out predictions: calibrate on the balanced half (BCTS), so the source
    # prior is that half's (uniform) prior, then estimate on the Q-shaped subset
    bcts = fit_bias_corrected_temperature(logits[cal_idx], data.y_test[cal_idx])
    cal_prior = torch.bincount(data.y_test[cal_idx], minlength=data.num_classes).float()
    em, _ = em_prior(calibrated_probs(logits[est_idx], bcts), cal_prior / cal_prior.sum())
    # the same EM on the raw predictions, with the prior the raw model was trained toward
    em_raw, _ = em_prior(torch.softmax(logits, 1)[est_idx], q_alpha / q_alpha.sum())
    return dict(
        q_hat=q_hat.tolist(), true_prior=q.tolist(), em_prior=em.tolist(),
        em_prior_uncalibrated=em_raw.tolist(),
        kl_to_true_prior=kl_divergence(q_hat / q_hat.sum(), q),
        kl_em_to_true_prior=kl_divergence(em / em.sum(), q),
        kl_em_uncalibrated=kl_divergence(em_raw / em_raw.sum(), q),
        kl_online_em_to_true_prior=(kl_divergence(method.shadow.prior.cpu().float(), q)
                                    if method.shadow is not None else math.nan),
        trace=method.trace,
    )


# ----------------------------------------------------------------------------- the comparison
#: The columns of `SSLComparison.rows` (a method without a prior estimate gives NaN KLs).
ROW_COLUMNS = ("balanced_accuracy", "many", "medium", "few", "ece", "kl_to_true_prior",
               "kl_em_to_true_prior")


@dataclass
class SSLComparison:
    """What `compare` returns: ``results[profile][method]`` is the dict of `run_ssl`."""

    results: dict[str, dict[str, dict[str, Any]]]

    def rows(self, columns: Sequence[str] = ROW_COLUMNS) -> list[dict[str, Any]]:
        """One row per (profile, method): its name and the ``columns`` of its results."""
        return [{"profile": p, "method": m, **{c: r.get(c, math.nan) for c in columns}}
                for p, by_method in self.results.items() for m, r in by_method.items()]


def _run_task(args: tuple) -> dict[str, Any]:
    data, name, settings, kwargs = args
    return run_ssl(data, name, settings, **kwargs)


def compare_profiles(settings: ProfileSettings | None = None, *, seed: int = 0,
                     device: str = "auto", workers: int = 1) -> SSLComparison:
    """Every method on every unlabeled profile of ``settings`` (default `profile_settings`),
    same split and seed per profile. ``workers`` > 1 runs the trainings in that many
    processes (one thread each; CPU only): the results are the same as with one worker."""
    s = settings or profile_settings()
    if not isinstance(s, ProfileSettings):
        raise TypeError(f"settings must be a ProfileSettings (got {type(s).__name__}); "
                        "see profile_settings().")
    datasets = {p: make_ssl_data(p, seed=seed, **s.split()) for p in s.profiles}
    tasks = [(datasets[p], m, s, dict(seed=seed, device=device))
             for p in s.profiles for m in s.methods]
    outputs = map_tasks(_run_task, tasks, workers if resolve_device(device).type == "cpu" else 1)
    results: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in s.profiles}
    for (p, m), out in zip(((p, m) for p in s.profiles for m in s.methods), outputs):
        results[p][m] = out
    return SSLComparison(results)


def recorded_profile_results(result: SSLComparison) -> dict[str, Any]:
    """Notebook 07's keys of this part: FlexDA's ``kl_to_true_prior`` and
    ``kl_em_to_true_prior`` per profile, and ``balanced_accuracy[profile][method]``."""
    res = result.results
    missing = [p for p, by_method in res.items() if "flexda" not in by_method]
    if missing:
        raise ValueError(f"profiles {missing} have no 'flexda' run; the recorded prior "
                         "estimates are FlexDA's: include it in `methods`.")
    return {
        "kl_to_true_prior": {p: r["flexda"]["kl_to_true_prior"] for p, r in res.items()},
        "kl_em_to_true_prior": {p: r["flexda"]["kl_em_to_true_prior"] for p, r in res.items()},
        "balanced_accuracy": {p: {m: r["balanced_accuracy"] for m, r in by_method.items()}
                              for p, by_method in res.items()},
    }


# ----------------------------------------------------------------------------- figure data
def alpha_curves(q_hat, alpha_min: float = 0.1, power: float = 2.0,
                 progress_fraction: float = 0.5, points: int = 101) -> dict[str, Any]:
    """The data of `ltlab.viz.flexda.alpha_schedule_figure`: alpha_t on a grid of training
    progress, alpha and Q̂_alpha = `smoothed_prior`(Q̂, alpha) at ``progress_fraction`` (the
    fraction of training done; the figure's keyword ``progress`` in the returned dict).

    >>> c = alpha_curves([0.8, 0.2], progress_fraction=1.0)
    >>> round(c["alpha"], 3), [round(v, 3) for v in c["q_alpha"]]
    (0.1, [0.535, 0.465])
    """
    q = torch.as_tensor(q_hat, dtype=torch.float64).flatten()
    q = q / q.sum()
    grid = [i / (points - 1) for i in range(points)]
    alpha = alpha_schedule(progress_fraction, alpha_min, power)
    return dict(grid=grid, alphas=[alpha_schedule(t, alpha_min, power) for t in grid],
                progress=progress_fraction, alpha=alpha, q_hat=q.tolist(),
                q_alpha=smoothed_prior(q, alpha).tolist(), alpha_min=alpha_min, power=power)
