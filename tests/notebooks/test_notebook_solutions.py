"""The worked solutions of instructor/ pass their checkers; the student notebooks are "not
answered yet".

No notebook is executed for this: the session's one headless run of each notebook (the
``executed`` fixture of tests/conftest.py) executes the instructor notebook interleaved with
its student copy and writes both executed copies under ``test-output/notebooks/``. This
module reads their outputs. (That no student notebook contains a solution is checked by
tests/tooling/test_course.py, which keeps notebooks/ in sync with instructor/.)
"""

from pathlib import Path

import nbformat
import pytest

from ltlab.course.interleave import exercise_feedback

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "notebooks"
INSTRUCTOR = sorted((ROOT / "instructor").glob("[0-9][0-9]_*.ipynb"))


def test_every_notebook_has_an_instructor_version():
    students = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [p.name for p in INSTRUCTOR] == students


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_solutions_pass_and_the_student_copy_is_not_answered_yet(executed, path):
    executed(path.stem)  # the session's one headless run (interleaved), cached
    instructor = nbformat.read(OUTPUT / "instructor" / path.name, as_version=4)
    student = nbformat.read(OUTPUT / path.name, as_version=4)
    feedback = exercise_feedback(instructor, student)
    checked = [f for f in feedback if f.checkers]
    assert checked, f"{path.name}: no solution cell calls an exercise checker"
    assert any(f.cell_type == "markdown" for f in feedback), \
        f"{path.name}: no worked answer to an open question"
    for f in feedback:
        assert f.solution_executed and not f.solution_error, f"{path.name} cell {f.cell_id}"
        assert f.solution_correct == len(f.checkers), \
            f"{path.name} cell {f.cell_id}: {f.solution_correct} of {len(f.checkers)} checkers " \
            f"{f.checkers} said Correct with the worked solution"
        assert f.student_not_answered == len(f.checkers), \
            f"{path.name} cell {f.cell_id}: {f.student_not_answered} of {len(f.checkers)} " \
            f"checkers {f.checkers} said 'Not answered yet' in the student copy"
    # the student copy is the student notebook, executed: same cells, no solution left
    committed = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
    assert [c.get("id") for c in student.cells if "injected-parameters" not in
            c.metadata.get("tags", [])] == [c.get("id") for c in committed.cells], \
        f"{path.name}: the executed student copy's cells are not notebooks/{path.name}'s"
    assert "BEGIN SOLUTION" not in nbformat.writes(student)
