"""Independent CPU trainings in a small process pool (notebooks 03 and 04 train several
models at once: on a 2-core laptop two one-thread runs finish sooner than one two-thread run
at a time)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["map_tasks"]


def map_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int = 1) -> list[Any]:
    """``[fn(t) for t in tasks]``, in up to ``workers`` spawned processes of one thread each
    when ``workers`` > 1 (independent CPU trainings: on a 2-core laptop two one-thread runs
    finish sooner than one two-thread run at a time). ``fn`` must be importable (module
    level). Results keep the order of ``tasks``."""
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1 (got {workers!r}).")
    if workers == 1 or len(tasks) < 2:
        return [fn(t) for t in tasks]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=mp.get_context("spawn"),
                             initializer=torch.set_num_threads, initargs=(1,)) as pool:
        return list(pool.map(fn, tasks))
