r"""Notebooks 03 and 07 (FlexDA: semi-supervised learning when the unlabeled prior is unknown).

The parts, one submodule each:

* `ltlab.experiments.flexda.arms`: the demonstration setting, seven choices of the prior
  the pseudo-labels are aligned to, over several seeds (`compare_arms`, `ArmsSettings`),
  and FlexDA vs ADELLO on the consistent profile (`tradeoff_settings`): notebook 03;
* `ltlab.experiments.flexda.monitor`: the pseudo-labels per true class during training
  (`PseudoLabelMonitor`, `late_rates`): notebook 03;
* `ltlab.experiments.flexda.profiles`: FixMatch vs FlexDA vs ADELLO on MNIST-1D with three
  unlabeled profiles (`compare_profiles`, sized by `ProfileSettings`): notebook 07;
* `ltlab.experiments.flexda.toy`: the 2-D picture, decision regions on a Gaussian mixture
  (`toy_regions`): notebook 07.

Notebook 03's protocol (`ltlab.experiments.protocol`; in `ltlab.experiments.flexda.driver`,
re-exported here): `settings(quick)` -> `Settings`, ``compare(settings, *, seeds, device,
workers)`` -> `FlexDAResult`, `recorded_results`, `BANDS` (quick mode, seed 0: the
notebook's self-test and its test) and `FULL_BANDS` (the full-size record). Notebook 07's is
`ltlab.experiments.flexda_mnist1d`.

>>> s = settings()
>>> s.arms.seeds, s.tradeoff.seeds, profile_settings().steps
(5, 3, 800)
"""

from __future__ import annotations

from .driver import (
    BANDS,
    CLAIMS,
    FULL_BANDS,
    NOTEBOOK,
    FlexDAResult,
    Settings,
    compare,
    hashed_settings,
    recorded_results,
    settings,
    tradeoff_settings,
)
from .arms import (
    ARMS,
    TRAINED,
    ArmsComparison,
    ArmsSettings,
    PseudoLabelMonitor,
    arms_settings,
    bayes_balanced_accuracy,
    bayes_pass_rate,
    compare_arms,
    compare_arms_settings,
    late_rates,
    make_arm,
    noise_view,
    recorded_arms_results,
    run_arm,
    split_summary,
)
from .profiles import (
    HARD_TO_EASY,
    ROW_COLUMNS,
    SHOTS,
    SPLIT_KEYS,
    ProfileSettings,
    SSLComparison,
    alpha_curves,
    compare_profiles,
    heldout_split,
    make_ssl_data,
    mnist1d_pool,
    profile_settings,
    recorded_profile_results,
    reorder_classes,
    run_ssl,
    true_unlabeled_prior,
)
from .toy import (
    toy_data,
    toy_regions,
)

__all__ = [
    "ARMS",
    "ArmsComparison",
    "ArmsSettings",
    "BANDS",
    "CLAIMS",
    "FULL_BANDS",
    "FlexDAResult",
    "HARD_TO_EASY",
    "NOTEBOOK",
    "ProfileSettings",
    "PseudoLabelMonitor",
    "ROW_COLUMNS",
    "SHOTS",
    "SPLIT_KEYS",
    "SSLComparison",
    "Settings",
    "TRAINED",
    "alpha_curves",
    "arms_settings",
    "bayes_balanced_accuracy",
    "bayes_pass_rate",
    "compare",
    "compare_arms",
    "compare_arms_settings",
    "compare_profiles",
    "hashed_settings",
    "heldout_split",
    "late_rates",
    "make_arm",
    "make_ssl_data",
    "mnist1d_pool",
    "noise_view",
    "profile_settings",
    "recorded_arms_results",
    "recorded_profile_results",
    "recorded_results",
    "reorder_classes",
    "run_arm",
    "run_ssl",
    "settings",
    "split_summary",
    "toy_data",
    "toy_regions",
    "tradeoff_settings",
    "true_unlabeled_prior",
]
