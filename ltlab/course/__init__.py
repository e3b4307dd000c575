"""Course tooling: student copies without solutions (`ltlab.course.student`), slide decks
(`ltlab.course.slides`) and the rendered book (`ltlab.course.book`); the ``ltlab student``,
``ltlab slides`` and ``ltlab book`` verbs call them."""

from . import book, offline, slides, student
from .book import API_MODULES, BookResult, build_book
from .slides import build_slides, tag_slides
from .student import (
    CODE_STUB,
    NBGRADER_CONFIG,
    TEXT_STUB,
    SolutionError,
    SyncProblem,
    has_solutions,
    invalid_code_cells,
    mark_nbgrader_cells,
    nbgrader_problems,
    out_of_sync,
    solution_lines,
    student_notebook,
    write_student_copies,
)

__all__ = [
    "API_MODULES",
    "BookResult",
    "build_book",
    "build_slides",
    "tag_slides",
    "CODE_STUB",
    "NBGRADER_CONFIG",
    "TEXT_STUB",
    "SolutionError",
    "SyncProblem",
    "has_solutions",
    "invalid_code_cells",
    "mark_nbgrader_cells",
    "nbgrader_problems",
    "out_of_sync",
    "solution_lines",
    "student_notebook",
    "write_student_copies",
]
