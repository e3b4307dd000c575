"""Figures of notebook 02 (BalPoE): pure builders, data in, ``go.Figure`` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .reliability import _title_above_legend
from .style import GROUP_COLORS, NEUTRAL, style_figure

__all__ = [
    "balpoe_priors_figure",
    "balpoe_table_figure",
    "shifted_accuracy_figure",
    "shifted_by_model_figure",
    "experts_curve_figure",
]

_EXPERT_COLORS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                  "#bcbd22", "#ff7f0e", "#7f7f7f"]


def balpoe_priors_figure(m: Mapping[str, Any]) -> go.Figure:
    """The experts panel of notebook 02 from `ltlab.experiments.balpoe.expert_marginals`:

    left, each λ-expert's target prior ∝ π^λ (solid) and its expected marginal (dotted; log
    scale; the ensemble's target ∝ π^λ̄ dashed, paper Fig. 3b);
    middle, KL(target ‖ expected marginal) per expert and for the ensemble (paper Fig. 3a);
    right, the balanced error of the ensemble's balanced prediction against the Bayes rule's
    (miscalibrated experts bias the decision, not only the marginals).
    """
    lambdas, targets, marginals = m["lambdas"], m["targets"], m["marginals"]
    classes = list(range(len(m["prior"])))
    bias = m["bias"]
    balanced = abs(bias) < 1e-9
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.12, column_widths=[0.42, 0.33, 0.25],
                        subplot_titles=("Target ∝ π^λ, marginal (dotted)",
                                        "KL(target ‖ marginal)", "Balanced error"))
    for k, (lam, q, mk) in enumerate(zip(lambdas, targets, marginals)):
        color = _EXPERT_COLORS[k % len(_EXPERT_COLORS)]
        fig.add_trace(go.Scatter(x=classes, y=q, mode="lines+markers", name=f"λ = {lam:+.2f}",
                                 line=dict(color=color), legendgroup=f"e{k}"), row=1, col=1)
        fig.add_trace(go.Scatter(x=classes, y=mk, mode="lines", name=f"marginal, λ = {lam:+.2f}",
                                 line=dict(color=color, dash="dot"), legendgroup=f"e{k}",
                                 showlegend=False), row=1, col=1)
    fig.add_trace(go.Scatter(x=classes, y=m["ensemble_target"], mode="lines",
                             name=f"ensemble (λ̄ = {bias:+.2f})",
                             line=dict(color=NEUTRAL, dash="dash", width=3)), row=1, col=1)
    names = [f"{lam:.2g}" for lam in lambdas] + ["ens."]
    colors = [_EXPERT_COLORS[k % len(_EXPERT_COLORS)] for k in range(len(lambdas))] + [NEUTRAL]
    fig.add_trace(go.Bar(x=names, y=list(m["kl"]) + [m["ensemble_kl"]], marker_color=colors,
                         showlegend=False, name="KL"), row=1, col=2)
    errors = [m["bayes_balanced_error"], m["ensemble_balanced_error"]]
    fig.add_trace(go.Bar(x=["Bayes", "ensemble"], y=[100 * e for e in errors],
                         marker_color=["#c7c7c7", NEUTRAL],
                         text=[f"{100 * e:.1f} %" for e in errors], textposition="outside",
                         showlegend=False, name="balanced error"), row=1, col=3)
    fig.update_yaxes(type="log", title_text="probability", row=1, col=1)
    fig.update_yaxes(title_text="KL (nats)", rangemode="tozero", row=1, col=2)
    fig.update_yaxes(title_text="balanced error (%)", range=[0, 120 * max(errors) + 2],
                     row=1, col=3)
    fig.update_xaxes(title_text="class (head → tail)", row=1, col=1)
    fig.update_xaxes(title_text="expert λ", tickangle=-45, row=1, col=2)
    fig.update_xaxes(tickangle=0, row=1, col=3)
    verdict = "balanced (λ̄ = 0)" if balanced else f"biased toward π^{bias:+.2f}"
    t = m["temperature"]
    calib = "calibrated" if t == 1 else ("over-confident" if t > 1 else "under-confident")
    fig.update_layout(title=f"{len(lambdas)} experts, mean λ = {bias:+.2f}: raw aggregate {verdict}; "
                            f"T = {t:g} ({calib})")
    style_figure(fig, height=500)
    # title, then the legend, then the subplot titles: each on its own line
    fig.update_layout(title=dict(y=0.97, yanchor="top"), margin=dict(t=140),
                      legend=dict(y=1.13))
    return fig


def balpoe_table_figure(table: Mapping[str, Mapping[str, float]],
                             labels: Mapping[str, str] | None = None) -> go.Figure:
    """Paper Table 2 as bars: balanced accuracy (left) and ECE / MCE (right) per model."""
    labels = labels or {}
    names = [labels.get(n, n) for n in table]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("Balanced accuracy ↑", "Calibration error ↓"))
    fig.add_trace(go.Bar(x=names, y=[100 * r["balanced_accuracy"] for r in table.values()],
                         name="balanced accuracy", marker_color="#1f77b4"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[100 * r["ece"] for r in table.values()], name="ECE",
                         marker_color="#d62728"), row=1, col=2)
    if all("mce" in r for r in table.values()):
        fig.add_trace(go.Bar(x=names, y=[100 * r["mce"] for r in table.values()], name="MCE",
                             marker_color="#ff9896"), row=1, col=2)
    fig.update_yaxes(range=[0, 100], title_text="balanced accuracy (%)", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", title_text="calibration error (%)", row=1, col=2)
    fig.update_xaxes(tickangle=-30)
    fig.update_layout(barmode="group", title="Accuracy and calibration (Table 2, small scale)")
    return _title_above_legend(style_figure(fig, height=460))


def shifted_accuracy_figure(shifted: Mapping[str, Mapping[str, float]],
                            title: str = "Accuracy under label shift (Table 3, small scale)") -> go.Figure:
    """Grouped bars over the test distributions: without and with the known test prior."""
    names = list(shifted)
    fig = go.Figure()
    for key, label, color in (("no_prior", "prior ✗", "#9edae5"), ("known_prior", "prior ✓", "#17becf")):
        fig.add_bar(x=names, y=[100 * shifted[n][key] for n in names], name=label,
                    marker_color=color, text=[f"{100 * shifted[n][key]:.1f}" for n in names],
                    textposition="outside")
    fig.update_layout(title=title, barmode="group", yaxis_title="accuracy (%)",
                      yaxis_range=[0, 110],
                      xaxis_title="test distribution")
    return _title_above_legend(style_figure(fig, height=420))


def shifted_by_model_figure(by_model: Mapping[str, Mapping[str, float]],
                            labels: Mapping[str, str] | None = None,
                            title: str = "Accuracy under label shift (Table 3, small scale)") -> go.Figure:
    """Paper Table 3 as grouped bars: one group per test distribution, one bar per model row
    of ``by_model`` (``{model: {shift: accuracy}}``, e.g.
    `ltlab.experiments.balpoe.shifted_accuracy_by_model`)."""
    labels = labels or {}
    rows = list(by_model)
    shifts = list(next(iter(by_model.values()))) if rows else []
    colors = ["#7f7f7f", "#1f77b4", "#9edae5", "#17becf", "#2ca02c", "#d62728"]
    fig = go.Figure()
    for k, row in enumerate(rows):
        fig.add_bar(x=shifts, y=[100 * by_model[row][s] for s in shifts],
                    name=labels.get(row, row), marker_color=colors[k % len(colors)])
    fig.update_layout(title=title, barmode="group", yaxis_title="accuracy (%)",
                      yaxis_range=[0, 100],
                      xaxis_title="test distribution (forward: head-heavy, backward: tail-heavy)")
    return _title_above_legend(style_figure(fig, height=440))


def experts_curve_figure(rows: Sequence[Mapping[str, float]],
                         title: str = "Accuracy against the number of experts (Figure 5, small scale)") -> go.Figure:
    """Lines of balanced accuracy and many / medium / few against the number of experts."""
    x = [r["num_experts"] for r in rows]
    fig = go.Figure()
    for key, color in (("balanced_accuracy", NEUTRAL), ("many", GROUP_COLORS["many"]),
                       ("medium", GROUP_COLORS["medium"]), ("few", GROUP_COLORS["few"])):
        fig.add_scatter(x=x, y=[100 * r[key] for r in rows], mode="lines+markers",
                        name=key.replace("_", " "),
                        line=dict(color=color, dash="dash" if color == NEUTRAL else "solid"))
    fig.update_layout(title=title, xaxis_title="number of experts", yaxis_title="accuracy (%)",
                      yaxis_range=[0, 100], xaxis=dict(tickmode="array", tickvals=x))
    return _title_above_legend(style_figure(fig, height=420))
