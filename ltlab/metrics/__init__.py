"""Metrics for imbalanced classification, as pure functions of tensors.

`accuracy` (accuracy, balanced and per-class accuracy, many / medium / few), `calibration`
(the ECE family, reliability bins, NLL, Brier), `scaling` (temperature, vector and
bias-corrected temperature scaling: one L-BFGS fit) and `summary` (the one evaluation
dictionary every driver reports).
"""

from .accuracy import (
    accuracy,
    balanced_accuracy,
    per_class_accuracy,
    shot_accuracy,
    shot_groups,
)
from .calibration import (
    adaptive_calibration_error,
    brier_score,
    calibration_error_split,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    overconfidence_error,
    per_class_calibration_error,
    reliability_bins,
    shot_calibration_error,
    shot_calibration_gap,
)
from .intervals import (
    balanced_accuracy_difference,
    ece_difference,
    format_interval,
    interval_verdict,
    mean_interval,
    paired_interval,
)
from .scaling import (
    LogitScaling,
    fit_bias_corrected_temperature,
    fit_temperature,
    fit_vector_scaling,
)
from .summary import summary

__all__ = [
    "accuracy",
    "balanced_accuracy_difference",
    "ece_difference",
    "balanced_accuracy",
    "per_class_accuracy",
    "shot_groups",
    "shot_accuracy",
    "reliability_bins",
    "expected_calibration_error",
    "maximum_calibration_error",
    "classwise_calibration_error",
    "shot_calibration_error",
    "negative_log_likelihood",
    "brier_score",
    "fit_temperature",
    "summary",
    "LogitScaling",
    "adaptive_calibration_error",
    "calibration_error_split",
    "fit_bias_corrected_temperature",
    "fit_vector_scaling",
    "overconfidence_error",
    "per_class_calibration_error",
    "shot_calibration_gap",
]
