"""scikit-learn's 8x8 digits made long-tailed (`digits_lt`)."""

from __future__ import annotations

import numpy as np

from .._validation import as_int
from .ltdata import LTData, lt_from_pool, take_per_class

__all__ = ["digits_lt"]


def digits_lt(
    imbalance_ratio: float = 10,
    max_count: int = 120,
    test_per_class: int = 50,
    seed: int = 0,
) -> LTData:
    """scikit-learn's 8x8 digits (1,797 images, about 180 per class) made long-tailed.

    ``test_per_class`` images of every class are held out first (balanced test set); the
    long-tailed train split is drawn from the rest. Pixels are scaled to [0, 1].
    """
    from sklearn.datasets import load_digits

    as_int(test_per_class, "test_per_class", minimum=1)
    d = load_digits()
    x, y = d.data.astype(np.float32) / 16.0, d.target.astype(np.int64)
    rng = np.random.RandomState(seed)
    test_idx = np.concatenate(take_per_class(y, [test_per_class] * 10, rng))
    rest = np.setdiff1d(np.arange(len(y)), test_idx)
    data = lt_from_pool(
        x[rest], y[rest], x[test_idx], y[test_idx], 10, max_count, imbalance_ratio,
        test_per_class, seed, f"digits-lt(ir={imbalance_ratio})", [str(i) for i in range(10)],
    )
    data.indices["train"] = rest[np.asarray(data.indices["train"])].tolist()
    data.indices["test"] = test_idx[np.asarray(data.indices["test"])].tolist()
    return data
