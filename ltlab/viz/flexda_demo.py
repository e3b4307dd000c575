"""Figures of notebook 03's demonstration: the prior arms, the pseudo-labels per class, the
2-D decision regions and KL(Q̂ || Q) over training.

* `prior_arms_figure`: balanced accuracy and ECE of each arm, mean with its 95 % interval
  and every seed (the data: ``prior_arms`` / ``prior_arms_ece`` of
  `ltlab.experiments.flexda.recorded_results`).
* `pseudo_label_curves_figure`: mask rate, recall and the right-but-discarded fraction of the
  pseudo-labels per true class over training (`PseudoLabelMonitor` curves).
* `tradeoff_figure`: balanced accuracy against ECE for every arm (percent, 95 % intervals
  both ways), one marker shape per setting, an arrow from FlexDA to ADELLO in each.
* `pass_rate_figure`: per class, the fraction of unlabeled samples passing the confidence
  threshold late in training for each method, and the overall pass rate over training.
* `decision_regions_figure`: decision regions on a 2-D grid, the Bayes rule's first.
* `kl_curve_figure`: KL(Q̂ || Q) against the training step on a log axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import NEUTRAL, style_figure

__all__ = ["ARM_LABELS", "decision_regions_figure", "kl_curve_figure", "pass_rate_figure",
           "prior_arms_figure", "pseudo_label_curves_figure", "tradeoff_figure"]

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
#: one colour per arm (the trade-off and pass-rate figures)
ARM_COLORS = {"fixmatch": "#7f7f7f", "fixmatch_la": "#bcbd22", "flexda": "#1f77b4",
              "flexda_fixed_labeled": "#9467bd", "flexda_uniform": "#8c564b",
              "flexda_oracle": "#17becf", "adello": "#d62728"}
_SETTING_SYMBOLS = ("circle", "diamond", "square", "triangle-up")
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


def _interval(stats: Mapping, arm: str) -> tuple[float, float, float]:
    st = stats[arm]
    return 100 * st["mean"], 100 * (st["mean"] - st["ci_low"]), 100 * (st["ci_high"] - st["mean"])


def tradeoff_figure(settings: Mapping[str, tuple[Mapping[str, Mapping], Mapping[str, Mapping]]],
                    title: str = "Accuracy against calibration: every arm") -> go.Figure:
    """Balanced accuracy (%) against ECE (%), one point per arm and setting with its 95 %
    intervals both ways. ``settings[name] = (accuracy, ece)``, each ``{arm: {"mean",
    "ci_low", "ci_high"}}`` (fractions, as ``prior_arms`` / ``prior_arms_ece``); one marker
    shape per setting, one colour per arm, and an arrow from FlexDA to ADELLO in every
    setting that has both (what the distillation changes). Up and to the left is better."""
    if not settings:
        raise ValueError("settings is empty: pass {name: (accuracy, ece)}.")
    fig = go.Figure()
    for k, (name, (acc, ece)) in enumerate(settings.items()):
        symbol = _SETTING_SYMBOLS[k % len(_SETTING_SYMBOLS)]
        for arm in acc:
            if arm not in ece:
                continue
            y, ylo, yhi = _interval(acc, arm)
            x, xlo, xhi = _interval(ece, arm)
            fig.add_scatter(
                x=[x], y=[y], mode="markers", name=f"{ARM_LABELS.get(arm, arm)} ({name})",
                marker=dict(size=12, symbol=symbol, color=ARM_COLORS.get(arm, NEUTRAL),
                            line=dict(width=1, color="white")),
                error_x=dict(type="data", symmetric=False, array=[xhi], arrayminus=[xlo],
                             thickness=1),
                error_y=dict(type="data", symmetric=False, array=[yhi], arrayminus=[ylo],
                             thickness=1),
                hovertemplate=(f"{ARM_LABELS.get(arm, arm)}, {name}<br>ECE %{{x:.1f}} %"
                               "<br>balanced accuracy %{y:.1f} %<extra></extra>"))
        if "flexda" in acc and "adello" in acc and "flexda" in ece and "adello" in ece:
            fig.add_annotation(x=100 * ece["adello"]["mean"], y=100 * acc["adello"]["mean"],
                               ax=100 * ece["flexda"]["mean"], ay=100 * acc["flexda"]["mean"],
                               xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                               arrowhead=3, arrowwidth=1.5, arrowcolor=ARM_COLORS["adello"],
                               opacity=0.7, text="")
    fig.update_xaxes(title_text="ECE (%), lower is better", rangemode="tozero")
    fig.update_yaxes(title_text="balanced accuracy (%)")
    fig.update_layout(title=title, legend=dict(font=dict(size=10)))
    return style_figure(fig, height=460)


def pass_rate_figure(late: Mapping[str, Sequence[float]], labeled_counts: Sequence[int],
                     curves: Mapping[str, Mapping[str, Sequence]] | None = None,
                     distill_step: float | None = None,
                     title: str = "Which unlabeled samples pass the confidence threshold?",
                     ) -> go.Figure:
    """Left: per true class (labeled head to tail), the fraction (%) of its unlabeled samples
    that passed the threshold late in training, one bar per method (``late[method]``, e.g.
    ``pass_rate_late`` of `ltlab.experiments.flexda.recorded_results`). Right (with
    ``curves``, `PseudoLabelMonitor` curves per method): the overall pass rate (%) against
    the training step, with a dotted line at ``distill_step`` (where ADELLO's distillation
    starts)."""
    methods = list(late)
    n = len(labeled_counts)
    for m in methods:
        if len(late[m]) != n:
            raise ValueError(f"late[{m!r}] has {len(late[m])} classes, labeled_counts {n}.")
    cols = 2 if curves else 1
    fig = make_subplots(rows=1, cols=cols, column_widths=[0.62, 0.38][:cols],
                        horizontal_spacing=0.09,
                        subplot_titles=["per class, last quarter of training",
                                        "all classes, over training"][:cols])
    x = [f"{c} ({labeled_counts[c]})" for c in range(n)]
    for m in methods:
        y = [None if v is None or (isinstance(v, float) and math.isnan(v)) else 100 * v
             for v in late[m]]
        fig.add_bar(x=x, y=y, name=ARM_LABELS.get(m, m), legendgroup=m,
                    marker_color=ARM_COLORS.get(m, NEUTRAL), row=1, col=1)
    fig.update_xaxes(title_text="class (labels), labeled head → tail", row=1, col=1)
    fig.update_yaxes(title_text="passes the threshold (%)", range=[0, 100], row=1, col=1)
    if curves:
        for m, cv in curves.items():
            fig.add_scatter(x=list(cv["step"]), y=[100 * v for v in cv["pass_rate"]],
                            mode="lines", name=ARM_LABELS.get(m, m), legendgroup=m,
                            showlegend=m not in methods,
                            line=dict(color=ARM_COLORS.get(m, NEUTRAL), width=2), row=1, col=2)
        if distill_step is not None:
            fig.add_vline(x=distill_step, line=dict(dash="dot", color=NEUTRAL), row=1, col=2)
        fig.update_xaxes(title_text="training step", row=1, col=2)
        fig.update_yaxes(title_text="passes the threshold (%)", range=[0, 100], row=1, col=2)
    fig.update_layout(title=title, barmode="group")
    return style_figure(fig, height=400)
