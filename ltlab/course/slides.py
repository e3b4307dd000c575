"""A reveal.js slide deck per notebook (``ltlab slides NOTEBOOK``), tagged by a rule.

Instructors do not hand-tag cells: :func:`tag_slides` sets each cell's
``metadata.slideshow.slide_type`` from the notebook's structure, then nbconvert's
``SlidesExporter`` (``jupyter nbconvert --to slides``) writes the deck:

- a Markdown cell opening with a ``#`` or ``##`` heading starts a **slide**, one opening
  with ``###`` a **sub-slide** (reveal.js: down arrow);
- **skipped**: the ``parameters`` cell (and papermill's ``injected-parameters``), the guarded
  Colab install cell, cells that only import, nbgrader's autograder tests cells and the
  whole ``## Checks`` section;
- a code cell whose output is a figure starts a **sub-slide** of its own;
- a Markdown ``<details><summary>For researchers`` block becomes **speaker notes**;
- every other cell continues the current slide (``-``), outputs included: build the deck
  from an executed notebook to get the figures (``--execute`` runs it in quick mode).

A cell that already has a ``slide_type`` keeps it (hand-tagging wins). Solution regions
are removed unless ``solutions=True``. plotly figures load plotly.js from a copy beside the
deck (`ltlab.course.offline`), equations the MathJax of ``jupyter-server-mathjax`` (when
installed, as the ``book`` extra does); reveal.js and require.js come from their CDN unless
``reveal_prefix`` / ``require_js`` name local copies (``npm pack reveal.js@4 requirejs``).

>>> import nbformat
>>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Idea"),
...                                      nbformat.v4.new_code_cell("import torch")])
>>> [c.metadata["slideshow"]["slide_type"] for c in tag_slides(nb).cells]
['slide', 'skip']
"""

from __future__ import annotations

import ast
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from .book import local_mathjax
from .grading import AUTOGRADE_TAG
from .offline import offline_outputs, plotly_js
from .student import has_solutions, student_notebook

__all__ = ["slide_type", "tag_slides", "build_slides"]

_HEADING = re.compile(r"^\s*(#{1,6})\s+(.*)")
_SKIP_TAGS = {"parameters", "injected-parameters", "skip-slide", AUTOGRADE_TAG}
_FIGURE_MIMES = {"application/vnd.plotly.v1+json", "image/png", "image/svg+xml"}


def _heading(source: str) -> tuple[int, str] | None:
    m = _HEADING.match(source)
    return (len(m.group(1)), m.group(2).strip()) if m else None


def _only_imports(source: str) -> bool:
    try:
        body = ast.parse(source).body
    except SyntaxError:  # IPython magics
        return False
    return bool(body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body)


def slide_type(cell, in_checks: bool = False) -> str:
    """The slide type the rule gives ``cell`` (see the module docstring)."""
    if in_checks or set(cell.get("metadata", {}).get("tags", [])) & _SKIP_TAGS:
        return "skip"
    source = cell.source
    if cell.cell_type == "markdown":
        head = _heading(source)
        if head and head[0] <= 2:
            return "slide"
        if head and head[0] == 3:
            return "subslide"
        if "<details" in source and "For researchers" in source:
            return "notes"
        return "-"
    if cell.cell_type != "code":
        return "skip"
    if "google.colab" in source or re.search(r"^\s*[%!]\s*pip\s+install", source, re.M):
        return "skip"
    if _only_imports(source):
        return "skip"
    if any(_FIGURE_MIMES & set(out.get("data", {})) for out in cell.get("outputs", [])):
        return "subslide"  # each figure gets the screen: down arrow from its derivation
    return "-"


def tag_slides(nb):
    """Set ``metadata.slideshow.slide_type`` on every cell of ``nb`` (in place) by the rule;
    cells already tagged keep their type. Returns ``nb``."""
    in_checks = False
    for cell in nb.cells:
        head = _heading(cell.source) if cell.cell_type == "markdown" else None
        if head and head[0] <= 2:
            in_checks = re.sub(r"^[\d.\s]+", "", head[1]).rstrip(".: ").lower() == "checks"
        show = cell.metadata.setdefault("slideshow", {})
        show.setdefault("slide_type", slide_type(cell, in_checks))
    return nb


_MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,ltlab"
_MATHJAX_FONTS = """MathJax.Hub.Config({"HTML-CSS": {availableFonts: ["STIX-Web"],
  preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null}});
MathJax.Ajax.loadComplete("[MathJax]/config/ltlab.js");
"""


def _plotly_in_head(html: str, src: str) -> str:
    return html.replace("</head>", f'<script src="{src}"></script>\n</head>', 1)


def build_slides(notebook: str | Path, out: str | Path = "runs/slides", *, execute: bool = False,
                 solutions: bool = False, reveal_prefix: str | None = None,
                 require_js: str | None = None) -> Path:
    """Write the deck of ``notebook`` to ``out/<name>.slides.html`` (plotly.js beside it) and
    return its path. With ``execute`` the notebook first runs in quick mode
    (``interactive=False``) so that the deck shows its figures."""
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    notebook, out = Path(notebook), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if execute:
        from ltlab.runner import run_notebook

        with tempfile.TemporaryDirectory(prefix="ltlab-slides-") as tmp:
            executed = Path(tmp) / notebook.name
            run_notebook(notebook, {"quick": True, "interactive": False}, executed)
            nb = nbformat.read(executed, as_version=4)
    else:
        nb = nbformat.read(notebook, as_version=4)
    if has_solutions(nb) and not solutions:
        nb = student_notebook(nb, keep_outputs=True)
    offline_outputs(nb)
    tag_slides(nb)
    config = Config()
    config.SlidesExporter.reveal_scroll = True
    config.SlidesExporter.reveal_number = "c/t"
    if reveal_prefix:
        config.SlidesExporter.reveal_url_prefix = reveal_prefix
    if require_js:
        config.SlidesExporter.require_js_url = require_js
    mathjax = local_mathjax()
    if mathjax:  # equations render offline (MathJax 2 with its STIX-Web fonts)
        shutil.copytree(mathjax, out / "mathjax", dirs_exist_ok=True)
        (out / "mathjax" / "config" / "ltlab.js").write_text(_MATHJAX_FONTS)
        config.SlidesExporter.mathjax_url = _MATHJAX_URL
    body, _ = SlidesExporter(config=config).from_notebook_node(nb)
    if "Plotly.newPlot" in body:
        shutil.copyfile(plotly_js(), out / "plotly.min.js")
        body = _plotly_in_head(body, "plotly.min.js")
    target = out / f"{notebook.stem}.slides.html"
    target.write_text(body)
    return target
