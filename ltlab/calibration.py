"""Deprecated: notebook 04's driver moved to `ltlab.experiments.calibration`, its exercise
checkers to `ltlab.exercises.calibration`, and the calibration metrics and scalings to
`ltlab.metrics` (kept here, with a DeprecationWarning, until ltlab 0.3)."""

from ._deprecation import moved_names

__getattr__ = moved_names(__name__, {
    # metrics and post-hoc scaling
    "LogitScaling": "ltlab.metrics",
    "accuracy": "ltlab.metrics",
    "adaptive_calibration_error": "ltlab.metrics",
    "balanced_accuracy": "ltlab.metrics",
    "calibration_error_split": "ltlab.metrics",
    "classwise_calibration_error": "ltlab.metrics",
    "expected_calibration_error": "ltlab.metrics",
    "fit_bias_corrected_temperature": "ltlab.metrics",
    "fit_temperature": "ltlab.metrics",
    "fit_vector_scaling": "ltlab.metrics",
    "maximum_calibration_error": "ltlab.metrics",
    "negative_log_likelihood": "ltlab.metrics",
    "overconfidence_error": "ltlab.metrics",
    "per_class_calibration_error": "ltlab.metrics",
    "reliability_bins": "ltlab.metrics",
    "shot_calibration_gap": "ltlab.metrics",
    "shot_groups": "ltlab.metrics",
    # notebook 04's experiment
    "MODEL_NAMES": "ltlab.experiments.calibration",
    "MODEL_LABELS": "ltlab.experiments.calibration",
    "zoo_settings": "ltlab.experiments.calibration:settings",
    "ModelZoo": "ltlab.experiments.calibration",
    "split_balanced": "ltlab.experiments.calibration",
    "train_model_zoo": "ltlab.experiments.calibration",
    "evaluate_zoo": "ltlab.experiments.calibration",
    "recorded_results": "ltlab.experiments.calibration",
    "SHIFT_SETTINGS": "ltlab.experiments.calibration",
    "EM_ITERATIONS": "ltlab.experiments.calibration",
    "prior_for_setting": "ltlab.experiments.calibration",
    "shifted_calibration": "ltlab.experiments.calibration",
    "label_shift_sweep": "ltlab.experiments.calibration",
    # notebook 04's exercises
    "EXERCISE_BINS": "ltlab.exercises.calibration",
    "exercise_predictions": "ltlab.exercises.calibration",
    "check_ece_by_hand": "ltlab.exercises.calibration",
    "check_prior_correction": "ltlab.exercises.calibration",
})
