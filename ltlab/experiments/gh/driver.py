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
from ..paper_vs_lab import Claim
from ..process_pool import map_tasks
from ..protocol import Band
from .marginals import recorded_marginal_results
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
    run_seed,
    sphere_settings,
)

__all__ = [
    "BANDS",
    "CLAIMS",
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


def _task(task: tuple) -> Any:
    """One CPU training of `compare`'s shared pool: a sphere-toy seed or an MNIST-1D seed."""
    kind, seed, s = task[:3]
    if kind == "sphere":
        return run_seed(seed, s, **s.arms())
    data, probe_x, probe_y = task[3:]
    run = pretrain_and_probe(data, probe_x, probe_y, PooledCNN1D, s, seed=seed, device="cpu")
    return run if kind == "probe_first" else run.probe_accuracy


def compare(settings: Settings, *, seeds: Sequence[int] | None = None, device: str = "auto",
            workers: int = 1) -> GHResult:
    """Run notebook 06: the sphere toy (on the CPU), then MNIST-1D: the split, the paired
    pre-training at the first seed and the table over the training seeds. Default seeds:
    see `Settings`; ``seeds``, when given, are the seeds of both the sphere toy and the
    table (the first one also splits MNIST-1D). ``workers`` one-thread processes train the
    seeds (CPU only; the same numbers as one worker): on the CPU every training of both
    parts goes to one pool, the longest first, so no core waits for another part."""
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
    p = settings.probe
    data, probe_x, probe_y = mnist1d_pretraining_splits(
        p.imbalance_ratio, p.max_count, p.probe_per_class, p.test_per_class, seed=first)
    split = (data, probe_x, probe_y)
    if dev == "cpu":
        tasks = ([("probe_first", first, p, *split)]
                 + [("probe", x, p, *split) for x in table_seeds if x != first]
                 + [("sphere", x, settings.sphere) for x in sphere_seeds])
        out = map_tasks(_task, tasks, workers=workers)
        run, accs, runs = out[0], out[1:len(table_seeds)], out[len(table_seeds):]
        done = {first: run.probe_accuracy, **dict(zip([x for x in table_seeds if x != first], accs))}
        table = SeedTable(table_seeds, [done[x] for x in table_seeds])
        return GHResult(SphereComparison(runs=list(runs)), data, probe_x, probe_y, run, table)
    sphere = compare_sphere(settings.sphere, seeds=sphere_seeds, workers=workers)
    run = pretrain_and_probe(data, probe_x, probe_y, PooledCNN1D, p, seed=first, device=dev)
    table = compare_seeds(data, probe_x, probe_y, p, table_seeds, workers=workers,
                          done={first: run.probe_accuracy}, device=dev)
    return GHResult(sphere, data, probe_x, probe_y, run, table)


def _gain(row: dict[str, float]) -> dict[str, float]:
    return {"mean": row["difference"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]}


def recorded_results(result: GHResult) -> dict[str, Any]:
    """Notebook 06's recorded keys: ``probe_accuracy[method][group]`` (the first seed),
    ``sphere_toy[arm][metric]`` (means over seeds), ``sphere_toy_paired[metric]`` (GH -
    SimCLR at ratio 64: mean and 95 % interval), the marginals' keys
    (`recorded_marginal_results`: ``sphere_toy_marginals``, ``sphere_toy_improvements``,
    ``sphere_toy_prior_error``), ``probe_seed_table[group]`` (the multi-seed table: both
    means and the paired difference with its interval) and ``probe_gain[group]``: that
    difference as an interval dict (``mean``, ``ci_low``, ``ci_high``)."""
    rows = result.table.rows()
    return {"probe_accuracy": result.run.probe_accuracy,
            **recorded_sphere_results(result.sphere),
            **recorded_marginal_results(result.sphere.runs),
            "probe_seed_table": {row["group"]: {k: v for k, v in row.items() if k != "group"}
                                 for row in rows},
            "probe_gain": {row["group"]: _gain(row) for row in rows}}


_FEW = ("+4.5 points on the few classes (SimCLR 47.7 % → SimCLR + GH 52.1 %), "
        "CIFAR-100-LT (ρ = 100), ResNet-18, linear probe")

#: The paper's headline and where this lab measures it ("Paper vs this lab").
CLAIMS = (
    Claim("GH lifts the tail (sphere toy, GH's own π̂)", paper=_FEW,
          key="sphere_toy_marginals.estimated",
          reason="π̂ is read off a SimCLR warm-up that spreads the head over several "
                 "anchors, so GH enforces a marginal flatter than the class prior"),
    Claim("GH lifts the tail when its marginal is the class prior (sphere toy, oracle)",
          paper=_FEW, key="sphere_toy_marginals.matched",
          reason="the oracle needs the labels; it shows the mechanism, not the method"),
    Claim("GH with a faster memory lifts the tail (sphere toy, label-free)", paper=_FEW,
          key="sphere_toy_improvements.faster_memory.vs_simclr",
          reason="π̂ nears the class prior on most seeds, but few GH epochs remain to "
                 "use it, and the tail's gain varies widely between seeds"),
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


def _disparity(toy: dict[str, dict[str, float]]) -> float:
    return toy["simclr_balanced"]["tail_accuracy"] - toy["simclr_lt"]["tail_accuracy"]


def _ordered(marginals: dict[str, dict[str, float]]) -> bool:
    return (marginals["matched"]["mean"] > marginals["estimated"]["mean"]
            > marginals["uniform"]["mean"])


def _flatter(errors: dict[str, list[float]]) -> bool:
    shares = errors["largest_share"]
    return sum(shares) / len(shares) < 0.75  # the head's class prior: 256 / 340 = 0.753


def _positive(value: float) -> bool:
    return value > 0


#: What the sphere toy shows at every size: the disparity GH is meant to fix (SimCLR at
#: ratio 64 loses at least 20 points of tail accuracy), GH's oracle with the class prior as
#: marginal lifts the tail on average, more than a uniform marginal does, and GH's own
#: pi_hat after the warm-up is flatter than the class prior (its largest share below the
#: head's 0.75) on average over the seeds.
_SPHERE_BANDS = (
    Band("sphere_toy", test=lambda toy: _disparity(toy) >= 0.20,
         reason="SimCLR at ratio 64 loses >= 20 points of tail accuracy"),
    Band("sphere_toy_marginals.matched.mean", test=_positive,
         reason="GH with the class prior as marginal lifts the tail on average"),
    Band("sphere_toy_marginals", test=lambda m: m["matched"]["mean"] > m["uniform"]["mean"],
         reason="the class prior as marginal beats a uniform marginal"),
    Band("sphere_toy_prior_error", test=_flatter,
         reason="pi_hat after the warm-up is flatter than the class prior on average"),
)

#: Quick mode, seed 0 (the notebook's self-test and tests/notebooks/test_notebook_06.py):
#: the sphere toy's contract (the matched marginal's interval above zero), the order of the
#: three marginals, the faster memory's gain over GH's own pi_hat, and MNIST-1D's probe
#: well above chance (0.1) with GH's change bounded.
BANDS: tuple[Band, ...] = tuple(
    Band(f"probe_accuracy.{m}.all", low=0.3, high=1.0, reason="well above chance (0.1)")
    for m in ("simclr", "simclr_gh")
) + (
    Band("probe_accuracy", test=lambda p: p["simclr_gh"]["few"] - p["simclr"]["few"] >= -0.08,
         reason="GH does not cost the tail third more than 8 points"),
    *_SPHERE_BANDS,
    Band("sphere_toy_marginals.matched.ci_low", test=_positive,
         reason="GH with the class prior as marginal: the tail's interval lies above zero"),
    Band("sphere_toy_marginals", test=_ordered,
         reason="matched > estimated > uniform: the closer the marginal, the better the tail"),
    Band("sphere_toy_improvements.faster_memory.vs_estimated.mean", test=_positive,
         reason="a faster memory after the warm-up helps GH's own pi_hat on average"),
    Band("sphere_toy_paired.tail_accuracy.mean", low=-0.15, high=0.15,
         reason="GH's tail change with its own pi_hat stays within 15 points"),
    Band("probe_seed_table.all.difference", low=-0.08, high=0.08,
         reason="over the training seeds, GH - SimCLR within 8 points on all classes"),
)

#: The full-size record (tests/full/test_full_size.py).
FULL_BANDS: tuple[Band, ...] = (
    Band("probe_accuracy", test=_finite_probe, reason="finite probe accuracies"),
    *_SPHERE_BANDS,
)
