"""Notebook 06's driver: the protocol of `ltlab.experiments.protocol` over the sphere toy of
`ltlab.experiments.gh` (listed in the package docstring; the package re-exports it all). The
MNIST-1D probe, its optional continuation, has its own driver, `ltlab.experiments.gh_mnist1d`
(notebook 08)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..paper_vs_lab import Claim
from ..protocol import Band
from .marginals import recorded_marginal_results
from .sphere import (
    SphereComparison,
    SphereSettings,
    compare_sphere,
    recorded_sphere_results,
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

#: The key under which the full-size settings hash covers the sphere toy's settings.
_SPHERE_HASH_KEY = "ltlab.experiments.gh_sphere:settings"


@dataclass(frozen=True)
class Settings:
    """Every size notebook 06 runs at: the sphere toy and ``seed``, the first seed (the
    sphere toy runs ``seed + s`` for ``s`` in ``sphere.seeds``)."""

    sphere: SphereSettings = SphereSettings()
    seed: int = 0

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def legacy(self) -> dict[str, Any]:
        """The settings in the layout the full-size settings hash covers: the sphere toy's,
        under its ``module:function`` name."""
        return {_SPHERE_HASH_KEY: self.sphere.legacy()}


def settings(quick: bool = True) -> Settings:
    """Quick (a 2-core CPU, about a minute) or full size: see `sphere_settings`."""
    return Settings(sphere=sphere_settings(quick))


def hashed_settings(s: Settings) -> dict[str, Any]:
    """What the full-size settings hash covers (`ltlab.experiments.full_size`):
    ``s.legacy()``."""
    return s.legacy()


@dataclass
class GHResult:
    """What `compare` returns: the sphere toy (``sphere``, a `SphereComparison`)."""

    sphere: SphereComparison

    def rows(self) -> list[dict[str, Any]]:
        """One row per seed and arm: the sphere toy's three metrics (``sphere.rows()``)."""
        return self.sphere.rows()


def compare(settings: Settings, *, seeds: Sequence[int] | None = None, device: str = "auto",
            workers: int = 1) -> GHResult:
    """Run notebook 06: the sphere toy, on the CPU whatever ``device`` says (a toy this
    small gains nothing from a GPU). Default seeds: see `Settings`; ``seeds``, when given,
    replace them. ``workers`` one-thread processes train the seeds (the same numbers as one
    worker)."""
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be the Settings of settings(quick) (got "
                        f"{type(settings).__name__}).")
    if seeds is None:
        sphere_seeds = [settings.seed + s for s in settings.sphere.seeds]
    else:
        sphere_seeds = [int(s) for s in seeds]
    return GHResult(compare_sphere(settings.sphere, seeds=sphere_seeds, workers=workers))


def recorded_results(result: GHResult) -> dict[str, Any]:
    """Notebook 06's recorded keys: ``sphere_toy[arm][metric]`` (means over seeds),
    ``sphere_toy_paired[metric]`` (GH - SimCLR at ratio 64: mean and 95 % interval) and the
    marginals' keys (`recorded_marginal_results`: ``sphere_toy_marginals``,
    ``sphere_toy_improvements``, ``sphere_toy_prior_error``)."""
    return {**recorded_sphere_results(result.sphere),
            **recorded_marginal_results(result.sphere.runs)}


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
)


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
#: three marginals, the faster memory's gain over GH's own pi_hat and GH's own change bounded.
BANDS: tuple[Band, ...] = (
    *_SPHERE_BANDS,
    Band("sphere_toy_marginals.matched.ci_low", test=_positive,
         reason="GH with the class prior as marginal: the tail's interval lies above zero"),
    Band("sphere_toy_marginals", test=_ordered,
         reason="matched > estimated > uniform: the closer the marginal, the better the tail"),
    Band("sphere_toy_improvements.faster_memory.vs_estimated.mean", test=_positive,
         reason="a faster memory after the warm-up helps GH's own pi_hat on average"),
    Band("sphere_toy_paired.tail_accuracy.mean", low=-0.15, high=0.15,
         reason="GH's tail change with its own pi_hat stays within 15 points"),
)

#: The full-size record (tests/full/test_full_size.py).
FULL_BANDS: tuple[Band, ...] = _SPHERE_BANDS
