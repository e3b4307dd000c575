"""Figures of notebook 02 (BalPoE): pure builders, data in, ``go.Figure`` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "balpoe_priors_figure",
    "balpoe_table_figure",
    "shifted_accuracy_figure",
    "experts_curve_figure",
]

_EXPERT_COLORS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                  "#bcbd22", "#ff7f0e", "#7f7f7f"]


def balpoe_priors_figure(m: Mapping[str, Any]) -> go.Figure:
    """The experts panel of notebook 02 from `ltlab.experiments.balpoe.expert_marginals`:

    left, each λ-expert's target prior ∝ π^λ and its expected marginal (dotted; log scale;
    the ensemble's target ∝ π^mean(λ) dashed, paper Fig. 3b);
    middle, KL(target ‖ expected marginal) per expert and for the ensemble (paper Fig. 3a);
    right, the ensemble's expected marginal against its target prior.
    """
    lambdas, targets, marginals = m["lambdas"], m["targets"], m["marginals"]
    classes = list(range(len(m["prior"])))
    bias = m["bias"]
    balanced = abs(bias) < 1e-9
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=(
        "Target ∝ π^λ (solid), expected marginal (dotted)",
        "KL(target ‖ expected marginal)",
        f"Ensemble: KL = {m['ensemble_kl']:.4f}",
    ))
    for k, (lam, q, mk) in enumerate(zip(lambdas, targets, marginals)):
        color = _EXPERT_COLORS[k % len(_EXPERT_COLORS)]
        fig.add_trace(go.Scatter(x=classes, y=q, mode="lines+markers", name=f"λ = {lam:+.2f}",
                                 line=dict(color=color), legendgroup=f"e{k}"), row=1, col=1)
        fig.add_trace(go.Scatter(x=classes, y=mk, mode="lines", name=f"marginal, λ = {lam:+.2f}",
                                 line=dict(color=color, dash="dot"), legendgroup=f"e{k}",
                                 showlegend=False), row=1, col=1)
    fig.add_trace(go.Scatter(x=classes, y=m["ensemble_target"], mode="lines",
                             name=f"ensemble (λ̄ = {bias:+.2f})",
                             line=dict(color="black", dash="dash", width=3)), row=1, col=1)
    names = [f"λ={lam:+.2f}" for lam in lambdas] + ["ensemble"]
    colors = [_EXPERT_COLORS[k % len(_EXPERT_COLORS)] for k in range(len(lambdas))] + ["black"]
    fig.add_trace(go.Bar(x=names, y=list(m["kl"]) + [m["ensemble_kl"]], marker_color=colors,
                         showlegend=False, name="KL"), row=1, col=2)
    fig.add_trace(go.Bar(x=classes, y=m["ensemble_marginal"], name="expected marginal",
                         marker_color="#aec7e8"), row=1, col=3)
    fig.add_trace(go.Scatter(x=classes, y=m["ensemble_target"], mode="markers+lines",
                             name="target prior ∝ π^λ̄", line=dict(color="black", dash="dot")),
                  row=1, col=3)
    fig.update_yaxes(type="log", title_text="probability", row=1, col=1)
    fig.update_yaxes(title_text="KL (nats)", rangemode="tozero", row=1, col=2)
    fig.update_yaxes(title_text="probability", rangemode="tozero", row=1, col=3)
    for col in (1, 3):
        fig.update_xaxes(title_text="class (head → tail)", row=1, col=col)
    verdict = "balanced (λ̄ = 0)" if balanced else f"biased toward π^{bias:+.2f}"
    fig.update_layout(
        height=420, legend=dict(orientation="h", y=-0.25),
        title=f"{len(lambdas)} experts, mean λ = {bias:+.2f}: the ensemble is {verdict}; "
              f"temperature {m['temperature']:g}" + (" (calibrated)" if m["temperature"] == 1 else ""),
    )
    return fig


def balpoe_table_figure(table: Mapping[str, Mapping[str, float]],
                             labels: Mapping[str, str] | None = None) -> go.Figure:
    """Paper Table 2 as bars: balanced accuracy (left) and ECE / MCE (right) per model."""
    labels = labels or {}
    names = [labels.get(n, n) for n in table]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Balanced accuracy ↑", "Calibration error ↓"))
    fig.add_trace(go.Bar(x=names, y=[r["balanced_accuracy"] for r in table.values()],
                         name="balanced accuracy", marker_color="#1f77b4"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[r["ece"] for r in table.values()], name="ECE",
                         marker_color="#d62728"), row=1, col=2)
    if all("mce" in r for r in table.values()):
        fig.add_trace(go.Bar(x=names, y=[r["mce"] for r in table.values()], name="MCE",
                             marker_color="#ff9896"), row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(height=380, barmode="group", title="Accuracy and calibration (Table 2, small scale)")
    return fig


def shifted_accuracy_figure(shifted: Mapping[str, Mapping[str, float]],
                            title: str = "Accuracy under label shift (Table 3, small scale)") -> go.Figure:
    """Grouped bars over the test distributions: without and with the known test prior."""
    names = list(shifted)
    fig = go.Figure()
    for key, label, color in (("no_prior", "prior ✗", "#9edae5"), ("known_prior", "prior ✓", "#17becf")):
        fig.add_bar(x=names, y=[shifted[n][key] for n in names], name=label, marker_color=color,
                    text=[f"{100 * shifted[n][key]:.1f}" for n in names], textposition="outside")
    fig.update_layout(title=title, barmode="group", yaxis_title="accuracy", yaxis_range=[0, 1.05],
                      xaxis_title="test distribution", height=380)
    return fig


def experts_curve_figure(rows: Sequence[Mapping[str, float]],
                         title: str = "Accuracy against the number of experts (Figure 5, small scale)") -> go.Figure:
    """Lines of balanced accuracy and many / medium / few against the number of experts."""
    x = [r["num_experts"] for r in rows]
    fig = go.Figure()
    for key, color in (("balanced_accuracy", "black"), ("many", "#1f77b4"),
                       ("medium", "#ff7f0e"), ("few", "#d62728")):
        fig.add_scatter(x=x, y=[r[key] for r in rows], mode="lines+markers",
                        name=key.replace("_", " "), line=dict(color=color))
    fig.update_layout(title=title, xaxis_title="number of experts", yaxis_title="accuracy",
                      yaxis_range=[0, 1], height=360, xaxis=dict(tickmode="array", tickvals=x))
    return fig
