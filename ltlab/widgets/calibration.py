"""Live panels of notebook 04 (calibration), built on `ltlab.widgets.LivePanel`.

* `calibration_panel`: a model selector, a temperature slider and a bins slider redraw the
  reliability diagram, ECE / MCE / ACE and the per-group ECE bars
  (`ltlab.viz.calibration_overview`) from a trained
  `ltlab.experiments.calibration.ModelZoo`.
* `label_shift_panel`: a test-prior slider (backward-50 → uniform → forward-50) and an
  EM-steps slider redraw the mean prediction per class against the test prior and the
  calibration errors before and after EM adaptation
  (`ltlab.viz.label_shift_calibration_figure`).

Nothing is retrained when a control moves: the panels only rescale stored logits.
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch

from ..experiments.calibration import (
    EM_ITERATIONS,
    MODEL_LABELS,
    SHIFT_SETTINGS,
    ModelZoo,
    shifted_calibration,
)
from ..viz.calibration import calibration_overview, label_shift_calibration_figure
from .live_panel import LivePanel

__all__ = ["calibration_panel", "label_shift_panel", "calibration_figure_for",
           "label_shift_figure_for"]


def calibration_figure_for(model: str, temperature: float, n_bins: int, zoo: ModelZoo,
                           by: str = "predicted") -> go.Figure:
    """The figure of `calibration_panel` for one setting of its controls."""
    label = MODEL_LABELS.get(model, model)
    return calibration_overview(zoo.probs(model, temperature=temperature), zoo.y_test,
                                zoo.train_counts, n_bins, title=f"{label}, T = {temperature:.2f}",
                                by=by)


def calibration_panel(zoo: ModelZoo, model: str = "ce", temperature: float = 1.0,
                      n_bins: int = 15, interactive: bool = True) -> LivePanel:
    """Model selector (CE, CE + mixup, LA, BalPoE, BalPoE + mixup), temperature slider
    (0.25 to 4, log scale) and bins slider (5 to 30) over the zoo's test logits."""
    import ipywidgets as widgets

    if model not in zoo.logits:
        raise ValueError(f"model must be one of {zoo.names} (got {model!r}).")
    controls = {
        "model": widgets.Dropdown(
            options=[(MODEL_LABELS.get(n, n), n) for n in zoo.names], value=model,
            description="model"),
        "temperature": widgets.FloatLogSlider(
            value=temperature, base=2, min=-2, max=2, step=0.05, description="T",
            continuous_update=False, readout_format=".2f"),
        "n_bins": widgets.IntSlider(value=n_bins, min=5, max=30, step=1, description="bins",
                                    continuous_update=False),
    }
    return LivePanel(calibration_figure_for, controls, fixed={"zoo": zoo},
                     interactive=interactive)


EM_STEP_CHOICES = (1, 2, 5, 20, 100, 1000)


def label_shift_figure_for(setting: str, em_iterations: int, probs: torch.Tensor,
                           targets: torch.Tensor, source_prior=None, n_bins: int = 15,
                           seed: int = 0) -> go.Figure:
    """The figure of `label_shift_panel` for one test prior and number of EM steps."""
    result = shifted_calibration(probs, targets, setting, source_prior, n_bins, seed,
                                 em_iterations)
    return label_shift_calibration_figure(result, n_bins)


def label_shift_panel(probs: torch.Tensor, targets: torch.Tensor, source_prior=None,
                      setting: str = "forward-10", em_iterations: int = EM_ITERATIONS,
                      n_bins: int = 15, seed: int = 0, interactive: bool = True) -> LivePanel:
    """A test-prior slider from backward-50 through uniform to forward-50, and a slider of
    EM steps (1 to 1000), over the posteriors ``probs`` of a balanced test set (calibrated
    for ``source_prior``, uniform by default)."""
    import ipywidgets as widgets

    if setting not in SHIFT_SETTINGS:
        raise ValueError(f"setting must be one of {SHIFT_SETTINGS} (got {setting!r}).")
    if em_iterations not in EM_STEP_CHOICES:
        raise ValueError(f"em_iterations must be one of {EM_STEP_CHOICES} (got {em_iterations!r}).")
    controls = {
        "setting": widgets.SelectionSlider(
            options=list(SHIFT_SETTINGS), value=setting, description="test prior",
            continuous_update=False, layout=widgets.Layout(width="480px")),
        "em_iterations": widgets.SelectionSlider(
            options=list(EM_STEP_CHOICES), value=em_iterations, description="EM steps",
            continuous_update=False),
    }
    fixed = {"probs": probs, "targets": targets, "source_prior": source_prior,
             "n_bins": n_bins, "seed": seed}
    return LivePanel(label_shift_figure_for, controls, fixed=fixed, interactive=interactive)
