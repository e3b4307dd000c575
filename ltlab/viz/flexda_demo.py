"""Figures of notebook 03's demonstration: the prior arms, the pseudo-labels per class, the
2-D decision regions and KL(Q̂ || Q) over training.

* `prior_arms_figure`: balanced accuracy and ECE of each arm, mean with its 95 % interval
  and every seed (the data: ``prior_arms`` / ``prior_arms_ece`` of
  `ltlab.experiments.flexda.recorded_results`).
* `pseudo_label_curves_figure`: mask rate, recall and the right-but-discarded fraction of the
  pseudo-labels per true class over training (`PseudoLabelMonitor` curves).
* `decision_regions_figure`: decision regions on a 2-D grid, the Bayes rule's first.
* `kl_curve_figure`: KL(Q̂ || Q) against the training step on a log axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import NEUTRAL, style_figure

__all__ = ["ARM_LABELS", "decision_regions_figure", "kl_curve_figure", "prior_arms_figure",
           "pseudo_label_curves_figure"]

ARM_LABELS = {
    "fixmatch": "FixMatch",
    "fixmatch_la": "FixMatch + post-hoc LA",
    "flexda": "FlexDA (estimated Q̂)",
    "flexda_fixed_labeled": "aligned to fixed P_L",
    "flexda_uniform": "aligned to uniform u",
    "flexda_oracle": "oracle (target Q)",
    "adello": "ADELLO",
}

#: ten colours, head (blue) to tail (red) of the labeled set
_CLASS_COLORS = ["#08306b", "#2171b5", "#4292c6", "#6baed6", "#9ecae1",
                 "#fcae91", "#fb6a4a", "#ef3b2c", "#cb181d", "#67000d"]
_REGION_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def prior_arms_figure(accuracy: Mapping[str, Mapping], ece: Mapping[str, Mapping] | None = None,
                      title: str = "Which prior should the pseudo-labels follow?") -> go.Figure:
    """Left: each arm's balanced accuracy (percent): the mean with its 95 % t-interval and
    one faint dot per seed. Right (with ``ece``): the same for ECE. ``accuracy[arm]`` =
    ``{"mean", "ci_low", "ci_high", "per_seed"}`` (fractions)."""
    arms = list(accuracy)
    labels = [ARM_LABELS.get(a, a) for a in arms]
    panels = [("balanced accuracy (%)", accuracy, 100.0)]
    if ece is not None:
        panels.append(("ECE (%)", ece, 100.0))
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=[p[0] for p in panels])
    for col, (name, stats, scale) in enumerate(panels, start=1):
        means = [scale * stats[a]["mean"] for a in arms]
        low = [scale * (stats[a]["mean"] - stats[a]["ci_low"]) for a in arms]
        high = [scale * (stats[a]["ci_high"] - stats[a]["mean"]) for a in arms]
        for a, label in zip(arms, labels):
            seeds = [scale * v for v in stats[a]["per_seed"]]
            fig.add_scatter(x=seeds, y=[label] * len(seeds), mode="markers", showlegend=False,
                            marker=dict(color="#999999", size=6, opacity=0.6), row=1, col=col,
                            hovertemplate="seed value %{x:.1f}<extra></extra>")
        fig.add_scatter(x=means, y=labels, mode="markers", name="mean, 95 % interval",
                        showlegend=col == 1, marker=dict(color="#1f77b4", size=11),
                        error_x=dict(type="data", symmetric=False, array=high, arrayminus=low),
                        row=1, col=col)
        fig.update_xaxes(title_text=name, row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title)
    return style_figure(fig, height=140 + 38 * len(arms))


def _series(curves: Mapping[str, Sequence], key: str, c: int) -> list[float | None]:
    return [None if (v := row[c]) is None or (isinstance(v, float) and math.isnan(v)) else v
            for row in curves[key]]


def pseudo_label_curves_figure(curves: Mapping[str, Mapping[str, Sequence]],
                               labeled_counts: Sequence[int],
                               keys: Sequence[str] = ("mask_rate", "recall", "discarded_correct"),
                               ) -> go.Figure:
    """One row per method (``curves[method]`` from `PseudoLabelMonitor`), one column per
    measure, one line per true class coloured from the labeled head (blue) to the labeled
    tail (red), against the training step."""
    methods = list(curves)
    titles = {"mask_rate": "passes the threshold", "recall": "right pseudo-label",
              "precision": "precision", "discarded_correct": "discarded but right"}
    fig = make_subplots(rows=len(methods), cols=len(keys), shared_xaxes=True, shared_yaxes=True,
                        horizontal_spacing=0.04, vertical_spacing=0.08,
                        subplot_titles=[f"{ARM_LABELS.get(m, m)}: {titles.get(k, k)}"
                                        for m in methods for k in keys])
    n = len(labeled_counts)
    for r, m in enumerate(methods, start=1):
        for col, k in enumerate(keys, start=1):
            for c in range(n):
                fig.add_scatter(x=list(curves[m]["step"]), y=_series(curves[m], k, c),
                                mode="lines", name=f"class {c} ({labeled_counts[c]} labels)",
                                legendgroup=str(c), showlegend=(r == 1 and col == 1),
                                line=dict(color=_CLASS_COLORS[c % len(_CLASS_COLORS)], width=1.5),
                                row=r, col=col)
        fig.update_yaxes(range=[0, 1.02], row=r, col=1, title_text="fraction")
    for col in range(1, len(keys) + 1):
        fig.update_xaxes(title_text="training step", row=len(methods), col=col)
    fig.update_layout(title="Pseudo-labels per true class (blue: labeled head, red: labeled tail)")
    fig = style_figure(fig, height=260 * len(methods) + 120)
    for note in fig.layout.annotations:
        note.update(font=dict(size=11))
    return fig


def decision_regions_figure(grid: Sequence[float], regions: Mapping[str, Sequence[Sequence[int]]],
                            points: Mapping[str, Sequence] | None = None,
                            titles: Mapping[str, str] | None = None) -> go.Figure:
    """One heat map of predicted classes per entry of ``regions`` (rows along y, columns
    along x, on the axis values ``grid``), with the labeled points (large) and a sample of
    the unlabeled ones (small) of ``points`` on top."""
    names = list(regions)
    titles = dict(titles or {})
    n_classes = 1 + max(max(max(row) for row in regions[k]) for k in names)
    colors = _REGION_COLORS[:n_classes]
    scale = []
    for i, col in enumerate(colors):  # a discrete colour scale: one flat band per class
        scale += [[i / n_classes, col], [(i + 1) / n_classes, col]]
    fig = make_subplots(rows=1, cols=len(names), horizontal_spacing=0.04, shared_yaxes=True,
                        subplot_titles=[titles.get(k, k) for k in names])
    for col, k in enumerate(names, start=1):
        fig.add_heatmap(x=list(grid), y=list(grid), z=regions[k], zmin=-0.5,
                        zmax=n_classes - 0.5, colorscale=scale, showscale=False, opacity=0.45,
                        hovertemplate="class %{z}<extra></extra>", row=1, col=col)
        if points is not None:
            for kind, size in (("unlabeled", 3), ("labeled", 6)):
                xy, y = points[f"{kind}_x"], points[f"{kind}_y"]
                fig.add_scatter(x=[p[0] for p in xy], y=[p[1] for p in xy], mode="markers",
                                marker=dict(size=size, color=[colors[int(c)] for c in y],
                                            line=dict(width=0.5 if kind == "labeled" else 0,
                                                      color=NEUTRAL)),
                                name=kind, showlegend=col == 1, row=1, col=col)
        fig.update_xaxes(range=[grid[0], grid[-1]], row=1, col=col)
    fig.update_yaxes(range=[grid[0], grid[-1]], scaleanchor="x", row=1, col=1)
    fig.update_layout(title="Decision regions (shaded) and the data (dots, coloured by true class)")
    return style_figure(fig, height=420)


def kl_curve_figure(steps: Sequence[int], kl: Sequence[float],
                    title: str = "KL(Q̂ ‖ Q) during FlexDA's training") -> go.Figure:
    """KL(Q̂ || Q) against the training step, on a log axis with power-of-ten labels."""
    fig = go.Figure(go.Scatter(x=list(steps), y=[max(v, 1e-8) for v in kl], mode="lines+markers",
                               name="KL(Q̂ ‖ Q)", line=dict(color="#d62728")))
    fig.update_yaxes(type="log", title_text="KL(Q̂ ‖ Q) (nats)")
    fig.update_xaxes(title_text="training step")
    fig.update_layout(title=title)
    return style_figure(fig, height=340)
