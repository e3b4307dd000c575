"""The reliability diagram: accuracy per confidence bin against the diagonal."""

from __future__ import annotations

import plotly.graph_objects as go

from ..metrics import expected_calibration_error, maximum_calibration_error, reliability_bins
from .style import style_figure

__all__ = ["reliability_diagram"]


def _title_above_legend(fig: go.Figure, top: int = 120) -> go.Figure:
    """After `style_figure`: the title on its own line above the legend (style_figure's top
    margin leaves the two overlapping when a figure has both)."""
    fig.update_layout(title=dict(y=0.98, yanchor="top"), margin=dict(t=top))
    return fig


def reliability_diagram(probs, targets, n_bins: int = 15, title: str = "Reliability diagram") -> go.Figure:
    """Accuracy per confidence bin against the diagonal, with the gap shaded and the
    confidence histogram beneath, in %; ECE and MCE in the title."""
    from plotly.subplots import make_subplots

    bins = reliability_bins(probs, targets, n_bins)
    centers = (50 * (bins["lo"] + bins["hi"])).tolist()
    width = 100.0 / n_bins
    acc = (100 * bins["accuracy"].nan_to_num(0)).tolist()
    conf = (100 * bins["confidence"]).tolist()
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
    fig.add_scatter(x=[0, 100], y=[0, 100], mode="lines", name="perfect calibration",
                    line=dict(dash="dash", color="gray"), row=1, col=1)
    fig.add_bar(x=centers, y=count, width=width, name="samples", marker_color="#7f7f7f",
                row=2, col=1)
    fig.update_layout(title=f"{title}: ECE {100 * ece:.1f}%, MCE {100 * mce:.1f}%",
                      barmode="overlay", bargap=0)
    fig.update_yaxes(range=[0, 100], title_text="accuracy (%)", row=1, col=1)
    fig.update_yaxes(title_text="count", row=2, col=1)
    fig.update_xaxes(range=[0, 100], title_text="confidence (%)", row=2, col=1)
    return _title_above_legend(style_figure(fig, height=480))
