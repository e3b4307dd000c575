"""Plotly figure builders: data in, ``go.Figure`` out (no state, no widgets).

Widgets (`ltlab.widgets`) wrap these in ``go.FigureWidget`` and update their traces; a
notebook run with ``interactive=False`` shows them as static figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch

from ..metrics import expected_calibration_error, maximum_calibration_error, reliability_bins

__all__ = [
    "GROUP_COLORS",
    "class_count_bars",
    "per_class_accuracy_figure",
    "reliability_diagram",
    "training_curves",
]

GROUP_COLORS = {"many": "#1f77b4", "medium": "#ff7f0e", "few": "#d62728"}


def _group_of(counts: Sequence[int], many: int = 100, few: int = 20) -> list[str]:
    return ["many" if c > many else "few" if c < few else "medium" for c in counts]


def class_count_bars(
    counts, classes: Sequence[str] | None = None, log: bool = True, title: str = "Training images per class"
) -> go.Figure:
    """Bars of class counts (log axis by default), coloured by many / medium / few."""
    counts = [int(c) for c in torch.as_tensor(counts).tolist()]
    classes = list(classes) if classes is not None else [str(i) for i in range(len(counts))]
    groups = _group_of(counts)
    fig = go.Figure(go.Bar(x=classes, y=counts, marker_color=[GROUP_COLORS[g] for g in groups],
                           text=counts, textposition="outside", hovertext=groups))
    fig.update_layout(title=title, xaxis_title="class", yaxis_title="images",
                      height=350, margin=dict(t=50, b=40))
    if log:
        fig.update_yaxes(type="log")
    return fig


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
    return fig


def reliability_diagram(probs, targets, n_bins: int = 15, title: str = "Reliability diagram") -> go.Figure:
    """Accuracy per confidence bin against the diagonal, with the gap shaded and the
    confidence histogram beneath; ECE and MCE in the title."""
    from plotly.subplots import make_subplots

    bins = reliability_bins(probs, targets, n_bins)
    centers = ((bins["lo"] + bins["hi"]) / 2).tolist()
    width = 1.0 / n_bins
    acc = bins["accuracy"].nan_to_num(0).tolist()
    conf = bins["confidence"].tolist()
    count = bins["count"].tolist()
    ece = expected_calibration_error(probs, targets, n_bins)
    mce = maximum_calibration_error(probs, targets, n_bins)
    fig = make_subplots(rows=2, cols=1, row_heights=[0.75, 0.25], shared_xaxes=True,
                        vertical_spacing=0.05)
    fig.add_bar(x=centers, y=acc, width=width, name="accuracy", marker_color="#1f77b4", row=1, col=1)
    gap_base = [min(a, c) if n else 0 for a, c, n in zip(acc, conf, count)]
    gap = [abs(a - c) if n else 0 for a, c, n in zip(acc, conf, count)]
    fig.add_bar(x=centers, y=gap, base=gap_base, width=width, name="gap",
                marker_color="rgba(214,39,40,0.35)", marker_line_color="#d62728", row=1, col=1)
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                    line=dict(dash="dash", color="gray"), row=1, col=1)
    fig.add_bar(x=centers, y=count, width=width, name="samples", marker_color="#7f7f7f",
                row=2, col=1)
    fig.update_layout(title=f"{title}: ECE {100 * ece:.1f}%, MCE {100 * mce:.1f}%",
                      barmode="overlay", height=450, bargap=0)
    fig.update_yaxes(range=[0, 1], title_text="accuracy", row=1, col=1)
    fig.update_yaxes(title_text="count", row=2, col=1)
    fig.update_xaxes(range=[0, 1], title_text="confidence", row=2, col=1)
    return fig


def training_curves(histories: Mapping[str, object], metric: str = "balanced_accuracy",
                    title: str | None = None) -> go.Figure:
    """One line per run: a metric of `ltlab.train.History` against the epoch."""
    fig = go.Figure()
    for name, h in histories.items():
        m = h.metrics  # type: ignore[attr-defined]
        fig.add_scatter(x=m["epoch"], y=m[metric], mode="lines+markers", name=name)
    fig.update_layout(title=title or metric.replace("_", " "), xaxis_title="epoch",
                      yaxis_title=metric, height=350)
    return fig
from .sweep import *  # noqa: F401,F403
from .calibration import *  # noqa: F401,F403
from .lda import *  # noqa: F401,F403
from .logit_adjustment import *  # noqa: F401,F403
from .balpoe import *  # noqa: F401,F403
from .gh import *  # noqa: F401,F403
from .flexda import *  # noqa: F401,F403
