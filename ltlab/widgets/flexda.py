"""Live panels of notebook 03 (FlexDA): built on `ltlab.widgets.LivePanel`.

* `alpha_panel`: sliders for alpha_min, the power ξ and the training progress redraw
  alpha_t and the bars of Q̂_alpha against Q̂ and uniform (computed by
  `ltlab.experiments.flexda.alpha_curves`).
* `prior_curves_panel`: the prior-estimation curves (KL to the true prior and to uniform,
  with the EM estimate beside them) for the chosen unlabeled profiles.
* `ssl_table_panel`: the FixMatch / FlexDA / ADELLO table for the chosen profiles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..experiments.flexda import alpha_curves
from ..viz.flexda import alpha_schedule_figure, prior_estimation_figure, ssl_results_table
from .live_panel import LivePanel

__all__ = ["alpha_panel", "prior_curves_panel", "ssl_table_panel"]


def _alpha_figure(q_hat, alpha_min: float, power: float, progress: float):
    return alpha_schedule_figure(**alpha_curves(q_hat, alpha_min, power, progress))


def alpha_panel(q_hat, alpha_min: float = 0.1, power: float = 2.0, progress: float = 0.5,
                interactive: bool = True) -> LivePanel:
    """alpha_min in [0, 1], power ξ in [0.25, 6], progress t / T in [0, 1]."""
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    controls = {
        "alpha_min": widgets.FloatSlider(value=alpha_min, min=0.0, max=1.0, step=0.05,
                                         description="α_min", style=style),
        "power": widgets.FloatSlider(value=power, min=0.25, max=6.0, step=0.25,
                                     description="power ξ", style=style),
        "progress": widgets.FloatSlider(value=progress, min=0.0, max=1.0, step=0.01,
                                        description="progress t/T", style=style),
    }
    return LivePanel(_alpha_figure, controls, fixed={"q_hat": q_hat},
                     interactive=interactive)


def _profiles_control(names: Sequence[str]):
    import ipywidgets as widgets

    return widgets.SelectMultiple(options=list(names), value=tuple(names), rows=len(names),
                                  description="profiles")


def prior_curves_panel(traces: Mapping[str, Mapping], true_priors: Mapping[str, Sequence[float]],
                       interactive: bool = True) -> LivePanel:
    """Pick the profiles, toggle the EM curves and the log axis."""
    import ipywidgets as widgets

    controls = {
        "profiles": _profiles_control(list(traces)),
        "show_em": widgets.Checkbox(value=True, description="EM estimate"),
        "log_y": widgets.Checkbox(value=True, description="log scale"),
    }
    return LivePanel(prior_estimation_figure, controls,
                     fixed={"traces": traces, "true_priors": true_priors},
                     interactive=interactive)


def _table_for(results, profiles):
    return ssl_results_table({p: results[p] for p in profiles})


def ssl_table_panel(results: Mapping[str, Mapping[str, Mapping[str, float]]],
                    interactive: bool = True) -> LivePanel:
    """The results table, restricted to the selected unlabeled profiles (``results`` is
    ``compare(...).results`` of `ltlab.experiments.flexda`)."""
    return LivePanel(_table_for, {"profiles": _profiles_control(list(results))},
                     fixed={"results": results}, interactive=interactive)
