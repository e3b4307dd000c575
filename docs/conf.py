"""Sphinx configuration of the ltlab book (Sphinx + MyST-NB + sphinx-book-theme).

``ltlab book SRC_DIR --out DIR`` copies this file and ``index.md`` into a build folder beside
the executed notebooks of SRC_DIR, ``COURSE.md``, ``NOTATION.md`` and a generated API page,
and writes ``_ltlab_book.json`` there with what it derives: the repository (from
pyproject.toml's ``[project.urls]``), the notebooks' folder and branch for the launch
buttons, and whether MathJax 2 was copied in for offline equations. The book never executes
a notebook: ``.github/workflows/docs.yml`` runs them (``ltlab run``) and builds the book
from the executed copies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _settings() -> dict:
    """What ``ltlab book`` derived, or (building docs/ by hand) the repository's pyproject."""
    written = HERE / "_ltlab_book.json"
    if written.is_file():
        return json.loads(written.read_text())
    repository = None
    pyproject = HERE.parent / "pyproject.toml"
    if pyproject.is_file():
        found = re.search(r'^Repository\s*=\s*"([^"]+)"', pyproject.read_text(), re.M)
        repository = found.group(1).rstrip("/") if found else None
    return {"repository": repository, "launch_path": "notebooks", "branch": "main",
            "mathjax": (HERE / "_static" / "mathjax" / "MathJax.js").is_file()}


SETTINGS = _settings()

project = "ltlab"
author = "The ltlab authors"
copyright = "2026, The ltlab authors"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax"]
nb_execution_mode = "off"  # the notebooks are already executed: the book never runs them
nb_output_stderr = "remove"
myst_enable_extensions = ["dollarmath", "amsmath", "html_image"]
myst_heading_anchors = 3
html_theme = "sphinx_book_theme"
html_title = "ltlab: long-tailed recognition, a notebook-first course"
html_theme_options: dict = {"home_page_in_toc": True, "show_toc_level": 2,
                            "use_download_button": False}
if SETTINGS.get("repository"):  # launch buttons: Binder and Colab open the notebook's source
    html_theme_options.update(
        repository_url=SETTINGS["repository"], repository_branch=SETTINGS["branch"],
        path_to_docs=SETTINGS["launch_path"], use_repository_button=True,
        launch_buttons={"binderhub_url": "https://mybinder.org",
                        "colab_url": "https://colab.research.google.com",
                        "notebook_interface": "jupyterlab"})
html_static_path = ["_static"] if (HERE / "_static").is_dir() else []
html_copy_source = False
html_show_sourcelink = False
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
default_role = "py:obj"
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "myst.xref_missing",
                     "ref.python", "toc.not_included"]
exclude_patterns = ["_build", "jupyter_execute", "README.md"]

if SETTINGS.get("mathjax"):  # MathJax 2 as jupyter-server-mathjax ships it: offline equations
    mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
    mathjax2_config = {
        "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                    "processEscapes": True,  # inside MyST's tex2jax_ignore sections too
                    "processClass": "math|output_area|tex2jax_process|mathjax_process"},
        "HTML-CSS": {"availableFonts": ["STIX-Web"], "preferredFont": "STIX-Web",
                     "webFont": "STIX-Web", "imageFont": None},
        "showMathMenu": False,
    }


def _plotly_on_figure_pages(app, pagename, templatename, context, doctree):
    """plotly.js (from the plotly package, in _static) on the pages that draw figures."""
    if "Plotly.newPlot" in context.get("body", ""):
        app.add_js_file("plotly.min.js")


def setup(app):
    app.connect("html-page-context", _plotly_on_figure_pages)
