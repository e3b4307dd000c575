"""Independent CPU trainings in a small process pool (notebooks 03 and 04 train several
models at once: on a 2-core laptop two one-thread runs finish sooner than one two-thread run
at a time). On Binder (``BINDER_SERVICE_HOST`` or ``BINDER_REQUEST`` set: 1-2 GB of memory,
and each worker imports torch again) the tasks run in the kernel, one at a time, each with
one thread as in a worker (so the numbers match); ``LTLAB_WORKERS=N`` caps the workers
anywhere."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

__all__ = ["map_tasks", "worker_limit"]


def worker_limit(environ: Mapping[str, str] | None = None) -> int | None:
    """The most workers this machine allows: ``LTLAB_WORKERS`` if set, else 1 on Binder,
    else None (no limit).

    >>> worker_limit({"BINDER_REQUEST": "v2/gh/owner/ltlab/HEAD"})
    1
    >>> worker_limit({"BINDER_SERVICE_HOST": "10.0.0.1", "LTLAB_WORKERS": "2"})
    2
    >>> worker_limit({}) is None
    True
    """
    env = os.environ if environ is None else environ
    forced = env.get("LTLAB_WORKERS", "").strip()
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise ValueError(f"LTLAB_WORKERS must be an int >= 1 (got {forced!r}).")
        return int(forced)
    if env.get("BINDER_SERVICE_HOST") or env.get("BINDER_REQUEST"):
        return 1
    return None


def map_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int = 1) -> list[Any]:
    """``[fn(t) for t in tasks]``, in up to ``workers`` spawned processes of one thread each
    when ``workers`` > 1 (independent CPU trainings: on a 2-core laptop two one-thread runs
    finish sooner than one two-thread run at a time). ``fn`` must be importable (module
    level). Results keep the order of ``tasks``. `worker_limit` caps ``workers`` (1 on
    Binder): capped to 1, the tasks run here one after another, each with one thread as a
    worker would."""
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1 (got {workers!r}).")
    if workers == 1 or len(tasks) < 2:
        return [fn(t) for t in tasks]
    workers = min(workers, worker_limit() or workers)
    if workers == 1:  # capped (Binder): the pool's one-thread runs, in this process
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return [fn(t) for t in tasks]
        finally:
            torch.set_num_threads(threads)
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=mp.get_context("spawn"),
                             initializer=torch.set_num_threads, initargs=(1,)) as pool:
        return list(pool.map(fn, tasks))
