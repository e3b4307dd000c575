r"""Notebook 07, the 2-D picture: FixMatch and FlexDA on a long-tailed Gaussian mixture.

`ltlab.data.GaussianMixtureLT` gives classes whose densities are known, so the Bayes
classifier for the balanced test, argmax_y p(x | y), is exact. `toy_regions` splits a
mixture like notebook 03's demonstration (long-tailed labeled set, larger unlabeled set with
the reversed profile), trains a small MLP with FixMatch and with FlexDA (weak view: Gaussian
noise of std 0.1; strong view: std 0.5), and returns each model's decision regions on a grid
next to the Bayes regions, plus KL(Q̂ || Q) over FlexDA's training. It runs in seconds.
"""

from __future__ import annotations

from typing import Any

import torch

from ...data import GaussianMixtureLT, ssl_split
from ...metrics import balanced_accuracy
from ...models import MLP
from ...priors import kl_divergence
from ...semi_supervised import FixMatch, FlexDA
from ...train import fit, predict_logits, seed_everything
from .monitor import PseudoLabelMonitor, noise_view
from .profiles import true_unlabeled_prior

__all__ = ["toy_data", "toy_regions"]


def toy_data(num_classes: int = 5, labeled_max: int = 200, unlabeled_max: int = 800,
             imbalance_ratio: float = 40, unlabeled_imbalance_ratio: float = 10,
             profile: str = "reversed", radius: float = 2.5, std: float = 1.0,
             seed: int = 0) -> tuple[GaussianMixtureLT, Any]:
    """The mixture (classes on a circle of ``radius``, shared std) and its SSL split."""
    gm = GaussianMixtureLT(num_classes=num_classes, dim=2, imbalance_ratio=1,
                           max_count=labeled_max + unlabeled_max, radius=radius, std=std,
                           seed=seed)
    pool = gm.dataset(test_per_class=1000, seed=seed)
    return gm, ssl_split(pool, labeled_max, unlabeled_max, imbalance_ratio, profile,
                         unlabeled_imbalance_ratio=unlabeled_imbalance_ratio, seed=seed)


def toy_regions(steps: int = 400, grid_points: int = 121, extent: float = 5.0, seed: int = 0,
                monitor_every: int = 10, **data_kwargs: Any) -> dict[str, Any]:
    """Train FixMatch and FlexDA (full labeled batch, 2x unlabeled, Adam) on `toy_data` and
    return: ``grid`` (the axis values), ``regions[name]`` (class index per grid point, rows
    along y) for ``"bayes"`` (argmax p(x | y), the balanced Bayes rule), ``"fixmatch"`` and
    ``"flexda"``; ``balanced_accuracy[name]`` on the balanced test split; ``points`` (a
    sample of the labeled and unlabeled points); ``kl_steps`` and ``kl`` = KL(Q̂ || Q) along
    FlexDA's training; ``true_prior`` and ``q_hat``."""
    gm, data = toy_data(seed=seed, **data_kwargs)
    axis = torch.linspace(-extent, extent, grid_points)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([xx.flatten(), yy.flatten()], 1)
    c = data.num_classes
    out: dict[str, Any] = {"grid": axis.tolist(), "regions": {}, "balanced_accuracy": {}}
    out["regions"]["bayes"] = gm.log_likelihood(grid).argmax(1).view(grid_points, -1).tolist()
    out["balanced_accuracy"]["bayes"] = balanced_accuracy(gm.log_likelihood(data.x_test),
                                                          data.y_test, c)
    q = true_unlabeled_prior(data)
    for name, cls in (("fixmatch", FixMatch), ("flexda", FlexDA)):
        seed_everything(seed)
        model = MLP(2, c, hidden=(32, 32))
        kwargs = dict(weak=noise_view(0.1), strong=noise_view(0.5))
        method = cls(prior_momentum=0.97, **kwargs) if cls is FlexDA else cls(**kwargs)
        monitor = PseudoLabelMonitor(data.y_unlabeled, c, method.threshold, monitor_every)
        if isinstance(method, FlexDA):
            monitor.q_hat = lambda m=method: m.estimator.prior
        method.monitor = monitor
        fit(model, method, data, steps=steps, batch_size=data.x_train.shape[0], lr=0.01,
            optimizer="adam", weight_decay=0.0, schedule="constant", unlabeled_ratio=2,
            eval_every=10**9, device="cpu", seed=seed, progress=False)
        logits = predict_logits(model, method, grid, "cpu")
        out["regions"][name] = logits.argmax(1).view(grid_points, -1).tolist()
        out["balanced_accuracy"][name] = balanced_accuracy(
            predict_logits(model, method, data.x_test, "cpu"), data.y_test, c)
        if isinstance(method, FlexDA):
            curves = monitor.curves
            out["kl_steps"] = curves["step"]
            out["kl"] = [kl_divergence(torch.tensor(p, dtype=torch.float64), q.double())
                         for p in curves["q_hat"]]
            out["q_hat"] = method.estimator.prior.float().tolist()
    g = torch.Generator().manual_seed(seed)
    keep_u = torch.randperm(data.x_unlabeled.shape[0], generator=g)[:400]
    out["points"] = {"labeled_x": data.x_train.tolist(), "labeled_y": data.y_train.tolist(),
                     "unlabeled_x": data.x_unlabeled[keep_u].tolist(),
                     "unlabeled_y": data.y_unlabeled[keep_u].tolist()}
    out["true_prior"] = q.tolist()
    out["labeled_counts"] = data.train_counts.tolist()
    return out
