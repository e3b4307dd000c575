r"""Notebook 01 (logit adjustment): the experiments, as functions tests can call per seed.

The losses themselves live in `ltlab.losses`; this module trains and measures models with
them.

**2-D mixture** (`mixture_study`, `mixture_errors`). On `ltlab.data.GaussianMixtureLT`
(10 classes on a circle, shared isotropic covariance) the class-conditional log-densities are
linear in x up to a shared term, so a *linear* softmax model can represent the Bayes
classifier for any prior. We train that model with plain CE (then adjust post hoc) and with
the LA loss, and compare their balanced errors with the Bayes balanced error of
:math:`\arg\max_y p(x|y)` (the balanced-error floor, which does not depend on the training
prior).

**MNIST-1D-LT** (`compare_losses`). One set of `fit` options
(`mnist1d_setup.mnist_fit_options`) trains CE, LA, balanced softmax, focal, class-balanced and
LDAM-DRW models; post-hoc LA reuses the CE model. Every model is one arm of
`ltlab.experiments.loss_arms` (a loss, a head, a prediction rule; CE and the LA loss also on
LDAM-DRW's cosine head), which says what each row changes and measures the differences the
"Paper vs this lab" table reads (`CLAIMS`).

The protocol of `ltlab.experiments.protocol`: `settings(quick)` (a `LogitAdjustmentSettings`),
`compare(settings, *, seeds, device, workers)` (both parts, a `LossComparison`),
`recorded_results(result)` and the bands (`BANDS`, `FULL_BANDS`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from .._validation import as_int
from ..data import GaussianMixtureLT, LTData
from ..losses import LogitAdjustedLoss, adjust_logits, log_prior_from_counts
from ..metrics import (
    balanced_accuracy,
    per_class_accuracy,
    summary,
)
from ..models import MLP
from ..train import CrossEntropy, fit, predict_logits, resolve_device, seed_everything
from .loss_arms import (
    ARM_LABELS,
    ARMS,
    PAIRS,
    LossArm,
    arm_settings,
    describe_difference,
    differs_by,
    loss_differences,
)
from .mnist1d_setup import (
    MnistSizes,
    Trained,
    mnist_data,
    mnist_fit_options,
    mnist_sizes,
    recipe_layout,
    train_method,
)
from .paper_vs_lab import Claim
from .protocol import Band, FitOptions, one_seed, settings_dict

NOTEBOOK = "01_logit_adjustment"

__all__ = [
    "NOTEBOOK",
    "BANDS",
    "FULL_BANDS",
    "LOSS_TABLE",
    "TAU_GRID",
    "ARMS",
    "ARM_LABELS",
    "PAIRS",
    "CLAIMS",
    "LossArm",
    "arm_settings",
    "differs_by",
    "describe_difference",
    "loss_differences",
    "LogitAdjustmentSettings",
    "MixtureSizes",
    "hashed_settings",
    "settings",
    "compare",
    "recorded_results",
    "LossComparison",
    "compare_losses",
    "MixtureStudy",
    "mixture_setup",
    "train_mixture_model",
    "mixture_study",
    "mixture_errors",
]

LOSS_TABLE = ("ce", "posthoc", "la", "balanced_softmax", "focal", "class_balanced",
              "ce_cosine", "la_cosine", "ldam_drw")
TAU_GRID = (0.0, 0.5, 1.0, 1.5, 2.0)
_MIXTURE_MAX_COUNT = 1000
_MIXTURE_TEST_PER_CLASS = 2000


# ----------------------------------------------------------------------------- the verbs
@dataclass(frozen=True)
class MixtureSizes:
    """The 2-D mixture's sizes: training points in the head class, balanced test points per
    class, and the tau grid of the panel's LA-loss curve."""

    max_count: int = _MIXTURE_MAX_COUNT
    test_per_class: int = _MIXTURE_TEST_PER_CLASS
    taus: tuple[float, ...] = TAU_GRID


@dataclass(frozen=True)
class LogitAdjustmentSettings:
    """Notebook 01's settings: the MNIST-1D-LT `fit` options and ``data`` sizes, the
    ``losses`` of the table, the 2-D ``mixture``, its ``imbalance_ratio`` (MNIST-1D-LT stays
    at 100), the logit-adjustment strength ``tau`` and the ``seeds``."""

    fit: FitOptions
    data: MnistSizes
    losses: tuple[str, ...] = LOSS_TABLE
    mixture: MixtureSizes = MixtureSizes()
    imbalance_ratio: float = 100
    tau: float = 1.0
    seeds: tuple[int, ...] = (0,)


def settings(quick: bool = True) -> LogitAdjustmentSettings:
    """Notebook 01's sizes: `mnist_fit_options` and `mnist_sizes` for MNIST-1D-LT, the
    losses of the table, and the 2-D mixture (same at both sizes).

    >>> settings().fit.epochs, settings(quick=False).fit.epochs
    (100, 150)
    """
    return LogitAdjustmentSettings(fit=mnist_fit_options(quick), data=mnist_sizes(quick))


def hashed_settings(s: LogitAdjustmentSettings) -> dict[str, Any]:
    """What the full-size settings hash covers, in the key layout the committed record was
    hashed with (the data sizes under their old part name)."""
    return {"recipe": recipe_layout(s.fit), "losses": s.losses,
            "ltlab.experiments.mnist1d_setup:data_settings": settings_dict(s.data),
            "mixture": {"max_count": s.mixture.max_count,
                        "test_per_class": s.mixture.test_per_class, "taus": s.mixture.taus}}


@dataclass
class LossComparison:
    """What notebook 01 measures: ``errors`` (the 2-D balanced errors of `mixture_errors`)
    and ``table`` (name -> metrics of `compare_losses`, with ``seconds``, ``trained`` and
    ``reused``)."""

    errors: dict[str, float]
    table: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: LTData | None = field(default=None, repr=False, compare=False)

    tau: float = 1.0

    def rows(self) -> list[dict[str, Any]]:
        """One row per loss: its label, balanced accuracy, many / medium / few, ECE, seconds,
        and ``differs_by``: the settings (`arm_settings`) in which it differs from CE."""
        keys = ("balanced_accuracy", "accuracy", "many", "medium", "few", "ece", "seconds")
        return [{"method": name, "label": ARM_LABELS.get(name, name),
                 **{k: row[k] for k in keys if k in row},
                 "differs_by": differs_by(arm_settings(name, self.tau),
                                          arm_settings("ce", self.tau))}
                for name, row in self.table.items()]


def compare(settings: LogitAdjustmentSettings, *, seeds=None, device: str = "auto",
            workers: int = 1) -> LossComparison:
    """Both parts of notebook 01 for one seed: the 2-D mixture's balanced errors at the
    settings' ``imbalance_ratio`` and ``tau``, and the MNIST-1D-LT loss table
    (`compare_losses`; the data is kept in the result). ``workers`` is accepted for the
    protocol: the models train one after the other."""
    seed = one_seed(settings, seeds)
    as_int(workers, "workers", minimum=1)
    errors = mixture_errors(settings.imbalance_ratio, settings.tau, seed, settings.mixture)
    data = mnist_data(settings.data, seed)
    table = compare_losses(data, settings.losses, settings.fit, seed=seed, tau=settings.tau,
                           device=device)
    return LossComparison(errors, table, data, tau=settings.tau)


def recorded_results(result: LossComparison) -> dict[str, Any]:
    """Notebook 01's contract keys: the four ``balanced_error_*`` of the mixture and
    ``balanced_accuracy_ce`` / ``balanced_accuracy_la`` on MNIST-1D-LT; when the table has
    more arms, ``loss_table`` (arm -> balanced accuracy, many / medium / few, ECE, its
    `arm_settings` and ``differs_by``, the settings in which it differs from CE) and, with
    the test data kept, the paired differences of `loss_differences` (one key per `PAIRS`
    entry both of whose arms ran)."""
    out: dict[str, Any] = {
        **result.errors,
        "balanced_accuracy_ce": result.table["ce"]["balanced_accuracy"],
        "balanced_accuracy_la": result.table["la"]["balanced_accuracy"],
    }
    if set(result.table) - {"ce", "la"}:
        ce = arm_settings("ce", result.tau)
        out["loss_table"] = {
            name: {**{k: row[k] for k in ("balanced_accuracy", "many", "medium", "few", "ece")
                      if k in row},
                   "settings": arm_settings(name, result.tau),
                   "differs_by": differs_by(arm_settings(name, result.tau), ce)}
            for name, row in result.table.items()}
    if result.data is not None:
        out.update(loss_differences(result.table, result.data))
    return out


# ----------------------------------------------------------------------------- MNIST-1D-LT
def compare_losses(data: LTData, names: Sequence[str] = LOSS_TABLE,
                   options: FitOptions | None = None, *, seed: int = 0, tau: float = 1.0,
                   device: str = "auto", progress: bool = False) -> dict[str, dict[str, Any]]:
    """Train and evaluate the loss table of notebook 01 with the `fit` ``options`` (default
    `mnist_fit_options()`): name -> `ltlab.metrics.summary` plus ``seconds``, ``trained``
    (the `Trained`) and ``reused``.

    ``names`` are arms of `ARMS` (a loss, a head and a prediction rule). ``posthoc`` reuses
    the CE model (adjusted by ``tau``); ``balanced_softmax`` reuses the LA model when
    ``tau = 1``, since the two losses are then the same function. Each row also holds the
    test ``predictions`` (for `loss_differences`).
    """
    bad = [n for n in names if n not in ARMS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; choose from {tuple(ARMS)}.")
    options = mnist_fit_options() if options is None else options
    dev = resolve_device(device)
    lp = log_prior_from_counts(data.train_counts)
    trained: dict[str, Trained] = {}
    rows: dict[str, dict[str, Any]] = {}
    order = sorted(names, key=lambda n: {"posthoc": 1, "balanced_softmax": 1}.get(n, 0))
    for name in order:
        if name == "posthoc":
            base = trained.get("ce") or train_method("ce", data, options, seed=seed,
                                                     device=dev, progress=progress)
            trained.setdefault("ce", base)
            z = adjust_logits(base.logits(data.x_test, dev), lp, tau)
            rows[name] = dict(summary(z, data.y_test, data.train_counts), seconds=0.0,
                              trained=base, reused="ce", predictions=z.argmax(1))
            continue
        if name == "balanced_softmax" and tau == 1.0 and "la" in trained:
            rows[name] = dict(rows["la"], seconds=0.0, reused="la")
            continue
        arm = ARMS[name]
        t = train_method(arm.method, data, options, seed=seed, device=dev, progress=progress,
                         tau=tau, cosine=arm.head == "cosine")
        trained[name] = t
        z = t.logits(data.x_test, dev)
        rows[name] = dict(summary(z, data.y_test, data.train_counts), seconds=t.seconds,
                          trained=t, reused=None, predictions=z.argmax(1))
    return {n: rows[n] for n in names}


# ----------------------------------------------------------------------------- 2-D mixture
@functools.lru_cache(maxsize=16)
def mixture_setup(imbalance_ratio: float = 100, seed: int = 0,
                  sizes: MixtureSizes = MixtureSizes()) -> tuple[GaussianMixtureLT, LTData, float]:
    """(mixture, data, Bayes balanced error): 10 classes in 2-D, head ``sizes.max_count``
    training points (1,000: tail 10 at ratio 100), a balanced test set of
    ``sizes.test_per_class`` (2,000) points per class.

    The Bayes balanced error (of argmax_y p(x|y)) depends on the means and the covariance
    only, not on the prior or the seed, so it is computed once (Monte Carlo, 200,000 points).
    """
    mixture = GaussianMixtureLT(num_classes=10, dim=2, imbalance_ratio=float(imbalance_ratio),
                                max_count=sizes.max_count, seed=seed)
    data = mixture.dataset(test_per_class=sizes.test_per_class, seed=seed)
    return mixture, data, _bayes_balanced_error(sizes.max_count)


@functools.lru_cache(maxsize=4)
def _bayes_balanced_error(max_count: int = _MIXTURE_MAX_COUNT) -> float:
    return GaussianMixtureLT(num_classes=10, dim=2, imbalance_ratio=1,
                             max_count=max_count).bayes_balanced_error()


def train_mixture_model(imbalance_ratio: float = 100, mode: str = "la", tau: float = 1.0,
                        seed: int = 0, sizes: MixtureSizes = MixtureSizes()
                        ) -> tuple[nn.Module, Any]:
    """A linear softmax model on the 2-D mixture, trained full-batch (Adam, 100 steps,
    lr 0.2, no weight decay) with plain CE (``mode="ce"``; tau is ignored) or the LA loss
    at ``tau`` (``mode="la"``; tau = 0 is CE). Cached: the panel asks for the same models
    again."""
    if mode not in ("ce", "la"):
        raise ValueError(f"mode must be 'ce' or 'la' (got {mode!r}).")
    if mode == "ce" or float(tau) == 0.0:
        return _train_mixture_model(float(imbalance_ratio), "ce", 0.0, int(seed), sizes)
    return _train_mixture_model(float(imbalance_ratio), "la", float(tau), int(seed), sizes)


@functools.lru_cache(maxsize=64)
def _train_mixture_model(imbalance_ratio: float, mode: str, tau: float,
                         seed: int, sizes: MixtureSizes) -> tuple[nn.Module, Any]:
    _, data, _ = mixture_setup(imbalance_ratio, seed, sizes)
    seed_everything(seed)
    model = MLP(2, data.num_classes, hidden=())
    method = CrossEntropy() if mode == "ce" else LogitAdjustedLoss(tau=tau)
    fit(model, method, data, steps=100, batch_size=data.x_train.shape[0], lr=0.2,
        optimizer="adam", weight_decay=0.0, eval_every=10**9, device="cpu", seed=seed,
        progress=False)
    return model, method


@dataclass
class MixtureStudy:
    """Everything notebook 01's 2-D panel draws, for one imbalance ratio, tau and mode.

    ``errors``: balanced errors (``bayes``, ``ce``, ``posthoc`` at tau, ``la`` at tau);
    ``recall``: per-class recall of the shown model and of the Bayes classifier;
    ``tau_curve``: ``{"post-hoc": (taus, errors), "LA loss": (taus, errors)}``;
    ``grid``: (xs, ys, model labels [H, W], Bayes labels [H, W]) for the decision regions.
    """

    imbalance_ratio: float
    tau: float
    mode: str
    errors: dict[str, float]
    recall: dict[str, list[float]]
    tau_curve: dict[str, tuple[list[float], list[float]]]
    grid: tuple[list[float], list[float], list[list[int]], list[list[int]]]
    train_points: tuple[list[float], list[float], list[int]]
    train_counts: list[int]


def _balanced_error(logits: torch.Tensor, y: torch.Tensor) -> float:
    return 1.0 - balanced_accuracy(logits, y, int(y.max()) + 1)


def mixture_errors(imbalance_ratio: float = 100, tau: float = 1.0, seed: int = 0,
                   sizes: MixtureSizes = MixtureSizes()) -> dict[str, float]:
    """The recorded 2-D numbers: ``balanced_error_bayes``, ``balanced_error_ce``,
    ``balanced_error_posthoc`` (CE adjusted by tau) and ``balanced_error_la`` (LA loss)."""
    _, data, bayes = mixture_setup(imbalance_ratio, seed, sizes)
    lp = log_prior_from_counts(data.train_counts)
    ce_model, ce_method = train_mixture_model(imbalance_ratio, "ce", 1.0, seed, sizes)
    la_model, la_method = train_mixture_model(imbalance_ratio, "la", tau, seed, sizes)
    z_ce = predict_logits(ce_model, ce_method, data.x_test, "cpu")
    z_la = predict_logits(la_model, la_method, data.x_test, "cpu")
    return {
        "balanced_error_bayes": bayes,
        "balanced_error_ce": _balanced_error(z_ce, data.y_test),
        "balanced_error_posthoc": _balanced_error(adjust_logits(z_ce, lp, tau), data.y_test),
        "balanced_error_la": _balanced_error(z_la, data.y_test),
    }


def mixture_study(imbalance_ratio: float = 100, tau: float = 1.0, mode: str = "loss",
                  seed: int = 0, taus: Sequence[float] = TAU_GRID,
                  resolution: int = 90) -> MixtureStudy:
    """Train (or fetch from the cache) the 2-D models and measure what the panel shows.

    ``mode``: ``"loss"`` shows the LA-loss model at ``tau``, ``"posthoc"`` the CE model
    adjusted by ``tau``. The post-hoc curve sweeps tau on one CE model (41 points); the
    LA-loss curve trains one model per entry of ``taus`` and at ``tau`` (tau = 0 is CE).
    """
    if mode not in ("loss", "posthoc"):
        raise ValueError(f"mode must be 'loss' or 'posthoc' (got {mode!r}).")
    mixture, data, bayes = mixture_setup(imbalance_ratio, seed)
    lp = log_prior_from_counts(data.train_counts)
    y = data.y_test
    ce_model, ce_method = train_mixture_model(imbalance_ratio, "ce", 1.0, seed)
    z_ce = predict_logits(ce_model, ce_method, data.x_test, "cpu")
    fine = [i / 20 for i in range(41)]
    posthoc_curve = [_balanced_error(adjust_logits(z_ce, lp, t), y) for t in fine]
    taus = sorted({float(t) for t in taus} | {float(tau)})
    loss_curve = []
    for t in taus:
        m, meth = train_mixture_model(imbalance_ratio, "la", float(t), seed)
        loss_curve.append(_balanced_error(predict_logits(m, meth, data.x_test, "cpu"), y))
    la_model, la_method = train_mixture_model(imbalance_ratio, "la", float(tau), seed)
    z_la = predict_logits(la_model, la_method, data.x_test, "cpu")
    z_post = adjust_logits(z_ce, lp, tau)
    shown = z_la if mode == "loss" else z_post
    bayes_pred = mixture.log_likelihood(data.x_test).argmax(1)

    lim = float(mixture.means.abs().max()) + 3.0
    axis = torch.linspace(-lim, lim, resolution)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    with torch.no_grad():
        if mode == "loss":
            grid_logits = predict_logits(la_model, la_method, pts, "cpu")
        else:
            grid_logits = adjust_logits(predict_logits(ce_model, ce_method, pts, "cpu"), lp, tau)
    model_labels = grid_logits.argmax(1).reshape(resolution, resolution)
    bayes_labels = mixture.log_likelihood(pts).argmax(1).reshape(resolution, resolution)
    return MixtureStudy(
        imbalance_ratio=imbalance_ratio, tau=tau, mode=mode,
        errors={"bayes": bayes, "ce": _balanced_error(z_ce, y),
                "posthoc": _balanced_error(z_post, y), "la": _balanced_error(z_la, y)},
        recall={"model": per_class_accuracy(shown, y, 10).tolist(),
                "Bayes": per_class_accuracy(bayes_pred, y, 10).tolist()},
        tau_curve={"post-hoc": (fine, posthoc_curve), "LA loss": ([float(t) for t in taus], loss_curve)},
        grid=(axis.tolist(), axis.tolist(), model_labels.tolist(), bayes_labels.tolist()),
        train_points=(data.x_train[:, 0].tolist(), data.x_train[:, 1].tolist(),
                      data.y_train.tolist()),
        train_counts=data.train_counts.tolist(),
    )


# ----------------------------------------------------------------------------- bands
#: quick mode, seed 0, imbalance ratio 100, tau 1 (the notebook's Checks and its test)
BANDS = (
    Band("balanced_error_bayes", low=0.15, high=0.3,
         reason="the mixture's floor, estimated by Monte Carlo"),
    Band("balanced_error_la", minus="balanced_error_bayes", high=0.015,
         reason="the LA loss reaches the Bayes floor"),
    Band("balanced_error_ce", minus="balanced_error_bayes", low=0.04,
         reason="plain CE stays clearly above the floor"),
    Band("balanced_error_posthoc", minus="balanced_error_ce", test=lambda d: d < 0,
         reason="post-hoc adjustment lowers CE's balanced error"),
    Band("balanced_accuracy_la", minus="balanced_accuracy_ce", low=0.02,
         reason="LA beats CE on MNIST-1D-LT by 2 points"),
)

#: full size (`results/full/01_logit_adjustment.json`, tests/full): the same claims
FULL_BANDS = BANDS[1:]


# ----------------------------------------------------------------------------- the paper
#: "Paper vs this lab": Menon et al. (ICLR 2021) report balanced accuracy on CIFAR-LT with a
#: ResNet-32, imbalance ratio 100; LDAM-DRW's numbers are Cao et al.'s (NeurIPS 2019).
CLAIMS = (
    Claim("The LA loss beats plain CE",
          paper="+5.5 points: 43.9 % vs 38.4 % (CIFAR-100-LT, ρ = 100, ResNet-32; Menon et al., "
                "Table 2, balanced error 56.1 vs 61.6)",
          key="balanced_accuracy_la_minus_ce",
          reason="a small CNN on MNIST-1D-LT (about a thousand training signals), one seed, "
                 "not a ResNet-32 on CIFAR-100-LT"),
    Claim("The LA loss beats LDAM-DRW (each with its own head, as the papers ran them)",
          paper="+1.9 points: LA 43.9 % vs LDAM-DRW 42.0 % (CIFAR-100-LT, ρ = 100; Menon et al. "
                "and Cao et al.)",
          key="balanced_accuracy_la_minus_ldam_drw",
          reason="LDAM-DRW trains a cosine head (s = 30), the LA loss a linear one: the gap "
                 "mixes the loss with the head; read the next row"),
    Claim("The LA loss beats LDAM-DRW on the same cosine head",
          paper="+1.9 points as above (the papers' heads differ: the reference LA code trains "
                "a linear head, LDAM-DRW a normalised one)",
          key="balanced_accuracy_la_cosine_minus_ldam_drw",
          reason="the papers compare each loss on its own head; here both share the cosine "
                 "head, on a small 1-D data set, one seed"),
)

