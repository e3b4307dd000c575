"""Execute one notebook with papermill and read its recorded results.

`run_notebook` checks the parameters against the notebook's ``parameters`` cell
(`ltlab.notebook_parameters`) before any kernel starts, executes into a temporary file
beside ``output_path`` and renames it into place (a reader never sees half a notebook; a
failed run still leaves its executed copy, with the traceback), and can fix the kernel's
CPU thread count (``threads``). `read_results` collects the values `ltlab.record` stored.
`describe_error` says why a run failed in one line (the notebook's own exception name and
message, not only ``PapermillExecutionError``).

`ltlab.runner` re-exports these (its public home) and `ltlab.sweep` runs through them; this
module imports only `ltlab._records` and `ltlab.notebook_parameters` (papermill and nbformat
when called), so neither of those two imports the other.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._records import CODEC, _restore
from .notebook_parameters import notebook_parameters, papermill_problems, validate_parameters

if TYPE_CHECKING:  # nbformat is imported where it is used (jsonschema's import is slow)
    import nbformat

__all__ = ["RESULT_MIME", "machine_name", "STATIC_RENDERER", "DEFAULT_THREADS", "read_results", "run_notebook",
           "describe_error", "run_threads", "thread_arguments", "warn_papermill_problems"]

RESULT_MIME = "application/x-ltlab-result+json"
STATIC_RENDERER = "plotly_mimetype+notebook_connected"

#: CPU threads of each kernel ``ltlab run`` and ``ltlab sweep`` start (``LTLAB_THREADS``
#: overrides): results depend on it (float sums split differently; notebook 00 at seed 0
#: changes one test prediction between 1 and 2 threads), so it is fixed and recorded.
DEFAULT_THREADS = 2


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
                legacy = payload.get("codec", 1) < CODEC  # older notebooks: "nan" strings
                out[payload["name"]] = _restore(payload["value"], legacy=legacy)
    return out


def run_threads() -> int:
    """The CPU threads per kernel of ``ltlab run`` / ``sweep`` (``LTLAB_THREADS``, default 2)."""
    text = os.environ.get("LTLAB_THREADS", str(DEFAULT_THREADS))
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"LTLAB_THREADS must be a positive integer (got {text!r}).")
    return threads


def thread_arguments(threads: int) -> list[str]:
    """Kernel arguments that fix its CPU threads (set before the notebook imports torch)."""
    n = str(int(threads))
    code = (f"import os; os.environ.update(OMP_NUM_THREADS='{n}', MKL_NUM_THREADS='{n}', "
            f"LTLAB_THREADS='{n}')")
    return [f"--IPKernelApp.exec_lines={code}"]


def warn_papermill_problems(path: str | os.PathLike) -> list[str]:
    """Warn (``UserWarning``) about each parameters-cell line papermill cannot read."""
    import warnings

    problems = papermill_problems(path)
    for problem in problems:
        warnings.warn(problem, UserWarning, stacklevel=3)
    return problems


def describe_error(err: BaseException) -> str:
    """``err`` in one line of at most 1,000 characters (a notebook's error names its cell)."""
    try:
        from papermill.exceptions import PapermillExecutionError
    except ImportError:  # pragma: no cover
        PapermillExecutionError = ()  # noqa: N806
    if PapermillExecutionError and isinstance(err, PapermillExecutionError):
        text = f"{err.ename}: {err.evalue} (cell In [{err.exec_count}])"
    else:
        text = f"{type(err).__name__}: {err}"
    text = " ".join(text.split())
    return text if len(text) <= 1000 else text[:997] + "..."


def run_notebook(
    path: str | os.PathLike,
    parameters: Mapping[str, Any] | None = None,
    output_path: str | os.PathLike | None = None,
    timeout: float | None = None,
    progress: bool = False,
    kernel_name: str = "python3",
    cwd: str | os.PathLike | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Execute a notebook with papermill and return its recorded results.

    Unknown parameter names (and values of the wrong type, or ``parameters`` that are not a
    mapping) raise before anything runs. ``interactive`` defaults to False here (static
    figures, no widgets), widget state is not stored, and plotly figures render as
    ``plotly_mimetype+notebook_connected``. The kernel runs in ``cwd`` (default: the
    notebook's folder) with ``threads`` CPU threads (default: torch's own choice). The
    executed copy is written to a temporary file beside ``output_path`` and renamed into
    place, also when a cell fails.
    """
    import papermill as pm

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"notebook {str(path)!r} does not exist.")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise TypeError(
            f"parameters must be a mapping {{name: value}}, e.g. {{'seed': 1}} "
            f"(got {type(parameters).__name__} {parameters!r}).")
    params = {"interactive": False, **(parameters or {})}
    if "interactive" not in notebook_parameters(path):
        params.pop("interactive")
    params = validate_parameters(path, params)
    warn_papermill_problems(path)
    extra = ["--IPKernelApp.log_level=ERROR"]  # the kernel's start-up log is noise in a batch
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer (got {threads!r}).")
        extra += thread_arguments(threads)
    os.environ.setdefault("PLOTLY_RENDERER", STATIC_RENDERER)
    os.environ.setdefault("TQDM_DISABLE", "1")
    target = Path(output_path) if output_path else None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp.ipynb") if target else None
    try:
        nb = pm.execute_notebook(
            str(path), str(tmp) if tmp else None, parameters=params,
            progress_bar=progress, store_widget_state=False, cwd=str(cwd or path.parent),
            execution_timeout=timeout, kernel_name=kernel_name, extra_arguments=extra,
        )
    finally:
        if tmp is not None and tmp.exists():
            os.replace(tmp, target)
    return read_results(nb)


def machine_name() -> str:
    """A short description of this machine: host, CPU model and core count (what the
    full-size records and ``ltlab run``'s times name their machine by)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()} ({cpu}, {os.cpu_count()} cores)"
