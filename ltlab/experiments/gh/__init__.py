"""Notebook 06's driver (Geometric Harmonization): the sphere toy and the MNIST-1D probe.

Two parts, one submodule each, run together by `compare`:

* `ltlab.experiments.gh.sphere`: SimCLR on balanced data, SimCLR and SimCLR + GH at ratio
  64, on Gaussian clusters seen on the unit sphere S^2, over several seeds
  (`compare_sphere`, sized by `SphereSettings`);
* `ltlab.experiments.gh.probe`: SimCLR and SimCLR + GH pre-trained on MNIST-1D-LT and
  compared by a balanced linear probe, at one seed (`pretrain_and_probe`) and over training
  seeds on the same split (`compare_seeds`), sized by `ProbeSettings`; and the toy batch of
  the allocation panel (`toy_scores`).

The protocol (`ltlab.experiments.protocol`; in `ltlab.experiments.gh.driver`, re-exported
here): `settings(quick)` -> `Settings`, ``compare(settings, *, seeds, device, workers)`` ->
`GHResult`, `recorded_results`, `BANDS` (quick mode, seed 0) and `FULL_BANDS` (the full-size
record).

>>> s = settings()
>>> s.probe.warmup_epochs, s.sphere.imbalance_ratio, len(settings(quick=False).sphere.seeds)
(10, 64, 10)
"""

from __future__ import annotations

from .driver import (
    BANDS,
    FULL_BANDS,
    NOTEBOOK,
    GHResult,
    Settings,
    compare,
    hashed_settings,
    recorded_results,
    settings,
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
    "compare_seeds",
    "compare_sphere",
    "gaussian_view",
    "hashed_settings",
    "matched_class_prior",
    "mnist1d_pretraining_splits",
    "pretrain_and_probe",
    "probe_settings",
    "recorded_results",
    "recorded_sphere_results",
    "run_seed",
    "settings",
    "sphere_settings",
    "sphere_toy_data",
    "toy_scores",
]
