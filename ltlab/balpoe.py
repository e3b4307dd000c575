"""Deprecated: notebook 02's experiments moved; this module only forwards (until ltlab 0.3).

BalPoE itself (`BalPoE`, `BalPoEMethod`, the λ sets) is `ltlab.experts`. Notebook 02's
driver is `ltlab.experiments.balpoe` (its ``recorded_results(result)`` now takes a
`BalPoEComparison`; the old two-argument ``recorded_results(table, shifted)`` is
`ltlab.experiments.balpoe.table_results`); the exercise checkers are in
`ltlab.exercises.balpoe`.
"""

from ._deprecation import moved_names

__getattr__ = moved_names(__name__, {
    "SHIFTS": "ltlab.experiments.balpoe",
    "TABLE2_MODELS": "ltlab.experiments.balpoe",
    "train_models": "ltlab.experiments.balpoe",
    "calibration_table": "ltlab.experiments.balpoe",
    "shifted_test_sets": "ltlab.experiments.balpoe",
    "shifted_accuracy": "ltlab.experiments.balpoe",
    "experts_curve": "ltlab.experiments.balpoe",
    "expert_marginals": "ltlab.experiments.balpoe",
    "recorded_results": "ltlab.experiments.balpoe:table_results",
    "check_ensemble_bias": "ltlab.exercises.balpoe",
    "check_expert_prior": "ltlab.exercises.balpoe",
})
