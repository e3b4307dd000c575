"""ltlab: a notebook-first teaching lab for long-tailed recognition.

Layers (each imports only from those above it): priors, data, metrics, losses, experts,
flexda, lda, gh, label_shift, models, train, viz, widgets, runner. See DESIGN.md.
"""

from .runner import read_results, record, run_notebook

__version__ = "0.1.0"
__all__ = ["record", "read_results", "run_notebook", "__version__"]
