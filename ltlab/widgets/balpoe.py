"""Notebook 02's live panel: λ-experts, their target priors and the ensemble's bias."""

from __future__ import annotations

from typing import Any

from ..experiments.balpoe import expert_marginals
from ..experts import evenly_spaced_lambdas
from ..viz.balpoe import balpoe_priors_figure
from .live_panel import LivePanel

__all__ = ["experts_panel"]


def _figure(num_experts: int, lambda_range: tuple[float, float], temperature: float,
            imbalance_ratio: float, **_: Any):
    low, high = lambda_range
    lambdas = evenly_spaced_lambdas(int(num_experts), float(low), float(high))
    return balpoe_priors_figure(expert_marginals(lambdas, imbalance_ratio, float(temperature)))


def experts_panel(num_experts: int = 3, lambda_range: tuple[float, float] = (-1.0, 1.0),
                  temperature: float = 1.0, imbalance_ratio: float = 100,
                  interactive: bool = True) -> LivePanel:
    """Sliders: number of experts, the λ range (evenly spaced, endpoints included) and the
    miscalibration T of `ltlab.experts.miscalibrated_logits` (the model of notebook 04: each
    expert's adjusted logits are T · log p_train(y|x); T > 1 over-, T < 1 under-confident).

    Shows each expert's target prior and expected marginal, the KL between them per expert
    and for the ensemble, and the balanced error of the ensemble's balanced prediction
    against the Bayes rule's.
    """
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    controls = {
        "num_experts": widgets.IntSlider(value=num_experts, min=1, max=7, description="experts",
                                         continuous_update=False, style=style),
        "lambda_range": widgets.FloatRangeSlider(value=list(lambda_range), min=-2.0, max=2.0,
                                                 step=0.25, description="λ range",
                                                 continuous_update=False, style=style),
        "temperature": widgets.FloatLogSlider(value=temperature, base=2, min=-2, max=2, step=0.25,
                                              description="miscalibration T",
                                              continuous_update=False, style=style),
    }
    return LivePanel(_figure, controls, fixed={"imbalance_ratio": imbalance_ratio},
                     interactive=interactive)
