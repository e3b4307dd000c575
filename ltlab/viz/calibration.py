"""Calibration figures for notebook 04: pure builders (data in, ``go.Figure`` out).

Bins are the (lo, hi] equal-width bins of `ltlab.metrics`; groups are many / medium / few
by training counts, and samples are grouped by their *predicted* class unless said
otherwise (see `ltlab.metrics.shot_calibration_gap`). Builders receive computed results
(`ltlab.experiments.calibration`'s evaluation and label-shift dictionaries) and, where a
figure names models, a ``labels`` mapping (model name -> display label).
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..metrics import (
    adaptive_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_bins,
    shot_calibration_gap,
)
from .reliability import _title_above_legend
from .style import GROUP_COLORS, NEUTRAL, style_figure

__all__ = [
    "calibration_overview",
    "shot_calibration_figure",
    "calibration_table_figure",
    "label_shift_calibration_figure",
    "label_shift_sweep_figure",
]

_GROUPS = ("many", "medium", "few")
_GAP_COLOR = "rgba(214,39,40,0.35)"


def _reliability_traces(probs, targets, n_bins: int, showlegend: bool = True) -> list[go.Bar | go.Scatter]:
    """Accuracy bars, the shaded gap to each bin's mean confidence, and the diagonal (in %)."""
    bins = reliability_bins(probs, targets, n_bins)
    centers = (50 * (bins["lo"] + bins["hi"])).tolist()
    width = 100.0 / n_bins
    count = bins["count"].tolist()
    acc = (100 * bins["accuracy"].nan_to_num(0)).tolist()
    conf = (100 * bins["confidence"].nan_to_num(0)).tolist()
    base = [min(a, c) if n else 0.0 for a, c, n in zip(acc, conf, count)]
    gap = [abs(a - c) if n else 0.0 for a, c, n in zip(acc, conf, count)]
    return [
        go.Bar(x=centers, y=acc, width=width, name="accuracy", marker_color="#1f77b4",
               showlegend=showlegend, legendgroup="accuracy",
               customdata=count, hovertemplate="acc %{y:.1f} %<br>n = %{customdata}<extra></extra>"),
        go.Bar(x=centers, y=gap, base=base, width=width, name="gap to confidence",
               marker_color=_GAP_COLOR, marker_line_color="#d62728", showlegend=showlegend,
               legendgroup="gap"),
        go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="perfect calibration",
                   line=dict(dash="dash", color="gray"), showlegend=showlegend,
                   legendgroup="diag"),
    ]


def calibration_overview(
    probs, targets, train_counts, n_bins: int = 15, title: str = "Calibration",
    by: str = "predicted",
) -> go.Figure:
    """Left: the reliability diagram (accuracy per confidence bin, the diagonal, the gap
    shaded) over the confidence histogram, in %. Right: per many / medium / few group, the
    ECE (%) and the signed gap mean confidence - accuracy (points; above 0: over-confident).
    The title carries ECE, MCE and the equal-mass ECE (ACE)."""
    fig = make_subplots(
        rows=2, cols=2, row_heights=[0.72, 0.28], column_widths=[0.62, 0.38],
        specs=[[{}, {"rowspan": 2}], [{}, None]], shared_xaxes=False,
        vertical_spacing=0.06, horizontal_spacing=0.1,
        subplot_titles=("reliability", f"per group<br>(by {by} class)", None),
    )
    for trace in _reliability_traces(probs, targets, n_bins):
        fig.add_trace(trace, row=1, col=1)
    bins = reliability_bins(probs, targets, n_bins)
    fig.add_trace(go.Bar(x=(50 * (bins["lo"] + bins["hi"])).tolist(), y=bins["count"].tolist(),
                         width=100.0 / n_bins, name="samples", marker_color="#7f7f7f"),
                  row=2, col=1)
    groups = shot_calibration_gap(probs, targets, train_counts, n_bins, by=by)
    names = [g for g in _GROUPS if g in groups]
    fig.add_trace(go.Bar(x=names, y=[100 * groups[g]["ece"] for g in names], name="group ECE",
                         marker_color=[GROUP_COLORS[g] for g in names],
                         text=[f"n={groups[g]['count']}" for g in names], textposition="outside"),
                  row=1, col=2)
    fig.add_trace(go.Scatter(x=names, y=[100 * groups[g]["gap"] for g in names], mode="markers",
                             name="conf - acc", marker=dict(symbol="diamond", size=12,
                                                            color=NEUTRAL)),
                  row=1, col=2)
    ece = expected_calibration_error(probs, targets, n_bins)
    mce = maximum_calibration_error(probs, targets, n_bins)
    ace = adaptive_calibration_error(probs, targets, n_bins)
    fig.update_layout(
        title=f"{title}: ECE {100 * ece:.1f}%, MCE {100 * mce:.1f}%, ACE {100 * ace:.1f}%",
        barmode="overlay", bargap=0, height=480, legend=dict(orientation="h", y=-0.12),
    )
    fig.update_xaxes(range=[0, 100], row=1, col=1, showticklabels=False)
    fig.update_xaxes(range=[0, 100], title_text="confidence (%)", row=2, col=1)
    fig.update_yaxes(range=[0, 100], title_text="accuracy (%)", row=1, col=1)
    fig.update_yaxes(title_text="count", row=2, col=1)
    # the per-group axis on the panel's right edge: its title never runs into the reliability
    # diagram's bars on the left
    fig.update_yaxes(range=[-100, 100], title_text="ECE (%)<br>conf − acc (points)",
                     zeroline=True, side="right", row=1, col=2)
    return _title_above_legend(style_figure(fig))


def shot_calibration_figure(
    groups: Mapping[str, Mapping[str, Mapping[str, float]]], metric: str = "gap",
    title: str | None = None, labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Grouped bars, one series per model, of a `shot_calibration_gap` entry per
    many / medium / few group: ``"gap"`` (mean confidence - accuracy, signed, in points),
    ``"ece"``, ``"confidence"`` or ``"accuracy"`` (in %). ``groups``: model (or any label) ->
    group -> stats (fractions); ``labels`` renames the series."""
    labels = labels or {}
    if metric not in ("gap", "ece", "confidence", "accuracy"):
        raise ValueError(f"metric must be 'gap', 'ece', 'confidence' or 'accuracy' (got {metric!r}).")
    fig = go.Figure()
    for name, stats in groups.items():
        names = [g for g in _GROUPS if g in stats]
        fig.add_bar(name=labels.get(name, name), x=names,
                    y=[100 * stats[g][metric] for g in names])
    label = {"gap": "mean confidence - accuracy (points; > 0: over-confident)",
             "ece": "ECE (%)"}.get(metric, f"{metric} (%)")
    fig.update_layout(title=title or f"{label} per group", barmode="group", height=360,
                      xaxis_title="classes grouped by training count (head → tail)",
                      yaxis_title=label)
    fig.add_hline(y=0, line_color="gray")
    return _title_above_legend(style_figure(fig))


def calibration_table_figure(
    evaluation: Mapping[str, Mapping[str, float]], title: str = "Calibration and accuracy",
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """A table in the layout of the BalPoE paper's Table 2 (ECE, MCE, accuracy in %),
    plus balanced accuracy, NLL (nats), the fitted temperature and the NLL after it.
    ``evaluation``: model -> metrics (`ltlab.experiments.calibration.evaluate_zoo`'s
    output); ``labels`` names the models in the first column. On a balanced test set the
    accuracy *is* the balanced accuracy: the table then shows one column, "ACC % ↑
    (balanced test)"."""
    names = list(evaluation)
    labels = labels or {}
    same = all(abs(evaluation[n]["accuracy"] - evaluation[n]["balanced_accuracy"]) < 1e-9
               for n in names)
    accuracy = ({"ACC % ↑ (balanced test)": [f"{100 * evaluation[n]['accuracy']:.1f}"
                                               for n in names]} if same else {
        "ACC % ↑": [f"{100 * evaluation[n]['accuracy']:.1f}" for n in names],
        "balanced ACC % ↑": [f"{100 * evaluation[n]['balanced_accuracy']:.1f}" for n in names]})
    columns = {
        "model": [labels.get(n, n) for n in names],
        "ECE % ↓": [f"{100 * evaluation[n]['ece']:.1f}" for n in names],
        "MCE % ↓": [f"{100 * evaluation[n]['mce']:.1f}" for n in names],
        **accuracy,
        "NLL": [f"{evaluation[n]['nll']:.3f}" for n in names],
        "T": [f"{evaluation[n]['temperature']:.2f}" for n in names],
        "NLL after T": [f"{evaluation[n]['nll_temperature']:.3f}" for n in names],
    }
    fig = go.Figure(go.Table(
        header=dict(values=list(columns), fill_color="#e8eef7", align="left"),
        cells=dict(values=list(columns.values()), align="left"),
    ))
    fig.update_layout(title=title, height=120 + 30 * len(names), margin=dict(t=50, b=10))
    return _title_above_legend(style_figure(fig))


def label_shift_calibration_figure(result: Mapping[str, object], n_bins: int = 10) -> go.Figure:
    """Calibration on a label-shifted test subset before and after EM adaptation.

    Left: per class, the true test prior against the model's mean prediction before and
    after EM (a calibrated model's mean prediction equals the class frequency). Right:
    class-wise and top-label ECE (in %) before, after EM and with the true prior; the NLLs
    are in the panel's title.
    ``result``: `ltlab.experiments.calibration.shifted_calibration`'s output (computed with
    ``n_bins``).
    """
    nll = (f"NLL {result['nll_before']:.2f} → {result['nll_after']:.2f} after EM "
           f"({result['nll_oracle']:.2f} with the true prior)")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.1,
                        subplot_titles=("mean prediction per class vs the test prior",
                                        "calibration error (%)"))
    true_prior = torch.as_tensor(result["true_prior"]).tolist()
    classes = [str(i) for i in range(len(true_prior))]
    fig.add_trace(go.Bar(x=classes, y=true_prior, name="true test prior",
                         marker_color="#2ca02c", opacity=0.6), row=1, col=1)
    colors = {"before": "#d62728", "after": "#9467bd", "oracle": "#7f7f7f"}
    for key, name in (("before", "mean prediction, no adaptation"),
                      ("after", "mean prediction after EM")):
        fig.add_trace(go.Scatter(x=classes, y=torch.as_tensor(result[f"mean_probs_{key}"]).tolist(),
                                 mode="lines+markers", name=name, line=dict(color=colors[key])),
                      row=1, col=1)
    metrics = (("classwise_ece", "class-wise ECE"), ("ece", "top-label ECE"))
    for key, name in (("before", "no adaptation"), ("after", "EM-adapted"),
                      ("oracle", "true prior (oracle)")):
        fig.add_trace(go.Bar(x=[label for _, label in metrics],
                             y=[100 * result[f"{m}_{key}"] for m, _ in metrics], name=name,
                             marker_color=colors[key]), row=1, col=2)
    fig.update_xaxes(title_text="class (head → tail)", row=1, col=1)
    fig.update_xaxes(title_text=nll.replace(" (", "<br>("), row=1, col=2)
    fig.update_yaxes(title_text="probability", row=1, col=1)
    fig.update_annotations(font_size=12)
    fig.update_layout(
        title=(f"Test prior {result['setting']}, {result.get('em_iterations', '?')} EM steps: "
               f"class-wise ECE {100 * result['classwise_ece_before']:.2f}% → "
               f"{100 * result['classwise_ece_after']:.2f}%, accuracy "
               f"{100 * result['accuracy_before']:.1f}% → {100 * result['accuracy_after']:.1f}%"),
        barmode="group", height=400, legend=dict(orientation="h", y=-0.2),
    )
    style_figure(fig, height=460)
    fig.update_layout(legend=dict(y=1.1))
    return _title_above_legend(fig, top=160)


def label_shift_sweep_figure(
    sweep: Mapping[str, Mapping[str, float]], title: str = "Calibration under label shift",
) -> go.Figure:
    """Class-wise ECE (in %) and NLL (nats) against the test prior (backward → forward): the
    model's posteriors, after EM adaptation, and re-weighted with the true prior (the oracle).
    ``sweep``: `ltlab.experiments.calibration.label_shift_sweep`'s output."""
    settings = list(sweep)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("class-wise ECE", "NLL"))
    for col, metric, scale, unit in ((1, "classwise_ece", 100.0, "class-wise ECE (%)"),
                                     (2, "nll", 1.0, "NLL (nats)")):
        for key, name, color, dash in (("before", "no adaptation", "#d62728", "solid"),
                                       ("after", "EM-adapted", "#9467bd", "solid"),
                                       ("oracle", "true prior (oracle)", "#7f7f7f", "dot")):
            fig.add_trace(go.Scatter(x=settings,
                                     y=[scale * sweep[s][f"{metric}_{key}"] for s in settings],
                                     mode="lines+markers", name=name, legendgroup=key,
                                     showlegend=col == 1, line=dict(color=color, dash=dash)),
                          row=1, col=col)
        fig.update_xaxes(title_text="test prior", row=1, col=col)
        fig.update_yaxes(title_text=unit, row=1, col=col)
    fig.update_layout(title=title)
    return _title_above_legend(style_figure(fig, height=420))
