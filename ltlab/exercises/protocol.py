"""The one protocol every exercise checker follows.

A checker takes the student's answer and returns ``True`` or ``False`` after printing one
line of feedback. It never raises, so a notebook runs top to bottom whatever the student
wrote:

- ``None`` (the placeholder left in the notebook) prints :data:`NOT_ANSWERED` and returns
  False;
- an answer that is a function is run through :func:`run_student`, which catches its error
  and reports it;
- the result is compared with the reference; a wrong answer gets a hint, and the classic
  mistake of that exercise gets the hint written for it.

Each ``ltlab.exercises.<topic>`` module lists its exercises in ``EXERCISES`` (one
:class:`Exercise` each, with the reference answer and the classic mistake), so one test
runs every checker the three ways.

>>> check_value(None, 2.0)
Not answered yet: replace None with your answer and run the cell again.
False
>>> check_value(2.0, 2.0)
Correct: 2.
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NOT_ANSWERED", "Exercise", "check_value", "not_answered", "run_student"]

NOT_ANSWERED = "Not answered yet: replace None with your answer and run the cell again."


@dataclass(frozen=True)
class Exercise:
    """One exercise: its checker, a reference answer and the classic mistake.

    ``reference`` and ``mistake`` are zero-argument factories returning an answer (a value,
    or the function a student would write); ``kwargs`` are passed to the checker after the
    answer; ``hint`` is a phrase that the checker's feedback on ``mistake`` must contain.
    """

    checker: Callable[..., bool]
    reference: Callable[[], Any]
    mistake: Callable[[], Any]
    hint: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.checker.__name__

    def check(self, answer: Any) -> bool:
        return self.checker(answer, **self.kwargs)


def not_answered(answer: Any) -> bool:
    """True (after printing :data:`NOT_ANSWERED`) when the student left ``None``."""
    if answer is None:
        print(NOT_ANSWERED)
        return True
    return False


class StudentError(Exception):
    """The student's function raised; the message has already been printed."""


def run_student(fn: Any, *args: Any) -> Any:
    """Call the student's function; print and raise :class:`StudentError` if it fails.

    Checkers use it as ``try: got = run_student(fn, x) except StudentError: return False``.
    """
    if not callable(fn):
        print(f"Expected a function, got {type(fn).__name__}: define it with `def` and pass "
              "its name (without calling it).")
        raise StudentError("not callable")
    try:
        return fn(*args)
    except Exception as err:  # the student's code: report it, never crash the notebook
        print(f"Your function raised {type(err).__name__}: {err}")
        raise StudentError(str(err)) from err


def check_value(answer: Any, expected: float, tol: float = 1e-6, hint: str = "") -> bool:
    """Compare a numeric answer with ``expected`` within ``tol`` (absolute)."""
    if not_answered(answer):
        return False
    try:
        value = float(answer)
    except (TypeError, ValueError):
        print(f"Expected a number, got {answer!r}.")
        return False
    if math.isfinite(value) and abs(value - expected) <= tol:
        print(f"Correct: {value:.6g}.")
        return True
    print(f"Not quite: you gave {value:.6g}. {hint}".rstrip())
    return False
