"""ltlab: a notebook-first teaching lab for long-tailed recognition.

Four floors, imports only going down (see ARCHITECTURE.md in the repository): core (``priors``,
``data``, ``metrics``, ``losses``, ``experts``, ``flexda``, ``lda``, ``gh``, ...), teaching
(``experiments``, ``exercises``), presentation (``viz``, ``widgets``) and tooling
(``runner``, ``sweep``, ``cli``, ``recipes``). The package itself only re-exports what a
notebook calls: `record`, and `read_results` / `run_notebook` to run one.
"""

from .runner import read_results, record, run_notebook

__version__ = "0.1.0"
__all__ = ["record", "read_results", "run_notebook", "__version__"]
