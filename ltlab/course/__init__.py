"""Course tooling: student copies without solutions (`ltlab.course.student`), nbgrader's
marks and autograder tests (`ltlab.course.marking`, `ltlab.course.grading`), slide decks
(`ltlab.course.slides`) and the rendered book (`ltlab.course.book`); the ``ltlab student``,
``ltlab slides`` and ``ltlab book`` verbs call them. `ltlab.course.interleave` executes an
instructor notebook and its student copy in one run (the tests' headless run)."""

from . import book, grading, interleave, marking, offline, slides, student
from .book import API_MODULES, BookResult, build_book
from .grading import graded
from .interleave import exercise_feedback, interleaved_notebook, run_interleaved, split_interleaved
from .marking import (
    add_autograder_tests,
    autograder_problems,
    checker_call_sources,
    mark_nbgrader_cells,
    nbgrader_problems,
)
from .slides import build_slides, tag_slides
from .student import (
    CODE_STUB,
    NBGRADER_CONFIG,
    TEXT_STUB,
    SolutionError,
    SyncProblem,
    has_solutions,
    invalid_code_cells,
    out_of_sync,
    solution_lines,
    student_notebook,
    write_student_copies,
)

__all__ = [
    "API_MODULES",
    "BookResult",
    "build_book",
    "exercise_feedback",
    "interleaved_notebook",
    "run_interleaved",
    "split_interleaved",
    "build_slides",
    "tag_slides",
    "graded",
    "CODE_STUB",
    "NBGRADER_CONFIG",
    "TEXT_STUB",
    "SolutionError",
    "SyncProblem",
    "add_autograder_tests",
    "autograder_problems",
    "checker_call_sources",
    "has_solutions",
    "invalid_code_cells",
    "mark_nbgrader_cells",
    "nbgrader_problems",
    "out_of_sync",
    "solution_lines",
    "student_notebook",
    "write_student_copies",
]
