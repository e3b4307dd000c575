"""Run notebooks, record and read their results.

Inside a notebook, ``ltlab.record("balanced_accuracy_la", 0.71)`` shows a display output of
the custom MIME type ``application/x-ltlab-result+json``: front-ends that do not know it
show nothing, so students never see it, but the value stays in the executed notebook.
`read_results` collects those outputs; `run_notebook` executes a notebook with papermill
(after checking the parameter names and types against its ``parameters`` cell) and returns
them. `run_all` executes every notebook (``ltlab run``).

Where the pieces live: reading and checking a parameters cell is
`ltlab.notebook_parameters`; executing one notebook is `ltlab.notebook_execution`; the
output folder's checks and lock are `ltlab.run_folder`. This module is their public home
(``ltlab.runner.run_notebook``, ...); ``ltlab.runner.sweep`` is `ltlab.sweep.sweep`, loaded
on first use. At import time this module loads only those small modules (no torch, no
papermill), so a notebook's ``from ltlab import record`` stays cheap.

``ltlab run`` also writes ``OUT/run_times.json`` (`RUN_TIMES`): each notebook's wall seconds
and status, with the machine, the CPU threads per kernel, the date and the load average
before and after the run, so README's quick-mode times are generated from a run
(``python tools/quick_times.py record runs``), never typed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ._records import CODEC, _jsonable, recorded
from ._records import remember as _remember
from .notebook_execution import (
    DEFAULT_THREADS,
    RESULT_MIME,
    STATIC_RENDERER,
    describe_error,
    machine_name,
    read_results,
    run_notebook,
    run_threads,
)
from .notebook_parameters import notebook_parameters, validate_parameters
from .run_folder import FolderLock, ensure_writable, write_text_atomic

__all__ = [
    "RUN_TIMES",
    "RESULT_MIME",
    "STATIC_RENDERER",
    "DEFAULT_THREADS",
    "record",
    "recorded",
    "read_results",
    "notebook_parameters",
    "validate_parameters",
    "run_notebook",
    "run_all",
    "run_threads",
    "select_notebooks",
]

def record(name: str, value: Any) -> Any:
    """Record a named result in the running notebook (invisible to students); returns it."""
    from IPython.display import display

    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string (got {name!r}).")
    payload = _jsonable(value)
    display({RESULT_MIME: {"name": name, "value": payload, "codec": CODEC}}, raw=True)
    _remember(name, payload)
    return value


def select_notebooks(notebooks_dir: str | os.PathLike,
                     only: list[str] | None = None) -> list[Path]:
    """The ``NN_topic.ipynb`` notebooks of ``notebooks_dir``, filtered by the name prefixes
    ``only``; a prefix that matches none is a ``ValueError`` listing the notebooks."""
    nbs = sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if not nbs:
        raise FileNotFoundError(
            f"no notebooks found in {str(notebooks_dir)!r}; run `ltlab run` from the "
            "repository root or pass --notebooks DIR."
        )
    if only is None:
        return nbs
    if not only:
        raise ValueError("--only needs at least one notebook name prefix, e.g. --only 02 04.")
    unknown = [o for o in only if not any(p.stem.startswith(o) for p in nbs)]
    if unknown:
        raise ValueError(
            f"--only {' '.join(unknown)} matches no notebook in {str(notebooks_dir)!r}; "
            f"the notebooks are: {', '.join(p.stem for p in nbs)}.")
    return [p for p in nbs if any(p.stem.startswith(o) for o in only)]


# ----------------------------------------------------------------------------- ltlab run
def _format_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_format_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_format_value(x) for x in v) + "]"
    return str(v)


#: the file of ``ltlab run``'s output folder that holds each notebook's wall time
RUN_TIMES = "run_times.json"


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        return None


def run_all(notebooks_dir: str | os.PathLike = "notebooks", out_dir: str | os.PathLike = "runs",
            quick: bool = True, seed: int = 0, only: list[str] | None = None,
            threads: int | None = None) -> dict[str, dict[str, Any]]:
    """Execute the notebooks (those whose names start with a prefix in ``only``; default
    all) in quick mode, write them to ``out_dir`` and print a table. ``out_dir`` is checked
    and locked before the first kernel starts; each kernel gets ``threads`` CPU threads
    (default `run_threads`). A failing notebook is reported with its error and the others
    still run. Each notebook's wall seconds (kernel start included) go to
    ``out_dir/run_times.json`` (`RUN_TIMES`)."""
    from tqdm.auto import tqdm

    nbs = select_notebooks(notebooks_dir, only)
    threads = run_threads() if threads is None else threads
    out = ensure_writable(out_dir)
    results: dict[str, dict[str, Any]] = {}
    failed = []
    times: dict[str, Any] = {
        "machine": machine_name(), "cpu_count": os.cpu_count(), "threads": threads,
        "date": _dt.date.today().isoformat(), "quick": quick, "seed": seed,
        "load_average_before": _load(), "notebooks": {}}
    with FolderLock(out):
        for nb in tqdm(nbs, desc="notebooks", unit="nb"):
            t0 = time.perf_counter()
            try:
                res = run_notebook(nb, {"quick": quick, "seed": seed}, out / nb.name,
                                   threads=threads)
                results[nb.stem] = res
                seconds, ok = time.perf_counter() - t0, True
                status = f"ok in {seconds:.0f}s"
            except Exception as err:  # keep going: one failed notebook must not lose the others
                seconds, ok = time.perf_counter() - t0, False
                results[nb.stem] = {"error": describe_error(err)[:300]}
                failed.append(nb.name)
                status = f"FAILED ({describe_error(err)[:300]})"
            times["notebooks"][nb.stem] = {"seconds": round(seconds, 1),
                                           "status": "ok" if ok else "failed"}
            tqdm.write(f"{nb.name}: {status}")
        times["load_average_after"] = _load()
        times["total_seconds"] = round(sum(t["seconds"] for t in times["notebooks"].values()), 1)
        write_text_atomic(out / RUN_TIMES, json.dumps(times, indent=1) + "\n")
    print(f"\nExecuted notebooks are in {out}/ ({threads} CPU thread(s) per kernel)\n")
    width = max((len(k) for r in results.values() for k in r), default=10)
    for name, res in results.items():
        print(f"== {name}")
        for k, v in res.items():
            print(f"   {k:<{width}}  {_format_value(v)}")
    if failed:
        print(f"\n{len(failed)} notebook(s) failed: {failed}", file=sys.stderr)
    return results


def __getattr__(name: str) -> Any:
    """``sweep`` is `ltlab.sweep.sweep`, imported on first use (ltlab.sweep imports the
    notebook modules this one re-exports, never this one: no cycle)."""
    if name == "sweep":
        from .sweep import sweep

        return sweep
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
