"""The rendered book (``ltlab book SRC_DIR --out DIR``): Sphinx + MyST-NB + sphinx-book-theme.

The book is built from notebooks that are **already executed** (the notebook tests write
them to ``test-output/notebooks/``; ``ltlab run`` writes them to ``runs/``): MyST-NB's
execution is off, so building never runs a notebook. Its pages:

- ``COURSE.md`` (the course guide) and ``notebooks/NOTATION.md`` (the notation sheet);
- one page per notebook ``NN_topic.ipynb`` with its outputs; plotly figures stay
  interactive (zoom, hover) with the plotly.js that the plotly package ships, loaded from
  the site itself (`ltlab.course.offline`), and equations use the MathJax 2 that
  ``jupyter-server-mathjax`` ships (a CDN's MathJax without it): no network is needed to
  build or to read the book;
- an API reference of the core modules (:data:`API_MODULES`) generated from docstrings;
- launch buttons to Binder and Colab on each notebook page, pointing at
  ``<launch_path>/NN_topic.ipynb`` in the repository named in pyproject's
  ``[project.urls]`` (read at build time; no repository URL, no buttons).

Solution regions are removed from the pages unless ``solutions=True`` (an instructor's
book), with the outputs of the cells that held them (`ltlab.course.student`).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .grading import AUTOGRADE_TAG
from .offline import count_plotly_figures, offline_outputs, plotly_js
from .student import has_solutions, student_notebook

__all__ = ["API_MODULES", "BookResult", "build_book", "book_page", "book_notebooks",
           "local_mathjax", "repository_url"]

#: the core modules whose docstrings make the API reference
API_MODULES = ("ltlab.priors", "ltlab.losses", "ltlab.experts", "ltlab.flexda",
               "ltlab.semi_supervised", "ltlab.lda", "ltlab.gh", "ltlab.metrics",
               "ltlab.label_shift", "ltlab.train", "ltlab.data")

_NOTEBOOK_NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")  # not "01_x-seed=1.ipynb"


@dataclass
class BookResult:
    """What `build_book` built: the site's index page, its notebook pages (with the number of
    plotly figures each holds), the build time and Sphinx's warnings."""

    index: Path
    pages: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    repository: str | None = None


def repository_url(pyproject: str | Path = "pyproject.toml") -> str | None:
    """The GitHub URL in pyproject's ``[project.urls]`` (``Repository``, ``Source``, ... or
    any github.com URL), without a trailing ``.git`` or ``/``; None when there is none."""
    path = Path(pyproject)
    if not path.is_file():
        return None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            return None
    urls = tomllib.loads(path.read_text()).get("project", {}).get("urls", {})
    ranked = sorted(urls.items(), key=lambda kv: kv[0].lower() not in (
        "repository", "source", "source code", "code", "github"))
    for _key, url in ranked:
        if "github.com/" in url:
            return re.sub(r"(\.git)?/*$", "", url.strip())
    return None


def book_notebooks(src: str | Path) -> list[Path]:
    """The notebooks of ``src`` that become pages: ``NN_topic.ipynb``, sorted (parameterised
    copies such as ``01_x-seed=1.ipynb`` are left out)."""
    return sorted(p for p in Path(src).glob("*.ipynb") if _NOTEBOOK_NAME.match(p.name))


def book_page(nb, solutions: bool = False):
    """The executed notebook ``nb`` as the book shows it: without its solution regions and
    the outputs of the cells that held them, nor nbgrader's autograder tests cells (unless
    ``solutions``), without recorded results, papermill's injected parameters and CDN
    scripts. Returns a new notebook."""
    nb = student_notebook(nb, keep_outputs=True) if has_solutions(nb) and not solutions \
        else copy.deepcopy(nb)
    if not solutions:
        nb.cells = [c for c in nb.cells if AUTOGRADE_TAG not in c.metadata.get("tags", [])]
    return offline_outputs(nb)


def _copy_markdown(path: Path, target: Path, notebook_names: set[str]) -> None:
    """Copy a Markdown page, turning links to ``notebooks/X`` into links to the book's X."""
    text = path.read_text()

    def link(m: re.Match) -> str:
        name = m.group(2)
        return f"]({name}{m.group(3)})" if name in notebook_names else m.group(0)

    text = re.sub(r"\]\((notebooks/)?([\w.-]+\.(?:ipynb|md))(#[^)]*)?\)",
                  lambda m: link(m) if m.group(1) else m.group(0), text)
    target.write_text(text)


def local_mathjax() -> Path | None:
    """MathJax 2's files as the ``jupyter-server-mathjax`` package ships them (the book's
    extra installs it), or None: then the book's equations load MathJax from a CDN."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    return static if (static / "MathJax.js").is_file() else None


# MathJax 2 with the STIX-Web fonts jupyter-server-mathjax ships (no TeX webfonts there)
_MATHJAX2 = """
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\\\(", "\\\\)"]], "displayMath": [["\\\\[", "\\\\]"]],
                "processEscapes": True,  # inside MyST's tex2jax_ignore sections too:
                "processClass": "math|output_area|tex2jax_process|mathjax_process"},
    "HTML-CSS": {"availableFonts": ["STIX-Web"], "preferredFont": "STIX-Web",
                 "webFont": "STIX-Web", "imageFont": None},
    "showMathMenu": False,
}
"""


def _conf(repository: str | None, launch_path: str, branch: str,
          mathjax: bool = False) -> str:
    options: dict = {"home_page_in_toc": True, "show_toc_level": 2,
                     "use_download_button": False}
    if repository:
        options.update(repository_url=repository, repository_branch=branch,
                       path_to_docs=launch_path, use_repository_button=True,
                       launch_buttons={"binderhub_url": "https://mybinder.org",
                                       "colab_url": "https://colab.research.google.com",
                                       "notebook_interface": "jupyterlab"})
    return f'''# Generated by ltlab.course.book: edit ltlab/course/book.py, not this file.
project = "ltlab"
author = "ltlab contributors"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax"]
nb_execution_mode = "off"  # the notebooks are already executed: the book never runs them
nb_output_stderr = "remove"
myst_enable_extensions = ["dollarmath", "amsmath", "html_image"]
myst_heading_anchors = 3
html_theme = "sphinx_book_theme"
html_title = "ltlab: long-tailed recognition, a notebook-first course"
html_theme_options = {options!r}
html_static_path = ["_static"]
html_copy_source = False
html_show_sourcelink = False
autodoc_member_order = "bysource"
autodoc_default_options = {{"members": True, "show-inheritance": True}}
default_role = "py:obj"
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "myst.xref_missing",
                     "ref.python", "toc.not_included"]
exclude_patterns = ["_build"]


{_MATHJAX2 if mathjax else ""}

def _plotly_on_figure_pages(app, pagename, templatename, context, doctree):
    """plotly.js (from the plotly package, in _static) on the pages that draw figures."""
    if "Plotly.newPlot" in context.get("body", ""):
        app.add_js_file("plotly.min.js")


def setup(app):
    app.connect("html-page-context", _plotly_on_figure_pages)
'''


def _api_page(modules) -> str:
    lines = ["API reference", "=============", "",
             "The core modules of ltlab, generated from their docstrings. Formulas follow",
             ":doc:`NOTATION`.", ""]
    for name in modules:
        lines += [name, "-" * len(name), "", f".. automodule:: {name}", ""]
    return "\n".join(lines)


def _index(notebooks: list[str], extra: list[str]) -> str:
    toc = "\n".join(extra[:2] + notebooks + extra[2:])
    return f"""# ltlab: long-tailed recognition, notebook first

A course on learning from long-tailed data: logit adjustment, BalPoE, FlexDA, calibration,
LDA and Geometric Harmonization, each derived, coded in a few lines and measured in a
notebook that runs on a laptop in minutes. Every notebook page below shows its outputs from
a quick-mode run; the launch buttons at the top of a page open it on Binder or Colab.

```{{toctree}}
:maxdepth: 1

{toc}
```
"""


def _check_out(out: Path) -> None:
    """``out`` may be new, empty or an earlier book (Sphinx's ``.buildinfo``), nothing else."""
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").is_file():
        raise FileExistsError(f"{out} is not empty and holds no earlier book: "
                              "give an empty or new folder as --out")


def _replace_folder(built: Path, out: Path) -> None:
    """Copy the built site to ``out``, replacing an earlier book there."""
    _check_out(out)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(built, out)


def build_book(src: str | Path, out: str | Path, *, course: str | Path | None = "COURSE.md",
               notation: str | Path | None = "notebooks/NOTATION.md",
               pyproject: str | Path = "pyproject.toml", launch_path: str = "notebooks",
               branch: str = "main", solutions: bool = False, modules=API_MODULES,
               keep_source: str | Path | None = None, jobs: int = 1,
               docs: str | Path | None = "docs") -> BookResult:
    """Build the book from the executed notebooks in ``src`` into the folder ``out``
    (``out/index.html``). Never executes a notebook. ``keep_source`` keeps the generated
    Sphinx sources there (otherwise a temporary folder). ``docs``: the repository's docs
    project; when it holds a ``conf.py``, its ``conf.py`` and ``index.md`` are used (with the
    derived settings in ``_ltlab_book.json`` beside them) instead of the built-in ones. Raises ``FileNotFoundError`` when
    ``src`` holds no notebook, ``RuntimeError`` when Sphinx fails (its log in the message)."""
    start = time.perf_counter()
    paths = book_notebooks(src)
    if not paths:
        raise FileNotFoundError(f"no NN_topic.ipynb notebooks in {src}: execute them first "
                                "(pytest tests/notebooks, or ltlab run --out DIR)")
    out = Path(out).resolve()
    _check_out(out)
    repo = repository_url(pyproject)
    with tempfile.TemporaryDirectory(prefix="ltlab-book-") as tmp:
        source = Path(keep_source).resolve() if keep_source else Path(tmp) / "source"
        if source.exists():
            shutil.rmtree(source)
        (source / "_static").mkdir(parents=True)
        shutil.copyfile(plotly_js(), source / "_static" / "plotly.min.js")
        result = BookResult(index=out / "index.html", repository=repo)
        for path in paths:
            nb = book_page(nbformat.read(path, as_version=4), solutions=solutions)
            nbformat.write(nb, source / path.name)
            result.pages[path.stem] = count_plotly_figures(nb)
        names = {p.name for p in paths}
        extra = []
        for page, name in ((course, "COURSE.md"), (notation, "NOTATION.md")):
            if page and Path(page).is_file():
                _copy_markdown(Path(page), source / name, names | {"NOTATION.md"})
                extra.append(Path(name).stem)
            elif page:
                result.warnings.append(f"{page} not found: the book has no {name} page")
        (source / "api.rst").write_text(_api_page(modules))
        (source / "index.md").write_text(_index([p.stem for p in paths], extra + ["api"]))
        mathjax = local_mathjax()
        if mathjax:  # equations render offline too
            shutil.copytree(mathjax, source / "_static" / "mathjax")
        if docs is not None and (Path(docs) / "conf.py").is_file():  # docs/ of the repository
            for name in ("conf.py", "index.md"):
                if (Path(docs) / name).is_file():
                    shutil.copyfile(Path(docs) / name, source / name)
            (source / "_ltlab_book.json").write_text(json.dumps(
                {"repository": repo, "launch_path": launch_path, "branch": branch,
                 "mathjax": bool(mathjax)}))
        else:
            (source / "conf.py").write_text(_conf(repo, launch_path, branch, bool(mathjax)))
        html = Path(tmp) / "build" / "html"  # MyST-NB writes beside it (jupyter_execute/)
        proc = subprocess.run(
            [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", "-j", str(jobs),
             "-d", str(Path(tmp) / "doctrees"), str(source), str(html)],
            capture_output=True, text=True)
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise RuntimeError(f"sphinx-build failed ({proc.returncode}):\n{log[-4000:]}")
        result.warnings += [line for line in log.splitlines() if "WARNING" in line]
        _replace_folder(html, out)
    result.seconds = time.perf_counter() - start
    return result
