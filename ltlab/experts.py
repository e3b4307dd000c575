"""BalPoE's contract import path: everything here is `ltlab.balpoe`, where the code lives.

``from ltlab.experts import BalPoE`` (the design's public path) and ``from ltlab.balpoe import
BalPoE`` give the same objects; this is not a deprecation.
"""

from .balpoe import (
    BalPoE,
    BalPoEMethod,
    BiasedEnsembleWarning,
    evenly_spaced_lambdas,
    expert_target_priors,
    lambdas_from_taus,
    midpoint_lambdas,
    miscalibrated_logits,
)

__all__ = [
    "BalPoE",
    "BalPoEMethod",
    "BiasedEnsembleWarning",
    "evenly_spaced_lambdas",
    "midpoint_lambdas",
    "lambdas_from_taus",
    "expert_target_priors",
    "miscalibrated_logits",
]
