"""Notebook 06's driver (Geometric Harmonization): the sphere toy; and the parts of notebook
08's MNIST-1D probe (its driver: `ltlab.experiments.gh_mnist1d`).

* `ltlab.experiments.gh.sphere`: SimCLR on balanced data, SimCLR and SimCLR + GH at ratio
  64, on Gaussian clusters seen on the unit sphere S^2, over several seeds
  (`compare_sphere`, sized by `SphereSettings`);
* `ltlab.experiments.gh.marginals`: the marginal GH enforces (the matched class prior, GH's own
  pi_hat, a uniform one) and the label-free attempts to improve pi_hat, paired per seed;
* `ltlab.experiments.gh.probe`: SimCLR and SimCLR + GH pre-trained on MNIST-1D-LT and
  compared by a balanced linear probe, at one seed (`pretrain_and_probe`) and over training
  seeds on the same split (`compare_seeds`), sized by `ProbeSettings` (run by notebook 08's
  driver); and the toy batch of notebook 06's allocation panel (`toy_scores`).

The protocol (`ltlab.experiments.protocol`; in `ltlab.experiments.gh.driver`, re-exported
here): `settings(quick)` -> `Settings`, ``compare(settings, *, seeds, device, workers)`` ->
`GHResult`, `recorded_results`, `BANDS` (quick mode, seed 0), `FULL_BANDS` (the full-size
record) and `CLAIMS` (the paper's headlines, for "Paper vs this lab").

>>> s = settings()
>>> s.sphere.imbalance_ratio, len(s.sphere.seeds), len(settings(quick=False).sphere.seeds)
(64, 14, 16)
"""

from __future__ import annotations

from .driver import (
    BANDS,
    CLAIMS,
    FULL_BANDS,
    NOTEBOOK,
    GHResult,
    Settings,
    compare,
    hashed_settings,
    recorded_results,
    settings,
)
from .marginals import (
    IMPROVEMENT_ARMS,
    IMPROVEMENTS,
    MARGINAL_ARMS,
    MARGINALS,
    compare_marginals,
    improvement_intervals,
    marginal_intervals,
    prior_error_table,
    prior_errors,
    recorded_marginal_results,
)
from .probe import (
    GHComparison,
    ProbeSettings,
    SeedTable,
    compare_seeds,
    mnist1d_pretraining_splits,
    pretrain_and_probe,
    probe_settings,
    toy_scores,
)
from .sphere import (
    ARMS,
    INTERVAL_KEYS,
    METRICS,
    SphereComparison,
    SphereRun,
    SphereSettings,
    compare_sphere,
    gaussian_view,
    matched_class_prior,
    recorded_sphere_results,
    run_seed,
    sphere_settings,
    sphere_toy_data,
)

__all__ = [
    "ARMS",
    "BANDS",
    "CLAIMS",
    "IMPROVEMENTS",
    "IMPROVEMENT_ARMS",
    "MARGINALS",
    "MARGINAL_ARMS",
    "FULL_BANDS",
    "GHComparison",
    "GHResult",
    "INTERVAL_KEYS",
    "METRICS",
    "NOTEBOOK",
    "ProbeSettings",
    "SeedTable",
    "Settings",
    "SphereComparison",
    "SphereRun",
    "SphereSettings",
    "compare",
    "compare_marginals",
    "compare_seeds",
    "compare_sphere",
    "gaussian_view",
    "hashed_settings",
    "improvement_intervals",
    "marginal_intervals",
    "matched_class_prior",
    "mnist1d_pretraining_splits",
    "pretrain_and_probe",
    "prior_error_table",
    "prior_errors",
    "probe_settings",
    "recorded_marginal_results",
    "recorded_results",
    "recorded_sphere_results",
    "run_seed",
    "settings",
    "sphere_settings",
    "sphere_toy_data",
    "toy_scores",
]
