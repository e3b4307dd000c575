"""Methods by name: one factory from a short name to ``(model, method, mixup_alpha)``.

Every notebook driver that trains "CE", "LA", "BalPoE + mixup"... on MNIST-1D builds them
here, so the same name means the same model and recipe in every notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from ..balpoe import BalPoEMethod
from ..losses import (
    LDAMDRW,
    BalancedSoftmax,
    ClassBalancedLoss,
    CrossEntropyPostHoc,
    FocalLoss,
    LogitAdjustedLoss,
)
from ..models import CNN1D
from ..train import CrossEntropy

__all__ = ["METHOD_LABELS", "METHODS", "BALPOE_MODEL", "BalPoEModel", "make_method"]

METHOD_LABELS = {
    "ce": "CE",
    "posthoc": "CE + post-hoc LA",
    "la": "LA loss",
    "balanced_softmax": "balanced softmax",
    "focal": "focal",
    "class_balanced": "class-balanced",
    "ldam_drw": "LDAM-DRW",
    "ce_mixup": "CE + mixup",
    "la_mixup": "LA loss + mixup",
    "balpoe": "BalPoE",
    "balpoe_mixup": "BalPoE + mixup",
}
METHODS = tuple(METHOD_LABELS)

@dataclass(frozen=True)
class BalPoEModel:
    """BalPoE's network on MNIST-1D: the experts' ``lambdas``, ``cosine`` heads (s = 30) and
    how many of the `CNN1D` convolutions the experts share (``shared_convs``)."""

    lambdas: tuple[float, ...] = (1.0, 0.0, -1.0)
    cosine: bool = True
    shared_convs: int = 2


#: BalPoE's network on MNIST-1D, the same in notebooks 02 and 04: three λ-experts (1, 0, -1)
#: on a `CNN1D` whose first two convolutions are shared; each expert has its own third
#: convolution, linear layer and cosine head (s = 30), like the reference's ResNet-32 (shared
#: stem and layer1, per-expert layer2, layer3 and ``NormedLinear`` head).
BALPOE_MODEL = BalPoEModel()


def make_method(name: str, num_classes: int = 10, *, tau: float = 1.0,
                lambdas: Sequence[float] = (1.0, 0.0, -1.0), cosine: bool | None = None,
                model: nn.Module | None = None, mixup_alpha: float = 0.4,
                shared_convs: int | None = None) -> tuple[nn.Module, Any, float]:
    """``(model, method, mixup_alpha)`` for one of `METHODS` on MNIST-1D (a `CNN1D`).

    ``*_mixup`` names use mixup with ``mixup_alpha`` (0.4, BalPoE's CIFAR-100 value).
    ``cosine`` defaults to a cosine head (scale s = 30) for LDAM-DRW (whose margins are in
    cosine units) and for BalPoE, whose experts are built as in the reference's ResNet-32
    (`BALPOE_MODEL`): a shared stem (the first two convolutions), and per expert its own third
    convolution, linear layer and cosine head (``shared_convs`` of `CNN1D`; 3 shares the whole
    network, so the experts differ only in their heads). ``model`` replaces the default CNN1D
    (it must have ``num_experts = len(lambdas)`` for BalPoE).
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {METHODS}.")
    alpha = mixup_alpha if name.endswith("_mixup") else 0.0
    base = name.removesuffix("_mixup")
    experts = len(lambdas) if base == "balpoe" else 1
    cos = base in ("ldam_drw", "balpoe") if cosine is None else cosine
    net = model if model is not None else CNN1D(num_classes, num_experts=experts, cosine=cos,
                                                shared_convs=shared_convs)
    method: Any
    if base == "ce":
        method = CrossEntropy()
    elif base == "posthoc":
        method = CrossEntropyPostHoc(tau=tau)
    elif base == "la":
        method = LogitAdjustedLoss(tau=tau)
    elif base == "balanced_softmax":
        method = BalancedSoftmax()
    elif base == "focal":
        method = FocalLoss(gamma=2.0)
    elif base == "class_balanced":
        method = ClassBalancedLoss(beta=0.9999)
    elif base == "ldam_drw":
        method = LDAMDRW()
    else:
        method = BalPoEMethod(lambdas)
    return net, method, alpha
