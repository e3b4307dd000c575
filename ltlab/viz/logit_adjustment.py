"""Figures of notebook 01 (logit adjustment): pure builders, data in, ``go.Figure`` out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .style import NEUTRAL, style_figure

__all__ = ["CLASS_COLORS", "la_mixture_figure", "metrics_table_figure", "shot_bars_figure",
           "tau_effect_note"]

CLASS_COLORS = list(qualitative.Plotly)  # 10 colours, class c -> CLASS_COLORS[c % 10]


def _class_colorscale(num_classes: int) -> list[list[Any]]:
    """A stepped colour scale: integer z = c maps to CLASS_COLORS[c]."""
    scale = []
    for c in range(num_classes):
        color = CLASS_COLORS[c % len(CLASS_COLORS)]
        scale += [[c / num_classes, color], [(c + 1) / num_classes, color]]
    return scale


def tau_effect_note(train_counts: Sequence[int]) -> str:
    r"""One sentence on what tau can do at these training counts, computed from them.

    tau only enters through :math:`\tau \log \pi_s`: the decision moves with the *spread*
    of the log-prior, :math:`\log(n_{\max} / n_{\min})`. At imbalance ratio 1 the prior is
    uniform, :math:`\log \pi_s` is the same for every class, and tau shifts all logits
    equally: no decision changes and both curves of the panel are flat.

    >>> tau_effect_note([50, 50, 50])
    'Uniform prior (imbalance ratio 1): log π_s is the same for every class, so τ shifts all logits equally and changes no decision: both τ curves are flat.'
    >>> tau_effect_note([100, 10])
    'log π_s spans 2.3 nats from head to tail: τ · log π_s moves decisions between classes by up to 2.3 τ.'
    """
    counts = [int(n) for n in train_counts]
    spread = math.log(max(counts) / min(counts))
    if spread == 0.0:
        return ("Uniform prior (imbalance ratio 1): log π_s is the same for every class, so τ "
                "shifts all logits equally and changes no decision: both τ curves are flat.")
    return (f"log π_s spans {spread:.1f} nats from head to tail: τ · log π_s moves decisions "
            f"between classes by up to {spread:.1f} τ.")


def la_mixture_figure(study: Any) -> go.Figure:
    """The 2-D panel of notebook 01 from a `ltlab.experiments.logit_adjustment.MixtureStudy`:

    top, the decision regions of the trained model (LA loss or CE + post-hoc adjustment at
    tau) beside the Bayes-optimal balanced classifier, with the training points; bottom
    left, per-class recall of both; bottom right, the balanced error against tau for the
    post-hoc and loss variants with the Bayes balanced error as the floor.
    """
    xs, ys, model_labels, bayes_labels = study.grid
    num_classes = len(study.train_counts)
    shown = "LA loss" if study.mode == "loss" else "CE + post-hoc"
    err_key = "la" if study.mode == "loss" else "posthoc"
    fig = make_subplots(
        rows=2, cols=2, horizontal_spacing=0.17, vertical_spacing=0.16,
        subplot_titles=(
            f"{shown} (τ = {study.tau:g}): {100 * study.errors[err_key]:.1f}%",
            f"Bayes rule: {100 * study.errors['bayes']:.1f}%",
            "Per-class recall (head → tail)",
            "Balanced error against τ",
        ),
    )
    scale = _class_colorscale(num_classes)
    for col, labels in ((1, model_labels), (2, bayes_labels)):
        fig.add_trace(go.Heatmap(x=xs, y=ys, z=labels, zmin=0, zmax=num_classes,
                                 colorscale=scale, showscale=False, opacity=0.45,
                                 hoverinfo="skip", name="regions"), row=1, col=col)
    px, py, pc = study.train_points
    fig.add_trace(go.Scattergl(
        x=px, y=py, mode="markers", name="training points",
        marker=dict(size=4, color=[CLASS_COLORS[c % 10] for c in pc],
                    line=dict(width=0.5, color=NEUTRAL)),
        text=[f"class {c}" for c in pc], hoverinfo="text", showlegend=False,
    ), row=1, col=1)
    classes = [str(c) for c in range(len(study.train_counts))]
    counts = [int(n) for n in study.train_counts]
    for name, color in (("model", "#1f77b4"), ("Bayes", "#7f7f7f")):
        label = shown if name == "model" else "Bayes"
        fig.add_trace(go.Bar(x=classes, y=[100 * r for r in study.recall[name]], name=label,
                             marker_color=color, customdata=counts,
                             hovertemplate="class %{x}, n = %{customdata}: %{y:.1f} %"),
                      row=2, col=1)
    taus, errs = study.tau_curve["post-hoc"]
    fig.add_trace(go.Scatter(x=taus, y=[100 * e for e in errs], mode="lines",
                             name="CE + post-hoc(τ)", line=dict(color="#ff7f0e")), row=2, col=2)
    taus, errs = study.tau_curve["LA loss"]
    fig.add_trace(go.Scatter(x=taus, y=[100 * e for e in errs], mode="lines+markers",
                             name="LA loss(τ)", line=dict(color="#1f77b4")), row=2, col=2)
    lo, hi = 0.0, max(max(study.tau_curve["post-hoc"][0]), max(taus))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[100 * study.errors["bayes"]] * 2, mode="lines",
                             name="Bayes floor", line=dict(color=NEUTRAL, dash="dash")),
                  row=2, col=2)
    fig.add_trace(go.Scatter(x=[study.tau], y=[100 * study.errors[err_key]], mode="markers",
                             name="shown model", marker=dict(size=12, symbol="star",
                                                            color="#d62728")), row=2, col=2)
    for col in (1, 2):
        fig.update_xaxes(title_text="x₁", row=1, col=col, constrain="domain")
        fig.update_yaxes(title_text="x₂", row=1, col=col, scaleanchor=f"x{col}", scaleratio=1)
    fig.update_yaxes(range=[0, 102], title_text="recall (%)", row=2, col=1)
    fig.update_xaxes(title_text=f"class (n = {counts[0]} … {counts[-1]})", tickangle=0,
                     row=2, col=1)
    fig.update_xaxes(title_text="τ", row=2, col=2)
    fig.update_yaxes(title_text="balanced error (%)", row=2, col=2)
    fig.update_layout(
        height=860, barmode="group",
        title=f"Imbalance ratio {study.imbalance_ratio:g}. Balanced error:<br>CE "
              f"{100 * study.errors['ce']:.1f}%, post-hoc {100 * study.errors['posthoc']:.1f}%, "
              f"LA loss {100 * study.errors['la']:.1f}%, Bayes {100 * study.errors['bayes']:.1f}%",
    )
    style_figure(fig)
    # the sentence under the figure is computed from the state, never written in advance
    fig.add_annotation(text=tau_effect_note(study.train_counts), xref="paper", yref="paper",
                       x=0.0, y=-0.1, xanchor="left", yanchor="top", showarrow=False,
                       font=dict(size=13))
    # legend beside the bottom row: above the plot it would collide with the subplot titles
    fig.update_layout(margin=dict(t=140, b=110, r=190),
                      legend=dict(orientation="v", x=1.02, xanchor="left", y=0.0,
                                  yanchor="bottom"))
    return fig


def metrics_table_figure(rows: Mapping[str, Mapping[str, float]],
                         columns: Sequence[str] = ("balanced_accuracy", "many", "medium", "few"),
                         labels: Mapping[str, str] | None = None, percent: bool = True,
                         title: str = "",
                         text_columns: Mapping[str, Mapping[str, str]] | None = None
                         ) -> go.Figure:
    """A table: one row per model (``labels`` renames them), the chosen metric columns, then
    ``text_columns`` (header -> model -> text, e.g. a "differs by" column; "–" where a model
    has none)."""
    labels = labels or {}
    names = list(rows)
    scale = 100 if percent else 1

    def fmt(v: Any) -> str:
        try:
            return f"{scale * float(v):.1f}" if v == v else "–"
        except (TypeError, ValueError):
            return str(v)

    text_columns = text_columns or {}
    names_of = {"ece": "ECE", "mce": "MCE"}
    header = (["model"] + [names_of.get(c, c.replace("_", " ")) + (" (%)" if percent else "")
                           for c in columns]
              + list(text_columns))
    cells = ([[labels.get(n, n) for n in names]] + [[fmt(rows[n].get(c)) for n in names]
                                                     for c in columns]
             + [[texts.get(n, "–") for n in names] for texts in text_columns.values()])
    widths = [2] + [1] * len(columns) + [4] * len(text_columns)
    fig = go.Figure(go.Table(header=dict(values=header, fill_color="#e8eef7", align="left"),
                             cells=dict(values=cells, align="left"), columnwidth=widths))
    style_figure(fig)
    lines = max([1] + [1 + len(t) // 45 for texts in text_columns.values()
                       for t in texts.values()])
    fig.update_layout(title=title or None,
                      height=90 + (12 + 20 * lines) * len(names) + (40 if title else 0),
                      margin=dict(t=50 if title else 10, b=10, l=10, r=10))
    return fig


def shot_bars_figure(rows: Mapping[str, Mapping[str, float]],
                     groups: Sequence[str] = ("balanced_accuracy", "many", "medium", "few"),
                     labels: Mapping[str, str] | None = None,
                     title: str = "Balanced accuracy and many / medium / few") -> go.Figure:
    """Grouped bars: for each metric group, one bar per model."""
    labels = labels or {}
    fig = go.Figure()
    for name, row in rows.items():
        fig.add_bar(name=labels.get(name, name), x=[g.replace("_", " ") for g in groups],
                    y=[100 * row[g] for g in groups])
    fig.update_layout(title=title, barmode="group", yaxis_title="accuracy (%)",
                      yaxis_range=[0, 100], height=400)
    return style_figure(fig)
