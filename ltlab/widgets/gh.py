"""Live panel for Geometric Harmonization (notebook 06): the Sinkhorn surrogate-label
allocation of a toy batch, redrawn as epsilon, the number of iterations and the marginal
change."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from ..experiments.gh import toy_scores
from ..gh import sinkhorn_allocation
from ..viz.gh import allocation_figure
from .live_panel import LivePanel

__all__ = ["MARGINALS", "toy_marginal", "allocation_panel_figure", "allocation_panel"]

MARGINALS = ("uniform", "cluster prior", "reversed")


def toy_marginal(kind: str, counts: Sequence[int]) -> torch.Tensor:
    """The anchor marginal of the panel: ``"uniform"`` (1/K each), ``"cluster prior"`` (the
    toy clusters' true shares, what GH's memory estimates) or ``"reversed"`` (those shares
    in reverse order, a deliberately wrong marginal)."""
    c = torch.tensor([float(v) for v in counts])
    if kind == "uniform":
        return torch.full_like(c, 1.0 / c.numel())
    if kind == "cluster prior":
        return c / c.sum()
    if kind == "reversed":
        return (c / c.sum()).flip(0)
    raise ValueError(f"marginal must be one of {MARGINALS} (got {kind!r}).")


def allocation_panel_figure(
    eps: float, n_iter: int, marginal: str, counts: Sequence[int] = (24, 12, 6, 3, 2),
    noise: float = 0.5, seed: int = 0,
) -> go.Figure:
    """The allocation figure of a toy batch (`ltlab.experiments.gh.toy_scores`) for one setting."""
    scores, labels = toy_scores(counts, noise, seed)
    prior = toy_marginal(marginal, counts)
    # tol=0: run exactly n_iter iterations, so the slider shows the iterations' effect
    allocation = sinkhorn_allocation(scores, prior, eps=eps, n_iter=n_iter, tol=0)
    return allocation_figure(
        scores, allocation, labels, prior,
        title=f"ε = {eps:.3g}, {n_iter} iteration(s), {marginal} marginal")


def allocation_panel(
    counts: Sequence[int] = (24, 12, 6, 3, 2), noise: float = 0.5, seed: int = 0,
    eps: float = 0.05, n_iter: int = 300, marginal: str = "uniform", interactive: bool = True,
) -> LivePanel:
    """Sliders for epsilon (log scale) and the Sinkhorn iterations, and a menu for the
    marginal, over `allocation_panel_figure`."""
    import ipywidgets as widgets

    if marginal not in MARGINALS:
        raise ValueError(f"marginal must be one of {MARGINALS} (got {marginal!r}).")
    controls = {
        "eps": widgets.FloatLogSlider(value=eps, base=10, min=-2.3, max=0, step=0.05,
                                      description="ε", continuous_update=False),
        "n_iter": widgets.IntSlider(value=n_iter, min=1, max=300, description="iterations",
                                    continuous_update=False),
        "marginal": widgets.Dropdown(options=list(MARGINALS), value=marginal,
                                     description="marginal"),
    }
    return LivePanel(allocation_panel_figure, controls,
                     fixed={"counts": tuple(counts), "noise": noise, "seed": seed},
                     interactive=interactive)
