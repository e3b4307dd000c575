"""One run of a sweep, in whatever process the executor chose: execute the notebook,
retry a kernel that would not start, and describe any error in one line."""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from ..notebook_execution import describe_error

__all__ = ["is_kernel_start_failure", "describe_error", "execute_run", "remove_stale_run_folders",
           "RUN_FOLDER_PREFIX"]

#: each run executes in ``<tmp>/ltlab-sweep-<pid>-<random>``; the pid tells stale ones apart
RUN_FOLDER_PREFIX = "ltlab-sweep-"

_KERNEL_START = re.compile(
    r"Kernel didn't respond|Kernel died before replying|Address already in use|"
    r"kernel_info|Kernel not (?:started|alive)|Kernel failed to start|Kernel is dead",
    re.IGNORECASE,
)


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_run_folders(tmp: str | os.PathLike | None = None) -> list[Path]:
    """Remove the ``ltlab-sweep-<pid>-*`` temporary folders whose process is gone (a sweep
    killed mid-run leaves its run's folder); returns the folders removed."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{RUN_FOLDER_PREFIX}*"):
        parts = folder.name[len(RUN_FOLDER_PREFIX):].split("-", 1)
        if not folder.is_dir() or not parts[0].isdigit():
            continue
        if not _pid_alive(int(parts[0])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def execute_run(path: str, parameters: dict[str, Any], timeout: float | None, retries: int,
                retry_delay: float, token: str = "", threads: int | None = None
                ) -> dict[str, Any]:
    """Run one notebook (in whatever process the executor chose) and return its record.

    Retries kernel-start failures up to ``retries`` times with a growing, jittered pause.
    The executed notebook comes back as text so the caller can store it (remote workers
    need not share a file system with the caller). ``token`` is unique per submission, so an
    executor that caches pure calls (Dask) never hands back an earlier run.
    """
    from .. import notebook_execution  # looked up at call time: tests stand in for it

    t0 = time.perf_counter()
    attempts = 0
    results: dict[str, Any] = {}
    error = None
    retryable = False
    with tempfile.TemporaryDirectory(prefix=f"{RUN_FOLDER_PREFIX}{os.getpid()}-") as tmp:
        out = Path(tmp) / "run.ipynb"
        while True:
            attempts += 1
            out.unlink(missing_ok=True)
            try:
                results = notebook_execution.run_notebook(path, parameters, out, timeout=timeout,
                                                          threads=threads)
                break
            except Exception as err:  # a failed run is a row, never the end of the sweep
                if is_kernel_start_failure(err) and attempts <= retries:
                    time.sleep(retry_delay * attempts * (1.0 + random.random()))
                    continue
                error, retryable = describe_error(err), is_kernel_start_failure(err)
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
        "torch_threads": threads,
        "notebook_text": notebook,
    }
