"""Notebook 01's live panel: the 2-D mixture under logit adjustment."""

from __future__ import annotations

from typing import Any

from ..experiments.logit_adjustment import mixture_study
from ..viz.logit_adjustment import la_mixture_figure
from .live_panel import LivePanel

__all__ = ["mixture_panel", "IMBALANCE_RATIOS"]

IMBALANCE_RATIOS = (1, 2, 5, 10, 20, 50, 100, 200)


def _figure(imbalance_ratio: float, tau: float, mode: str, seed: int, **_: Any):
    return la_mixture_figure(mixture_study(imbalance_ratio, tau, mode, seed=seed))


def mixture_panel(imbalance_ratio: float = 100, tau: float = 1.0, mode: str = "loss",
                  seed: int = 0, interactive: bool = True) -> LivePanel:
    """Sliders for the imbalance ratio and tau, a toggle for LA loss / post-hoc.

    Moving a control retrains the linear models it needs (about a second each on a laptop;
    models are cached, so revisiting a setting is instant) and redraws the decision regions
    beside the Bayes-optimal ones, per-class recall, and the balanced error against tau.
    """
    import ipywidgets as widgets

    if imbalance_ratio not in IMBALANCE_RATIOS:
        raise ValueError(f"imbalance_ratio must be one of {IMBALANCE_RATIOS} (got {imbalance_ratio!r}).")
    if mode not in ("loss", "posthoc"):
        raise ValueError(f"mode must be 'loss' or 'posthoc' (got {mode!r}).")
    style = {"description_width": "initial"}
    controls = {
        "imbalance_ratio": widgets.SelectionSlider(
            options=list(IMBALANCE_RATIOS), value=imbalance_ratio, description="imbalance ratio",
            continuous_update=False, style=style),
        "tau": widgets.FloatSlider(value=tau, min=0.0, max=2.0, step=0.25, description="τ",
                                   continuous_update=False, style=style),
        "mode": widgets.ToggleButtons(options=[("LA loss", "loss"), ("post-hoc", "posthoc")],
                                      value=mode, description="adjust", style=style),
    }
    return LivePanel(_figure, controls, fixed={"seed": seed}, interactive=interactive)
