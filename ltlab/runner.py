"""Run notebooks, record and read their results.

Inside a notebook, ``ltlab.record("balanced_accuracy_la", 0.71)`` shows a display output of
the custom MIME type ``application/x-ltlab-result+json``: front-ends that do not know it
show nothing, so students never see it, but the value stays in the executed notebook.
`read_results` collects those outputs; `run_notebook` executes a notebook with papermill
(after checking the parameter names and types against its ``parameters`` cell) and returns
them. `run_all` executes every notebook (``ltlab run``).

The ``ltlab`` command line is `ltlab.cli`; `sweep` lives in `ltlab.sweep` and is reachable
here as ``ltlab.runner.sweep`` (loaded on first use: this module imports only
`ltlab._records`, so a notebook's ``from ltlab import record`` stays cheap).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the JSON codec of recorded values and the kernel's own list of them live on the core floor
# (`ltlab._records`), so teaching modules can read records without importing this module
from ._records import _jsonable, _restore, recorded  # noqa: F401  (re-exported)
from ._records import remember as _remember

if TYPE_CHECKING:  # nbformat is imported where it is used: a notebook that only calls
    import nbformat  # record() then skips jsonschema's slow import (seconds per kernel)

__all__ = [
    "RESULT_MIME",
    "record",
    "recorded",
    "read_results",
    "notebook_parameters",
    "validate_parameters",
    "run_notebook",
    "run_all",
]

RESULT_MIME = "application/x-ltlab-result+json"
STATIC_RENDERER = "plotly_mimetype+notebook_connected"


def record(name: str, value: Any) -> Any:
    """Record a named result in the running notebook (invisible to students); returns it."""
    from IPython.display import display

    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string (got {name!r}).")
    payload = _jsonable(value)
    display({RESULT_MIME: {"name": name, "value": payload}}, raw=True)
    _remember(name, payload)
    return value


def read_results(notebook: str | os.PathLike | nbformat.NotebookNode) -> dict[str, Any]:
    """All values recorded with `record` in an executed notebook (the last one wins)."""
    import nbformat

    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(
        str(notebook), as_version=4)
    out: dict[str, Any] = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if RESULT_MIME in data:
                payload = data[RESULT_MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                out[payload["name"]] = _restore(payload["value"])
    return out


def notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """The names and default values of a notebook's ``parameters`` cell."""
    import ast

    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            params = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    try:
                        params[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        params[node.targets[0].id] = None
            return params
    raise ValueError(f"{path} has no cell tagged 'parameters'; papermill cannot drive it.")


def validate_parameters(path: str | os.PathLike, parameters: dict[str, Any]) -> None:
    """Reject unknown names and values whose type differs from the default's (a
    ``ValueError`` / ``TypeError`` that names the accepted parameters or the expected type)."""
    known = notebook_parameters(path)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for {Path(path).name}; it accepts "
            f"{sorted(known)}. Check the spelling (papermill would silently ignore them)."
        )
    for name, value in parameters.items():
        default = known[name]
        if default is None or value is None:
            continue
        ok = isinstance(value, type(default)) or (
            isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool))
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, bool):
            ok = False
        if not ok:
            raise TypeError(
                f"parameter {name!r} of {Path(path).name} expects {type(default).__name__} "
                f"(default {default!r}) but got {value!r} ({type(value).__name__})."
            )


def run_notebook(
    path: str | os.PathLike,
    parameters: dict[str, Any] | None = None,
    output_path: str | os.PathLike | None = None,
    timeout: float | None = None,
    progress: bool = False,
    kernel_name: str = "python3",
    cwd: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Execute a notebook with papermill and return its recorded results.

    Unknown parameter names (and values of the wrong type) raise before anything runs.
    ``interactive`` defaults to False here (static figures, no widgets), widget state is not
    stored, and plotly figures render as ``plotly_mimetype+notebook_connected``. The kernel
    runs in ``cwd`` (default: the notebook's folder). The tests run the instructor notebooks
    through this function too, interleaved with their student copies
    (`ltlab.course.interleave.run_interleaved`).
    """
    import papermill as pm

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"notebook {str(path)!r} does not exist.")
    params = {"interactive": False, **(parameters or {})}
    if "interactive" not in notebook_parameters(path):
        params.pop("interactive")
    validate_parameters(path, params)
    os.environ.setdefault("PLOTLY_RENDERER", STATIC_RENDERER)
    os.environ.setdefault("TQDM_DISABLE", "1")
    nb = pm.execute_notebook(
        str(path), str(output_path) if output_path else None, parameters=params,
        progress_bar=progress, store_widget_state=False, cwd=str(cwd or path.parent),
        execution_timeout=timeout, kernel_name=kernel_name,
        # the kernel's own log (e.g. "running over TCP without encryption" on every start)
        # is noise in a batch run; errors in cells still raise PapermillExecutionError
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    return read_results(nb)


# ----------------------------------------------------------------------------- ltlab run
def _format_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_format_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_format_value(x) for x in v) + "]"
    return str(v)


def run_all(notebooks_dir: str | os.PathLike = "notebooks", out_dir: str | os.PathLike = "runs",
            quick: bool = True, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Execute every notebook in quick mode, write them to ``out_dir`` and print a table.
    A failing notebook is reported and the others still run."""
    from tqdm.auto import tqdm

    nbs = sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if not nbs:
        raise FileNotFoundError(
            f"no notebooks found in {str(notebooks_dir)!r}; run `ltlab run` from the "
            "repository root or pass --notebooks DIR."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    failed = []
    for nb in tqdm(nbs, desc="notebooks", unit="nb"):
        t0 = time.perf_counter()
        try:
            res = run_notebook(nb, {"quick": quick, "seed": seed}, out / nb.name)
            results[nb.stem] = res
            status = f"ok in {time.perf_counter() - t0:.0f}s"
        except Exception as err:  # keep going: one failed notebook must not lose the others
            results[nb.stem] = {"error": f"{type(err).__name__}: {str(err)[:200]}"}
            failed.append(nb.name)
            status = "FAILED"
        tqdm.write(f"{nb.name}: {status}")
    print(f"\nExecuted notebooks are in {out}/\n")
    width = max(len(k) for r in results.values() for k in r) if results else 10
    for name, res in results.items():
        print(f"== {name}")
        for k, v in res.items():
            print(f"   {k:<{width}}  {_format_value(v)}")
    if failed:
        print(f"\n{len(failed)} notebook(s) failed: {failed}", file=sys.stderr)
    return results


_MOVED = {"main": "ltlab.cli", "check_parameters": "ltlab.runner:validate_parameters"}


def __getattr__(name: str) -> Any:
    """``sweep`` from `ltlab.sweep`, imported on first use (by name, so that runner imports
    no ltlab module and ``runner <-> sweep`` is no cycle); ``main`` moved to `ltlab.cli` and
    ``check_parameters`` is now `validate_parameters` (``check_*`` names are exercise
    checkers)."""
    if name == "sweep":
        return importlib.import_module("ltlab.sweep").sweep
    if name in _MOVED:
        from ._deprecation import moved_names

        return moved_names(__name__, _MOVED)(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # pragma: no cover  (the old spelling of ``python -m ltlab.cli``)
    sys.exit(importlib.import_module("ltlab.cli").main())
