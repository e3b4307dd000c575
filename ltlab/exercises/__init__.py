"""Exercise checkers: one protocol (:mod:`.protocol`) and one module per notebook.

``None`` -> "not answered yet" and False; the student's function is run and its error
caught; the answer is compared with the reference and a hint is printed.
"""

from .protocol import NOT_ANSWERED, Exercise, check_value, not_answered, run_student
from .tour import check_imbalance_ratio, check_tail_share

__all__ = [
    "NOT_ANSWERED",
    "Exercise",
    "check_imbalance_ratio",
    "check_tail_share",
    "check_value",
    "not_answered",
    "run_student",
]
