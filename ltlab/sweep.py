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

Workers read the notebook from ``path``, so it must be reachable there (same checkout or a
shared file system); the executed notebooks and results travel back to the caller, which
alone writes into ``out``.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import hashlib
import itertools
import json
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .runner import check_parameters, notebook_parameters

__all__ = [
    "sweep",
    "SweepResult",
    "expand_grid",
    "run_name",
    "is_kernel_start_failure",
    "parse_cli_value",
]

_KERNEL_START = re.compile(
    r"Kernel didn't respond|Kernel died before replying|Address already in use|"
    r"kernel_info|Kernel not (?:started|alive)|Kernel failed to start|Kernel is dead",
    re.IGNORECASE,
)


class SweepResult(list):
    """The sweep's table: a list of rows (dicts), in grid order, plus where it was written.

    ``csv`` and ``figure`` are the paths of the table and of the summary figure; ``ran`` and
    ``reused`` name the runs executed by this call and those found already done in ``out``;
    ``failed`` the runs whose row carries an error. ``pandas.DataFrame(result)`` gives a frame.
    """

    def __init__(self, rows, csv_path: Path, figure_path: Path | None, ran: list[str],
                 reused: list[str]) -> None:
        super().__init__(rows)
        self.csv = csv_path
        self.figure = figure_path
        self.ran = ran
        self.reused = reused

    @property
    def failed(self) -> list[str]:
        return [r["run"] for r in self if r["status"] != "ok"]


# ----------------------------------------------------------------------------- grid
def expand_grid(grid: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The runs of a grid, in order.

    A mapping ``{name: [values...]}`` gives the Cartesian product (the first name varies
    slowest); a value that is not a list, tuple or range is a single value, the same for
    every run. A sequence of mappings lists the runs explicitly.
    """
    if isinstance(grid, Mapping):
        names, choices = [], []
        for name, values in grid.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"grid: parameter names must be identifiers (got {name!r}).")
            values = list(values) if isinstance(values, (list, tuple, range)) else [values]
            if not values:
                raise ValueError(f"grid: parameter {name!r} has no values; give at least one.")
            dup = [v for i, v in enumerate(values) if _canonical(v) in map(_canonical, values[:i])]
            if dup:
                raise ValueError(
                    f"grid: parameter {name!r} repeats the value {dup[0]!r}; each run must differ.")
            names.append(name)
            choices.append(values)
        points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        points = []
        for i, p in enumerate(grid):
            if not isinstance(p, Mapping):
                raise ValueError(f"grid: run {i} must be a mapping of parameters (got {p!r}).")
            points.append(dict(p))
        seen: dict[str, int] = {}
        for i, p in enumerate(points):
            key = _canonical(p)
            if key in seen:
                raise ValueError(f"grid: run {i} repeats run {seen[key]} ({p!r}).")
            seen[key] = i
    else:
        raise ValueError(
            f"grid must be a mapping {{name: [values]}} or a list of mappings (got {grid!r}).")
    if not points:
        raise ValueError("grid is empty; give at least one run.")
    return points


def _canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"grid values must be JSON values (numbers, strings, booleans, None, lists, dicts) "
            f"so papermill can inject them (got {value!r}: {err})."
        ) from None


def run_name(notebook: str, parameters: Mapping[str, Any]) -> str:
    """A file-system-safe name, unique per notebook and parameter set.

    Readable part ``<notebook>__k=v,k=v`` (names sorted) plus 8 hex digits of a hash of the exact values,
    so two runs never share an output even when their readable parts coincide.
    """
    slug = ",".join(f"{k}={parameters[k]}" for k in sorted(parameters)) or "defaults"
    slug = re.sub(r"[^A-Za-z0-9._=,+-]", "_", slug)[:80]
    digest = hashlib.sha1(
        _canonical({"notebook": notebook, "parameters": dict(parameters)}).encode()
    ).hexdigest()[:8]
    return f"{notebook}__{slug}__{digest}"


def parse_cli_value(text: str, default: Any) -> Any:
    """A command-line string as a value of the type of the parameter's ``default``.

    bool: true/false/1/0/yes/no; int; float; str (kept as typed); otherwise a Python literal
    if it parses (``None``, ``[1, 2]``), else the string.
    """
    import ast

    if isinstance(default, bool):
        low = text.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise ValueError(f"{text!r} is not a boolean; use True or False.")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer (the default is {default!r}).") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number (the default is {default!r}).") from None
    if isinstance(default, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


# ----------------------------------------------------------------------------- one run
def is_kernel_start_failure(err: BaseException) -> bool:
    """Whether ``err`` means the kernel never started (worth retrying), rather than an error
    raised by the notebook's own code (``PapermillExecutionError``, never retried)."""
    try:
        from papermill.exceptions import PapermillExecutionError

        if isinstance(err, PapermillExecutionError):
            return False
    except ImportError:  # pragma: no cover
        pass
    try:
        import zmq

        if isinstance(err, zmq.ZMQError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return bool(_KERNEL_START.search(f"{type(err).__name__}: {err}"))


def _describe(err: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        text = f"{err.ename}: {err.evalue} (cell In [{err.exec_count}])"
    else:
        text = f"{type(err).__name__}: {err}"
    text = " ".join(text.split())
    return text if len(text) <= 1000 else text[:997] + "..."


def _execute(path: str, parameters: dict[str, Any], timeout: float | None, retries: int,
             retry_delay: float, token: str = "") -> dict[str, Any]:
    """Run one notebook (in whatever process the executor chose) and return its record.

    Retries kernel-start failures up to ``retries`` times with a growing, jittered pause.
    The executed notebook comes back as text so the caller can store it (remote workers
    need not share a file system with the caller). ``token`` is unique per submission, so an
    executor that caches pure calls (Dask) never hands back an earlier run.
    """
    from . import runner  # looked up at call time, so tests can stand in for run_notebook

    t0 = time.perf_counter()
    attempts = 0
    results: dict[str, Any] = {}
    error = None
    retryable = False
    with tempfile.TemporaryDirectory(prefix="ltlab-sweep-") as tmp:
        out = Path(tmp) / "run.ipynb"
        while True:
            attempts += 1
            out.unlink(missing_ok=True)
            try:
                results = runner.run_notebook(path, parameters, out, timeout=timeout)
                break
            except Exception as err:  # a failed run is a row, never the end of the sweep
                if is_kernel_start_failure(err) and attempts <= retries:
                    time.sleep(retry_delay * attempts * (1.0 + random.random()))
                    continue
                error, retryable = _describe(err), is_kernel_start_failure(err)
                break
        notebook = out.read_text(encoding="utf-8") if out.exists() else None
    return {
        "parameters": parameters,
        "results": results,
        "error": error,
        "retryable": retryable,
        "attempts": attempts,
        "seconds": round(time.perf_counter() - t0, 3),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "notebook_text": notebook,
    }


# ----------------------------------------------------------------------------- storage
def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _save(runs_dir: Path, name: str, record: dict[str, Any]) -> dict[str, Any]:
    """Store a finished run: its notebook first, then the record that marks it done."""
    record = dict(record)
    text = record.pop("notebook_text", None)
    record["notebook"] = None
    if text is not None:
        _write_atomic(runs_dir / f"{name}.ipynb", text)
        record["notebook"] = f"{runs_dir.name}/{name}.ipynb"
    record["run"] = name
    _write_atomic(runs_dir / f"{name}.json", json.dumps(record, indent=1, sort_keys=True))
    return record


def _load(runs_dir: Path, name: str) -> dict[str, Any] | None:
    try:
        return json.loads((runs_dir / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _flatten(results: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted columns (``shot_accuracy.few``); lists as JSON text."""
    flat: dict[str, Any] = {}
    for k, v in results.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            flat.update(_flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            flat[key] = json.dumps(v)
        else:
            flat[key] = v
    return flat


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    row = {"run": record["run"], **record["parameters"]}
    row["status"] = "error" if record.get("error") else "ok"
    row["error"] = record.get("error") or ""
    row.update(_flatten(record.get("results") or {}))
    row["seconds"] = record.get("seconds")
    row["attempts"] = record.get("attempts")
    row["notebook"] = record.get("notebook") or ""
    return row


def _write_csv(path: Path, rows: list[dict[str, Any]], parameters: list[str]) -> None:
    head = ["run", *parameters, "status", "error"]
    tail = ["seconds", "attempts", "notebook"]
    middle: list[str] = []
    for r in rows:
        middle += [k for k in r if k not in head and k not in tail and k not in middle]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*head, *middle, *tail], restval="")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    os.replace(tmp, path)


def _write_figure(path: Path, rows: list[dict[str, Any]], swept: list[str], title: str) -> Path:
    from .viz.sweep import sweep_summary_figure

    fig = sweep_summary_figure(rows, swept, title=title)
    fig.write_html(str(path), include_plotlyjs="directory", full_html=True)
    return path


# ----------------------------------------------------------------------------- sweep
def sweep(
    path: str | os.PathLike,
    grid: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    workers: int = 2,
    executor: cf.Executor | None = None,
    out: str | os.PathLike | None = None,
    *,
    timeout: float | None = None,
    retries: int = 2,
    retry_delay: float = 1.0,
    retry_failed: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Run ``path`` once per point of ``grid`` and return the table of parameters and results.

    ``workers``: most runs in flight at once (also with a given executor). ``executor``: any
    `concurrent.futures.Executor` (default: a thread pool of ``workers`` threads, shut down at
    the end); a Dask ``client.get_executor()`` spreads the runs over a cluster. ``out``:
    folder of the runs, the CSV and the figure (default ``runs/sweeps/<notebook>``).
    ``timeout``: seconds per cell. Unknown parameter names and values whose type differs
    from the notebook's default raise before anything runs. Each call reuses the runs
    already recorded in ``out`` (see the module docstring).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {str(path)!r} does not exist.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer (got {workers!r}).")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer (got {retries!r}).")
    if executor is not None and not isinstance(executor, cf.Executor) and not hasattr(
            executor, "submit"):
        raise ValueError(f"executor must be a concurrent.futures.Executor (got {executor!r}).")
    points = expand_grid(grid)
    has_interactive = "interactive" in notebook_parameters(path)
    for p in points:  # everything is checked before the first kernel starts
        check_parameters(path, {"interactive": False, **p} if has_interactive else p)
        _canonical(p)

    parameters: list[str] = []
    for p in points:
        parameters += [k for k in p if k not in parameters]
    swept = [k for k in parameters
             if len({_canonical(p.get(k)) for p in points}) > 1]
    out = Path(out) if out is not None else Path("runs") / "sweeps" / path.stem
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)

    names = [run_name(path.stem, p) for p in points]
    records: dict[str, dict[str, Any]] = {}
    todo: list[tuple[str, dict[str, Any]]] = []
    for name, p in zip(names, points, strict=True):
        rec = _load(runs_dir, name)
        if rec is not None and not (rec.get("error") and (rec.get("retryable") or retry_failed)):
            records[name] = rec
        else:
            todo.append((name, p))
    reused = [n for n in names if n in records]

    from tqdm.auto import tqdm

    bar = tqdm(total=len(points), initial=len(reused), desc=f"sweep {path.stem}", unit="run",
               disable=not progress, file=sys.stderr)
    lock = threading.Lock()
    failed = [0]

    def finished(name: str, point: dict[str, Any], future: cf.Future) -> None:
        # runs in the executor's callback thread: store the run even if the caller is gone
        try:
            rec = future.result()
        except cf.CancelledError:
            return
        except Exception as err:  # the executor lost the run (worker died, pickling...)
            rec = {"parameters": point, "results": {}, "error": _describe(err),
                   "retryable": True, "attempts": 0, "seconds": None, "host": None,
                   "pid": None, "notebook_text": None}
        saved = _save(runs_dir, name, rec)
        with lock:
            records[name] = saved
            failed[0] += bool(saved.get("error"))
            bar.set_postfix(failed=failed[0], refresh=False)
            bar.update(1)

    own = executor is None
    ex = executor if executor is not None else cf.ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="ltlab-sweep")
    queue = iter(todo)
    in_flight: set[cf.Future] = set()
    try:
        while True:
            while len(in_flight) < workers:
                item = next(queue, None)
                if item is None:
                    break
                name, point = item
                fut = ex.submit(_execute, str(path.resolve()), point, timeout, retries,
                                retry_delay, f"{name}-{time.time_ns()}-{random.random()}")
                fut.add_done_callback(lambda f, n=name, p=point: finished(n, p, f))
                in_flight.add(fut)
            if not in_flight:
                break
            done, in_flight = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
        # a done-callback may still be storing the last run when wait() returns
        deadline = time.monotonic() + 60
        while any(n not in records for n, _ in todo) and time.monotonic() < deadline:
            time.sleep(0.01)
    except BaseException:
        for fut in in_flight:
            fut.cancel()
        raise
    finally:
        bar.close()
        if own:
            ex.shutdown(wait=False, cancel_futures=True)

    rows = [_row(records[n]) for n in names]
    csv_path = out / "sweep.csv"
    _write_csv(csv_path, rows, parameters)
    shape = "x".join(str(len({_canonical(p.get(k)) for p in points})) for k in swept)
    title = f"{shape + ' ' if shape else ''}sweep of {path.stem}"
    figure_path = _write_figure(out / "summary.html", rows, swept, title)
    ran = [n for n, _ in todo]
    return SweepResult(rows, csv_path, figure_path, ran=ran, reused=reused)


# ----------------------------------------------------------------------------- CLI
def add_sweep_command(subparsers) -> None:
    """The ``ltlab sweep`` sub-command (registered by `ltlab.runner.main`)."""
    p = subparsers.add_parser(
        "sweep", help="run a notebook over a grid of parameters (papermill), resumably",
        description="Run NOTEBOOK once per combination of the -p values; results go to "
                    "OUT/sweep.csv and OUT/summary.html. Runs already in OUT are not run again.")
    p.add_argument("notebook")
    p.add_argument("-p", "--parameter", nargs="+", action="append", default=[],
                   metavar=("NAME", "VALUE"), help="a parameter and its values (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="runs at a time (default 2)")
    p.add_argument("--out", default=None, help="output folder (default runs/sweeps/<notebook>)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    p.add_argument("--retries", type=int, default=2, help="retries of a kernel that won't start")
    p.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    p.add_argument("--no-progress", action="store_true")


def sweep_command(args) -> int:
    """Execute ``ltlab sweep``: parse the -p values with the notebook's types, sweep, report."""
    path = Path(args.notebook)
    try:
        defaults = notebook_parameters(path) if path.is_file() else {}
        grid: dict[str, list[Any]] = {}
        for item in args.parameter:
            name, *values = item
            if not values:
                raise ValueError(f"-p {name}: give at least one value (-p {name} V1 V2 ...).")
            if name in grid:
                raise ValueError(f"-p {name} is given twice; list all its values after one -p.")
            grid[name] = [parse_cli_value(v, defaults[name]) if name in defaults else v
                          for v in values]
        result = sweep(path, grid or [{}], workers=args.workers, out=args.out,
                       timeout=args.timeout, retries=args.retries,
                       retry_failed=args.retry_failed, progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"ltlab sweep: error: {err}", file=sys.stderr)
        return 2
    print(f"{len(result)} runs: {len(result.ran)} executed now, {len(result.reused)} reused, "
          f"{len(result.failed)} failed.")
    for row in result:
        if row["status"] != "ok":
            print(f"  FAILED {row['run']}: {row['error']}")
    print(f"table:  {result.csv}\nfigure: {result.figure}")
    return 1 if result.failed else 0
