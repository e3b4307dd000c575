"""Exercise checkers: one protocol (:mod:`.protocol`) and one module per notebook.

``None`` -> "not answered yet" and False; the student's function is run and its error
caught; the answer is compared with the reference and a hint is printed.
"""

from .balpoe import check_ensemble_bias, check_expert_prior
from .calibration import check_ece_by_hand, check_prior_correction
from .flexda import check_alpha, check_ema_steps, check_smoothed_prior
from .gh import check_allocation, check_prior_distance, check_simplex_inner_product
from .lda import check_balance_factor, check_tail_weight
from .logit_adjustment import check_balanced_rule, check_la_loss
from .predict import show_prediction
from .protocol import NOT_ANSWERED, Exercise, check_value, not_answered, run_student
from .tour import check_imbalance_ratio, check_tail_share

__all__ = [
    "NOT_ANSWERED",
    "Exercise",
    "check_allocation",
    "check_alpha",
    "check_balance_factor",
    "check_balanced_rule",
    "check_ece_by_hand",
    "check_ema_steps",
    "check_ensemble_bias",
    "check_expert_prior",
    "check_imbalance_ratio",
    "check_la_loss",
    "check_prior_correction",
    "check_prior_distance",
    "check_simplex_inner_product",
    "check_smoothed_prior",
    "check_tail_share",
    "check_tail_weight",
    "check_value",
    "not_answered",
    "run_student",
    "show_prediction",
]
