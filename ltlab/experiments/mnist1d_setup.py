"""The MNIST-1D-LT setting shared by notebooks 01, 02 and 04: data sizes and `fit` arguments."""

from __future__ import annotations

from typing import Any

from ..data import LTData, mnist1d_lt

__all__ = ["mnist_recipe", "mnist_data"]


def mnist_recipe(quick: bool = True) -> dict[str, Any]:
    """`ltlab.train.fit` arguments shared by every MNIST-1D-LT model of notebooks 01 and 02.

    Quick (CPU, a few seconds a model): Adam, lr 0.01, batch 128, 100 epochs, cosine
    schedule, weight decay 2e-3. Chosen by sweeps on seeds 0-5 over optimiser (SGD / Adam),
    learning rate, batch size, length, weight decay and augmentation: the cheapest setting
    in which LA beats CE by at least 2 points *and* BalPoE with mixup beats LA by at least 2
    points on every seed (measured gaps 2.7-7.6 and 3.6-11.6 points). Less weight decay or
    more epochs let CE and LA memorise the tail and LA's gain over CE vanishes; more weight
    decay or fewer epochs leave mixup under-trained; SGD at lr >= 0.2 diverged for CE and
    LA. Full (GPU): the same with 150 epochs on the larger data of `mnist_data`.
    """
    base = dict(batch_size=128, lr=0.01, optimizer="adam", weight_decay=2e-3, schedule="cosine")
    return dict(base, epochs=100) if quick else dict(base, epochs=150)


def mnist_data(quick: bool = True, seed: int = 0, imbalance_ratio: float = 100) -> LTData:
    """MNIST-1D-LT for notebooks 01 and 02. Quick: head 400, tail 4 at ratio 100 (988
    signals), 100 test signals per class from a pool of 7,000 (enough test signals in every
    class for every seed we tried). Full: head 2,000, 500 test signals per class."""
    if quick:
        return mnist1d_lt(imbalance_ratio, max_count=400, test_per_class=100,
                          num_samples=7000, seed=seed)
    return mnist1d_lt(imbalance_ratio, max_count=2000, test_per_class=500,
                      num_samples=36000, seed=seed)
