r"""Calibration under class imbalance: the metrics beyond ECE, post-hoc scaling, and the
five-model experiment of notebook 04.

A classifier is *calibrated* when, among the samples it predicts with confidence
:math:`c`, a fraction :math:`c` is correct. Under class imbalance this fails in a
structured way: a model trained on a long-tailed set predicts the head classes too often
and far too confidently (their precision is well below their confidence), and the tail
classes rarely; once one temperature removes the common over-confidence, the tail
predictions are under-confident (their precision is above their confidence). BalPoE
(Sanchez Aimar et al., CVPR 2023, Table 2 and Figure 2) argues that logit adjustment
needs calibrated experts and uses mixup to get them.

Binning convention (the same as `ltlab.metrics` and the BalPoE reference,
``utils/calibration_metrics.py``): ``n_bins`` equal-width bins open on the left and closed
on the right, :math:`(lo, hi]`; a confidence of exactly 1.0 is in the last bin, and 0 in
the first. torchmetrics and several other libraries use :math:`[lo, hi)` bins (with 1.0 in
an extra bin), so a sample whose confidence sits exactly on an edge (0.8, 1.0) lands in a
different bin there; ``tests/test_calibration.py`` shows the two numbers side by side.
All errors are fractions (papers print them x100).

This module adds, on top of `ltlab.metrics` (whose names it reuses):

* `adaptive_calibration_error`: equal-mass bins (each holds ~N / n_bins samples);
* `calibration_error_split`: ECE = over-confidence part + under-confidence part;
* `overconfidence_error`: OE of Thulasidasan et al. (2019), the mixup-calibration paper;
* `per_class_calibration_error` and `shot_calibration_gap`: per class and per
  many/medium/few group, grouped by the *predicted* class (precision against confidence;
  where the head/tail asymmetry shows) or by the *true* class;
* `fit_vector_scaling` and `fit_bias_corrected_temperature`: the post-hoc scalings of
  Guo et al. (2017) and Alexandari et al. (2020) that label-shift estimation (EM) relies
  on, returned as a `LogitScaling`.

The experiment helpers (`train_model_zoo`, `evaluate_zoo`, `shifted_calibration`, the
exercise checkers) are importable from here but are not re-exported by `ltlab.metrics`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .metrics import (  # noqa: F401
    LogitScaling,
    accuracy,
    adaptive_calibration_error,
    balanced_accuracy,
    calibration_error_split,
    classwise_calibration_error,
    expected_calibration_error,
    fit_bias_corrected_temperature,
    fit_temperature,
    fit_vector_scaling,
    maximum_calibration_error,
    negative_log_likelihood,
    overconfidence_error,
    per_class_calibration_error,
    reliability_bins,
    shot_calibration_gap,
    shot_groups,
)
from .metrics.accuracy import _check_bins, _check_probs

__all__ = [
    "adaptive_calibration_error",
    "calibration_error_split",
    "overconfidence_error",
    "per_class_calibration_error",
    "shot_calibration_gap",
    "LogitScaling",
    "fit_vector_scaling",
    "fit_bias_corrected_temperature",
]


MODEL_NAMES = ("ce", "ce_mixup", "la", "balpoe", "balpoe_mixup")
MODEL_LABELS = {"ce": "CE", "ce_mixup": "CE + mixup", "la": "LA", "balpoe": "BalPoE",
                "balpoe_mixup": "BalPoE + mixup"}


def zoo_settings(quick: bool = True) -> dict[str, Any]:
    """The data, model and training settings of `train_model_zoo`, in one place so the
    notebook can print them. Quick: MNIST-1D-LT at imbalance ratio 100 with 400 training
    signals in the head class, sized for a laptop CPU. Full (for a GPU): ten times the data
    (4,000 in the head, 40 in the tail) and a longer schedule.

    Mixup's alpha is 0.1 here, below the 0.4 of the BalPoE CIFAR-100 configuration: on this
    small set and short schedule, larger values cost BalPoE more balanced accuracy than
    they gain in calibration (measured over several seeds while writing notebook 04).
    """
    base = dict(
        imbalance_ratio=100, max_count=400, test_per_class=200, val_fraction=0.5,
        batch_size=64, lr=0.05, weight_decay=5e-4, mixup_alpha=0.1, lambdas=(1.0, 0.0, -1.0),
        cosine_experts=True, augment=False, epochs=60,
    )
    if quick:
        return base
    return dict(base, max_count=4000, epochs=100)


@dataclass
class ModelZoo:
    """Five models trained on one long-tailed set, kept as held-out logits.

    The balanced test split of ``data`` is cut, per class, into a *validation* half
    (``val_index``: where temperatures and other scalings are fitted) and a *test* half
    (``test_index``: where everything is measured). ``logits[name]`` holds
    ``{"val": [N_val, C], "test": [N_test, C]}``; the names are `MODEL_NAMES`.
    """

    data: Any
    val_index: torch.Tensor
    test_index: torch.Tensor
    logits: dict[str, dict[str, torch.Tensor]]
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def y_val(self) -> torch.Tensor:
        return self.data.y_test[self.val_index]

    @property
    def y_test(self) -> torch.Tensor:
        return self.data.y_test[self.test_index]

    @property
    def train_counts(self) -> torch.Tensor:
        return self.data.train_counts

    @property
    def names(self) -> list[str]:
        return list(self.logits)

    def targets(self, split: str = "test") -> torch.Tensor:
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test' (got {split!r}).")
        return self.y_val if split == "val" else self.y_test

    def probs(self, name: str, split: str = "test", temperature: float = 1.0) -> torch.Tensor:
        """softmax(logits / temperature) of one model on one split."""
        if name not in self.logits:
            raise ValueError(f"unknown model {name!r}; this zoo has {self.names}.")
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a positive number (got {temperature!r}).")
        return (self.logits[name][split].double() / temperature).softmax(1)


def split_balanced(targets: torch.Tensor, fraction: float = 0.5, seed: int = 0):
    """Per-class random split of ``targets`` into (first, second) index tensors, the first
    holding ``round(fraction * n_c)`` samples of every class c (both sorted)."""
    targets = torch.as_tensor(targets)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1 (got {fraction!r}).")
    g = torch.Generator().manual_seed(seed)
    first, second = [], []
    for c in torch.unique(targets).tolist():
        idx = torch.nonzero(targets == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        k = int(round(fraction * idx.numel()))
        first.append(idx[:k])
        second.append(idx[k:])
    return torch.cat(first).sort().values, torch.cat(second).sort().values


def _zoo_member(name: str, settings: dict[str, Any]):
    """(model, method, mixup_alpha) of one zoo member."""
    from .experts import BalPoEMethod
    from .losses import LogitAdjustedLoss
    from .models import CNN1D
    from .train import CrossEntropy

    alpha = settings["mixup_alpha"] if name.endswith("_mixup") else 0.0
    if name in ("ce", "ce_mixup"):
        return CNN1D(), CrossEntropy(), alpha
    if name == "la":
        return CNN1D(), LogitAdjustedLoss(tau=1.0), alpha
    if name in ("balpoe", "balpoe_mixup"):
        lambdas = tuple(settings["lambdas"])
        model = CNN1D(num_experts=len(lambdas), cosine=settings["cosine_experts"])
        return model, BalPoEMethod(lambdas), alpha
    raise ValueError(f"unknown model {name!r}; choose from {MODEL_NAMES}.")


def train_model_zoo(
    seed: int = 0,
    quick: bool = True,
    device: str = "auto",
    models: Sequence[str] = MODEL_NAMES,
    progress: bool = False,
    data: Any = None,
    workers: int = 1,
    **overrides: Any,
) -> ModelZoo:
    """Train CE, CE + mixup, LA (logit-adjusted loss, tau = 1), BalPoE and BalPoE + mixup
    (lambdas 1, 0, -1, cosine heads) on MNIST-1D-LT (imbalance ratio 100) with
    `ltlab.train.fit`, and keep their validation and test logits.

    All models share the backbone (`ltlab.models.CNN1D`), schedule, augmentation and seed,
    so the rows of notebook 04's table differ only in the loss, the heads and mixup.
    ``overrides`` replace entries of `zoo_settings` (e.g. ``epochs=30``); ``data`` replaces
    the data set (an `ltlab.data.LTData` with a balanced test split). ``workers`` > 1 trains
    the models in that many processes, one thread each (CPU only; on a 2-core laptop two
    one-thread trainings finish sooner than one two-thread training at a time). The
    numbers depend on the thread count, not on the worker count: ``workers=2`` and
    ``workers=1`` with ``torch.set_num_threads(1)`` give the same logits.
    """
    from .data import mnist1d_lt
    from .experiments.process_pool import map_tasks
    from .train import resolve_device

    settings = zoo_settings(quick)
    unknown = sorted(set(overrides) - set(settings))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(settings)}.")
    settings.update(overrides)
    bad = [m for m in models if m not in MODEL_NAMES]
    if bad or not models:
        raise ValueError(f"models must be a non-empty subset of {MODEL_NAMES} (got {models!r}).")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1 (got {workers!r}).")
    if data is None:
        data = mnist1d_lt(settings["imbalance_ratio"], max_count=settings["max_count"],
                          test_per_class=settings["test_per_class"], seed=seed)
    val_index, test_index = split_balanced(data.y_test, settings["val_fraction"], seed)
    dev = resolve_device(device)
    tasks = [(name, settings, data, val_index, test_index, str(dev), seed, progress)
             for name in models]
    outputs = map_tasks(_train_member_task, tasks, workers if dev.type == "cpu" else 1)
    logits = {name: out[0] for name, out in zip(models, outputs)}
    seconds = {name: out[1] for name, out in zip(models, outputs)}
    return ModelZoo(data, val_index, test_index, logits, seconds, settings)


def _train_member(name, settings, data, val_index, test_index, device, seed, progress):
    """Train one zoo model; its (val / test logits, seconds)."""
    from .augment import signal_weak
    from .train import fit, predict_logits, seed_everything

    seed_everything(seed)
    model, method, alpha = _zoo_member(name, settings)
    t0 = time.perf_counter()
    fit(model, method, data, epochs=settings["epochs"], batch_size=settings["batch_size"],
        lr=settings["lr"], weight_decay=settings["weight_decay"], mixup_alpha=alpha,
        augment=signal_weak if settings["augment"] else None, eval_every=10**9,
        device=device, seed=seed, progress=progress)
    dev = torch.device(device)
    logits = {"val": predict_logits(model, method, data.x_test[val_index], dev),
              "test": predict_logits(model, method, data.x_test[test_index], dev)}
    return logits, time.perf_counter() - t0


def _train_member_task(task: tuple):
    return _train_member(*task)


def evaluate_zoo(zoo: ModelZoo, n_bins: int = 15) -> dict[str, dict[str, Any]]:
    """Every model's test-half metrics: ``ece``, ``mce``, ``ace`` (equal mass), ``over`` /
    ``under`` (the ECE split), ``accuracy``, ``balanced_accuracy``, ``nll``; the temperature
    fitted on the validation half (``temperature``) and the test NLL / ECE with it
    (``nll_temperature``, ``ece_temperature``); and ``groups``: `shot_calibration_gap`
    by predicted class, before and after temperature scaling (``groups_temperature``)."""
    _check_bins(n_bins)
    y, counts = zoo.y_test, zoo.train_counts
    out: dict[str, dict[str, Any]] = {}
    for name in zoo.names:
        z = zoo.logits[name]["test"]
        p = zoo.probs(name)
        t = fit_temperature(zoo.logits[name]["val"], zoo.y_val)
        pt = zoo.probs(name, temperature=t)
        split = calibration_error_split(p, y, n_bins)
        out[name] = {
            "ece": expected_calibration_error(p, y, n_bins),
            "mce": maximum_calibration_error(p, y, n_bins),
            "ace": adaptive_calibration_error(p, y, n_bins),
            "over": split["over"], "under": split["under"],
            "accuracy": accuracy(z, y),
            "balanced_accuracy": balanced_accuracy(z, y, zoo.data.num_classes),
            "nll": negative_log_likelihood(p, y),
            "temperature": t,
            "nll_temperature": negative_log_likelihood(pt, y),
            "ece_temperature": expected_calibration_error(pt, y, n_bins),
            "groups": shot_calibration_gap(p, y, counts, n_bins),
            "groups_temperature": shot_calibration_gap(pt, y, counts, n_bins),
        }
    return out


def recorded_results(evaluation: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
    """The contract of notebook 04: ``ece`` and ``balanced_accuracy`` (model -> value) and
    ``nll_before_after_temperature`` (model -> [before, after])."""
    return {
        "ece": {m: r["ece"] for m, r in evaluation.items()},
        "balanced_accuracy": {m: r["balanced_accuracy"] for m, r in evaluation.items()},
        "nll_before_after_temperature": {
            m: [r["nll"], r["nll_temperature"]] for m, r in evaluation.items()},
    }


# ----------------------------------------------------------------------------- label shift
SHIFT_SETTINGS = ("backward-50", "backward-10", "backward-2", "uniform", "forward-2",
                  "forward-10", "forward-50")


def prior_for_setting(setting: str, num_classes: int) -> torch.Tensor:
    """The test prior named ``"forward-<rho>"``, ``"backward-<rho>"`` or ``"uniform"`` (the
    test-agnostic protocol, `ltlab.priors.shifted_prior`)."""
    from .priors import shifted_prior

    if setting == "uniform":
        return shifted_prior(num_classes, 1.0, "uniform")
    direction, _, rho = str(setting).partition("-")
    try:
        value = float(rho)
    except ValueError:
        value = math.nan
    if direction not in ("forward", "backward") or not value >= 1:
        raise ValueError(
            f"setting must be 'uniform', 'forward-<rho>' or 'backward-<rho>' with rho >= 1, "
            f"e.g. 'forward-50' (got {setting!r})."
        )
    return shifted_prior(num_classes, value, direction)


EM_ITERATIONS = 5


def shifted_calibration(
    probs: torch.Tensor, targets: torch.Tensor, setting: str, source_prior=None,
    n_bins: int = 15, seed: int = 0, em_iterations: int = EM_ITERATIONS,
) -> dict[str, Any]:
    r"""Calibration on a label-shifted subset of a balanced test set, before and after EM.

    Draws the subset of ``targets`` whose class proportions follow ``setting``
    (`prior_for_setting`, `ltlab.data.label_shift_subset`), then adapts the posteriors with
    the EM of Saerens et al. (`ltlab.label_shift.em_prior`), which needs the prior the
    posteriors were calibrated for (``source_prior``; uniform by default: a balanced model
    calibrated on balanced data). Returns ``index``, ``targets``, ``true_prior``,
    ``em_prior``, and for ``before`` (no adaptation), ``after`` (EM) and ``oracle``
    (re-weighted with the true test prior): ``probs_*``, ``mean_probs_*`` (the mean
    prediction per class, to hold against the true prior), ``ece_*`` (top label),
    ``classwise_ece_*``, ``nll_*`` and ``accuracy_*``.

    ``em_iterations`` caps the EM steps (`em_prior`'s ``max_iter``). Run to convergence
    on a few hundred samples, EM finds the maximum-likelihood prior, which overfits: classes
    with a handful of test samples get a prior near 0, and their samples an NLL near
    infinity. A few steps from the source prior act as a regulariser (5 by default;
    notebook 04 lets you slide it to 1000 and watch the collapse).

    Label shift shows in the class-wise ECE and the NLL far more than in the top-label
    ECE: the over-confident (now rarer) and under-confident (now commoner) classes share
    confidence bins, and their errors cancel there.
    """
    from .data import label_shift_subset
    from .label_shift import em_prior, reweight_posteriors

    probs, targets = _check_probs(probs, targets)
    c = probs.shape[1]
    prior = prior_for_setting(setting, c)
    source = torch.full((c,), 1.0 / c) if source_prior is None else torch.as_tensor(source_prior)
    index = label_shift_subset(targets, prior, seed)
    p, y = probs[index], targets[index]
    estimate, adapted = em_prior(p, source, max_iter=em_iterations)
    oracle = reweight_posteriors(p, source, prior)
    out: dict[str, Any] = {"setting": setting, "em_iterations": em_iterations, "index": index,
                           "targets": y, "true_prior": prior, "em_prior": estimate}
    for key, q in (("before", p), ("after", adapted.double()), ("oracle", oracle.double())):
        q = q / q.sum(1, keepdim=True)
        out[f"probs_{key}"] = q
        out[f"mean_probs_{key}"] = q.mean(0)
        out[f"ece_{key}"] = expected_calibration_error(q, y, n_bins)
        out[f"classwise_ece_{key}"] = classwise_calibration_error(q, y, n_bins)
        out[f"nll_{key}"] = negative_log_likelihood(q, y)
        out[f"accuracy_{key}"] = float((q.argmax(1) == y).double().mean())
    return out


def label_shift_sweep(
    probs: torch.Tensor, targets: torch.Tensor, settings: Sequence[str] = SHIFT_SETTINGS,
    source_prior=None, n_bins: int = 15, seed: int = 0, em_iterations: int = EM_ITERATIONS,
) -> dict[str, dict[str, float]]:
    """`shifted_calibration` for each setting: setting -> top-label ECE, class-wise ECE,
    NLL and accuracy, each ``_before`` / ``_after`` EM and ``_oracle`` (true prior)."""
    keys = [f"{m}_{k}" for m in ("ece", "classwise_ece", "nll", "accuracy")
            for k in ("before", "after", "oracle")]
    out = {}
    for s in settings:
        r = shifted_calibration(probs, targets, s, source_prior, n_bins, seed, em_iterations)
        out[s] = {k: r[k] for k in keys}
    return out


# ----------------------------------------------------------------------------- exercises
_EXERCISE_PROBS = torch.tensor([[0.95, 0.05], [0.85, 0.15], [0.75, 0.25], [0.65, 0.35],
                                [0.55, 0.45], [0.40, 0.60]], dtype=torch.float64)
_EXERCISE_TARGETS = torch.tensor([0, 0, 1, 0, 1, 1])
EXERCISE_BINS = 4


def exercise_predictions() -> tuple[torch.Tensor, torch.Tensor]:
    """The six two-class predictions of exercise 1 (probabilities, labels)."""
    return _EXERCISE_PROBS.clone(), _EXERCISE_TARGETS.clone()


def check_ece_by_hand(answer: Any) -> bool:
    """Exercise 1: the ECE of `exercise_predictions` with 4 equal-width (lo, hi] bins."""
    from .exercises import check_value

    p, y = exercise_predictions()
    return check_value(
        answer, expected_calibration_error(p, y, EXERCISE_BINS), tol=5e-4,
        hint="Confidence is the largest probability of a row; a confidence of exactly 0.75 "
             "belongs to the bin (0.5, 0.75]. Weight each bin's |accuracy - mean confidence| "
             "by its share of the samples.",
    )


def check_prior_correction(fn: Callable | None) -> bool:
    """Exercise 2: ``fn(probs, source_prior, target_prior)`` must return the posteriors
    adapted to ``target_prior`` (Bayes' rule under label shift). Checked on random inputs
    against `ltlab.label_shift.reweight_posteriors`; prints feedback."""
    from .label_shift import reweight_posteriors

    if fn is None:
        print("Not answered yet: write the function, pass it instead of None and run again.")
        return False
    g = torch.Generator().manual_seed(0)
    for trial in range(3):
        p = torch.randn(8, 5, generator=g).softmax(1)
        ps = torch.rand(5, generator=g) + 0.1
        pt = torch.rand(5, generator=g) + 0.1
        ps, pt = ps / ps.sum(), pt / pt.sum()
        try:
            got = torch.as_tensor(fn(p.clone(), ps.clone(), pt.clone()), dtype=torch.float64)
        except Exception as err:  # the student's code: report, don't crash the notebook
            print(f"Your function raised {type(err).__name__}: {err}")
            return False
        want = reweight_posteriors(p, ps, pt).double()
        if got.shape != want.shape:
            print(f"Expected shape {tuple(want.shape)}, got {tuple(got.shape)}.")
            return False
        if not torch.allclose(got, want, atol=1e-4):
            rows = got.sum(1)
            hint = ("rows must sum to 1: normalise after re-weighting"
                    if (rows - 1).abs().max() > 1e-3 else
                    "multiply by target_prior / source_prior (not the other way round)")
            print(f"Not quite (trial {trial + 1}): {hint}.")
            return False
    print("Correct: p_t(y|x) is p_s(y|x) * pi_t(y) / pi_s(y), normalised over y.")
    return True
