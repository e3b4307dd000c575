"""Notebook 08's driver (optional, continues notebook 06): SimCLR and SimCLR + GH pre-trained
on MNIST-1D-LT and compared by a balanced linear probe, at the first seed and over training
seeds on the same split.

The parts live in `ltlab.experiments.gh.probe` (re-exported by `ltlab.experiments.gh`):
`mnist1d_pretraining_splits` makes the split, `pretrain_and_probe` pre-trains both and probes
(a `GHComparison`), `compare_seeds` the multi-seed table (a `SeedTable`), `ProbeSettings`
(`probe_settings`) sizes it. This module follows the protocol of
`ltlab.experiments.protocol`: `settings(quick)` -> `Settings`, ``compare(settings, *, seeds,
device, workers)`` -> `GHProbeResult`, `recorded_results`, `BANDS` (quick mode, seed 0),
`FULL_BANDS` (the full-size record) and `CLAIMS` (the paper's headlines, for "Paper vs this
lab").

>>> s = settings()
>>> s.probe.warmup_epochs, s.probe.imbalance_ratio, settings(quick=False).probe.seeds
(10, 100, 8)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..models import PooledCNN1D
from ..train import resolve_device
from .gh.probe import (
    GHComparison,
    ProbeSettings,
    SeedTable,
    compare_seeds,
    mnist1d_pretraining_splits,
    pretrain_and_probe,
    probe_settings,
)
from .paper_vs_lab import Claim
from .process_pool import map_tasks
from .protocol import Band

__all__ = [
    "BANDS",
    "CLAIMS",
    "FULL_BANDS",
    "GHProbeResult",
    "NOTEBOOK",
    "Settings",
    "compare",
    "hashed_settings",
    "recorded_results",
    "settings",
]

NOTEBOOK = "08_gh_on_mnist1d"


@dataclass(frozen=True)
class Settings:
    """Every size notebook 08 runs at: the MNIST-1D probe (`ProbeSettings`) and ``seed``, the
    first seed (it splits MNIST-1D and the table trains the seeds ``seed``, ``seed + 1``, ...,
    ``probe.seeds`` of them)."""

    probe: ProbeSettings = ProbeSettings()
    seed: int = 0

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def settings(quick: bool = True) -> Settings:
    """Quick (a 2-core CPU, well under a minute) or full size: see `probe_settings`."""
    return Settings(probe=probe_settings(quick))


def hashed_settings(s: Settings) -> dict[str, Any]:
    """What the full-size settings hash covers (`ltlab.experiments.full_size`): the probe
    settings' flat layout (``s.probe.legacy()``)."""
    return s.probe.legacy()


@dataclass
class GHProbeResult:
    """What `compare` returns: the MNIST-1D split (``data``, the balanced probe set
    ``probe_x``, ``probe_y``), the run at the first seed (``run``) and the multi-seed table
    (``table``)."""

    data: Any
    probe_x: torch.Tensor
    probe_y: torch.Tensor
    run: GHComparison
    table: SeedTable

    def rows(self) -> list[dict[str, Any]]:
        """One row per method: the probe accuracy at the first seed (`GHComparison.rows`);
        the multi-seed table's are ``table.rows()``."""
        return self.run.rows()


def _task(task: tuple) -> Any:
    """One CPU training of `compare`'s pool: the first seed (the whole run) or a table seed
    (its probe accuracy)."""
    kind, seed, s, data, probe_x, probe_y = task
    run = pretrain_and_probe(data, probe_x, probe_y, PooledCNN1D, s, seed=seed, device="cpu")
    return run if kind == "probe_first" else run.probe_accuracy


def compare(settings: Settings, *, seeds: Sequence[int] | None = None, device: str = "auto",
            workers: int = 1) -> GHProbeResult:
    """Run notebook 08: the MNIST-1D split, the paired pre-training at the first seed and the
    table over the training seeds. Default seeds: see `Settings`; ``seeds``, when given, are
    the table's seeds (the first one also splits MNIST-1D). ``workers`` one-thread processes
    train the seeds on the CPU (the same numbers as one worker), the first seed first."""
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be the Settings of settings(quick) (got "
                        f"{type(settings).__name__}).")
    p, first = settings.probe, settings.seed
    if seeds is None:
        table_seeds = [first + s for s in range(p.seeds)]
    else:
        table_seeds = [int(s) for s in seeds]
        if not table_seeds:
            raise ValueError("seeds must name at least one seed, e.g. seeds=[0].")
        first = table_seeds[0]
    dev = str(resolve_device(device))
    data, probe_x, probe_y = mnist1d_pretraining_splits(
        p.imbalance_ratio, p.max_count, p.probe_per_class, p.test_per_class, seed=first)
    split = (data, probe_x, probe_y)
    if dev == "cpu":
        rest = [x for x in table_seeds if x != first]
        tasks = ([("probe_first", first, p, *split)]
                 + [("probe", x, p, *split) for x in rest])
        out = map_tasks(_task, tasks, workers=workers)
        run = out[0]
        done = {first: run.probe_accuracy, **dict(zip(rest, out[1:]))}
        table = SeedTable(table_seeds, [done[x] for x in table_seeds])
        return GHProbeResult(data, probe_x, probe_y, run, table)
    run = pretrain_and_probe(data, probe_x, probe_y, PooledCNN1D, p, seed=first, device=dev)
    table = compare_seeds(data, probe_x, probe_y, p, table_seeds, workers=workers,
                          done={first: run.probe_accuracy}, device=dev)
    return GHProbeResult(data, probe_x, probe_y, run, table)


def _gain(row: dict[str, float]) -> dict[str, float]:
    return {"mean": row["difference"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]}


def recorded_results(result: GHProbeResult) -> dict[str, Any]:
    """Notebook 08's recorded keys: ``probe_accuracy[method][group]`` (the first seed),
    ``probe_seed_table[group]`` (the multi-seed table: both means and the paired difference
    with its interval) and ``probe_gain[group]``: that difference as an interval dict
    (``mean``, ``ci_low``, ``ci_high``)."""
    rows = result.table.rows()
    return {"probe_accuracy": result.run.probe_accuracy,
            "probe_seed_table": {row["group"]: {k: v for k, v in row.items() if k != "group"}
                                 for row in rows},
            "probe_gain": {row["group"]: _gain(row) for row in rows}}


_FEW = ("+4.5 points on the few classes (SimCLR 47.7 % → SimCLR + GH 52.1 %), "
        "CIFAR-100-LT (ρ = 100), ResNet-18, linear probe")

#: The paper's headlines and where this lab measures them ("Paper vs this lab").
CLAIMS = (
    Claim("GH lifts the tail third (MNIST-1D-LT, linear probe)", paper=_FEW,
          key="probe_gain.few",
          reason="a small network trained briefly on a few thousand signals at most; π̂ "
                 "stays far flatter than the class prior"),
    Claim("GH lifts all classes (MNIST-1D-LT, linear probe)",
          paper="+3.2 points on all classes (50.7 % → 54.0 %), CIFAR-100-LT (ρ = 100)",
          key="probe_gain.all",
          reason="the same small budget; the flat π̂ pulls head samples onto other anchors"),
)


def _finite_probe(probe: dict[str, dict[str, float]]) -> bool:
    return all(isinstance(v, float) and math.isfinite(v)
               for acc in probe.values() for v in acc.values())


#: Quick mode, seed 0 (the notebook's self-test and tests/notebooks/test_notebook_08.py):
#: the probe well above chance (0.1) for both pre-trainings, GH's change on the tail third
#: at the first seed and on all classes over the training seeds bounded.
BANDS: tuple[Band, ...] = tuple(
    Band(f"probe_accuracy.{m}.all", low=0.3, high=1.0, reason="well above chance (0.1)")
    for m in ("simclr", "simclr_gh")
) + (
    Band("probe_accuracy", test=lambda p: p["simclr_gh"]["few"] - p["simclr"]["few"] >= -0.08,
         reason="GH does not cost the tail third more than 8 points"),
    Band("probe_seed_table.all.difference", low=-0.08, high=0.08,
         reason="over the training seeds, GH - SimCLR within 8 points on all classes"),
)

#: The full-size record (tests/full/test_full_size.py).
FULL_BANDS: tuple[Band, ...] = (
    Band("probe_accuracy", test=_finite_probe, reason="finite probe accuracies"),
)
