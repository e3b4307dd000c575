"""Every exercise checker, run the three ways of the protocol (`ltlab.exercises.protocol`).

The exercises modules are discovered (every module of ``ltlab.exercises`` but ``protocol``),
so a new notebook's checkers are tested as soon as its module lists them in ``EXERCISES``.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil

import pytest

import ltlab.exercises
from ltlab.exercises.protocol import (
    NOT_ANSWERED,
    Exercise,
    StudentError,
    check_value,
    not_answered,
    run_student,
)

MODULES = [importlib.import_module(f"ltlab.exercises.{info.name}")
           for info in pkgutil.iter_modules(ltlab.exercises.__path__)
           if info.name not in ("protocol", "predict")]  # predict: no checkers, see predict.py
CASES = [pytest.param(ex, id=f"{m.__name__.rsplit('.', 1)[-1]}.{ex.name}")
         for m in MODULES for ex in m.EXERCISES]


def test_exercises_modules_are_found():
    names = {m.__name__ for m in MODULES}
    assert "ltlab.exercises.tour" in names and "ltlab.exercises.protocol" not in names
    assert all(isinstance(ex, Exercise) for m in MODULES for ex in m.EXERCISES)


@pytest.mark.parametrize("exercise", CASES)
def test_checker_three_ways(exercise, capsys):
    assert exercise.check(None) is False
    assert "Not answered yet" in capsys.readouterr().out

    assert exercise.check(exercise.reference()) is True, capsys.readouterr().out
    capsys.readouterr()

    assert exercise.check(exercise.mistake()) is False
    feedback = capsys.readouterr().out
    assert exercise.hint.lower() in feedback.lower(), (
        f"{exercise.name}: the classic mistake's feedback lacks the hint {exercise.hint!r}; "
        f"it printed {feedback!r}")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_checker_of_a_module_is_in_its_exercises(module):
    checkers = {name for name, fn in inspect.getmembers(module, inspect.isfunction)
                if name.startswith("check_") and fn.__module__ == module.__name__}
    listed = {ex.name for ex in module.EXERCISES}
    assert checkers <= listed, f"{module.__name__}: untested checkers {sorted(checkers - listed)}"
    assert listed <= checkers, f"{module.__name__}: EXERCISES names foreign checkers"


# ----------------------------------------------------------------------------- the protocol
def test_not_answered_only_for_none(capsys):
    assert not_answered(None) is True and capsys.readouterr().out.strip() == NOT_ANSWERED
    for answer in (0, 0.0, "", [], False):
        assert not_answered(answer) is False
    assert capsys.readouterr().out == ""


def test_run_student_returns_the_result_and_catches_errors(capsys):
    assert run_student(lambda a, b: a + b, 2, 3) == 5

    def broken(x):
        return x / 0

    with pytest.raises(StudentError):
        run_student(broken, 1)
    assert "Your function raised ZeroDivisionError" in capsys.readouterr().out
    with pytest.raises(StudentError):
        run_student(3.0, 1)  # called the function instead of passing it
    assert "Expected a function, got float" in capsys.readouterr().out


def test_a_checker_survives_a_student_function_that_raises(capsys):
    """The pattern every checker uses: the student's error is printed, the checker returns
    False and the notebook goes on."""

    def checker(fn):
        try:
            got = run_student(fn, 2.0)
        except StudentError:
            return False
        return check_value(got, 4.0)

    assert checker(lambda x: x * 2) is True
    assert checker(lambda x: undefined_name) is False  # noqa: F821
    assert "NameError" in capsys.readouterr().out


@pytest.mark.parametrize("answer, tol, expected", [
    (2.0, 1e-6, True),
    (2.0 + 5e-7, 1e-6, True),
    (2.0 + 2e-6, 1e-6, False),
    (2.05, 0.1, True),
    (1.8, 0.1, False),
    (2, 0.0, True),          # an int is a number
    (math.nan, 1.0, False),  # NaN is never close
    (math.inf, math.inf, False),
])
def test_check_value_tolerance_is_absolute(answer, tol, expected, capsys):
    assert check_value(answer, 2.0, tol=tol, hint="Look again.") is expected
    out = capsys.readouterr().out
    assert out.startswith("Correct") if expected else "Not quite" in out and "Look again." in out


def test_check_value_refuses_what_is_not_a_number(capsys):
    assert check_value("two", 2.0) is False
    assert "Expected a number, got 'two'" in capsys.readouterr().out
    assert check_value(None, 2.0) is False
    assert NOT_ANSWERED in capsys.readouterr().out
