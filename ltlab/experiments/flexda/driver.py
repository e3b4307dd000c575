"""Notebook 03's driver: the protocol of `ltlab.experiments.protocol` over the parts of
`ltlab.experiments.flexda` (listed in the package docstring; the package re-exports it all)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..paper_vs_lab import Claim
from ..protocol import Band
from .arms import (
    ArmsComparison,
    ArmsSettings,
    arms_settings,
    bayes_balanced_accuracy,
    compare_arms_settings,
    recorded_arms_results,
)

__all__ = [
    "BANDS",
    "CLAIMS",
    "FULL_BANDS",
    "FlexDAResult",
    "NOTEBOOK",
    "Settings",
    "compare",
    "hashed_settings",
    "recorded_results",
    "settings",
    "tradeoff_settings",
]

NOTEBOOK = "03_flexda_prior_estimation"

#: The key under which the full-size settings hash has always covered the arms' settings.
_ARMS_HASH_KEY = "ltlab.experiments.flexda_arms:settings"
_TRADEOFF_HASH_KEY = f"{__package__}:tradeoff"  # "<this package>:tradeoff"


def tradeoff_settings(quick: bool = True) -> ArmsSettings:
    """The accuracy-calibration trade-off's second setting: the demonstration's mixture and
    training (`arms_settings`) with the *consistent* unlabeled profile (the labeled long
    tail, so the classes with few labels also have few unlabeled samples), FlexDA and
    ADELLO only, unmonitored; 3 seeds in quick mode, 10 at full size.

    >>> tradeoff_settings().profile, tradeoff_settings().arms, tradeoff_settings(False).seeds
    ('consistent', ('flexda', 'adello'), 10)
    """
    return dataclasses.replace(arms_settings(quick), profile="consistent",
                               arms=("flexda", "adello"), monitor_every=0,
                               seeds=3 if quick else 10)


@dataclass(frozen=True)
class Settings:
    """Every size notebook 03 runs at: the arms on the demonstration's mixture, the
    trade-off's consistent setting (`tradeoff_settings`), and ``seed`` (the notebook's
    seed; the arms run their own ``arms.seeds`` seeds, 0, 1, ..., and the trade-off its
    ``tradeoff.seeds``). The MNIST-1D profile comparison and the 2-D toy are notebook 07's
    (`ltlab.experiments.flexda_mnist1d`)."""

    arms: ArmsSettings = ArmsSettings()
    tradeoff: ArmsSettings = tradeoff_settings()
    seed: int = 0

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def legacy(self) -> dict[str, Any]:
        """The settings in the layout the full-size settings hash covers: the arms' under
        their old ``module:function`` name, and the trade-off's consistent setting."""
        return {_ARMS_HASH_KEY: self.arms.legacy(),
                _TRADEOFF_HASH_KEY: {**self.tradeoff.legacy(), "profile": self.tradeoff.profile,
                                     "arms": list(self.tradeoff.arms)}}


def settings(quick: bool = True) -> Settings:
    """Quick (CPU, about a minute with two workers) or full size (a GPU): see
    `arms_settings` and `tradeoff_settings`.

    >>> settings().arms.seeds, settings().tradeoff.seeds, settings(quick=False).arms.seeds
    (5, 3, 10)
    """
    return Settings(arms=arms_settings(quick), tradeoff=tradeoff_settings(quick))


def hashed_settings(s: Settings) -> dict[str, Any]:
    """What the full-size settings hash covers (`ltlab.experiments.full_size`): the arms
    and the trade-off (``s.legacy()``)."""
    return s.legacy()


@dataclass
class FlexDAResult:
    """What `compare` returns: the arms, the balanced Bayes rule's accuracy on the arms'
    mixture (their ceiling) and the trade-off's consistent setting (FlexDA and ADELLO,
    `tradeoff_settings`)."""

    arms: ArmsComparison
    bayes: float
    tradeoff: ArmsComparison | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One row per arm of the reversed setting (`ArmsComparison.rows`)."""
        return self.arms.rows()


def compare(settings: Settings, *, seeds: Sequence[int] | None = None, device: str = "auto",
            workers: int = 1) -> FlexDAResult:
    """Run notebook 03: the arms on ``range(settings.arms.seeds)`` and the trade-off's
    consistent setting on ``range(settings.tradeoff.seeds)`` (``seeds``, when given, are
    both's seeds). ``workers`` > 1 trains in that many one-thread processes (CPU only; same
    numbers)."""
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be the Settings of settings(quick) (got "
                        f"{type(settings).__name__}).")
    arms, tradeoff = compare_arms_settings([settings.arms, settings.tradeoff], seeds=seeds,
                                           device=device, workers=workers)
    return FlexDAResult(arms, bayes_balanced_accuracy(settings.arms), tradeoff)


def recorded_results(result: FlexDAResult) -> dict[str, Any]:
    """Notebook 03's recorded keys: the arms' ``prior_arms``, ``prior_arms_ece``,
    ``prior_arms_paired`` and ``pass_rate_late``, and the trade-off's ``consistent_arms``
    (the same keys for FlexDA and ADELLO on the consistent profile)."""
    out = recorded_arms_results(result.arms)
    if result.tradeoff is not None:
        out["consistent_arms"] = recorded_arms_results(result.tradeoff)
    return out


def _ece_lower_on_every_seed(ece: dict[str, Any]) -> bool:
    return all(a < b for a, b in zip(ece["flexda"]["per_seed"], ece["fixmatch"]["per_seed"]))


def _positive(value: float) -> bool:
    return isinstance(value, (int, float)) and value > 0 and not math.isnan(value)


#: Section 4: FlexDA beats FixMatch and alignment to a fixed P_L by at least 3
#: points, paired mean, with the 95 % interval above zero; its ECE is lower on every seed.
_ARMS_BANDS = tuple(
    band for key in ("flexda_minus_fixmatch", "flexda_minus_fixed_labeled") for band in (
        Band(f"prior_arms_paired.{key}.mean", low=0.03, reason="a gain of at least 3 points"),
        Band(f"prior_arms_paired.{key}.ci_low", test=_positive,
             reason="the 95 % interval lies above zero"),
    )) + (Band("prior_arms_ece", test=_ece_lower_on_every_seed,
               reason="FlexDA's ECE is below FixMatch's on every seed"),)

#: The accuracy-calibration trade-off (section 5): ADELLO's ECE is below FlexDA's with the
#: 95 % interval below zero in both settings; on the consistent profile its balanced
#: accuracy is not below FlexDA's by more than a point (paired mean).
_TRADEOFF_BANDS = (
    Band("prior_arms_paired.ece_adello_minus_flexda.ci_high", high=0.0,
         reason="reversed profile: ADELLO better calibrated than FlexDA"),
    Band("consistent_arms.prior_arms_paired.ece_adello_minus_flexda.ci_high", high=0.0,
         reason="consistent profile: ADELLO better calibrated than FlexDA"),
    Band("consistent_arms.prior_arms_paired.adello_minus_flexda.mean", low=-0.01,
         reason="consistent profile: ADELLO ties FlexDA in balanced accuracy (or beats it)"),
)

#: Quick mode, seed 0 (the notebook's self-test and tests/notebooks/test_notebook_03.py).
BANDS: tuple[Band, ...] = _TRADEOFF_BANDS + _ARMS_BANDS

#: The full-size record (tests/full/test_full_size.py): the same claims.
FULL_BANDS: tuple[Band, ...] = _ARMS_BANDS + _TRADEOFF_BANDS

_IMAGENET = "ImageNet127 at 32×32, balanced accuracy (the authors' ECCV 2024 slides)"
_NO_NUMBER = "its number is not in ltlab's sources"
_TOY = "a 10-class Gaussian mixture and a small MLP trained for a few hundred steps"

#: "Paper vs this lab" (the notebook's last section): the ADELLO paper's headlines and the
#: recorded paired differences over seeds that measure the same effect here.
CLAIMS: tuple[Claim, ...] = (
    Claim("ADELLO beats FixMatch in balanced accuracy",
          paper=f"+17.8 points (ADELLO 47.5 % vs FixMatch 29.7 %), {_IMAGENET}",
          key="prior_arms_paired.adello_minus_fixmatch",
          reason=f"{_TOY}; the distillation costs the labelled tail its pseudo-labels"),
    Claim("FlexDA (estimated Q̂) beats FixMatch",
          paper=f"the paper's ablation ({_NO_NUMBER}); ADELLO, FlexDA + distillation, is "
                f"+17.8 points over FixMatch on {_IMAGENET}",
          key="prior_arms_paired.flexda_minus_fixmatch", reason=_TOY),
    Claim("Estimating Q beats aligning to a fixed uniform target",
          paper=f"+3.4 points (ADELLO 47.5 % vs UDAL with α_min = 0.1, 44.1 %), {_IMAGENET}",
          key="prior_arms_paired.flexda_minus_uniform",
          reason="the paper compares two methods; here only the alignment target differs"),
    Claim("ADELLO is the most accurate (beats FlexDA alone), reversed profile",
          paper=f"ADELLO, FlexDA + distillation, is the paper's best method ({_NO_NUMBER})",
          key="prior_arms_paired.adello_minus_flexda",
          reason="heavily overlapping classes: the distillation lowers confidence, the pass "
                 "rate collapses and the labelled tail loses its pseudo-labels"),
    Claim("ADELLO is the most accurate (beats FlexDA alone), consistent profile",
          paper=f"ADELLO, FlexDA + distillation, is the paper's best method ({_NO_NUMBER})",
          key="consistent_arms.prior_arms_paired.adello_minus_flexda",
          reason="the classes that lose their pseudo-labels have few unlabelled samples here, "
                 "so little is lost; fewer seeds"),
    Claim("ADELLO lowers ECE below FlexDA's, reversed profile",
          paper=f"'proper calibration': lower ECE than the baselines ({_NO_NUMBER})",
          key="prior_arms_paired.ece_adello_minus_flexda", direction=-1, unit="points of ECE",
          reason=_TOY),
    Claim("ADELLO lowers ECE below FlexDA's, consistent profile",
          paper=f"'proper calibration': lower ECE than the baselines ({_NO_NUMBER})",
          key="consistent_arms.prior_arms_paired.ece_adello_minus_flexda", direction=-1,
          unit="points of ECE", reason=_TOY),
    Claim("FlexDA lowers ECE below FixMatch's",
          paper=f"'proper calibration' of FlexDA's logit-adjusted losses ({_NO_NUMBER})",
          key="prior_arms_paired.ece_flexda_minus_fixmatch", direction=-1,
          unit="points of ECE", reason=_TOY),
)
