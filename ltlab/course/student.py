"""Student copies of the instructor notebooks (``ltlab student SRC_DIR DEST_DIR``).

The instructor notebooks are the one source of truth: they hold the worked solutions
between nbgrader's markers, so ``nbgrader generate_assignment`` works on them unchanged.
The student notebooks that README, Binder and Colab open are generated from them.

The rule (nbgrader's, with ltlab's code stub):

- In a code cell, the lines from one containing ``BEGIN SOLUTION`` to the next containing
  ``END SOLUTION`` (markers included) become the stub ``# YOUR CODE HERE``, indented like
  the ``BEGIN`` line. ltlab's exercises keep the *placeholder* above the region, so the
  student copy still runs and its checker says "Not answered yet"::

      balanced_rule = None  # a function (posterior, prior) -> labels
      ### BEGIN SOLUTION
      def balanced_rule(posterior, prior):
          return (posterior / prior).argmax(dim=1)
      ### END SOLUTION
      check_balanced_rule(balanced_rule)

  becomes ``balanced_rule = None ...``, ``# YOUR CODE HERE``, ``check_balanced_rule(...)``.
- In a Markdown cell (an open question), the region becomes ``YOUR ANSWER HERE``.
- A cell marked as an nbgrader solution cell without a region is replaced whole by the stub.
- ``BEGIN HIDDEN TESTS`` ... ``END HIDDEN TESTS`` regions are removed.
- Outputs and execution counts are cleared (as nbstripout does). Cell ids, tags and the
  notebook's metadata are kept; the ``nbgrader`` cell metadata is dropped (a course run
  with nbgrader releases its own copies from the instructor notebooks), which also makes
  the transformation idempotent.

nbgrader uses the same rule when its code stub is ltlab's (:data:`NBGRADER_CONFIG`; its
default stub ``raise NotImplementedError()`` would stop the notebook at the first
exercise). nbgrader also wants every cell with a region marked as a solution cell, and
grades only autograder tests cells: `ltlab.course.marking` adds both (``ltlab student SRC
--mark``).

>>> import nbformat
>>> cell = nbformat.v4.new_code_cell("x = None\\n### BEGIN SOLUTION\\nx = 2\\n### END SOLUTION\\ncheck(x)")
>>> print(student_notebook(nbformat.v4.new_notebook(cells=[cell])).cells[0].source)
x = None
# YOUR CODE HERE
check(x)
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = [
    "CODE_STUB",
    "TEXT_STUB",
    "NBGRADER_CONFIG",
    "SolutionError",
    "SyncProblem",
    "has_solutions",
    "invalid_code_cells",
    "solution_lines",
    "student_notebook",
    "write_student_copies",
    "out_of_sync",
]

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
CODE_STUB = "# YOUR CODE HERE"
TEXT_STUB = "YOUR ANSWER HERE"

#: ``nbgrader_config.py`` of a course that grades ltlab's notebooks with nbgrader: the
#: same stubs as ``ltlab student``, so nbgrader's release copies run top to bottom.
NBGRADER_CONFIG = f'''c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "ltlab"
c.ClearSolutions.code_stub = {{"python": "{CODE_STUB}"}}
c.ClearSolutions.text_stub = "{TEXT_STUB}"
c.Execute.timeout = 600  # seconds a cell may run when autograding (a training cell on a CPU)
'''

#: cell metadata that nbstripout removes (they change whenever someone runs a cell)
_VOLATILE_CELL_METADATA = ("collapsed", "scrolled", "execution", "ExecuteTime", "nbgrader")
_VOLATILE_NB_METADATA = ("signature", "widgets", "papermill")


class SolutionError(ValueError):
    """A solution region is not closed, or is nested in another."""


def _regions(lines: list[str], begin: str, end: str, where: str):
    """Yield ``(in_region, line, is_marker)`` for each line; raise on a bad region."""
    inside = False
    for line in lines:
        if begin in line:
            if inside:
                raise SolutionError(f"{where}: a '{begin}' inside another region")
            inside = True
            yield True, line, True
        elif end in line:  # nbgrader drops an END line even outside a region
            inside = False
            yield True, line, True
        else:
            yield inside, line, False
    if inside:
        raise SolutionError(f"{where}: '{begin}' without its '{end}'")


def _replace(source: str, stub: str, where: str) -> tuple[str, bool]:
    out, found = [], False
    for inside, line, marker in _regions(source.split("\n"), BEGIN_SOLUTION, END_SOLUTION,
                                         where):
        if marker and BEGIN_SOLUTION in line:
            found = True
            indent = re.match(r"\s*", line).group(0)
            out.extend(indent + s for s in stub.split("\n"))
        elif not inside:
            out.append(line)
    return "\n".join(out), found


def _remove_hidden(source: str, where: str) -> str:
    return "\n".join(line for inside, line, _ in _regions(source.split("\n"), BEGIN_HIDDEN,
                                                           END_HIDDEN, where) if not inside)


def _is_solution_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))


def has_solutions(nb) -> bool:
    """True if a cell of ``nb`` holds a solution region or is an nbgrader solution cell."""
    return any(BEGIN_SOLUTION in c.source or _is_solution_cell(c) for c in nb.cells)


def solution_lines(nb) -> list[str]:
    """The non-blank lines inside solution regions (markers excluded), stripped: the text
    that no student copy may contain."""
    found = []
    for i, cell in enumerate(nb.cells):
        for inside, line, marker in _regions(cell.source.split("\n"), BEGIN_SOLUTION,
                                             END_SOLUTION, f"cell {i}"):
            if inside and not marker and line.strip():
                found.append(line.strip())
    return found


def student_notebook(nb, keep_outputs: bool = False):
    """The student copy of the instructor notebook ``nb`` (a new notebook; ``nb`` is not
    changed). With ``keep_outputs`` (the rendered book), outputs stay except those of
    cells that held a solution."""
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        where = f"cell {i} ({cell.cell_type})"
        stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
        source, replaced = _replace(cell.source, stub, where)
        if _is_solution_cell(cell) and not replaced:
            source, replaced = stub, True
        cell.source = _remove_hidden(source, where)
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code" and (replaced or not keep_outputs):
            cell.outputs = []
            cell.execution_count = None
    for key in _VOLATILE_NB_METADATA:
        nb.metadata.pop(key, None)
    # the "do not edit" mark of a generated copy (metadata: cell sources stay nbgrader's)
    nb.metadata["ltlab"] = {**nb.metadata.get("ltlab", {}), "generated": (
        "Generated from instructor/ by `ltlab student instructor notebooks`: do not edit "
        "this copy; edit the instructor notebook and regenerate.")}
    return nb


def invalid_code_cells(nb) -> list[int]:
    """Indexes of the code cells of ``nb`` that are not valid (IPython) Python, e.g. a
    student copy whose solution region was a whole function body."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    bad = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            try:
                compile(transform(cell.source), f"<cell {i}>", "exec")
            except SyntaxError:
                bad.append(i)
    return bad


def _notebooks(folder: Path, required: bool = True) -> dict[str, Path]:
    """The notebooks of ``folder``; a ``FileNotFoundError`` naming it when it holds none
    (unless not ``required``)."""
    found = {p.name: p for p in sorted(Path(folder).glob("*.ipynb"))}
    if not found and required:
        why = "holds no .ipynb files" if Path(folder).is_dir() else "does not exist"
        raise FileNotFoundError(f"SRC_DIR {str(folder)!r} {why}; give the folder of the "
                                "instructor notebooks (e.g. instructor/).")
    return found


def _text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def write_student_copies(src: str | Path, dest: str | Path) -> list[Path]:
    """Write the student copy of every ``SRC/*.ipynb`` to ``DEST`` (same names); returns
    the paths that changed (a copy already up to date is not rewritten)."""
    notebooks = _notebooks(src)  # before DEST is created: a wrong SRC writes nothing
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, path in notebooks.items():
        text = _text(student_notebook(nbformat.read(path, as_version=4)))
        target = dest / name
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            changed.append(target)
    return changed


@dataclass(frozen=True)
class SyncProblem:
    """One student notebook that is not what ``ltlab student`` would write."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def _normalised(nb) -> dict:
    return json.loads(nbformat.writes(nb))


def out_of_sync(src: str | Path, dest: str | Path) -> list[SyncProblem]:
    """The student notebooks in ``DEST`` that differ from the student copies of ``SRC``'s
    notebooks: missing, different (the first differing cell is named), or without an
    instructor version. Empty when in sync (JSON formatting is ignored)."""
    src_nbs, dest_nbs = _notebooks(src), _notebooks(dest, required=False)
    problems = []
    for name, path in src_nbs.items():
        if name not in dest_nbs:
            problems.append(SyncProblem(name, f"missing in {dest}"))
            continue
        want = _normalised(student_notebook(nbformat.read(path, as_version=4)))
        got = _normalised(nbformat.read(dest_nbs[name], as_version=4))
        if want != got:
            problems.append(SyncProblem(name, _first_difference(want, got)))
    for name in sorted(set(dest_nbs) - set(src_nbs)):
        problems.append(SyncProblem(name, f"has no instructor version in {src}"))
    return problems


def _first_difference(want: dict, got: dict) -> str:
    if len(want["cells"]) != len(got["cells"]):
        return f"{len(got['cells'])} cells instead of {len(want['cells'])}"
    for i, (a, b) in enumerate(zip(want["cells"], got["cells"])):
        if a != b:
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            return f"cell {i} differs ({', '.join(keys)})"
    return "notebook metadata differs"
