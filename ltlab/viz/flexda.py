"""Figures for FlexDA and long-tailed semi-supervised learning (notebook 03).

* `alpha_schedule_figure`: alpha_t over training with the current point, and the bars of
  the smoothed prior Q̂_alpha against Q̂ and uniform (the caller computes them:
  `ltlab.experiments.flexda.alpha_curves`).
* `prior_estimation_figure`: the prior-estimation curves of the ADELLO paper's Figure 3,
  KL(Q̂ || Q) and KL(Q̂ || U) over training per unlabeled profile, with the EM estimate on
  the same predictions beside them.
* `prior_bars_figure`: the true unlabeled prior, the online estimate and the EM estimate.
* `ssl_split_figure`: labeled and unlabeled class counts of each unlabeled profile.
* `ssl_results_table`: FixMatch vs FlexDA vs ADELLO per profile (balanced accuracy, the
  groups by labeled counts, ECE).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..priors import kl_divergence
from .style import NEUTRAL, style_figure

__all__ = [
    "SSL_PROFILE_COLORS",
    "SSL_METHOD_LABELS",
    "alpha_schedule_figure",
    "group_labels",
    "prior_estimation_figure",
    "prior_bars_figure",
    "ssl_results_table",
    "ssl_split_figure",
]

SSL_PROFILE_COLORS = {"consistent": "#1f77b4", "uniform": "#2ca02c", "reversed": "#d62728"}
SSL_METHOD_LABELS = {"fixmatch": "FixMatch", "flexda": "FlexDA", "adello": "ADELLO"}


def _prior(values) -> torch.Tensor:
    p = torch.as_tensor(values, dtype=torch.float64).flatten()
    return p / p.sum()


def alpha_schedule_figure(grid: Sequence[float], alphas: Sequence[float], progress: float,
                          alpha: float, q_hat, q_alpha, alpha_min: float = 0.1,
                          power: float = 2.0) -> go.Figure:
    """Left: the schedule ``alphas`` against training progress ``grid``, with a marker at
    (``progress``, ``alpha``). Right: the smoothed prior ``q_alpha`` against ``q_hat`` and
    the uniform prior. ``alpha_min`` and ``power`` only label the curve."""
    q = _prior(q_hat)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.4, 0.6], subplot_titles=(
        f"α_t = 1 − (1 − {alpha_min:g})·t^{power:g}",
        f"Q̂_α at progress {progress:.2f} (α = {alpha:.3f})"))
    fig.add_scatter(x=list(grid), y=list(alphas), mode="lines",
                    name="α_t", line=dict(color="#9467bd"), row=1, col=1)
    fig.add_scatter(x=[progress], y=[alpha], mode="markers", name="now",
                    marker=dict(size=11, color="#9467bd"), row=1, col=1)
    classes = [str(i) for i in range(q.numel())]
    fig.add_bar(x=classes, y=q.tolist(), name="Q̂ (estimate)", marker_color="#1f77b4", row=1, col=2)
    fig.add_bar(x=classes, y=_prior(q_alpha).tolist(), name="Q̂_α (target)", marker_color="#ff7f0e", row=1, col=2)
    fig.add_bar(x=classes, y=[1.0 / q.numel()] * q.numel(), name="uniform",
                marker_color="#bbbbbb", row=1, col=2)
    fig.update_xaxes(title_text="training progress t / T", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="α", range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(title_text="class (head → tail of the labeled set)", row=1, col=2)
    fig.update_yaxes(title_text="probability", row=1, col=2)
    fig.update_layout(barmode="group", height=380, margin=dict(t=60, b=40))
    return fig


def _kl_series(priors: Sequence, target: torch.Tensor) -> list[float]:
    return [kl_divergence(_prior(p).float(), target.float()) for p in priors]


def prior_estimation_figure(
    traces: Mapping[str, Mapping[str, Sequence]],
    true_priors: Mapping[str, Sequence[float]],
    profiles: Sequence[str] | None = None,
    show_em: bool = True,
    log_y: bool = True,
) -> go.Figure:
    """KL(Q̂ || Q) (solid) and KL(Q̂ || U) (dashed) against the training step for each
    unlabeled profile, and KL(EM || Q) (dotted) of `ltlab.label_shift.em_prior` on the same
    recent predictions. ``traces[profile]`` is a `FlexDA` trace (``step``, ``q_hat``, ``em``);
    ``true_priors[profile]`` is the hidden unlabeled prior Q."""
    profiles = list(traces) if profiles is None else list(profiles)
    fig = go.Figure()
    for prof in profiles:
        tr, q = traces[prof], _prior(true_priors[prof])
        color = SSL_PROFILE_COLORS.get(prof, None)
        steps = list(tr["step"])
        u = torch.full_like(q, 1.0 / q.numel())
        fig.add_scatter(x=steps, y=_kl_series(tr["q_hat"], q), mode="lines",
                        name=f"{prof}: KL(Q̂ ‖ Q)", line=dict(color=color, width=3))
        fig.add_scatter(x=steps, y=_kl_series(tr["q_hat"], u), mode="lines",
                        name=f"{prof}: KL(Q̂ ‖ U)", line=dict(color=color, dash="dash"))
        if show_em and tr.get("em"):
            fig.add_scatter(x=steps, y=_kl_series(tr["em"], q), mode="lines",
                            name=f"{prof}: KL(EM ‖ Q)", line=dict(color=color, dash="dot"))
    fig.update_layout(title="Estimating the unlabeled class prior during training",
                      xaxis_title="training step", yaxis_title="KL divergence", height=420,
                      legend=dict(font=dict(size=10)))
    if log_y:
        fig.update_yaxes(type="log")
    return style_figure(fig)


def prior_bars_figure(true_prior, q_hat, em=None, title: str = "Unlabeled class prior") -> go.Figure:
    """Bars of the hidden true prior Q, the online estimate Q̂ and (optionally) EM's."""
    q = _prior(true_prior)
    classes = [str(i) for i in range(q.numel())]
    fig = go.Figure()
    fig.add_bar(x=classes, y=q.tolist(), name="true Q", marker_color=NEUTRAL)
    fig.add_bar(x=classes, y=_prior(q_hat).tolist(), name="online Q̂", marker_color="#1f77b4")
    if em is not None:
        fig.add_bar(x=classes, y=_prior(em).tolist(), name="EM", marker_color="#ff7f0e")
    fig.update_layout(title=title, barmode="group", xaxis_title="class", yaxis_title="probability",
                      height=330)
    return fig


def group_labels(shots: Sequence[int] = (100, 40)) -> dict[str, str]:
    """Readable names of the ``many`` / ``medium`` / ``few`` keys when the groups are by
    *labeled* counts with thresholds ``shots`` = (many, few) (notebook 03's ``SHOTS``).

    Words, not ``<`` and ``>``: plotly reads its text as HTML, and a table header that
    starts with ``<`` renders blank.

    >>> group_labels((100, 40))
    {'many': 'over 100 labels', 'medium': '40–100 labels', 'few': 'under 40 labels'}
    """
    many, few = (int(v) for v in shots)
    return {"many": f"over {many} labels", "medium": f"{few}–{many} labels",
            "few": f"under {few} labels"}


def _unbreakable(text: str) -> str:
    """``text`` with its spaces non-breaking (one line in a plotly table cell)."""
    return str(text).replace(" ", "\u00a0")


def ssl_results_table(results: Mapping[str, Mapping[str, Mapping[str, float]]],
                      columns: Sequence[str] = ("balanced_accuracy", "many", "medium", "few", "ece"),
                      shots: Sequence[int] = (100, 40)) -> go.Figure:
    """A table: one row per (profile, method), columns in percent; ``results`` is the output
    of `ltlab.experiments.flexda.compare` (its ``.results``). The group columns are named by
    labeled counts (`group_labels` of ``shots``, the thresholds of
    `ltlab.experiments.flexda.SHOTS`). The best balanced accuracy per profile is marked ★.

    Every text is one line with no plain space and no tag: in a live panel (a FigureWidget
    in JupyterLab) plotly's table drew any text it wraps (one with a space) or parses (a
    tag such as ``<b>``) blank or half a line low, so spaces are non-breaking and each
    column is as wide as its longest text."""
    names = {"balanced_accuracy": "balanced accuracy", "ece": "ECE", **group_labels(shots)}
    header = ["profile", "method"] + [names.get(c, c.replace("_", " ")) + " (%)"
                                      for c in columns]
    rows: list[list[str]] = []
    for prof, by_method in results.items():
        best = max(r["balanced_accuracy"] for r in by_method.values())
        for name, r in by_method.items():
            cells = []
            for c in columns:
                v = r.get(c, float("nan"))
                text = "–" if v != v else f"{100 * v:.1f}"
                if c == "balanced_accuracy" and v == best:
                    text = f"{text} ★"
                cells.append(text)
            rows.append([prof, SSL_METHOD_LABELS.get(name, name)] + cells)
    header = [_unbreakable(h) for h in header]
    rows = [[_unbreakable(t) for t in row] for row in rows]
    cols = list(map(list, zip(*rows))) if rows else [[] for _ in header]
    widths = [max(len(t) for t in [h, *col]) + 2 for h, col in zip(header, cols)]
    # translucent bands, not white cells: the template's text colour stays readable on them
    fill = [[("rgba(127,127,127,0.12)" if i // max(1, len(next(iter(results.values())))) % 2
              else "rgba(0,0,0,0)") for i in range(len(rows))]] * len(header)
    fig = go.Figure(go.Table(columnwidth=widths,
                             header=dict(values=header, fill_color="rgba(99,110,250,0.25)",
                                         align="left"),
                             cells=dict(values=cols, align="left", fill_color=fill)))
    # wide enough for every text at plotly's 12 px font (about 7 px a character)
    fig.update_layout(title="FixMatch vs FlexDA vs ADELLO on the balanced test set",
                      width=max(500, 7 * sum(widths) + 40), height=90 + 28 * len(rows),
                      margin=dict(t=50, b=10, l=20, r=20))
    return fig


def ssl_split_figure(splits: Mapping[str, object]) -> go.Figure:
    """One panel per unlabeled profile: labeled counts against unlabeled counts per class
    (``splits[profile]`` is an `ltlab.data.LTData` from `ssl_split`; log axis)."""
    names = list(splits)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True)
    for k, prof in enumerate(names, start=1):
        d = splits[prof]
        lab = torch.as_tensor(d.train_counts).tolist()  # type: ignore[attr-defined]
        unl = torch.bincount(d.y_unlabeled, minlength=len(lab)).tolist()  # type: ignore[attr-defined]
        classes = [str(i) for i in range(len(lab))]
        fig.add_bar(x=classes, y=lab, name="labeled", marker_color="#1f77b4",
                    showlegend=k == 1, legendgroup="labeled", row=1, col=k)
        fig.add_bar(x=classes, y=unl, name="unlabeled", marker_color="#ff7f0e",
                    showlegend=k == 1, legendgroup="unlabeled", row=1, col=k)
        fig.update_xaxes(title_text="class", row=1, col=k)
    fig.update_yaxes(type="log", title_text="samples", row=1, col=1)
    fig.update_layout(barmode="group", title="Labeled (long-tailed) and unlabeled class counts")
    return style_figure(fig, height=360)
