"""Execute an instructor notebook and its student copy in one run (the tests' headless run).

CI may execute each notebook at most twice per run: once headless (papermill, shared by
every test through the ``executed`` fixture of ``tests/conftest.py``) and once in the
browser (the e2e test, on the student notebook). Executing the instructor notebook and the
student notebook separately would be a third run. Instead the headless run executes one
*interleaved* notebook built from the instructor notebook (:func:`interleaved_notebook`):
every cell in order, and for each cell that holds a solution region its instructor version
(tagged ``ltlab-solution``) and, right after it, its student version (tagged
``ltlab-student``)::

    balanced_rule = None            <- instructor version: placeholder, solution, checker
    def balanced_rule(...): ...        ("Correct: ...")
    check_balanced_rule(balanced_rule)
    balanced_rule = None            <- student version: placeholder, stub, checker
    # YOUR CODE HERE                   ("Not answered yet: ...")
    check_balanced_rule(balanced_rule)

The kernel therefore leaves every exercise in the student's state (the placeholder is
None again), so the cells after it run exactly as in a student's notebook and record the
same results, while every solution is executed and checked too. (A solution may bind only
the names its student version binds, the placeholders, since nothing else is reset:
:func:`leaked_names` finds the others.) A cell that differs only by hidden tests (nbgrader's
autograder tests, `ltlab.course.grading`) right after a solution cell joins its pair: its
instructor version runs right after the instructor version of the solution, in the
solution's state (where it must score full marks), and its student version after the
student version of the solution::

    solution (instructor), its tests (instructor), solution (student), its tests (student)

:func:`split_interleaved` cuts the executed notebook back into the executed
instructor copy and the executed student copy (cell ids restored), and
:func:`run_interleaved` does all of it through `ltlab.runner.run_notebook` (papermill, so
parameters are injected and checked as usual) and returns the recorded results of the
student copy. :func:`exercise_feedback` reads the checkers' verdicts from the two copies.

>>> import nbformat
>>> from nbformat.v4 import new_code_cell, new_notebook
>>> nb = new_notebook(cells=[new_code_cell("x = 1"),
...                          new_code_cell("y = None\\n### BEGIN SOLUTION\\ny = 2\\n### END SOLUTION")])
>>> [c.metadata.get("tags") for c in interleaved_notebook(nb).cells]
[None, ['ltlab-solution'], ['ltlab-student']]
"""

from __future__ import annotations

import ast
import copy
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .student import BEGIN_HIDDEN, BEGIN_SOLUTION, _remove_hidden, student_notebook

__all__ = ["SOLUTION_TAG", "STUDENT_TAG", "ExerciseFeedback", "checker_calls",
           "exercise_feedback", "interleaved_notebook", "leaked_names", "run_interleaved",
           "split_interleaved"]

SOLUTION_TAG, STUDENT_TAG = "ltlab-solution", "ltlab-student"
_STUDENT_ID = "{}-student"  # the student version's id in the interleaved notebook
NOT_ANSWERED_PREFIX = "Not answered yet"  # ltlab.exercises.protocol.NOT_ANSWERED starts so
CORRECT_PREFIX = "Correct"  # every checker's success line starts so


def _tag(cell, tag: str) -> None:
    cell.metadata.setdefault("tags", []).append(tag)


def _untag(cell, tag: str) -> None:
    tags = cell.metadata.get("tags", [])
    if tag in tags:
        tags.remove(tag)
        if not tags:
            del cell.metadata["tags"]


def _only_hidden_tests(cell) -> bool:
    """True for a code cell whose student version differs only by hidden-tests regions."""
    return (cell.cell_type == "code" and BEGIN_HIDDEN in cell.source
            and BEGIN_SOLUTION not in cell.source
            and not cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))


def interleaved_notebook(nb):
    """The notebook the headless run executes: ``nb``'s cells in order, each cell whose
    student version differs (a solution or hidden-tests region, or an nbgrader solution
    cell) followed by that student version; the pair tagged ``ltlab-solution`` /
    ``ltlab-student``. Hidden tests right after a solution cell join its pair (instructor
    versions first, see the module docstring). Outputs are cleared; ``nb`` is not
    changed."""
    student = student_notebook(nb)
    out = copy.deepcopy(student)
    out.cells = []
    pending: list = []  # student versions of the pair being built
    for i, (mine, theirs) in enumerate(zip(nb.cells, student.cells)):
        if mine.source == theirs.source:
            out.cells += pending + [theirs]
            pending = []
            continue
        solution = copy.deepcopy(mine)
        if solution.cell_type == "code":
            solution.outputs, solution.execution_count = [], None
        _tag(solution, SOLUTION_TAG)
        _tag(theirs, STUDENT_TAG)
        if "id" in theirs:
            theirs.id = _STUDENT_ID.format(theirs.id)
        else:  # nbformat < 4.5 has no ids: nothing to keep unique
            theirs.metadata["ltlab_cell"] = i
        if not (pending and _only_hidden_tests(mine)):
            out.cells += pending
            pending = []
        out.cells.append(solution)
        pending.append(theirs)
    out.cells += pending
    return out


def split_interleaved(nb):
    """``(instructor, student)``: the executed instructor copy (student versions dropped)
    and the executed student copy (instructor versions dropped, ids restored), each with
    every other cell of ``nb`` and its outputs."""
    instructor, student = copy.deepcopy(nb), copy.deepcopy(nb)
    instructor.cells = [c for c in instructor.cells
                        if STUDENT_TAG not in c.metadata.get("tags", [])]
    student.cells = [c for c in student.cells
                     if SOLUTION_TAG not in c.metadata.get("tags", [])]
    for cell in instructor.cells:
        _untag(cell, SOLUTION_TAG)
    for cell in student.cells:
        if STUDENT_TAG in cell.metadata.get("tags", []):
            _untag(cell, STUDENT_TAG)
            if cell.get("id", "").endswith("-student"):
                cell.id = cell.id[: -len("-student")]
            cell.metadata.pop("ltlab_cell", None)
        cell.metadata.pop("nbgrader", None)
    return instructor, student


def run_interleaved(instructor_path: str | os.PathLike, parameters: dict[str, Any] | None,
                    student_output: str | os.PathLike, instructor_output: str | os.PathLike,
                    cwd: str | os.PathLike | None = None, **kwargs: Any) -> dict[str, Any]:
    """Execute the instructor notebook interleaved with its student copy (one papermill
    run, `ltlab.runner.run_notebook`), write the executed student copy to
    ``student_output`` and the executed instructor copy to ``instructor_output``, and
    return the student copy's recorded results. ``cwd``: the folder the kernel runs in
    (default: the instructor notebook's; give the student notebooks' folder so that both
    copies run where students run them). If a cell fails, both copies are still written,
    up to the failing cell, and the papermill error is raised."""
    from ..runner import read_results, run_notebook

    path = Path(instructor_path)
    if not path.is_file():
        raise FileNotFoundError(f"instructor notebook {str(path)!r} does not exist.")
    interleaved = interleaved_notebook(nbformat.read(path, as_version=4))
    with tempfile.TemporaryDirectory(prefix="ltlab-interleaved-") as tmp:
        source, executed = Path(tmp) / path.name, Path(tmp) / "executed" / path.name
        executed.parent.mkdir()
        nbformat.write(interleaved, source)
        try:
            run_notebook(source, parameters, executed, cwd=cwd or path.parent, **kwargs)
        finally:
            if executed.is_file():
                instructor, student = split_interleaved(nbformat.read(executed, as_version=4))
                for nb, target in ((instructor, instructor_output), (student, student_output)):
                    Path(target).parent.mkdir(parents=True, exist_ok=True)
                    nbformat.write(nb, target)
    return read_results(student)


# ----------------------------------------------------------------------------- verdicts
def _parse(source: str) -> ast.Module:
    from IPython.core.inputtransformer2 import TransformerManager

    return ast.parse(TransformerManager().transform_cell(source))


def _bound_names(node: ast.AST) -> set[str]:
    """Names a cell binds in the notebook's namespace (not inside functions, classes,
    lambdas or comprehensions, whose names stay local)."""
    names: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(child.name)  # its body's names are local
            continue
        if isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                              ast.GeneratorExp)):
            continue
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            names.add(child.id)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in child.names}
        names |= _bound_names(child)
    return names


def leaked_names(nb) -> dict[int, list[str]]:
    """Code cells of the instructor notebook ``nb`` whose solution binds a name that the
    student version of the cell does not (cell index -> names). The interleaved run resets
    only what the student version binds, so such a name would reach the later cells and
    they would no longer run as in the student notebook. (Hidden tests are left out: they
    are nbgrader's, and bind only its helper, as they do when nbgrader grades.)"""
    student = student_notebook(nb)
    found = {}
    for i, (mine, theirs) in enumerate(zip(nb.cells, student.cells)):
        if mine.cell_type == "code" and mine.source != theirs.source:
            solution = _remove_hidden(mine.source, f"cell {i}")
            extra = _bound_names(_parse(solution)) - _bound_names(_parse(theirs.source))
            if extra:
                found[i] = sorted(extra)
    return found


def checker_calls(source: str) -> list[str]:
    """The exercise checkers (``check_*`` names) that a code cell calls, in order."""
    tree = _parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    return [n.func.id for n in calls
            if isinstance(n.func, ast.Name) and n.func.id.startswith("check_")]


def _printed_lines(cell) -> list[str]:
    return [line for o in cell.get("outputs", []) if o.get("output_type") == "stream"
            for line in o.get("text", "").splitlines()]


@dataclass(frozen=True)
class ExerciseFeedback:
    """One cell with a solution region, as executed in both copies: the checkers it calls
    and the feedback lines they printed (``Correct...`` / ``Not answered yet...``)."""

    cell_id: str
    cell_type: str
    checkers: tuple[str, ...]
    solution_correct: int  # success lines printed by the instructor version
    student_not_answered: int  # "Not answered yet" lines printed by the student version
    solution_executed: bool  # the instructor version ran (code cells; True for Markdown)
    solution_error: bool  # the instructor version has an error output
    #: an autograder tests cell: the points its hidden tests gave the solution (the number
    #: it displayed, as nbgrader reads it) and its nbgrader points; None for other cells
    points: float | None = None
    max_points: float | None = None

    @property
    def ok(self) -> bool:
        """Every checker call said Correct with the solution and Not answered yet without,
        and an autograder tests cell gave the solution full marks."""
        n = len(self.checkers)
        return (self.solution_executed and not self.solution_error
                and self.solution_correct == n and self.student_not_answered == n
                and self.points == self.max_points)


def exercise_feedback(instructor, student) -> list[ExerciseFeedback]:
    """The verdict of every solution cell of the executed copies written by
    :func:`run_interleaved` (matched by cell id)."""
    by_id = {c.get("id"): c for c in student.cells}
    found = []
    for cell in instructor.cells:
        if cell.source == _student_source(cell):
            continue
        mine = by_id.get(cell.get("id"))
        code = cell.cell_type == "code"
        visible = _remove_hidden(cell.source, f"cell {cell.get('id', '')}") if code else ""
        checkers = tuple(checker_calls(visible)) if code else ()
        printed = _printed_lines(cell) if code else []
        theirs = _printed_lines(mine) if code and mine is not None else []
        points = max_points = None
        if code and _only_hidden_tests(cell):
            max_points = cell.get("metadata", {}).get("nbgrader", {}).get("points")
            points = _nbgrader_points(cell, max_points)
        found.append(ExerciseFeedback(
            cell.get("id", ""), cell.cell_type, checkers,
            sum(line.startswith(CORRECT_PREFIX) for line in printed),
            sum(line.startswith(NOT_ANSWERED_PREFIX) for line in theirs),
            not code or cell.get("execution_count") is not None,
            any(o.get("output_type") == "error" for o in cell.get("outputs", [])),
            points, max_points))
    return found


def _nbgrader_points(cell, max_points: float | None) -> float | None:
    """The points nbgrader gives an executed autograder tests cell (its rule): 0 after an
    error or a line on stderr, the number the cell displayed as its result (partial
    credit), else full marks. None when the cell has no points or did not run."""
    if max_points is None or cell.get("execution_count") is None:
        return None
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "error" or (kind == "stream" and o.get("name") == "stderr"):
            return 0.0
        if kind == "execute_result":
            text = o.get("data", {}).get("text/plain", "")
            try:
                return float("".join(text) if isinstance(text, list) else text)
            except ValueError:
                return float(max_points)
    return float(max_points)


def _student_source(cell) -> str:
    """The source ``ltlab student`` gives this one cell."""
    single = nbformat.v4.new_notebook(cells=[copy.deepcopy(cell)])
    return student_notebook(single).cells[0].source
