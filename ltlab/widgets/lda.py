"""Notebook 05's live panel: change gamma and the window of the balance factor (Eq. 6) and
watch its dynamics over a short LDA run."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from ..data import LTData
from .live_panel import LivePanel

__all__ = ["balance_factor_panel"]


def balance_factor_panel(
    data: LTData,
    *,
    gamma: float = 2.0,
    window: int = 100,
    epochs: int = 10,
    seed: int = 0,
    device: str = "auto",
    variant: str = "reference",
    lda_kwargs: dict[str, Any] | None = None,
    interactive: bool = True,
    **fit_kwargs: Any,
) -> LivePanel:
    """Sliders for ``gamma`` and ``window`` (``continuous_update=False``: a short training
    run starts when a slider is released) above the balance factor and the two risks of an
    `ltlab.lda.LDA` run of ``epochs`` epochs on ``data``. Runs are cached per setting.
    ``variant``, ``lda_kwargs`` and ``fit_kwargs`` (as `FitOptions`; batch size 64 and lr 0.05
    unless given) go to `ltlab.experiments.lda.compare_methods`."""
    import ipywidgets as widgets

    from ..experiments.lda import compare_methods
    from ..experiments.protocol import FitOptions
    from ..viz.lda import balance_dynamics_figure

    cache: dict[tuple[float, int], go.Figure] = {}

    def figure_for(gamma: float, window: int) -> go.Figure:
        key = (float(gamma), int(window))
        if key not in cache:
            kwargs = {**(lda_kwargs or {}), "gamma": float(gamma), "window": int(window)}
            options = FitOptions.from_kwargs(**{"batch_size": 64, "lr": 0.05, **fit_kwargs,
                                                "epochs": epochs})
            run = compare_methods(data, ["lda"], options, seed=seed, device=device,
                                  variant=variant, lda_kwargs=kwargs)
            acc = run.balanced_accuracy["lda"]
            cache[key] = balance_dynamics_figure(
                run.histories["lda"],
                title=f"ν = {gamma:g}, window = {window}: balanced test accuracy of h "
                      f"{100 * acc:.1f}%")
        return cache[key]

    controls = {
        "gamma": widgets.FloatSlider(value=gamma, min=0.0, max=4.0, step=0.5,
                                     description="ν", continuous_update=False),
        "window": widgets.IntSlider(value=window, min=1, max=200, step=1,
                                    description="window", continuous_update=False),
    }
    return LivePanel(figure_for, controls, interactive=interactive)
