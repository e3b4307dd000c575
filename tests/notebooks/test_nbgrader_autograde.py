"""``nbgrader autograde`` grades every exercise of the real notebooks: the worked solutions
of instructor/ get full marks, the unanswered student copies zero.

Each instructor notebook is released as an nbgrader assignment (with ltlab's
``nbgrader_config.py``; the autograder tests cells that ``ltlab student instructor --mark``
writes are added here in memory too, so the check holds before and after that command), then
two submissions are autograded: the instructor notebook itself (student ``solutions``) and
nbgrader's release copy (student ``unanswered``; its sources are ltlab's student copy). nbgrader
executes each notebook at its defaults (quick mode), twice: the test is ``slow`` and skipped
without nbgrader (``pip install -e '.[course]'``; CI's nbgrader job runs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ltlab.course import NBGRADER_CONFIG, add_autograder_tests, mark_nbgrader_cells
from ltlab.course.grading import AUTOGRADE_TAG
from ltlab.course.student import student_notebook

ROOT = Path(__file__).resolve().parents[2]
INSTRUCTOR = sorted((ROOT / "instructor").glob("[0-9][0-9]_*.ipynb"))


def _nbgrader(course: Path, *args: str, timeout: float) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "LTLAB_FULL_RESULTS": str(ROOT / "results" / "full")}
    res = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_autograde_gives_the_solutions_full_marks_and_the_student_copy_zero(tmp_path, path):
    nbgrader_api = pytest.importorskip(
        "nbgrader.api", reason="nbgrader is not installed (pip install -e '.[course]'): the "
                               "autograding check did not run")
    nb = nbformat.read(path, as_version=4)
    mark_nbgrader_cells(nb)
    add_autograder_tests(nb)
    tests = {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
             for c in nb.cells if AUTOGRADE_TAG in c.metadata.get("tags", [])}
    assert tests, f"{path.name}: no exercise checker, so nothing for nbgrader to grade"
    source = tmp_path / "source" / "ps"
    source.mkdir(parents=True)
    nbformat.write(nb, source / path.name)
    (tmp_path / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    _nbgrader(tmp_path, "generate_assignment", "ps", timeout=300)
    released = tmp_path / "release" / "ps" / path.name
    assert [c.source for c in nbformat.read(released, as_version=4).cells] == \
        [c.source for c in student_notebook(nb).cells]
    for student, copy in (("solutions", source / path.name), ("unanswered", released)):
        (tmp_path / "submitted" / student / "ps").mkdir(parents=True)
        shutil.copyfile(copy, tmp_path / "submitted" / student / "ps" / path.name)
    _nbgrader(tmp_path, "autograde", "ps", timeout=1800)
    with nbgrader_api.Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        scores = {student: {g.name: g.auto_score for g in gb.find_submission_notebook(
                      path.stem, "ps", student).grades if g.name in tests}
                  for student in ("solutions", "unanswered")}
    assert scores["solutions"] == tests, f"{path.name}: the worked solutions lose points"
    assert scores["unanswered"] == {name: 0.0 for name in tests}, \
        f"{path.name}: an unanswered exercise earns points"
