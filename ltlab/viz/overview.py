"""First-look figures: a few signals per class, class counts, per-class accuracy and training
curves. Accuracy axes read in percent (the values stay fractions, as the metrics return them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch

from .style import GROUP_COLORS, percent_axis, shot_group_labels, style_figure

__all__ = ["class_count_bars", "per_class_accuracy_figure", "signals_figure", "training_curves"]


def class_count_bars(
    counts, classes: Sequence[str] | None = None, log: bool = True, title: str = "Training images per class"
) -> go.Figure:
    """Bars of class counts (log axis by default), coloured by many / medium / few."""
    counts = [int(c) for c in torch.as_tensor(counts).tolist()]
    classes = list(classes) if classes is not None else [str(i) for i in range(len(counts))]
    groups = shot_group_labels(counts)
    fig = go.Figure(go.Bar(x=classes, y=counts, marker_color=[GROUP_COLORS[g] for g in groups],
                           text=counts, textposition="outside", hovertext=groups))
    fig.update_layout(title=title, xaxis_title="class", yaxis_title="images", height=350)
    if log:
        fig.update_yaxes(type="log")
    fig.update_traces(cliponaxis=False)  # the count above the tallest bar stays visible
    return style_figure(fig)


def per_class_accuracy_figure(
    accuracies: Mapping[str, Sequence[float]], counts=None, title: str = "Per-class accuracy"
) -> go.Figure:
    """Grouped bars of per-class accuracy, one series per model (classes ordered head→tail)."""
    fig = go.Figure()
    for name, acc in accuracies.items():
        acc = [float(a) for a in torch.as_tensor(acc).tolist()]
        fig.add_bar(name=name, x=[str(i) for i in range(len(acc))], y=acc)
    fig.update_layout(title=title, barmode="group", xaxis_title="class (head → tail)",
                      yaxis_title="accuracy (%)", yaxis_range=[0, 1], height=350)
    fig.update_traces(hovertemplate="class %{x}: %{y:.1%}")
    percent_axis(fig.layout.yaxis)
    if counts is not None:
        fig.update_xaxes(ticktext=[f"{i}<br>n={int(c)}" for i, c in enumerate(
            torch.as_tensor(counts).tolist())], tickvals=[str(i) for i in range(len(counts))])
    return style_figure(fig)


def training_curves(histories: Mapping[str, object], metric: str = "balanced_accuracy",
                    title: str | None = None) -> go.Figure:
    """One line per run: a metric of `ltlab.train.History` against the epoch."""
    fig = go.Figure()
    for name, h in histories.items():
        m = h.metrics  # type: ignore[attr-defined]
        fig.add_scatter(x=m["epoch"], y=m[metric], mode="lines+markers", name=name)
    label = metric.replace("_", " ")
    accuracy = "accuracy" in metric
    fig.update_layout(title=title or label, xaxis_title="epoch",
                      yaxis_title=f"{label} (%)" if accuracy else label, height=350)
    if accuracy:  # a fraction in [0, 1], read in percent
        percent_axis(fig.layout.yaxis)
        fig.update_traces(hovertemplate="epoch %{x}: %{y:.1%}")
    return style_figure(fig)


def signals_figure(x, y, classes: Sequence[str] | None = None, per_class: int = 3,
                   counts=None, title: str = "A few training signals per class") -> go.Figure:
    """One small panel per class with its first ``per_class`` signals of ``x`` ``[N, L]``
    (labels ``y``), coloured by the class's shot group when its training ``counts`` are
    given (the panel title then shows n). A class with fewer signals shows those it has."""
    from plotly.subplots import make_subplots

    x, y = torch.as_tensor(x), torch.as_tensor(y).long()
    num = int(y.max()) + 1 if counts is None else len(counts)
    classes = list(classes) if classes is not None else [str(c) for c in range(num)]
    counts = None if counts is None else [int(n) for n in torch.as_tensor(counts).tolist()]
    groups = shot_group_labels(counts) if counts is not None else ["many"] * num
    cols = min(5, num)
    rows = -(-num // cols)
    titles = [f"{classes[c]}" + (f" (n = {counts[c]})" if counts is not None else "")
              for c in range(num)]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_yaxes=True,
                        horizontal_spacing=0.02, vertical_spacing=0.16)
    for c in range(num):
        for k, i in enumerate(torch.nonzero(y == c).flatten()[:per_class].tolist()):
            fig.add_scatter(y=x[i].tolist(), mode="lines", row=c // cols + 1, col=c % cols + 1,
                            line=dict(width=1.5, color=GROUP_COLORS[groups[c]]),
                            opacity=1.0 - 0.25 * k, showlegend=False,
                            hovertemplate=f"class {classes[c]}, signal {i}<extra></extra>")
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title=title, height=170 * rows + 120)
    return style_figure(fig)
