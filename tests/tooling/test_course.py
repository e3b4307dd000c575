"""Course tooling (`ltlab.course`): student copies, slide decks, the book's pieces.

Everything runs on small synthetic notebooks built here with nbformat; the book itself is
built and opened in a browser by ``tests/e2e/test_book.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ltlab import cli
from ltlab.course import (
    CODE_STUB,
    NBGRADER_CONFIG,
    TEXT_STUB,
    SolutionError,
    add_autograder_tests,
    build_slides,
    invalid_code_cells,
    mark_nbgrader_cells,
    nbgrader_problems,
    out_of_sync,
    solution_lines,
    student_notebook,
    tag_slides,
    write_student_copies,
)
from ltlab.course.book import book_notebooks, book_page, local_mathjax, repository_url
from ltlab.course.grading import AUTOGRADE_TAG, VISIBLE_LINE, autograder_source, graded
from ltlab.course.interleave import (
    SOLUTION_TAG,
    STUDENT_TAG,
    checker_calls,
    exercise_feedback,
    interleaved_notebook,
    leaked_names,
    run_interleaved,
    split_interleaved,
)
from ltlab.course.marking import autograder_problems, checker_call_sources
from ltlab.course.offline import count_plotly_figures, offline_outputs, strip_cdn_scripts

SECRETS = ("SECRET-CODE", "SECRET-FUNCTION", "SECRET-TEXT", "SECRET-HIDDEN")


def instructor_notebook() -> nbformat.NotebookNode:
    """An instructor notebook in ltlab's shape, with every kind of solution region."""
    cells = [
        new_markdown_cell("# 09 · A synthetic topic\n\nLearning goals, prerequisites."),
        new_code_cell('import sys\n\nif "google.colab" in sys.modules:\n    %pip install -q ltlab'),
        new_code_cell("quick = True\nseed = 0", metadata={"tags": ["parameters"]}),
        new_markdown_cell("## The idea\n\nThe derivation, $z_y - \\log \\pi_y$."),
        new_code_cell("import math"),
        new_code_cell("value = math.sqrt(2.0)\nprint(round(value, 3))"),
        new_markdown_cell("### A detail\n\nMore derivation."),
        new_markdown_cell("<details><summary>For researchers</summary>\n\nMinutiae.\n</details>"),
        new_markdown_cell("## Exercises"),
        new_code_cell("from ltlab.exercises.protocol import check_value\n\n"
                      "square = None  # the square of 3\n"
                      "### BEGIN SOLUTION\n"
                      "square = 9.0  # SECRET-CODE\n"
                      "### END SOLUTION\n"
                      "check_value(square, 9.0)"),
        new_code_cell("double = None  # a function x -> 2 x\n"
                      "### BEGIN SOLUTION\n"
                      "def double(x):\n"
                      "    return 2 * x  # SECRET-FUNCTION\n"
                      "### END SOLUTION\n"
                      "check_value(double(2.0) if double else None, 4.0)"),
        new_markdown_cell("Why is the balanced rule a division by the prior?\n\n"
                          "### BEGIN SOLUTION\n"
                          "Because Bayes' rule multiplies by it. SECRET-TEXT\n"
                          "### END SOLUTION"),
        new_code_cell("assert value > 1\n"
                      "### BEGIN HIDDEN TESTS\n"
                      "assert value < 2  # SECRET-HIDDEN\n"
                      "### END HIDDEN TESTS"),
        new_markdown_cell("## Checks"),
        new_code_cell("from ltlab import record\n\nrecord('value', value)"),
    ]
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i}"  # stable ids: two calls build the same notebook
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells[5].outputs = [new_output("stream", name="stdout", text="1.414\n")]
    nb.cells[5].execution_count = 3
    return nb


def _write(folder: Path, name: str, nb) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


def _run_cells(nb) -> str:
    """Execute the code cells in one namespace (no kernel; the Colab cell is skipped)."""
    namespace: dict = {}
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        for cell in nb.cells:
            if cell.cell_type == "code" and "google.colab" not in cell.source:
                exec(compile(cell.source, "<cell>", "exec"), namespace)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- student copies
def test_student_copy_removes_every_solution_and_keeps_the_placeholders():
    nb = instructor_notebook()
    student = student_notebook(nb)
    text = nbformat.writes(student)
    secrets = solution_lines(nb)
    assert len(secrets) == 4 and all(s in nbformat.writes(nb) for s in secrets)
    for line in secrets:
        assert line not in text
    for secret in SECRETS:
        assert secret not in text
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "HIDDEN TESTS" not in text
    code, function, answer, hidden = (student.cells[i].source for i in (9, 10, 11, 12))
    assert "square = None  # the square of 3\n" + CODE_STUB + "\ncheck_value(" in code
    assert function.startswith("double = None  # a function x -> 2 x\n" + CODE_STUB + "\n")
    assert answer == "Why is the balanced rule a division by the prior?\n\n" + TEXT_STUB
    assert hidden == "assert value > 1"
    # outputs stripped, everything else kept
    assert all(c.outputs == [] and c.execution_count is None
               for c in student.cells if c.cell_type == "code")
    assert [c.id for c in student.cells] == [c.id for c in nb.cells]
    assert student.cells[2].metadata["tags"] == ["parameters"]
    assert student.metadata["kernelspec"] == nb.metadata["kernelspec"]
    assert nb.cells[9].source.count("BEGIN SOLUTION") == 1  # the instructor copy is unchanged


def test_instructor_copy_answers_and_student_copy_is_not_answered_yet():
    instructor = _run_cells(instructor_notebook())
    student = _run_cells(student_notebook(instructor_notebook()))
    assert instructor.count("Correct") == 2 and "Not answered" not in instructor
    assert student.count("Not answered yet") == 2 and "Correct" not in student


def test_student_copies_are_idempotent_and_rewritten_only_when_changed(tmp_path):
    once = student_notebook(instructor_notebook())
    assert nbformat.writes(student_notebook(once)) == nbformat.writes(once)
    src, dest = tmp_path / "instructor", tmp_path / "notebooks"
    _write(src, "09_topic.ipynb", instructor_notebook())
    assert write_student_copies(src, dest) == [dest / "09_topic.ipynb"]
    assert write_student_copies(src, dest) == []
    assert write_student_copies(dest, tmp_path / "again") and \
        (tmp_path / "again" / "09_topic.ipynb").read_text() == (dest / "09_topic.ipynb").read_text()


def test_out_of_sync_names_each_stale_copy(tmp_path):
    src, dest = tmp_path / "instructor", tmp_path / "notebooks"
    _write(src, "09_topic.ipynb", instructor_notebook())
    _write(src, "10_other.ipynb", instructor_notebook())
    assert [p.name for p in out_of_sync(src, dest)] == ["09_topic.ipynb", "10_other.ipynb"]
    write_student_copies(src, dest)
    assert out_of_sync(src, dest) == []
    # the instructor changes an exercise: the copy is stale, at that cell
    nb = instructor_notebook()
    nb.cells[9].source = nb.cells[9].source.replace("the square of 3", "the square of 4")
    _write(src, "09_topic.ipynb", nb)
    # someone edits a student copy by hand, another student copy has no instructor version
    hand = nbformat.read(dest / "10_other.ipynb", as_version=4)
    hand.cells[5].outputs = [new_output("stream", name="stdout", text="1.414\n")]
    nbformat.write(hand, dest / "10_other.ipynb")
    _write(dest, "11_orphan.ipynb", student_notebook(instructor_notebook()))
    problems = {p.name: p.reason for p in out_of_sync(src, dest)}
    assert set(problems) == {"09_topic.ipynb", "10_other.ipynb", "11_orphan.ipynb"}
    assert "cell 9" in problems["09_topic.ipynb"] and "source" in problems["09_topic.ipynb"]
    assert "cell 5" in problems["10_other.ipynb"] and "outputs" in problems["10_other.ipynb"]
    assert "no instructor version" in problems["11_orphan.ipynb"]
    # formatting alone is not a difference
    write_student_copies(src, dest)
    (dest / "11_orphan.ipynb").unlink()
    path = dest / "09_topic.ipynb"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))
    assert out_of_sync(src, dest) == []


@pytest.mark.parametrize("source, message", [
    ("x = None\n### BEGIN SOLUTION\nx = 1", "without its"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_a_broken_region_is_an_error_not_a_leak(source, message):
    nb = new_notebook(cells=[new_code_cell(source)])
    with pytest.raises(SolutionError, match=message):
        student_notebook(nb)


def test_a_solution_region_as_a_whole_function_body_is_reported():
    nb = instructor_notebook()
    assert invalid_code_cells(student_notebook(nb)) == []  # the Colab cell's %pip is fine
    nb.cells.append(new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n"
                                  "    ### END SOLUTION"))
    assert invalid_code_cells(student_notebook(nb)) == [len(nb.cells) - 1]


def test_marking_solution_cells_for_nbgrader(tmp_path):
    nb = instructor_notebook()
    src = _write(tmp_path / "src", "09_topic.ipynb", nb).parent
    problems = nbgrader_problems(src)
    assert [p.reason.split(" has")[0].split(" calls")[0] for p in problems] == \
        [f"cell {i}" for i in (9, 10, 11, 12, 9, 10)]
    assert [p.reason for p in problems][4:] == [
        f"cell {i} calls check_value but no autograder tests cell follows it" for i in (9, 10)]
    assert mark_nbgrader_cells(nb) == 4 and mark_nbgrader_cells(nb) == 0
    meta = [nb.cells[i].metadata["nbgrader"] for i in (9, 10, 11, 12)]
    assert [m["grade_id"] for m in meta] == ["square", "double", "answer-cell-11", "tests-cell-12"]
    assert [m["grade"] for m in meta] == [False, False, True, True]
    assert [m["solution"] for m in meta] == [True, True, True, False]
    assert meta[2]["points"] == meta[3]["points"] == 1 and meta[3]["locked"]
    _write(src, "09_topic.ipynb", nb)
    # the student copy does not depend on the marking
    assert nbformat.writes(student_notebook(nb)) == \
        nbformat.writes(student_notebook(instructor_notebook()))
    assert len(nbgrader_problems(src)) == 2  # the checker calls still lack their tests
    assert add_autograder_tests(nb) == 2
    _write(src, "09_topic.ipynb", nb)
    assert nbgrader_problems(src) == []
    nb.cells.append(new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n"
                                  "    ### END SOLUTION"))
    mark_nbgrader_cells(nb)
    _write(src, "09_topic.ipynb", nb)
    assert [p.reason for p in nbgrader_problems(src)] == \
        [f"cell {len(nb.cells) - 1} of the student copy is not valid Python (a solution "
         "region inside a function body?)"]


def test_nbgrader_generate_assignment_writes_the_same_student_copy(tmp_path):
    """nbgrader (with ltlab's nbgrader_config.py) and ``ltlab student`` agree cell by cell."""
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e "
                                           "'.[course]'): the compatibility check did not run")
    nb = instructor_notebook()
    mark_nbgrader_cells(nb)
    _write(tmp_path / "source" / "ps1", "09_topic.ipynb", nb)
    (tmp_path / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps1"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    released = nbformat.read(tmp_path / "release" / "ps1" / "09_topic.ipynb", as_version=4)
    ours = student_notebook(nb)
    assert [c.source for c in released.cells] == [c.source for c in ours.cells]


def test_nbgrader_releases_the_instructor_notebooks_as_ltlab_student_does(tmp_path):
    """The repository's instructor/ as an nbgrader assignment: released unchanged (skipped
    without nbgrader, which CI does not install)."""
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e "
                                           "'.[course]'): the compatibility check did not run")
    paths = sorted(INSTRUCTOR.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        pytest.skip("no instructor notebooks in instructor/ yet")
    (tmp_path / "source" / "all").mkdir(parents=True)
    for path in paths:
        shutil.copyfile(path, tmp_path / "source" / "all" / path.name)
    (tmp_path / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "all"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    for path in paths:
        released = nbformat.read(tmp_path / "release" / "all" / path.name, as_version=4)
        ours = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
        assert [c.source for c in released.cells] == [c.source for c in ours.cells], path.name


# ----------------------------------------------------------------------------- autograding
def test_graded_counts_the_checks_that_pass_quietly(capsys):
    def loud(ok):
        print("Correct." if ok else "Not quite.")
        return ok

    assert graded(lambda: loud(True), lambda: loud(False), lambda: 1 / 0, lambda: "yes") == 1
    assert capsys.readouterr().out == ""  # the student read the feedback in the cell above
    assert graded() == 0


def test_checker_calls_of_the_students_version_are_found():
    source = ("x = None\n### BEGIN SOLUTION\nx = check_inside(2)\n### END SOLUTION\n"
              "ok = check_a(x, k=[1,\n    2])\nprint(check_b(check_c(x)))\n"
              "### BEGIN HIDDEN TESTS\ncheck_hidden(x)\n### END HIDDEN TESTS\n%time y = 1")
    assert checker_call_sources(source) == ["check_a(x, k=[1,\n    2])", "check_b(check_c(x))"]
    assert checker_call_sources("value = 1\nprint(value)") == []
    # the hidden test calls the same checkers, each in a lambda, and compiles
    text = autograder_source(checker_call_sources(source))
    hidden = text.split("### BEGIN HIDDEN TESTS\n")[1].split("### END HIDDEN TESTS")[0]
    compile(hidden, "<tests>", "exec")
    assert "lambda: check_a(x, k=[1,\n        2])," in hidden and "check_inside" not in hidden


def test_every_checker_call_gets_an_autograder_tests_cell():
    nb = instructor_notebook()
    mark_nbgrader_cells(nb)
    assert add_autograder_tests(nb) == 2 and add_autograder_tests(nb) == 0
    ids = [c.id for c in nb.cells]
    assert ids[9:13] == ["cell-9", "cell-9-autograde", "cell-10", "cell-10-autograde"]
    tests = nb.cells[10]
    assert tests.metadata["tags"] == [AUTOGRADE_TAG]
    assert tests.metadata["nbgrader"] == {"grade": True, "grade_id": "square-tests",
                                          "locked": True, "points": 1, "schema_version": 3,
                                          "solution": False}
    assert "lambda: check_value(square, 9.0)," in tests.source
    # nbgrader's student copy and ltlab's: one comment line, no test, and it still runs
    student = student_notebook(nb)
    assert student.cells[10].source == VISIBLE_LINE and "graded" not in nbformat.writes(student)
    assert student.cells[10].metadata["tags"] == [AUTOGRADE_TAG]
    assert _run_cells(student).count("Not answered yet") == 2
    # the slide rule skips the cell, the book leaves it out
    assert tag_slides(student).cells[10].metadata["slideshow"]["slide_type"] == "skip"
    assert [c.id for c in book_page(student).cells] == \
        [c.id for c in student.cells if "autograde" not in c.id]
    # a checker cell that calls one more checker: its tests follow (grade id and id kept)
    nb.cells[9].source += "\ncheck_value(square + 1, 10.0)"
    assert add_autograder_tests(nb) == 1
    assert nb.cells[10].metadata["nbgrader"]["points"] == 2
    assert nb.cells[10].metadata["nbgrader"]["grade_id"] == "square-tests"
    assert "lambda: check_value(square + 1, 10.0)," in nb.cells[10].source
    # a cell that no longer calls a checker loses its tests cell
    nb.cells[11].source = nb.cells[11].source.replace("check_value(", "print(")
    assert add_autograder_tests(nb) == 1 and "cell-10-autograde" not in [c.id for c in nb.cells]
    assert autograder_problems(nb) == []
    nb.cells[9].source = nb.cells[9].source.replace("9.0)", "9)")  # edited after marking
    assert autograder_problems(nb) == ["cell 10: its hidden tests are not the checker calls of "
                                       "cell 9"]


def test_autograder_cells_keep_nbstripouts_ids():
    """A notebook whose ids are the cells' indexes (nbstripout writes them so) keeps them."""
    nb = instructor_notebook()
    for i, cell in enumerate(nb.cells):
        cell.id = str(i)
    assert add_autograder_tests(nb) == 2
    assert [c.id for c in nb.cells] == [str(i) for i in range(len(nb.cells))]
    assert [i for i, c in enumerate(nb.cells) if AUTOGRADE_TAG in c.metadata.get("tags", [])] \
        == [10, 12]
    assert add_autograder_tests(nb) == 0 and autograder_problems(nb) == []


def _nbgrader(course: Path, *args: str, timeout: float = 300) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout + res.stderr


def autograde_scores(course: Path, notebooks: dict[str, object], assignment: str = "ps1",
                     timeout: float = 600) -> dict[str, dict[str, dict[str, tuple]]]:
    """Release the instructor ``notebooks`` (name -> marked notebook) as an nbgrader
    assignment in the folder ``course``, submit the worked solutions (student ``solutions``)
    and nbgrader's unanswered release copies (student ``unanswered``, whose sources are
    `student_notebook`'s) and autograde both: student -> notebook -> grade id ->
    ``(auto score, max score)`` of each autograder tests cell."""
    from nbgrader.api import Gradebook

    source = course / "source" / assignment
    source.mkdir(parents=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, source / f"{name}.ipynb")
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    _nbgrader(course, "generate_assignment", assignment)
    for student, folder in (("solutions", source), ("unanswered", course / "release" / assignment)):
        target = course / "submitted" / student / assignment
        target.mkdir(parents=True)
        for name in notebooks:
            shutil.copyfile(folder / f"{name}.ipynb", target / f"{name}.ipynb")
    for name, nb in notebooks.items():  # the released copy is ltlab's student copy
        released = nbformat.read(course / "release" / assignment / f"{name}.ipynb", as_version=4)
        assert [c.source for c in released.cells] == \
            [c.source for c in student_notebook(nb).cells], name
    _nbgrader(course, "autograde", assignment, timeout=timeout)
    scores: dict = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in ("solutions", "unanswered"):
            for name in notebooks:
                submission = gb.find_submission_notebook(name, assignment, student)
                scores.setdefault(student, {})[name] = {
                    g.name: (g.auto_score, g.max_score) for g in submission.grades
                    if g.name.endswith("-tests") or "-tests-" in g.name}
    return scores


def test_nbgrader_autograde_gives_the_solutions_full_marks_and_the_student_copy_zero(tmp_path):
    """Every checker call is graded by ``nbgrader autograde`` (skipped without nbgrader)."""
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e "
                                           "'.[course]'): the autograding check did not run")
    nb = instructor_notebook()
    mark_nbgrader_cells(nb)
    add_autograder_tests(nb)
    scores = autograde_scores(tmp_path, {"09_topic": nb}, timeout=300)
    assert scores["solutions"]["09_topic"] == {"square-tests": (1.0, 1.0),
                                               "double-tests": (1.0, 1.0)}
    assert scores["unanswered"]["09_topic"] == {"square-tests": (0.0, 1.0),
                                                "double-tests": (0.0, 1.0)}


def test_cli_student_writes_checks_and_marks(tmp_path, capsys):
    src, dest = tmp_path / "instructor", tmp_path / "notebooks"
    _write(src, "09_topic.ipynb", instructor_notebook())
    assert cli.main(["student", str(src), str(dest), "--check"]) == 1
    assert "out of sync: 09_topic.ipynb: missing" in capsys.readouterr().out
    assert cli.main(["student", str(src), str(dest)]) == 0
    assert cli.main(["student", str(src), str(dest), "--check"]) == 0
    assert cli.main(["student", str(src), "--mark"]) == 0
    assert "marked" in capsys.readouterr().out and nbgrader_problems(src) == []
    marked = nbformat.read(src / "09_topic.ipynb", as_version=4)
    assert [c.id for c in marked.cells if "autograde" in c.id] == \
        ["cell-9-autograde", "cell-10-autograde"]
    assert cli.main(["student", str(src), "--mark"]) == 0  # already marked: nothing to do
    assert "marked" not in capsys.readouterr().out
    # the student copies gain the autograder cells' one visible line: regenerate them
    assert cli.main(["student", str(src), str(dest), "--check"]) == 1
    assert cli.main(["student", str(src), str(dest)]) == 0
    assert cli.main(["student", str(src), str(dest), "--check"]) == 0
    assert cli.main(["student", str(src)]) == 2
    assert "give DEST_DIR" in capsys.readouterr().err
    bad = new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\nx = 1")])
    _write(src, "10_bad.ipynb", bad)
    assert cli.main(["student", str(src), str(dest)]) == 1
    assert "without its" in capsys.readouterr().err


# ----------------------------------------------------------------------------- interleaved run
def _sources(nb) -> list[str]:
    return [c.source for c in nb.cells]


def test_interleaved_notebook_runs_each_solution_then_its_student_version():
    nb = instructor_notebook()
    mark_nbgrader_cells(nb)
    student = student_notebook(nb)
    mixed = interleaved_notebook(nb)
    tags = [c.metadata.get("tags", []) for c in mixed.cells]
    # cells 9, 10, 11 (solutions) and 12 (hidden tests) each come twice: instructor, student;
    # the hidden tests right after the Markdown solution join its pair (instructor versions
    # first), so that they run in the solution's state
    assert len(mixed.cells) == len(nb.cells) + 4
    assert [i for i, t in enumerate(tags) if SOLUTION_TAG in t] == [9, 11, 13, 14]
    assert [i for i, t in enumerate(tags) if STUDENT_TAG in t] == [10, 12, 15, 16]
    assert [mixed.cells[i].id for i in (13, 14, 15, 16)] == \
        ["cell-11", "cell-12", "cell-11-student", "cell-12-student"]
    assert mixed.cells[9].source == nb.cells[9].source
    assert mixed.cells[10].source == student.cells[9].source
    assert mixed.cells[10].id == "cell-9-student" and len({c.id for c in mixed.cells}) == \
        len(mixed.cells)
    assert tags[2] == ["parameters"]  # papermill still finds the parameters cell
    # executed in order, the solution says Correct and the student version resets it
    printed = _run_cells(mixed)
    assert printed.count("Correct") == 2 and printed.count("Not answered yet") == 2
    assert printed.index("Correct") < printed.index("Not answered yet")
    # cut back: the instructor notebook and the student notebook, cell for cell
    instructor, back = split_interleaved(mixed)
    assert _sources(instructor) == _sources(nb) and _sources(back) == _sources(student)
    assert [c.id for c in back.cells] == [c.id for c in student.cells]
    assert [c.metadata.get("tags") for c in back.cells] == \
        [c.metadata.get("tags") for c in student.cells]
    assert all("nbgrader" not in c.metadata for c in back.cells)
    assert nb.cells[9].metadata["nbgrader"]["solution"]  # the input is unchanged
    plain = new_notebook(cells=[new_code_cell("x = 1")])
    assert _sources(interleaved_notebook(plain)) == ["x = 1"]  # no solution: nothing added


def test_a_solution_that_binds_a_name_of_its_own_is_reported():
    """The interleaved run resets only the placeholders: a helper name bound by a solution
    would reach the later cells, which would then not run as in the student notebook."""
    nb = instructor_notebook()
    assert leaked_names(nb) == {}  # `def double` and `square = 9.0` rebind placeholders
    nb.cells[9].source = nb.cells[9].source.replace(
        "square = 9.0", "import math as m\nbase = 3.0\nsquare = [base ** 2 for _ in (0,)][0]")
    nb.cells.append(new_code_cell("total = None\n### BEGIN SOLUTION\ndef total(xs):\n"
                                  "    acc = 0\n    return sum(xs)\n### END SOLUTION"))
    assert leaked_names(nb) == {9: ["base", "m"]}


def test_checker_calls_are_read_from_the_source():
    assert checker_calls("a = None\ncheck_a(a)\nb = None\nprint(check_b(b, k=1))") == \
        ["check_a", "check_b"]
    assert checker_calls("%pip install x\nvalue = 1") == []


def test_run_interleaved_writes_both_executed_copies(tmp_path):
    """One papermill run: parameters injected, the solutions' checkers say Correct in the
    instructor copy and Not answered yet in the student copy, results read as usual."""
    nb = instructor_notebook()
    mark_nbgrader_cells(nb)
    add_autograder_tests(nb)  # cells 10 and 12: the hidden tests of the checker cells 9 and 11
    src = _write(tmp_path / "instructor", "09_topic.ipynb", nb)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "where.txt").write_text("the student folder")
    nb.cells[2].source += "\nlabel = 'default'"
    nb.cells[16].source += "\nrecord('cwd', open('where.txt').read())\nrecord('label', label)"
    _write(tmp_path / "instructor", "09_topic.ipynb", nb)
    out = tmp_path / "out"
    results = run_interleaved(src, {"label": "injected"}, out / "09_topic.ipynb",
                              out / "instructor" / "09_topic.ipynb",
                              cwd=tmp_path / "notebooks")
    assert results == {"value": pytest.approx(2 ** 0.5), "cwd": "the student folder",
                       "label": "injected"}
    instructor = nbformat.read(out / "instructor" / "09_topic.ipynb", as_version=4)
    student = nbformat.read(out / "09_topic.ipynb", as_version=4)
    injected = [c for c in student.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "injected" in injected[0].source
    assert [c.id for c in student.cells if c not in injected] == \
        [c.id for c in student_notebook(nb).cells]
    assert "SECRET" not in nbformat.writes(student) and "SECRET-CODE" in nbformat.writes(instructor)
    feedback = exercise_feedback(instructor, student)
    assert [(f.cell_id, f.checkers) for f in feedback] == [
        ("cell-9", ("check_value",)), ("cell-9-autograde", ()), ("cell-10", ("check_value",)),
        ("cell-10-autograde", ()), ("cell-11", ()), ("cell-12", ())]
    # the hidden tests ran in the solutions' state: full marks, and quietly (no second
    # "Correct" line); the student copy shows one comment line in their place
    assert [(f.points, f.max_points) for f in feedback if f.max_points is not None] == \
        [(1.0, 1), (1.0, 1), (1.0, 1)]  # cell 12's plain asserts pass: full marks
    assert all(f.ok for f in feedback), feedback
    assert [c.source for c in student.cells if "autograde" in c.get("id", "")] == \
        [VISIBLE_LINE, VISIBLE_LINE]
    # a wrong solution is caught: its checker says "Not quite", not Correct
    cell = next(c for c in instructor.cells if c.get("id") == "cell-9")
    for o in cell.outputs:
        if o.get("output_type") == "stream":
            o["text"] = o["text"].replace("Correct: 9.", "Not quite: you gave 8.")
    feedback = exercise_feedback(instructor, student)
    assert [f.ok for f in feedback] == [False, True, True, True, True, True]
    assert feedback[0].solution_correct == 0 and feedback[0].student_not_answered == 1
    # a solution its hidden tests do not give full marks is caught too
    cell = next(c for c in instructor.cells if c.get("id") == "cell-10-autograde")
    cell.outputs[0]["data"]["text/plain"] = "0"
    assert [f.ok for f in exercise_feedback(instructor, student)][3] is False


# ----------------------------------------------------------------------------- offline figures
def _plotly_output():
    import plotly.graph_objects as go
    from plotly.io._renderers import renderers

    with contextlib.redirect_stdout(io.StringIO()):
        bundle = renderers._build_mime_bundle(
            go.Figure(go.Bar(y=[1, 3, 2])).to_dict(),
            renderers_string="plotly_mimetype+notebook_connected")
    return new_output("display_data", data=bundle)


def test_offline_outputs_drop_cdn_scripts_and_recorded_results():
    nb = instructor_notebook()
    nb.cells[5].outputs = [_plotly_output(),
                           new_output("display_data",
                                      data={"application/x-ltlab-result+json": {"v": 1}})]
    html = nb.cells[5].outputs[0]["data"]["text/html"]
    assert "cdn.plot.ly" in html or "cdn.jsdelivr" in html  # the renderer's CDN tag
    offline_outputs(nb)
    (out,) = nb.cells[5].outputs
    assert count_plotly_figures(nb) == 1
    assert "Plotly.newPlot" in out["data"]["text/html"]
    assert not re.search(r"<script[^>]*src=\"https?://", out["data"]["text/html"])
    assert strip_cdn_scripts("<p>no scripts</p>") == "<p>no scripts</p>"


# ----------------------------------------------------------------------------- slides
def test_slide_rule_tags_headings_and_skips_setup_and_checks():
    nb = tag_slides(student_notebook(instructor_notebook()))
    types = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert types == ["slide", "skip", "skip", "slide", "skip", "-", "subslide", "notes",
                     "slide", "-", "-", "-", "-", "skip", "skip"]
    numbered = new_notebook(cells=[new_markdown_cell("## 7. Checks"), new_code_cell("x = 1"),
                                   new_markdown_cell("## 8. Exercises"), new_code_cell("x = 2")])
    assert [c.metadata["slideshow"]["slide_type"] for c in tag_slides(numbered).cells] == \
        ["skip", "skip", "slide", "-"]
    hand = instructor_notebook()
    hand.cells[5].metadata["slideshow"] = {"slide_type": "fragment"}
    assert tag_slides(hand).cells[5].metadata["slideshow"]["slide_type"] == "fragment"


class _Sections(HTMLParser):
    """The deck's reveal.js structure: top-level sections and their nested sub-slides."""

    def __init__(self):
        super().__init__()
        self.depth, self.slides = 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.depth += 1
            if self.depth == 1:
                self.slides.append(0)
            elif self.depth == 2:
                self.slides[-1] += 1

    def handle_endtag(self, tag):
        if tag == "section":
            self.depth -= 1


def test_slides_deck_has_one_section_per_heading(tmp_path, capsys):
    nb = instructor_notebook()
    nb.cells[5].outputs = [_plotly_output()]
    path = _write(tmp_path / "nb", "09_topic.ipynb", nb)
    assert cli.main(["slides", str(path), "--out", str(tmp_path / "deck")]) == 0
    deck = Path(capsys.readouterr().out.strip())
    assert deck == tmp_path / "deck" / "09_topic.slides.html"
    html = deck.read_text()
    parser = _Sections()
    parser.feed(html)
    # three slides (title, "The idea", "Exercises"); under "The idea" the figure and "A detail"
    assert len(parser.slides) == 3 and parser.slides[1] == 3, parser.slides
    assert "The idea" in html and "A detail" in html and 'class="notes"' in html
    for skipped in ("quick = True", "google.colab", "record(", ">Checks<"):
        assert skipped not in html, skipped
    assert "SECRET" not in html and "YOUR ANSWER HERE" in html
    assert (tmp_path / "deck" / "plotly.min.js").is_file()
    assert '<script src="plotly.min.js"></script>' in html and "Plotly.newPlot" in html
    if local_mathjax():  # the book extra ships MathJax: equations need no CDN either
        assert 'src="mathjax/MathJax.js?config=' in html and "libs/mathjax" not in html
        assert (tmp_path / "deck" / "mathjax" / "config" / "ltlab.js").is_file()
    assert cli.main(["slides", str(tmp_path / "missing.ipynb")]) == 1
    assert "missing.ipynb" in capsys.readouterr().err
    with_solutions = build_slides(path, tmp_path / "teacher", solutions=True)
    assert "SECRET-CODE" in with_solutions.read_text()


# ----------------------------------------------------------------------------- book pieces
def test_repository_url_is_read_from_pyproject(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n[project.urls]\n'
                         'Homepage = "https://example.org"\n'
                         'Repository = "https://github.com/someone/course.git"\n')
    assert repository_url(pyproject) == "https://github.com/someone/course"
    pyproject.write_text('[project]\nname = "x"\n')
    assert repository_url(pyproject) is None
    assert repository_url(tmp_path / "missing.toml") is None


def test_book_page_hides_solutions_and_their_outputs_but_keeps_the_rest():
    nb = instructor_notebook()
    nb.cells.insert(3, new_code_cell("quick = True", metadata={"tags": ["injected-parameters"]}))
    nb.cells[10].outputs = [new_output("stream", name="stdout", text="Correct: 9.\n")]
    nb.cells[6].outputs.append(_plotly_output())
    page = book_page(nb)
    text = nbformat.writes(page)
    assert not any(secret in text for secret in SECRETS) and "Correct: 9." not in text
    assert len(page.cells) == len(nb.cells) - 1  # papermill's injected cell is gone
    assert page.cells[5].outputs[0]["text"] == "1.414\n" and count_plotly_figures(page) == 1
    teacher = nbformat.writes(book_page(nb, solutions=True))
    assert "SECRET-CODE" in teacher and "Correct: 9." in teacher
    assert len(nb.cells[6].outputs) == 2 and "SECRET-CODE" in nbformat.writes(nb)  # unchanged


def test_book_pages_are_the_numbered_notebooks(tmp_path):
    for name in ("01_a.ipynb", "01_a-seed=1.ipynb", "02_b.ipynb", "scratch.ipynb"):
        _write(tmp_path, name, new_notebook())
    assert [p.name for p in book_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]


def test_cli_book_says_what_is_missing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["book", str(tmp_path / "empty"), "--out", str(tmp_path / "site")]) == 1
    assert "no NN_topic.ipynb notebooks" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    _write(tmp_path / "nbs", "01_a.ipynb", new_notebook())
    assert cli.main(["book", str(tmp_path / "nbs"), "--out", str(tmp_path / "busy")]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    shutil.rmtree(tmp_path / "busy")


# ----------------------------------------------------------------------------- the repository
ROOT = Path(__file__).resolve().parents[2]
INSTRUCTOR = ROOT / "instructor"  # the instructor notebooks (with solutions), if committed


def test_student_notebooks_are_in_sync_with_the_instructor_notebooks():
    """notebooks/ is generated from instructor/ (``ltlab student instructor notebooks``), and
    nbgrader can release the instructor notebooks as they are."""
    if not any(INSTRUCTOR.glob("*.ipynb")):
        pytest.skip("no instructor notebooks in instructor/ yet: nothing to keep in sync")
    problems = out_of_sync(INSTRUCTOR, ROOT / "notebooks")
    assert not problems, "run `ltlab student instructor notebooks`: " + \
        "; ".join(map(str, problems))
    problems = nbgrader_problems(INSTRUCTOR)
    assert not problems, "run `ltlab student instructor --mark`: " + "; ".join(map(str, problems))
    for path in sorted(INSTRUCTOR.glob("*.ipynb")):  # in sync, so no solution can leak
        text = (ROOT / "notebooks" / path.name).read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path.name
        # the tests' interleaved run leaves the student's state after each solution cell
        assert leaked_names(nbformat.read(path, as_version=4)) == {}, path.name


# ----------------------------------------------------------------------------- COURSE.md
_MINUTES = re.compile(r"(\d+)\s*min")


def _notebook_study_time(path: Path) -> tuple[int, int] | None:
    """(without, with exercises) minutes from the notebook's "Study time" line, if any."""
    first = nbformat.read(path, as_version=4).cells[0].source
    paragraph = re.search(r"study time.*?(?:\n\s*\n|$)", first, re.I | re.S)
    if paragraph is None:
        return None
    plain = with_ex = None
    for part in re.split(r"[;,]", paragraph.group(0)):
        m = _MINUTES.search(part)
        if not m:
            continue
        if "exercise" in part.lower() and "without" not in part.lower():
            with_ex = int(m.group(1))
        elif plain is None:
            plain = int(m.group(1))
    return (plain, with_ex) if plain and with_ex else None


def _course_rows() -> dict[str, list[str]]:
    rows = {}
    for line in (ROOT / "COURSE.md").read_text().splitlines():
        m = re.match(r"\|\s*\[[^]]*\]\(notebooks/(\d\d_\w+\.ipynb)\)\s*\|", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in line.strip().strip("|").split("|")]
    return rows


def test_course_guide_lists_every_notebook_with_the_notebooks_study_times():
    rows = _course_rows()
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(rows) == [p.name for p in notebooks], "COURSE.md's table and notebooks/ differ"
    for path in notebooks:
        plain, with_ex = (int(_MINUTES.search(rows[path.name][i]).group(1)) for i in (3, 4))
        assert plain < with_ex, path.name
        stated = _notebook_study_time(path)
        if stated is not None:  # one number, two places: the notebook and the guide agree
            assert stated == (plain, with_ex), f"{path.name}: notebook says {stated}, " \
                                               f"COURSE.md says {(plain, with_ex)}"
    for column in (3, 4):  # the totals under the table
        total = sum(int(_MINUTES.search(r[column]).group(1)) for r in rows.values())
        assert f"{total // 60} h {total % 60} min" in (ROOT / "COURSE.md").read_text()
