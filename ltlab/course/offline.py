"""Executed notebooks made to render without a network: plotly.js from the plotly package.

Figures recorded with the ``plotly_mimetype+notebook_connected`` renderer hold, in their
``text/html`` output, ``<script>`` tags that load plotly.js (and MathJax) from a CDN. A page
built from them (the book, a slide deck) instead loads the copy of plotly.js that the
plotly package ships (:func:`plotly_js`), once, in its ``<head>``; :func:`offline_outputs`
removes the CDN tags and the outputs no reader needs (``ltlab.record``'s results).

>>> html = '<script charset="utf-8" src="https://cdn.plot.ly/plotly-3.0.1.min.js"></script><div>'
>>> strip_cdn_scripts(html)
'<div>'
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["RESULT_MIME", "plotly_js", "strip_cdn_scripts", "offline_outputs",
           "count_plotly_figures"]

RESULT_MIME = "application/x-ltlab-result+json"  # = ltlab.runner.RESULT_MIME
PLOTLY_MIME = "application/vnd.plotly.v1+json"

_CDN_SCRIPTS = [
    # <script src="https://cdn.plot.ly/plotly-X.min.js" ...></script> (one per figure)
    re.compile(r'<script\b[^>]*\bsrc="https://cdn\.plot\.ly/[^"]*"[^>]*>\s*</script>', re.I),
    # <script type="module">import "https://cdn.plot.ly/plotly-X.min"</script> (the init)
    re.compile(r'<script\b[^>]*>\s*import\s+"https://cdn\.plot\.ly/[^"]*";?\s*</script>', re.I),
    # MathJax for LaTeX in figure labels: the page's own MathJax (Sphinx) typesets math
    re.compile(r'<script\b[^>]*\bsrc="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/'
               r'[^"]*"[^>]*>\s*</script>', re.I),
]


def plotly_js() -> Path:
    """The minified plotly.js shipped inside the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.js is not in the plotly package ({path})")
    return path


def strip_cdn_scripts(html: str) -> str:
    """``html`` without the ``<script>`` tags that load plotly.js or MathJax from a CDN."""
    for pattern in _CDN_SCRIPTS:
        html = pattern.sub("", html)
    return html


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def offline_outputs(nb, drop_tags: tuple[str, ...] = ("injected-parameters",)):
    """Rewrite the executed notebook ``nb`` in place for an offline page: drop ltlab's
    recorded-result outputs and the cells tagged ``drop_tags`` (papermill's injected
    parameters), strip the CDN ``<script>`` tags from HTML outputs. Returns ``nb``."""
    cells = []
    for cell in nb.cells:
        if set(cell.get("metadata", {}).get("tags", [])) & set(drop_tags):
            continue
        if cell.cell_type == "code":
            kept = []
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if RESULT_MIME in data:
                    data.pop(RESULT_MIME)
                    if not data:
                        continue
                if "text/html" in data:
                    data["text/html"] = strip_cdn_scripts(_text(data["text/html"]))
                kept.append(out)
            cell.outputs = kept
        cells.append(cell)
    nb.cells = cells
    return nb


def count_plotly_figures(nb) -> int:
    """How many plotly figures the outputs of ``nb`` hold."""
    return sum(PLOTLY_MIME in out.get("data", {})
               for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []))
