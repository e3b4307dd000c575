"""The MNIST-1D-LT setting shared by notebooks 01, 02 and 04: data sizes (`MnistSizes`),
`fit` options (`mnist_fit_options`), BalPoE + mixup (`BalPoEMixup`) and `train_method`,
which trains one method of `method_registry` with them."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ..data import LTData, mnist1d_lt
from ..metrics import summary
from ..train import History, fit, predict_logits, seed_everything
from .method_registry import BALPOE_MODEL, BalPoEModel, make_method
from .protocol import FitOptions

__all__ = ["MnistSizes", "mnist_sizes", "mnist_fit_options", "recipe_layout", "BalPoEMixup",
           "balpoe_mixup", "mnist_data", "data_settings", "Trained", "train_method", "evaluate"]


@dataclass(frozen=True)
class MnistSizes:
    """The sizes `mnist_data` draws: head class count, test signals per class and the size
    of the generated MNIST-1D pool."""

    max_count: int = 400
    test_per_class: int = 100
    num_samples: int = 7000


def mnist_sizes(quick: bool = True) -> MnistSizes:
    """MNIST-1D-LT's sizes for notebooks 01 and 02. Quick: head 400, tail 4 at ratio 100 (988
    signals), 100 test signals per class from a pool of 7,000 (enough test signals in every
    class for every seed we tried). Full: head 1,500, 500 test signals per class.

    >>> mnist_sizes().max_count, mnist_sizes(quick=False).max_count
    (400, 1500)
    """
    if quick:
        return MnistSizes()
    # full: head 1,500, so at ratio 100 the tail keeps 15 signals and the few group (< 20)
    # is not empty (a head of 2,000 leaves 20 in the tail: no few class at all)
    return MnistSizes(max_count=1500, test_per_class=500, num_samples=36000)


def data_settings(quick: bool = True) -> dict[str, int]:
    """`mnist_sizes` as a dict (notebooks 01 and 02 hash it under this function's name)."""
    return dataclasses.asdict(mnist_sizes(quick))


def mnist_fit_options(quick: bool = True) -> FitOptions:
    """`ltlab.train.fit` options shared by every MNIST-1D-LT model of notebooks 01, 02, 04.

    Quick (CPU, a few seconds a model): Adam, lr 0.01, batch 128, 100 epochs, cosine
    schedule, weight decay 2e-3. Chosen by sweeps on seeds 0-5 over optimiser (SGD / Adam),
    learning rate, batch size, length, weight decay and augmentation: the cheapest setting
    in which LA beats CE by at least 2 points *and* BalPoE with mixup beats LA by at least 2
    points on every seed (measured gaps 2.7-7.6 and 3.6-11.6 points). Less weight decay or
    more epochs let CE and LA memorise the tail and LA's gain over CE vanishes; more weight
    decay or fewer epochs leave mixup under-trained; SGD at lr >= 0.2 diverged for CE and
    LA. Full (GPU): the same with 150 epochs on the larger data of `mnist_sizes`.

    >>> mnist_fit_options().epochs, dict(mnist_fit_options(quick=False).extra)["optimizer"]
    (100, 'adam')
    """
    return FitOptions(epochs=100 if quick else 150, batch_size=128, lr=0.01, weight_decay=2e-3,
                      extra=(("optimizer", "adam"), ("schedule", "cosine")))


def recipe_layout(options: FitOptions) -> dict[str, Any]:
    """The ``fit`` options as the flat dict drivers used before `FitOptions` (batch size, lr,
    weight decay, epochs and the ``extra`` keywords): the layout the committed full-size
    records were hashed with (`ltlab.experiments.full_size.settings_hash`)."""
    return {"batch_size": options.batch_size, "lr": options.lr,
            "weight_decay": options.weight_decay, "epochs": options.epochs, **dict(options.extra)}


@dataclass(frozen=True)
class BalPoEMixup:
    """The one "BalPoE + mixup" of notebooks 02 and 04: ``model`` (the network,
    `method_registry.BALPOE_MODEL`), ``fit`` (`mnist_fit_options`) and ``mixup_alpha``."""

    model: BalPoEModel
    fit: FitOptions
    mixup_alpha: float = 0.4


def balpoe_mixup(quick: bool = True) -> BalPoEMixup:
    """BalPoE + mixup as notebooks 02 and 04 train it: λ = (1, 0, -1), a shared stem,
    per-expert late layers and cosine heads; Adam and the cosine schedule of
    `mnist_fit_options`; mixup α = 0.4 (BalPoE's CIFAR-100 value).

    >>> r = balpoe_mixup()
    >>> dict(r.fit.extra)["optimizer"], r.mixup_alpha, r.model.lambdas
    ('adam', 0.4, (1.0, 0.0, -1.0))
    """
    return BalPoEMixup(model=BALPOE_MODEL, fit=mnist_fit_options(quick), mixup_alpha=0.4)


def mnist_data(sizes: MnistSizes | bool = True, seed: int = 0,
               imbalance_ratio: float = 100) -> LTData:
    """MNIST-1D-LT for notebooks 01 and 02 at ``sizes`` (a `MnistSizes`, or ``quick`` for
    `mnist_sizes(quick)`)."""
    if not isinstance(sizes, MnistSizes):
        sizes = mnist_sizes(bool(sizes))
    return mnist1d_lt(imbalance_ratio, seed=seed, **dataclasses.asdict(sizes))


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


def train_method(name: str, data: LTData, options: FitOptions, *, seed: int = 0,
                 device: str = "auto", progress: bool = False, tau: float = 1.0,
                 lambdas: Sequence[float] = (1.0, 0.0, -1.0), mixup_alpha: float | None = None,
                 cosine: bool | None = None, shared_convs: int | None = None) -> Trained:
    """Train one of `method_registry.METHODS` on ``data`` with the `fit` ``options`` (e.g.
    `mnist_fit_options`; their ``mixup_alpha`` is replaced by the method's) and return a
    `Trained`. ``cosine`` and ``shared_convs`` choose the head and the experts' shared layers
    (`method_registry.make_method`); ``mixup_alpha`` replaces the method's default (0.4 for
    ``*_mixup`` names, else 0)."""
    seed_everything(seed)
    model, method, alpha = make_method(name, data.num_classes, tau=tau, lambdas=lambdas,
                                       cosine=cosine, shared_convs=shared_convs)
    alpha = alpha if mixup_alpha is None else mixup_alpha
    kwargs = options.replace(mixup_alpha=alpha).as_kwargs()
    t0 = time.perf_counter()
    history = fit(model, method, data, eval_every=10**9, device=device, seed=seed,
                  progress=progress, **kwargs)
    settings = dict(kwargs, tau=tau, lambdas=tuple(lambdas))
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
