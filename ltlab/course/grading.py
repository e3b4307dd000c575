"""Autograding with nbgrader: every exercise checker is also an autograder test.

An exercise cell of an instructor notebook ends with a checker call, which prints one line
of feedback for the student (`ltlab.exercises.protocol`)::

    answer = None
    ### BEGIN SOLUTION
    answer = ...
    ### END SOLUTION
    check_imbalance_ratio(answer, data.train_counts);

nbgrader grades a cell only if it is an *autograder tests* cell (no solution, locked, with
points), so ``ltlab student SRC --mark`` (`ltlab.course.marking.add_autograder_tests`)
puts one after each cell that calls a checker. Its tests are hidden (students see one
comment line; nbgrader restores the hidden lines before it grades a submission) and call
the same checkers again through :func:`graded`::

    # nbgrader reruns the checker above here when it grades a submission.
    ### BEGIN HIDDEN TESTS
    from ltlab.course.grading import graded

    graded(
        lambda: check_imbalance_ratio(answer, data.train_counts),
    )
    ### END HIDDEN TESTS

:func:`graded` runs each check with its printed feedback captured (the student already read
it above) and returns how many passed: nbgrader reads that number as the cell's partial
credit (the cell's points are the number of checks). A check that fails, raises or was
left unanswered counts 0, so an unanswered student copy scores 0 and the worked solutions
score full marks (``tests/tooling/test_course.py`` runs ``nbgrader autograde`` on both).

The grading kernel imports this module; it needs only the standard library.

>>> graded(lambda: True, lambda: False, lambda: 1 / 0)
1
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

__all__ = ["AUTOGRADE_TAG", "autograder_source", "graded"]

#: the tag of an autograder tests cell (the slide rule skips it)
AUTOGRADE_TAG = "autograder-tests"
#: the line a student sees in an autograder tests cell
VISIBLE_LINE = "# nbgrader reruns the checker above here when it grades a submission."


def graded(*checks: Callable[[], object]) -> int:
    """How many of the zero-argument ``checks`` return True, each run with its printed
    output captured and its errors counted as a failure (never raised)."""
    passed = 0
    for check in checks:
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                ok = check()
        except Exception:  # a student's function may raise: that check fails, the cell runs on
            ok = False
        passed += ok is True
    return passed


def autograder_source(calls: list[str]) -> str:
    """The source of the autograder tests cell of a cell that calls the checkers ``calls``
    (each the source text of one call, e.g. ``"check_x(answer)"``).

    >>> print(autograder_source(["check_x(answer)"]).splitlines()[-3])
        lambda: check_x(answer),
    """
    if not calls:
        raise ValueError("autograder_source needs at least one checker call.")
    lines = [VISIBLE_LINE, "### BEGIN HIDDEN TESTS", "from ltlab.course.grading import graded",
             "", "graded("]
    for call in calls:
        body = "\n    ".join(call.split("\n"))  # a call over several lines stays indented
        lines.append(f"    lambda: {body},")
    lines += [")", "### END HIDDEN TESTS"]
    return "\n".join(lines)
