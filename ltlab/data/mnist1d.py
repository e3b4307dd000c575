"""MNIST-1D (Greydanus, 2020), generated offline and made long-tailed (`mnist1d_lt`)."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

from .._validation import as_int
from .ltdata import LTData, lt_from_pool

__all__ = ["mnist1d_lt", "cache_dir"]


def cache_dir() -> Path | None:
    """Where generated data sets are cached: ``$LTLAB_CACHE_DIR`` (default
    ``~/.cache/ltlab``); an empty value turns the cache off."""
    value = os.environ.get("LTLAB_CACHE_DIR", str(Path.home() / ".cache" / "ltlab"))
    return Path(value) if value else None


@functools.lru_cache(maxsize=4)
def _mnist1d_pool(num_samples: int, seed: int) -> tuple[np.ndarray, ...]:
    """Generate the MNIST-1D pool (offline, ~2 ms a signal), cached on disk under
    `cache_dir` (the same arrays as a fresh generation; written atomically)."""
    cache = cache_dir()
    path = cache / f"mnist1d-raw-{num_samples}-{seed}.npz" if cache else None
    if path is not None and path.exists():
        try:
            with np.load(path) as f:
                return f["x"], f["y"], f["x_test"], f["y_test"]
        except Exception:  # a corrupt or foreign file: generate again
            pass
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    pool = make_dataset(args)
    out = (np.asarray(pool["x"], dtype=np.float32), np.asarray(pool["y"], dtype=np.int64),
           np.asarray(pool["x_test"], dtype=np.float32), np.asarray(pool["y_test"], dtype=np.int64))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, x=out[0], y=out[1], x_test=out[2], y_test=out[3])
            os.replace(tmp, path)
        except OSError:  # a read-only home: no cache, same data
            pass
    return out


def mnist1d_lt(
    imbalance_ratio: float = 100,
    max_count: int = 400,
    test_per_class: int | None = 100,
    num_samples: int | None = None,
    seed: int = 0,
    profile: str = "exponential",
) -> LTData:
    """MNIST-1D made long-tailed: 40-sample 1-D signals of 10 digit templates.

    The pool is generated offline by ``mnist1d.data.make_dataset`` (a few seconds); its
    default split puts 80% in train and 20% in test. ``num_samples`` defaults to enough
    for ``max_count`` images of the head class and ``test_per_class`` per class in test.
    """
    if test_per_class is not None:
        as_int(test_per_class, "test_per_class", minimum=1,
               hint="None takes as many as the rarest test class has.")
    if num_samples is not None:
        as_int(num_samples, "num_samples", minimum=10)
    need = max(max_count / 0.8, (test_per_class or 100) / 0.2) * 10 * 1.2
    size = int(num_samples or math.ceil(need / 100) * 100)
    for attempt in range(4):
        x, y, xt, yt = _mnist1d_pool(size, 42 + seed)
        try:
            return lt_from_pool(
                x, y, xt, yt, 10, max_count, imbalance_ratio, test_per_class, seed,
                f"mnist1d-lt(ir={imbalance_ratio})", [str(i) for i in range(10)], profile,
            )
        except ValueError:
            if num_samples is not None or attempt == 3:
                raise
            size = int(size * 1.5)  # a class fell short of its count: generate a larger pool
    raise AssertionError("unreachable")
