"""First-look figures: class counts, per-class accuracy and training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch

from .style import GROUP_COLORS, shot_group_labels, style_figure

__all__ = ["class_count_bars", "per_class_accuracy_figure", "training_curves"]


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
                      yaxis_title="accuracy", yaxis_range=[0, 1], height=350)
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
    fig.update_layout(title=title or metric.replace("_", " "), xaxis_title="epoch",
                      yaxis_title=metric.replace("_", " "), height=350)
    return style_figure(fig)
