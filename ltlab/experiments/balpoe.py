r"""Notebook 02 (BalPoE): the experiments, as functions tests can call per seed.

The method itself is `ltlab.experts` (`BalPoE`, `BalPoEMethod`); this module trains and
measures it at small scale, reproducing the *shape* of the paper's results
(Sanchez Aimar et al., CVPR 2023):

* `calibration_table`: accuracy and calibration of CE, LA, BalPoE and BalPoE + mixup
  (paper Table 2);
* `shifted_accuracy`: accuracy on forward-50/5, uniform and backward-5/50 test sets, without
  and with the known test prior (paper Table 3);
* `experts_curve`: accuracy against the number of experts (paper Figure 5);
* `expert_marginals`: each λ-expert's target prior :math:`\propto\pi^\lambda` against the
  marginal its predictions actually have (paper Figure 3), computed exactly on a Gaussian
  mixture whose Bayes experts are known, with a temperature that stands for
  miscalibration.

The three verbs: `settings(quick)`, `compare(...)` (Table 2, Table 3 and Figure 5 at once,
a `BalPoEComparison`) and `recorded_results(result)` (the notebook's contract keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validation import as_positive
from ..data import GaussianMixtureLT, LTData, label_shift_subset
from ..experts import BalPoE, BalPoEMethod, evenly_spaced_lambdas, expert_target_priors
from ..losses import CrossEntropyPostHoc, log_prior_from_counts, log_prior_of
from ..metrics import accuracy, maximum_calibration_error, summary
from ..priors import kl_divergence, shifted_prior
from ..train import CrossEntropy, resolve_device
from .method_registry import METHOD_LABELS
from .mnist1d_setup import Trained, mnist_data, mnist_recipe, train_method

NOTEBOOK = "02_balpoe"

__all__ = [
    "NOTEBOOK",
    "SHIFTS",
    "TABLE2_MODELS",
    "settings",
    "compare",
    "recorded_results",
    "table_results",
    "BalPoEComparison",
    "train_models",
    "calibration_table",
    "shifted_test_sets",
    "shifted_accuracy",
    "experts_curve",
    "expert_marginals",
]

#: The test distributions of paper Table 3: name -> (rho, direction).
SHIFTS = {
    "forward-50": (50, "forward"),
    "forward-5": (5, "forward"),
    "uniform": (1, "uniform"),
    "backward-5": (5, "backward"),
    "backward-50": (50, "backward"),
}
TABLE2_MODELS = ("ce", "la", "balpoe", "balpoe_mixup")


# ----------------------------------------------------------------------------- the verbs
def settings(quick: bool = True) -> dict[str, Any]:
    """Notebook 02's sizes: the MNIST-1D-LT ``recipe``, the ``models`` of Table 2, the
    ``num_experts`` of the Figure 5 curve, ``mixup_alpha`` and the ``shifts`` of Table 3.

    >>> settings()["num_experts"], settings(quick=False)["num_experts"]
    ((1, 3, 5), (1, 2, 3, 4, 5, 7))
    """
    return {
        "recipe": mnist_recipe(quick),
        "models": TABLE2_MODELS,
        "num_experts": (1, 3, 5) if quick else (1, 2, 3, 4, 5, 7),
        "mixup_alpha": 0.4,
        "shifts": SHIFTS,
    }


@dataclass
class BalPoEComparison:
    """What notebook 02 measures: ``table`` (`calibration_table`), ``shifted``
    (`shifted_accuracy` of BalPoE + mixup) and ``curve`` (`experts_curve`); ``models`` are
    the trained Table 2 models."""

    table: dict[str, dict[str, float]]
    shifted: dict[str, dict[str, float]]
    curve: list[dict[str, float]]
    models: dict[str, Trained] = field(default_factory=dict, repr=False)

    def rows(self) -> list[dict[str, Any]]:
        """One row per Table 2 model: its label, balanced accuracy, shot groups, ECE, MCE."""
        keys = ("balanced_accuracy", "many", "medium", "few", "ece", "mce")
        return [{"method": name, "label": METHOD_LABELS.get(name, name),
                 **{k: row[k] for k in keys}} for name, row in self.table.items()]


def compare(data: LTData | None = None, *, quick: bool = True, seed: int = 0,
            device: str = "auto", mixup_alpha: float = 0.4,
            num_experts: Sequence[int] | None = None, progress: bool = False,
            **fit_overrides: Any) -> BalPoEComparison:
    """Notebook 02 in one call: train the Table 2 models on ``data`` (default:
    `mnist_data(quick, seed)`), tabulate them, measure BalPoE + mixup on the shifted test
    sets and the accuracy against the number of experts (reusing the 3-expert model).
    ``fit_overrides`` replace entries of the recipe (e.g. ``epochs=5``)."""
    data = mnist_data(quick, seed) if data is None else data
    num_experts = settings(quick)["num_experts"] if num_experts is None else num_experts
    models = train_models(data, quick=quick, seed=seed, device=device, progress=progress,
                          mixup_alpha=mixup_alpha, **fit_overrides)
    table = calibration_table(models, data, device)
    shifted = shifted_accuracy(models["balpoe_mixup"], data, device)
    curve = experts_curve(data, num_experts, quick=quick, seed=seed, device=device,
                          mixup_alpha=mixup_alpha, progress=progress,
                          reuse={3: models["balpoe_mixup"]}, **fit_overrides)
    return BalPoEComparison(table, shifted, curve, models)


def table_results(table: dict[str, dict[str, float]],
                  shifted: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The contract keys of notebook 02 that come from `calibration_table` and
    `shifted_accuracy` (before 0.2 this was ``ltlab.balpoe.recorded_results``)."""
    return {
        "balanced_accuracy_ce": table["ce"]["balanced_accuracy"],
        "balanced_accuracy_la": table["la"]["balanced_accuracy"],
        "balanced_accuracy_balpoe": table["balpoe"]["balanced_accuracy"],
        "balanced_accuracy_balpoe_mixup": table["balpoe_mixup"]["balanced_accuracy"],
        "ece_ce": table["ce"]["ece"],
        "ece_balpoe_mixup": table["balpoe_mixup"]["ece"],
        "shifted_accuracy": shifted,
    }


def recorded_results(result: BalPoEComparison) -> dict[str, Any]:
    """Notebook 02's contract keys: `table_results` and ``experts_curve``."""
    return {**table_results(result.table, result.shifted), "experts_curve": result.curve}


# ----------------------------------------------------------------------------- Table 2
def train_models(data: LTData, names: Sequence[str] = TABLE2_MODELS, *, quick: bool = True,
                 seed: int = 0, device: str = "auto", progress: bool = False,
                 lambdas: Sequence[float] = (1.0, 0.0, -1.0), mixup_alpha: float = 0.4,
                 **fit_overrides: Any) -> dict[str, Trained]:
    """Train each named model (see `method_registry.METHODS`) with the shared MNIST recipe;
    ``*_mixup`` models use ``mixup_alpha``."""
    dev = resolve_device(device)
    out = {}
    for name in names:
        alpha = mixup_alpha if name.endswith("_mixup") else 0.0
        out[name] = train_method(name, data, quick=quick, seed=seed, device=dev,
                                 progress=progress, lambdas=lambdas, mixup_alpha=alpha,
                                 **fit_overrides)
    return out


def calibration_table(models: dict[str, Trained], data: LTData,
                      device: str = "auto") -> dict[str, dict[str, float]]:
    """Table 2 at small scale: per model, balanced accuracy, many / medium / few, ECE and
    MCE (fractions; 15 bins, (lo, hi]) on the balanced test set."""
    out = {}
    for name, t in models.items():
        z = t.logits(data.x_test, device)
        row = summary(z, data.y_test, data.train_counts)
        row["mce"] = maximum_calibration_error(torch.softmax(z.double(), 1), data.y_test)
        out[name] = row
    return out


# ----------------------------------------------------------------------------- Table 3
def shifted_test_sets(data: LTData, shifts: dict[str, tuple[float, str]] | None = None,
                      seed: int = 0) -> dict[str, torch.Tensor]:
    """Index sets of the balanced test split following each shifted prior of `SHIFTS`
    (the SADE / BalPoE protocol through `ltlab.data.label_shift_subset`)."""
    shifts = SHIFTS if shifts is None else shifts
    c = data.num_classes
    return {name: label_shift_subset(data.y_test, shifted_prior(c, rho, direction), seed=seed)
            for name, (rho, direction) in shifts.items()}


def shifted_accuracy(trained: Trained, data: LTData, device: str = "auto",
                     shifts: dict[str, tuple[float, str]] | None = None) -> dict[str, dict[str, float]]:
    """Table 3 at small scale: plain accuracy on each shifted test set, ``"no_prior"`` (the
    model's balanced prediction) and ``"known_prior"`` (adjusted to the set's own class
    frequencies, :math:`\\log\\pi^t` from its counts, as the reference does).

    BalPoE uses `BalPoEMethod.predict_for_prior`; a single model trained with the LA loss
    adds :math:`\\log\\pi^t`; a CE model subtracts :math:`\\log\\pi` first.
    """
    lp = log_prior_from_counts(data.train_counts)
    out = {}
    for name, idx in shifted_test_sets(data, shifts).items():
        x, y = data.x_test[idx], data.y_test[idx]
        tlp = log_prior_from_counts(torch.bincount(y, minlength=data.num_classes))
        z = trained.logits(x, device)
        if isinstance(trained.method, BalPoEMethod):
            method = trained.method
            model = trained.model
            dev = next(model.parameters()).device
            model.eval()
            with torch.no_grad():
                zk = method.predict_for_prior(model, x.to(dev), tlp.to(dev)).cpu()
        elif isinstance(trained.method, (CrossEntropy, CrossEntropyPostHoc)):
            raw = z if isinstance(trained.method, CrossEntropy) else z + lp * trained.method.tau
            zk = raw - lp + tlp
        else:
            zk = z + tlp
        out[name] = {"no_prior": accuracy(z, y), "known_prior": accuracy(zk, y)}
    return out


# ----------------------------------------------------------------------------- Figure 5
def experts_curve(data: LTData, num_experts: Sequence[int] = (1, 3, 5), *, quick: bool = True,
                  seed: int = 0, device: str = "auto", mixup_alpha: float = 0.4,
                  progress: bool = False, reuse: dict[int, Trained] | None = None,
                  **fit_overrides: Any) -> list[dict[str, float]]:
    """Figure 5 at small scale: BalPoE + mixup with M experts, λ evenly spaced in [-1, 1]
    (mean 0), for each M; rows of ``num_experts``, balanced accuracy, many, medium, few.
    ``reuse`` maps M to an already trained model (e.g. the 3-expert one of Table 2)."""
    rows = []
    for m in num_experts:
        if reuse and m in reuse:
            t = reuse[m]
        else:
            t = train_method("balpoe_mixup", data, quick=quick, seed=seed, device=device,
                             progress=progress, lambdas=evenly_spaced_lambdas(m),
                             mixup_alpha=mixup_alpha, **fit_overrides)
        row = summary(t.logits(data.x_test, device), data.y_test, data.train_counts)
        rows.append({"num_experts": m, **{k: row[k] for k in ("balanced_accuracy", "many",
                                                             "medium", "few")}})
    return rows


# ----------------------------------------------------------------------------- Figure 3
def expert_marginals(lambdas: Sequence[float], imbalance_ratio: float = 100,
                     temperature: float = 1.0, num_samples: int = 20000,
                     seed: int = 0) -> dict[str, Any]:
    r"""Target priors and expected marginals of ideal λ-experts on a 2-D Gaussian mixture.

    Expert k's logits are :math:`z_k = (\log p(x|y) + \lambda_k\log\pi)/T`: the Bayes
    classifier for the prior :math:`q_k\propto\pi^{\lambda_k}` when T = 1 (calibrated),
    over- (T < 1) or under-confident (T > 1) otherwise. Its expected marginal is
    :math:`m_k = E_{x\sim p_{q_k}}[\mathrm{softmax}(z_k(x))]`, estimated on ``num_samples``
    points drawn from :math:`q_k`. For a calibrated expert :math:`m_k = q_k` exactly (the
    law of total probability), so KL(q_k ‖ m_k) measures miscalibration, as in the paper's
    Figure 3. The ensemble (mean of the :math:`z_k`) has target
    :math:`\propto\pi^{\bar\lambda}`.

    Returns ``prior`` (the train prior), ``lambdas``, ``bias`` (mean λ), ``targets`` and
    ``marginals`` ([E, C] lists), ``kl`` (per expert), and the ensemble's
    ``ensemble_target``, ``ensemble_marginal``, ``ensemble_kl``.
    """
    temperature = as_positive(temperature, "temperature",
                              "T = 1 is a calibrated expert; < 1 over-, > 1 under-confident.")
    bpe = BalPoE(lambdas)
    mixture = GaussianMixtureLT(num_classes=10, dim=2, imbalance_ratio=imbalance_ratio,
                                max_count=1000, seed=seed)
    prior = mixture.train_prior.double()
    lp = log_prior_of(prior).double()
    targets = expert_target_priors(bpe.lambdas.tolist(), prior).double()
    ens_target = expert_target_priors([bpe.bias], prior)[0].double()

    def marginal(lams: torch.Tensor, q: torch.Tensor, k: int) -> torch.Tensor:
        x, _ = mixture.sample(num_samples, prior=q.float() / q.float().sum(), seed=seed + 1 + k)
        ll = mixture.log_likelihood(x)
        z = torch.stack([(ll + lam * lp) / temperature for lam in lams.double()]).mean(0)
        return torch.softmax(z, 1).mean(0)

    marginals = torch.stack([marginal(bpe.lambdas[k:k + 1], targets[k], k)
                             for k in range(bpe.num_experts)])
    ens_marginal = marginal(bpe.lambdas, ens_target, bpe.num_experts)

    def kl(p: torch.Tensor, q: torch.Tensor) -> float:
        return kl_divergence((p / p.sum()).float(), (q / q.sum()).float())

    return {
        "prior": prior.tolist(), "lambdas": bpe.lambdas.tolist(), "bias": bpe.bias,
        "targets": targets.tolist(), "marginals": marginals.tolist(),
        "kl": [kl(targets[k], marginals[k]) for k in range(bpe.num_experts)],
        "ensemble_target": ens_target.tolist(), "ensemble_marginal": ens_marginal.tolist(),
        "ensemble_kl": kl(ens_target, ens_marginal), "temperature": float(temperature),
    }
