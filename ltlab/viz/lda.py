"""Figures of notebook 05 (LDA): balance-factor dynamics, head accuracies, the balanced risk's
weight per fifth of training, classifier weight norms, intra/inter distance ratios and the
comparison table. Pure: data in, figure out. Accuracies are drawn in percent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .style import style_figure

__all__ = [
    "balance_dynamics_figure",
    "balance_weight_figure",
    "distance_ratio_figure",
    "head_accuracy_figure",
    "lda_comparison_table",
    "weight_norm_figure",
]

_HEAD_COLORS = {"unbalanced": "#ff7f0e", "balanced": "#1f77b4"}


def _step_terms(history_or_terms: Any) -> Mapping[str, Sequence[float]]:
    terms = getattr(history_or_terms, "step_terms", history_or_terms)
    missing = {"alpha", "risk_unbalanced", "risk_balanced"} - set(terms)
    if missing:
        raise ValueError(f"step terms {sorted(missing)} are missing; pass the History of an "
                         f"`ltlab.lda.LDA` run (got terms {sorted(terms)}).")
    return terms


def balance_dynamics_figure(history: Any, title: str = "Balance factor and the two risks"
                            ) -> go.Figure:
    """The paper's Figure 6b: the balance factor alpha (top) and the empirical risks of the
    unbalanced head h' and the balanced head h (bottom) against the training step.

    ``history``: an `ltlab.train.History` of an LDA run, or its ``step_terms`` dict."""
    st = _step_terms(history)
    steps = list(range(1, len(st["alpha"]) + 1))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("balance factor ω (Eq. 6)", "empirical risks"))
    fig.add_scatter(x=steps, y=list(st["alpha"]), name="ω", mode="lines",
                    line=dict(color="#2ca02c"), row=1, col=1)
    fig.add_scatter(x=steps, y=list(st["risk_unbalanced"]), name="unbalanced risk of h′",
                    mode="lines", line=dict(color=_HEAD_COLORS["unbalanced"]), row=2, col=1)
    fig.add_scatter(x=steps, y=list(st["risk_balanced"]), name="balanced risk of h",
                    mode="lines", line=dict(color=_HEAD_COLORS["balanced"]), row=2, col=1)
    fig.update_yaxes(title_text="ω", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="cross-entropy", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="training step", row=2, col=1)
    fig.update_layout(title=title, height=500)
    style_figure(fig)
    # legend under the plot: above it would sit on the top subplot's title
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.15, x=0.0),
                      margin=dict(b=90))
    return fig


def head_accuracy_figure(history: Any, title: str = "Training-batch accuracy of the two heads"
                         ) -> go.Figure:
    """Per-batch training accuracy of h' and h (dots) and their window means (lines), as the
    `ltlab.lda.LDA` run logged them: the gap between the two lines, raised to gamma, is the
    balance factor (Eq. 6).

    ``history``: an `ltlab.train.History` of an LDA run, or its ``step_terms`` dict."""
    st = getattr(history, "step_terms", history)
    missing = {f"{kind}accuracy_{head}" for kind in ("", "mean_")
               for head in ("unbalanced", "balanced")} - set(st)
    if missing:
        raise ValueError(f"step terms {sorted(missing)} are missing; pass the History of an "
                         f"`ltlab.lda.LDA` run (got terms {sorted(st)}).")
    # the normalised variant logs fractions, the reference percent: draw percent either way
    scale = 100.0 if max(max(st["accuracy_unbalanced"], default=0.0),
                         max(st["accuracy_balanced"], default=0.0)) <= 1.0 else 1.0
    fig = go.Figure()
    for key, label in (("unbalanced", "h′ (unbalanced)"), ("balanced", "h (balanced)")):
        acc = [scale * a for a in st[f"accuracy_{key}"]]
        steps = list(range(1, len(acc) + 1))
        color = _HEAD_COLORS[key]
        fig.add_scatter(x=steps, y=acc, mode="markers", name=f"{label}, batch",
                        marker=dict(size=3, color=color, opacity=0.35))
        fig.add_scatter(x=steps, y=[scale * a for a in st[f"mean_accuracy_{key}"]],
                        mode="lines", name=f"{label}, window mean", line=dict(color=color))
    fig.update_layout(title=title, xaxis_title="training step",
                      yaxis_title="training-batch accuracy (%)", yaxis_range=[0, 101], height=400)
    return style_figure(fig)


def _ordinal(i: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(i, f"{i}th")


def balance_weight_figure(
    weights: Mapping[str, Sequence[float]],
    batch_accuracy: Mapping[str, Sequence[float]] | None = None, *, defer: float = 0.8,
    title: str = "The weight of the balanced risk, per fifth of training",
) -> go.Figure:
    """Top: the mean weight each run gave its balanced risk per fifth (any number of parts)
    of the training steps (``weights``: label -> values, e.g.
    `ltlab.experiments.lda.balance_weight_by_fifth` of this run and of the full-size record),
    beside the schedules of the single-head arms: RW (1 throughout) and DRW (0, then 1 after
    the ``defer`` fraction of the steps). Logit adjustment has no such weight: its margin
    acts on every step. Bottom (with ``batch_accuracy``: label -> fractions per part): h's
    training-batch accuracy in percent."""
    if not weights:
        raise ValueError("weights is empty: pass {label: weight per fifth of training}.")
    parts = {len(v) for v in weights.values()}
    if len(parts) != 1 or parts == {0}:
        raise ValueError(f"every series of weights needs the same, non-zero number of parts "
                         f"(got lengths {sorted(len(v) for v in weights.values())}).")
    n = parts.pop()
    names = [f"{_ordinal(i + 1)} {'fifth' if n == 5 else 'part'}" for i in range(n)]
    schedules = {"RW: re-weighting throughout": [1.0] * n,
                 "DRW: re-weighting late": [1.0 if (i + 1) / n > defer + 1e-9 else 0.0
                                            for i in range(n)]}
    rows = 2 if batch_accuracy else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=("weight of the balanced risk",
                                        "h's training-batch accuracy (%)")[:rows])
    colors = ("#1f77b4", "#17becf", "#9467bd", "#8c564b")
    for k, (label, values) in enumerate(weights.items()):
        values = [float(v) for v in values]
        fig.add_bar(x=names, y=values, name=label, marker_color=colors[k % len(colors)],
                    text=[f"{v:.3g}" for v in values], textposition="outside", row=1, col=1)
    for (label, values), color in zip(schedules.items(), ("#bbbbbb", "#ff7f0e")):
        fig.add_scatter(x=names, y=values, name=label, mode="lines+markers",
                        line=dict(color=color, dash="dot", shape="hvh"), row=1, col=1)
    fig.update_yaxes(title_text="weight", range=[0, 1.25], row=1, col=1)
    if batch_accuracy:
        for k, (label, values) in enumerate(batch_accuracy.items()):
            fig.add_scatter(x=names, y=[100 * float(v) for v in values], name=f"{label}, h",
                            mode="lines+markers", line=dict(color=colors[k % len(colors)]),
                            showlegend=False, row=2, col=1)
        fig.update_yaxes(title_text="accuracy (%)", range=[0, 101], row=2, col=1)
    fig.update_layout(title=title, height=300 + 180 * rows, barmode="group")
    style_figure(fig)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.12, x=0.0),
                      margin=dict(b=110))
    return fig


def weight_norm_figure(norms: Mapping[str, Any], counts=None,
                       title: str = "Classifier weight norm per class") -> go.Figure:
    """The paper's Figure 4a: the L2 norm ‖W_i‖ of each class's classifier row, one series per
    classifier, classes ordered head to tail; max/min ratios in the legend."""
    fig = go.Figure()
    for name, n in norms.items():
        n = torch.as_tensor(n, dtype=torch.float64)
        ratio = float(n.max() / n.min())
        fig.add_bar(name=f"{name} (max/min {ratio:.2f})", x=[str(i) for i in range(n.numel())],
                    y=n.tolist())
    fig.update_layout(title=title, barmode="group", xaxis_title="class (head → tail)",
                      yaxis_title="‖W_i‖", height=350)
    if counts is not None:
        c = torch.as_tensor(counts).tolist()
        fig.update_xaxes(tickvals=[str(i) for i in range(len(c))],
                         ticktext=[f"{i}<br>n={int(v)}" for i, v in enumerate(c)])
    return style_figure(fig)


def distance_ratio_figure(ratios: Mapping[str, float],
                          title: str = "Intra-class / inter-class distance (test features)"
                          ) -> go.Figure:
    """The paper's Figure 4c: the ratio of the mean intra-class distance to the mean
    inter-class distance of the features on the test set, one bar per model (lower is
    better)."""
    names = list(ratios)
    values = [float(ratios[k]) for k in names]
    fig = go.Figure(go.Bar(x=names, y=values, text=[f"{v:.3f}" for v in values],
                           textposition="outside", marker_color="#9467bd"))
    fig.update_layout(title=title, yaxis_title="intra / inter", height=360,
                      yaxis_range=[0, 1.2 * max(values)] if values else None)
    return style_figure(fig)


def lda_comparison_table(rows: Sequence[Mapping[str, Any]], title: str = "Balanced test set"
                         ) -> go.Figure:
    """A table of methods with balanced and many / medium / few accuracy (in percent).
    ``rows``: dicts with ``method``, ``balanced``, ``many``, ``medium``, ``few`` (fractions),
    e.g. `ltlab.experiments.lda.LDAComparison.rows()`."""
    cols = ["method", "balanced", "many", "medium", "few"]

    def fmt(v: Any) -> str:
        return v if isinstance(v, str) else f"{100 * float(v):.1f}"

    cells = [[fmt(r.get(c, float("nan"))) for r in rows] for c in cols]
    fig = go.Figure(go.Table(header=dict(values=[c if c == "method" else f"{c} (%)"
                                                 for c in cols], align="left"),
                             cells=dict(values=cells, align="left")))
    style_figure(fig)
    fig.update_layout(title=title, height=100 + 30 * len(rows),
                      margin=dict(t=50, b=10, l=10, r=10))
    return fig
