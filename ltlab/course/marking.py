"""nbgrader's marks on the instructor notebooks (``ltlab student SRC --mark``).

nbgrader releases and grades a notebook through cell metadata:

- every cell with a solution region must be a *solution cell* (:func:`mark_nbgrader_cells`;
  code: an autograded answer, Markdown: a manually graded answer with 1 point);
- nbgrader gives points only to *autograder tests* cells (grade, locked, no solution), so
  after every cell that calls an exercise checker (``check_...(``, `checker_call_sources`)
  :func:`add_autograder_tests` puts one whose hidden tests run the same checkers again
  (`ltlab.course.grading`): ``nbgrader autograde`` then grades a submission, full marks for
  the worked solutions and zero for an unanswered copy.

:func:`nbgrader_problems` lists what ``nbgrader generate_assignment`` would refuse and the
checker calls it would not grade; ``tests/tooling/test_course.py`` keeps instructor/ free of
both.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .student import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    CODE_STUB,
    SolutionError,
    SyncProblem,
    _is_solution_cell,
    _notebooks,
    _remove_hidden,
    _replace,
    invalid_code_cells,
    student_notebook,
)

__all__ = ["add_autograder_tests", "autograder_problems", "checker_call_sources",
           "mark_nbgrader_cells", "nbgrader_problems"]

_PLACEHOLDER = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*None\b", re.M)


def _is_grade_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade", False))


def mark_nbgrader_cells(nb, prefix: str = "") -> int:
    """Give nbgrader the cell metadata that ``nbgrader generate_assignment`` requires (in
    place): a cell holding a solution region becomes a solution cell (code: autograded
    answer; Markdown: manually graded answer, 1 point), a cell holding a hidden-tests
    region an autograder-tests cell (1 point). The grade id is the cell's placeholder name
    (``answer = None`` -> ``answer``), else built from its cell id. Cells already marked
    are left alone. Returns the number of cells marked."""
    used = {c.metadata["nbgrader"].get("grade_id") for c in nb.cells
            if "nbgrader" in c.get("metadata", {})}
    changed = 0
    for cell in nb.cells:
        solution = BEGIN_SOLUTION in cell.source and not _is_solution_cell(cell)
        tests = (BEGIN_HIDDEN in cell.source and not solution and cell.cell_type == "code"
                 and not _is_grade_cell(cell))
        if not (solution or tests):
            continue
        head = cell.source.split(BEGIN_SOLUTION)[0]
        names = _PLACEHOLDER.findall(head) if solution and cell.cell_type == "code" else []
        kind = "answer" if solution else "tests"
        base = prefix + (names[-1] if names else f"{kind}-{cell.get('id', changed)}")
        grade_id, k = base, 2
        while grade_id in used:
            grade_id, k = f"{base}-{k}", k + 1
        used.add(grade_id)
        graded = tests or cell.cell_type == "markdown"
        cell.metadata["nbgrader"] = {"grade": graded, "grade_id": grade_id, "locked": tests,
                                     "schema_version": 3, "solution": solution,
                                     **({"points": 1} if graded else {})}
        changed += 1
    return changed


def nbgrader_problems(src: str | Path) -> list[SyncProblem]:
    """Instructor notebooks that ``nbgrader generate_assignment`` would refuse: a solution
    region in a cell not marked as a solution cell, a hidden-tests region in a cell not
    marked as a grade cell, or a region not closed; a checker call that ``nbgrader
    autograde`` would not grade (`autograder_problems`; fix these and the marks: ``ltlab
    student --mark``); and student copies that would not run (a code cell that is not valid
    Python)."""
    problems = []
    for name, path in _notebooks(src).items():
        nb = nbformat.read(path, as_version=4)
        try:
            student = student_notebook(nb)
        except SolutionError as err:
            problems.append(SyncProblem(name, str(err)))
            continue
        problems += [SyncProblem(name, f"cell {i} of the student copy is not valid Python "
                                       "(a solution region inside a function body?)")
                     for i in invalid_code_cells(student)]
        for i, cell in enumerate(nb.cells):
            if BEGIN_SOLUTION in cell.source and not _is_solution_cell(cell):
                problems.append(SyncProblem(name, f"cell {i} has a solution region but is "
                                                  "not an nbgrader solution cell"))
            elif BEGIN_HIDDEN in cell.source and not _is_grade_cell(cell):
                problems.append(SyncProblem(name, f"cell {i} has a hidden-tests region but "
                                                  "is not an nbgrader grade cell"))
        problems += [SyncProblem(name, p) for p in autograder_problems(nb)]
    return problems


# ----------------------------------------------------------------------------- autograding
def checker_call_sources(source: str) -> list[str]:
    """The source text of each exercise-checker call (``check_...(...)``) that a student's
    version of a code cell makes, in order: calls inside solution or hidden-tests regions
    do not count, nor a call nested in another checker call.

    >>> checker_call_sources("x = None\\n### BEGIN SOLUTION\\nx = check_me(1)\\n"
    ...                      "### END SOLUTION\\nprint(check_x(x, k=2));")
    ['check_x(x, k=2)']
    """
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    visible = _remove_hidden(_replace(source, CODE_STUB, "a checker cell")[0], "a checker cell")
    code = TransformerManager().transform_cell(visible)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id.startswith("check_")]
    spans = [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset), n) for n in calls]
    outer = [n for start, end, n in spans
             if not any(s <= start and end <= e and m is not n for s, e, m in spans)]
    outer.sort(key=lambda n: (n.lineno, n.col_offset))
    return [ast.get_source_segment(code, n) or "" for n in outer]


def _autograde_id(cell) -> str:
    return f"{cell.get('id', 'cell')}-autograde"


def _is_autograder_cell(cell) -> bool:
    from .grading import AUTOGRADE_TAG

    return AUTOGRADE_TAG in cell.get("metadata", {}).get("tags", [])


def _autograder_cell(cell, calls: list[str], used: set[str]):
    """The autograder tests cell of checker cell ``cell`` (a new one; grade id unique)."""
    from .grading import AUTOGRADE_TAG, autograder_source

    base = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id", "cell")
    grade_id, k = f"{base}-tests", 2
    while grade_id in used:
        grade_id, k = f"{base}-tests-{k}", k + 1
    used.add(grade_id)
    new = nbformat.v4.new_code_cell(autograder_source(calls))
    new.metadata["tags"] = [AUTOGRADE_TAG]
    new.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True,
                                "points": len(calls), "schema_version": 3, "solution": False}
    if "id" in cell:
        new.id = _autograde_id(cell)
    else:
        new.pop("id", None)
    return new


def add_autograder_tests(nb) -> int:
    """After every code cell that calls exercise checkers (`checker_call_sources`), put an
    nbgrader autograder tests cell whose hidden tests call them again through
    `ltlab.course.grading.graded` (in place; see that module). Its points are the number of
    checks; nbgrader gives the number that pass. A cell already there is brought up to date
    (its grade id kept); one whose checker cell no longer calls a checker is removed. A new
    cell's id is its checker cell's plus ``-autograde``, except in a notebook whose ids are
    the cells' indexes (as ``nbstripout`` writes them): those are renumbered. Returns the
    number of cells added, changed or removed (0: already up to date)."""
    from .grading import autograder_source

    used = {c.metadata["nbgrader"].get("grade_id") for c in nb.cells
            if "nbgrader" in c.get("metadata", {})}
    cells, changed = [], 0
    old = list(nb.cells)
    i = 0
    while i < len(old):
        cell = old[i]
        i += 1
        if _is_autograder_cell(cell):  # orphaned: its checker cell is gone or changed
            changed += 1
            continue
        cells.append(cell)
        calls = checker_call_sources(cell.source) if cell.cell_type == "code" else []
        if not calls:
            continue
        follower = old[i] if i < len(old) else None
        if follower is not None and _is_autograder_cell(follower):
            i += 1
            meta = follower.metadata.get("nbgrader", {})
            want = autograder_source(calls)
            if follower.source != want or meta.get("points") != len(calls):
                follower.source = want
                meta["points"] = len(calls)
                changed += 1
            cells.append(follower)
        else:
            cells.append(_autograder_cell(cell, calls, used))
            changed += 1
    if changed and all(c.get("id") == str(i) for i, c in enumerate(old)):
        for i, c in enumerate(cells):  # nbstripout's ids (the cell's index): keep them so
            c.id = str(i)
    nb.cells = cells
    return changed


def autograder_problems(nb) -> list[str]:
    """What `add_autograder_tests` would change in ``nb``, one line per cell (empty: every
    checker call has its autograder tests cell, up to date)."""
    from .grading import autograder_source

    problems = []
    for i, cell in enumerate(nb.cells):
        calls = checker_call_sources(cell.source) if cell.cell_type == "code" else []
        follower = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        has_tests = follower is not None and _is_autograder_cell(follower)
        if calls and not has_tests:
            problems.append(f"cell {i} calls {', '.join(c.split('(')[0] for c in calls)} but "
                            "no autograder tests cell follows it")
        elif calls and (follower.source != autograder_source(calls)
                        or follower.metadata.get("nbgrader", {}).get("points") != len(calls)):
            problems.append(f"cell {i + 1}: its hidden tests are not the checker calls of "
                            f"cell {i}")
        if _is_autograder_cell(cell) and (i == 0 or not checker_call_sources(
                nb.cells[i - 1].source if nb.cells[i - 1].cell_type == "code" else "")):
            problems.append(f"cell {i} is an autograder tests cell after a cell that calls no "
                            "checker")
    return problems
