"""Parameter sweeps over a notebook, through papermill (`ltlab.runner.run_notebook`).

``sweep("notebooks/01_logit_adjustment.ipynb", {"tau": [0.0, 1.0, 2.0], "seed": [0, 1, 2]})``
runs the 3x3 grid, at most ``workers`` notebooks at a time, and writes into ``out``::

    out/runs/<notebook>__<params>__<hash>.ipynb   executed notebook of each run
    out/runs/<notebook>__<params>__<hash>.json    its parameters, recorded results or error
    out/sweep.csv                                 one row per run of the grid
    out/summary.html                              plotly summary figure (+ plotly.min.js)

The ``.json`` record is written last and atomically, so it marks a finished run: a second
call with the same grid and ``out`` reuses every recorded run and executes only the missing
ones (a sweep killed midway resumes where it stopped). A run whose notebook raised becomes
a row with its error and is not run again unless ``retry_failed=True``; a run that failed
only because its kernel would not start (papermill #239/#511: concurrent kernel starts race
for ports) is retried at once, ``retries`` times, and again on the next call.

Any `concurrent.futures` executor spreads the runs (the default is a thread pool: each run's
work happens in its own kernel process). A Dask cluster works unchanged::

    from dask.distributed import Client
    with Client("tcp://scheduler:8786") as client:
        sweep(path, grid, workers=16, executor=client.get_executor())

The sweep runs through `ltlab.notebook_execution.run_notebook` and checks its grid with
`ltlab.notebook_parameters` (it never imports `ltlab.runner`, which offers it as
``ltlab.runner.sweep``). Each run executes in a temporary folder ``ltlab-sweep-*`` that is
removed when the run ends; folders left by a killed sweep are removed at the next start.

Workers read the notebook from ``path``, so it must be reachable there (same checkout or a
shared file system); the executed notebooks and results travel back to the caller, which
alone writes into ``out``.
"""

from .engine import SweepResult, sweep
from .execute import is_kernel_start_failure
from .grid import expand_grid, parse_cli_value, run_name

__all__ = [
    "sweep",
    "SweepResult",
    "expand_grid",
    "run_name",
    "is_kernel_start_failure",
    "parse_cli_value",
]
