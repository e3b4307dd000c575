"""Notebook 06's driver: the protocol of `ltlab.experiments.protocol` over the parts of
`ltlab.experiments.gh` (listed in the package docstring; the package re-exports it all)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...models import PooledCNN1D
from ...train import resolve_device
from ..protocol import Band
from .probe import (
    GHComparison,
    ProbeSettings,
    SeedTable,
    compare_seeds,
    mnist1d_pretraining_splits,
    pretrain_and_probe,
    probe_settings,
)
from .sphere import (
    SphereComparison,
    SphereSettings,
    compare_sphere,
    recorded_sphere_results,
    sphere_settings,
)

__all__ = [
    "BANDS",
    "FULL_BANDS",
    "GHResult",
    "NOTEBOOK",
    "Settings",
    "compare",
    "hashed_settings",
    "recorded_results",
    "settings",
]

NOTEBOOK = "06_geometric_harmonization"

#: The key under which the full-size settings hash has always covered the sphere toy's.
_SPHERE_HASH_KEY = "ltlab.experiments.gh_sphere:settings"


@dataclass(frozen=True)
class Settings:
    """Every size notebook 06 runs at: the sphere toy, the MNIST-1D probe, and ``seed``: the
    first seed (the sphere toy runs ``seed + s`` for ``s`` in ``sphere.seeds``; MNIST-1D
    splits with ``seed`` and trains the table's seeds ``seed``, ``seed + 1``, ...)."""

    sphere: SphereSettings = SphereSettings()
    probe: ProbeSettings = ProbeSettings()
    seed: int = 0

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def legacy(self) -> dict[str, Any]:
        """The settings in the layout the full-size settings hash has always covered (the
        probe's, and the sphere toy's under its old ``module:function`` name), so the
        committed records stay valid."""
        return {**self.probe.legacy(), _SPHERE_HASH_KEY: self.sphere.legacy()}


def settings(quick: bool = True) -> Settings:
    """Quick (a 2-core CPU, a few minutes) or full size: see `sphere_settings` and
    `probe_settings`."""
    return Settings(sphere=sphere_settings(quick), probe=probe_settings(quick))


def hashed_settings(s: Settings) -> dict[str, Any]:
    """What the full-size settings hash covers (`ltlab.experiments.full_size`): the
    layout the committed record was hashed with (``s.legacy()``)."""
    return s.legacy()


@dataclass
class GHResult:
    """What `compare` returns: the sphere toy, the MNIST-1D split (``data``, the balanced
    probe set ``probe_x``, ``probe_y``), the run at the first seed (``run``) and the
    multi-seed table (``table``)."""

    sphere: SphereComparison
    data: Any
    probe_x: torch.Tensor
    probe_y: torch.Tensor
    run: GHComparison
    table: SeedTable

    def rows(self) -> list[dict[str, Any]]:
        """One row per method: the probe accuracy at the first seed (`GHComparison.rows`);
        the sphere toy's are ``sphere.rows()``, the multi-seed table's ``table.rows()``."""
        return self.run.rows()


def compare(settings: Settings, *, seeds: Sequence[int] | None = None, device: str = "auto",
            workers: int = 1) -> GHResult:
    """Run notebook 06: the sphere toy (on the CPU), then MNIST-1D: the split, the paired
    pre-training at the first seed and the table over the training seeds. Default seeds:
    see `Settings`; ``seeds``, when given, are the seeds of both the sphere toy and the
    table (the first one also splits MNIST-1D). ``workers`` one-thread processes train the
    seeds (CPU only; the same numbers as one worker)."""
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be the Settings of settings(quick) (got "
                        f"{type(settings).__name__}).")
    first = settings.seed
    if seeds is None:
        sphere_seeds = [first + s for s in settings.sphere.seeds]
        table_seeds = [first + s for s in range(settings.probe.seeds)]
    else:
        sphere_seeds = table_seeds = [int(s) for s in seeds]
        first = table_seeds[0]
    dev = str(resolve_device(device))
    sphere = compare_sphere(settings.sphere, seeds=sphere_seeds, workers=workers)
    p = settings.probe
    data, probe_x, probe_y = mnist1d_pretraining_splits(
        p.imbalance_ratio, p.max_count, p.probe_per_class, p.test_per_class, seed=first)
    run = pretrain_and_probe(data, probe_x, probe_y, PooledCNN1D, p, seed=first, device=dev)
    table = compare_seeds(data, probe_x, probe_y, p, table_seeds, workers=workers,
                          done={first: run.probe_accuracy}, device=dev)
    return GHResult(sphere, data, probe_x, probe_y, run, table)


def recorded_results(result: GHResult) -> dict[str, Any]:
    """Notebook 06's recorded keys: ``probe_accuracy[method][group]`` (the first seed),
    ``sphere_toy[arm][metric]`` (means over seeds), ``sphere_toy_paired[metric]`` (GH -
    SimCLR at ratio 64: mean and 95 % interval) and ``probe_seed_table[group]`` (the
    multi-seed table: both means and the paired difference with its interval)."""
    return {"probe_accuracy": result.run.probe_accuracy,
            **recorded_sphere_results(result.sphere),
            "probe_seed_table": {row["group"]: {k: v for k, v in row.items() if k != "group"}
                                 for row in result.table.rows()}}


def _finite_probe(probe: dict[str, dict[str, float]]) -> bool:
    return all(isinstance(v, float) and math.isfinite(v)
               for acc in probe.values() for v in acc.values())


def _disparity(toy: dict[str, dict[str, float]]) -> float:
    return toy["simclr_balanced"]["tail_accuracy"] - toy["simclr_lt"]["tail_accuracy"]


def _negative(value: float) -> bool:
    return value < 0


#: The disparity GH is meant to fix: SimCLR at ratio 64 loses at least 20 points of tail
#: accuracy; GH's mechanism: class means closer to the simplex ETF (quick, seeds 0-4: -0.20).
_SPHERE_BANDS = (
    Band("sphere_toy", test=lambda toy: _disparity(toy) >= 0.20,
         reason="SimCLR at ratio 64 loses >= 20 points of tail accuracy"),
    Band("sphere_toy_paired.etf_gap.mean", test=_negative,
         reason="GH brings the class means closer to the simplex ETF"),
)

#: Quick mode, seed 0 (the notebook's Checks and tests/notebooks/test_notebook_06.py).
#: Measured at the defaults (seeds 0-4, after issue 23's fix, GH's projector training in
#: train mode): GH - SimCLR tail accuracy -2.0 [-13.0, +9.1] points, ETF gap -0.13 [-0.29,
#: +0.03], tail-nearest cosine -0.14 [-0.43, +0.15]; issue 15's target (the tail's interval
#: above zero) is NOT met: these bands pin what was measured. MNIST-1D: ten balanced test
#: classes (chance 0.1; 0.56 and 0.55 at seed 0); the few third's difference at seed 0 -5.1
#: points; 5 training seeds on one split: all classes -1.5 [-2.6, -0.5].
BANDS: tuple[Band, ...] = tuple(
    Band(f"probe_accuracy.{m}.all", low=0.3, high=1.0, reason="well above chance (0.1)")
    for m in ("simclr", "simclr_gh")
) + (
    Band("probe_accuracy", test=lambda p: p["simclr_gh"]["few"] - p["simclr"]["few"] >= -0.08,
         reason="GH does not cost the few third more than 8 points"),
    *_SPHERE_BANDS,
    Band("sphere_toy_paired.tail_accuracy.mean", low=-0.15, high=0.15,
         reason="GH's tail change stays within 15 points"),
    Band("sphere_toy_paired.tail_nearest_cosine.mean", test=_negative,
         reason="the tail moves away from its nearest class"),
    Band("probe_seed_table.all.difference", low=-0.08, high=0.08,
         reason="over the training seeds, GH - SimCLR within 8 points on all classes"),
)

#: The full-size record (tests/full/test_full_size.py).
FULL_BANDS: tuple[Band, ...] = (
    Band("probe_accuracy", test=_finite_probe, reason="finite probe accuracies"),
    *_SPHERE_BANDS,
)
