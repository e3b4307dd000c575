"""The MNIST-1D-LT setting shared by notebooks 01, 02 and 04: data sizes, `fit` arguments,
and `train_method`, which trains one method of `method_registry` with them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ..data import LTData, mnist1d_lt
from ..metrics import summary
from ..train import History, fit, predict_logits, seed_everything
from .method_registry import BALPOE_MODEL, make_method

__all__ = ["mnist_recipe", "balpoe_mixup_recipe", "mnist_data", "data_settings", "Trained", "train_method",
           "evaluate"]


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


def balpoe_mixup_recipe(quick: bool = True) -> dict[str, Any]:
    """The one "BalPoE + mixup" of notebooks 02 and 04: ``model`` (the network,
    `method_registry.BALPOE_MODEL`: λ = (1, 0, -1), a shared stem, per-expert late layers and
    cosine heads), ``fit`` (the optimiser and schedule, `mnist_recipe`) and ``mixup_alpha``
    (0.4, BalPoE's CIFAR-100 value).

    >>> r = balpoe_mixup_recipe()
    >>> r["fit"]["optimizer"], r["mixup_alpha"], r["model"]["lambdas"]
    ('adam', 0.4, (1.0, 0.0, -1.0))
    """
    return {"model": dict(BALPOE_MODEL), "fit": mnist_recipe(quick), "mixup_alpha": 0.4}


def mnist_data(quick: bool = True, seed: int = 0, imbalance_ratio: float = 100) -> LTData:
    """MNIST-1D-LT for notebooks 01 and 02. Quick: head 400, tail 4 at ratio 100 (988
    signals), 100 test signals per class from a pool of 7,000 (enough test signals in every
    class for every seed we tried). Full: head 1,500, 500 test signals per class."""
    return mnist1d_lt(imbalance_ratio, seed=seed, **data_settings(quick))


def data_settings(quick: bool = True) -> dict[str, int]:
    """The sizes `mnist_data` draws: head class count, test signals per class and the size
    of the generated MNIST-1D pool.

    >>> data_settings()["max_count"], data_settings(quick=False)["max_count"]
    (400, 1500)
    """
    if quick:
        return dict(max_count=400, test_per_class=100, num_samples=7000)
    # full: head 1,500, so at ratio 100 the tail keeps 15 signals and the few group (< 20)
    # is not empty (a head of 2,000 leaves 20 in the tail: no few class at all)
    return dict(max_count=1500, test_per_class=500, num_samples=36000)


@dataclass
class Trained:
    """A trained model with its method (``method.predict`` gives its test-time logits)."""

    name: str
    model: nn.Module
    method: Any
    history: History
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def logits(self, x: torch.Tensor, device: str = "auto") -> torch.Tensor:
        return predict_logits(self.model, self.method, x, device)


def train_method(name: str, data: LTData, *, quick: bool = True, seed: int = 0,
                 device: str = "auto", progress: bool = False, tau: float = 1.0,
                 lambdas: Sequence[float] = (1.0, 0.0, -1.0), mixup_alpha: float | None = None,
                 cosine: bool | None = None, shared_convs: int | None = None,
                 **fit_overrides: Any) -> Trained:
    """Train one of `method_registry.METHODS` on ``data`` with `mnist_recipe`
    (``fit_overrides`` replace its entries, e.g. ``epochs=30``) and return a `Trained`.
    ``cosine`` and ``shared_convs`` choose the head and the experts' shared layers
    (`method_registry.make_method`)."""
    recipe = dict(mnist_recipe(quick), **fit_overrides)
    seed_everything(seed)
    model, method, alpha = make_method(name, data.num_classes, tau=tau, lambdas=lambdas,
                                       cosine=cosine, shared_convs=shared_convs)
    alpha = alpha if mixup_alpha is None else mixup_alpha
    t0 = time.perf_counter()
    history = fit(model, method, data, mixup_alpha=alpha, eval_every=10**9, device=device,
                  seed=seed, progress=progress, **recipe)
    settings = dict(recipe, mixup_alpha=alpha, tau=tau, lambdas=tuple(lambdas))
    return Trained(name, model, method, history, time.perf_counter() - t0, settings)


def evaluate(logits: torch.Tensor, data: LTData) -> dict[str, float]:
    """`ltlab.metrics.summary` of test logits on ``data``'s test split (balanced accuracy,
    accuracy, many / medium / few, ECE).

    >>> from ltlab.data import LTData
    >>> y = torch.tensor([0, 1, 1]); z = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> data = LTData(z, y, z, y, torch.tensor([200, 10]), ["a", "b"])
    >>> evaluate(z, data)["balanced_accuracy"]
    0.75
    """
    return summary(logits, data.y_test, data.train_counts)
