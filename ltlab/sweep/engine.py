"""The sweep itself: feed a grid's runs to an executor, at most ``workers`` at a time,
store each as it finishes, reuse the runs already stored, and return the table."""

from __future__ import annotations

import concurrent.futures as cf
import os
import random
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..notebook_execution import describe_error, run_threads
from ..notebook_parameters import notebook_parameters, validate_parameters
from .execute import execute_run, remove_stale_run_folders
from .grid import canonical, expand_grid, run_name
from .store import RecordError, load_run, save_run, table_row, write_csv, write_figure

__all__ = ["SweepResult", "sweep"]


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
    threads: int | None = None,
) -> SweepResult:
    """Run ``path`` once per point of ``grid`` and return the table of parameters and results.

    ``workers``: most runs in flight at once (also with a given executor). ``executor``: any
    `concurrent.futures.Executor` (default: a thread pool of ``workers`` threads, shut down at
    the end); a Dask ``client.get_executor()`` spreads the runs over a cluster. ``out``:
    folder of the runs, the CSV and the figure (default ``runs/sweeps/<notebook>``).
    ``timeout``: seconds per cell. Unknown parameter names and values whose type differs
    from the notebook's default raise before anything runs. Each call reuses the runs
    already recorded in ``out`` (see `ltlab.sweep`). ``threads``: CPU threads per kernel
    (default `ltlab.notebook_execution.run_threads`, written in each run's record).
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
    threads = run_threads() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer (got {threads!r}).")
    points = expand_grid(grid)
    has_interactive = "interactive" in notebook_parameters(path)
    checked = []
    for p in points:  # everything is checked before the first kernel starts
        valid = validate_parameters(path, {"interactive": False, **p} if has_interactive else p)
        checked.append({k: valid[k] for k in p})  # 2.0 for an int parameter is passed as 2
        canonical(p)
    points = checked

    parameters: list[str] = []
    for p in points:
        parameters += [k for k in p if k not in parameters]
    swept = [k for k in parameters
             if len({canonical(p.get(k)) for p in points}) > 1]
    out = Path(out) if out is not None else Path("runs") / "sweeps" / path.stem
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_run_folders()

    names = [run_name(path.stem, p) for p in points]
    records: dict[str, dict[str, Any]] = {}
    todo: list[tuple[str, dict[str, Any]]] = []
    for name, p in zip(names, points, strict=True):
        try:
            rec = load_run(runs_dir, name)
        except RecordError as err:  # not a run record: say which file, run it again
            print(f"ltlab sweep: {err}", file=sys.stderr)
            rec = None
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
            rec = {"parameters": point, "results": {}, "error": describe_error(err),
                   "retryable": True, "attempts": 0, "seconds": None, "host": None,
                   "pid": None, "torch_threads": threads, "notebook_text": None}
        saved = save_run(runs_dir, name, rec)
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
                fut = ex.submit(execute_run, str(path.resolve()), point, timeout, retries,
                                retry_delay, f"{name}-{time.time_ns()}-{random.random()}", threads)
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

    rows = [table_row(records[n]) for n in names]
    csv_path = out / "sweep.csv"
    write_csv(csv_path, rows, parameters)
    shape = "x".join(str(len({canonical(p.get(k)) for p in points})) for k in swept)
    title = f"{shape + ' ' if shape else ''}sweep of {path.stem}"
    figure_path = write_figure(out / "summary.html", rows, swept, title)
    ran = [n for n, _ in todo]
    return SweepResult(rows, csv_path, figure_path, ran=ran, reused=reused)
