"""Student notebooks are generated from instructor/ (`ltlab student instructor notebooks`) and
say so in their metadata; the instructor notebooks, the one source, carry no such mark."""

from pathlib import Path

import nbformat
import pytest

from ltlab.course.student import student_notebook

ROOT = Path(__file__).resolve().parents[2]
STUDENT = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_a_generated_copy_carries_the_do_not_edit_mark():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    nb.metadata["ltlab"] = {"kept": 1}
    copy = student_notebook(nb)
    mark = copy.metadata["ltlab"]["generated"]
    assert "instructor/" in mark and "do not edit" in mark
    assert copy.metadata["ltlab"]["kept"] == 1  # other ltlab metadata stays
    assert "generated" not in nb.metadata["ltlab"]  # the instructor notebook is not changed
    assert copy.cells[0].source == "# Title"  # cell sources stay nbgrader's
    assert student_notebook(copy).metadata == copy.metadata  # idempotent


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_student_notebooks_are_marked_and_instructor_ones_are_not(path):
    mark = nbformat.read(path, as_version=4).metadata.get("ltlab", {}).get("generated", "")
    assert "do not edit" in mark, f"{path.name}: regenerate with `ltlab student instructor notebooks`"
    source = ROOT / "instructor" / path.name
    if source.exists():
        assert "generated" not in nbformat.read(source, as_version=4).metadata.get("ltlab", {})
