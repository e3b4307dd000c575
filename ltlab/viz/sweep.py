"""Summary figure of a parameter sweep (`ltlab.sweep`): one panel per recorded metric.

Rows are the sweep's table (one dict per run, parameters and flattened results side by
side). The first swept parameter is the x axis, every combination of the other swept
parameters is one line, and a swept ``seed`` is averaged over (mean, with the standard
deviation over seeds as error bars), because seeds are repetitions, not a design choice.
Panel titles are readable names (``shot_accuracy.few`` -> "shot accuracy: few"), and an
accuracy or calibration error (a fraction) reads in percent.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import percent_axis

__all__ = ["sweep_summary_figure", "numeric_columns", "readable_name"]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def numeric_columns(rows: Sequence[Mapping[str, Any]], exclude: Sequence[str] = ()) -> list[str]:
    """Columns holding a finite number in at least one row (first-appearance order)."""
    cols: list[str] = []
    for row in rows:
        for k, v in row.items():
            if k not in exclude and k not in cols and _is_number(v):
                cols.append(k)
    return cols


def readable_name(column: str) -> str:
    """A recorded result's column as a reader names it.

    >>> readable_name("shot_accuracy.few"), readable_name("balanced_accuracy")
    ('shot accuracy: few', 'balanced accuracy')
    """
    return column.replace(".", ": ").replace("_", " ")


def _in_percent(column: str) -> bool:
    """Accuracies and calibration errors are fractions that a student reads in percent."""
    last = column.lower().replace(".", "_").split("_")
    return "accuracy" in last or "ece" in last or "acc" in last


def _label(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "all runs"


def sweep_summary_figure(
    rows: Sequence[Mapping[str, Any]],
    parameters: Sequence[str],
    metrics: Sequence[str] | None = None,
    title: str = "Sweep summary",
) -> go.Figure:
    """Metrics against the swept parameters, one subplot per metric.

    ``parameters``: the swept parameter names in grid order (the first is the x axis);
    ``metrics``: the numeric columns to plot (default: every numeric column that is not a
    parameter or bookkeeping). Rows whose ``status`` is not ``"ok"`` are left out and
    counted in the title.
    """
    parameters = list(parameters)
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    failed = len(rows) - len(ok)
    if metrics is None:
        metrics = numeric_columns(ok, exclude=[*parameters, "seconds", "attempts"])
    metrics = list(metrics)
    x_name = next((p for p in parameters if p != "seed"), parameters[0] if parameters else None)
    averaged = "seed" in parameters and x_name != "seed"
    groups_by = [p for p in parameters if p not in (x_name, "seed" if averaged else None)]

    full_title = f"{title}: {len(rows)} runs" + (f", {failed} failed" if failed else "")
    if not metrics:
        fig = go.Figure()
        fig.add_annotation(text="no numeric results recorded", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
        fig.update_layout(title=full_title, height=300)
        return fig

    fig = make_subplots(rows=len(metrics), cols=1,
                        subplot_titles=[readable_name(m) + (" (%)" if _in_percent(m) else "")
                                        for m in metrics],
                        vertical_spacing=min(0.12, 0.3 / len(metrics)))
    # group -> x -> list of values per metric
    groups: dict[str, dict[Any, list[Mapping[str, Any]]]] = {}
    for i, row in enumerate(ok):
        key = _label({p: row.get(p) for p in groups_by})
        x = row.get(x_name) if x_name is not None else i
        groups.setdefault(key, {}).setdefault(x, []).append(row)
    numeric_x = all(_is_number(x) for g in groups.values() for x in g)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
               "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    for gi, (key, by_x) in enumerate(groups.items()):
        xs = sorted(by_x, key=lambda v: (not _is_number(v), v if _is_number(v) else str(v)))
        color = palette[gi % len(palette)]
        for mi, metric in enumerate(metrics):
            ys, errs = [], []
            for x in xs:
                vals = [r[metric] for r in by_x[x] if _is_number(r.get(metric))]
                ys.append(statistics.fmean(vals) if vals else None)
                errs.append(statistics.stdev(vals) if len(vals) > 1 else 0.0)
            fig.add_trace(
                go.Scatter(
                    x=xs if numeric_x else [str(x) for x in xs], y=ys, mode="lines+markers",
                    name=key, legendgroup=key, showlegend=mi == 0 and bool(groups_by),
                    line=dict(color=color),
                    error_y=dict(type="data", array=errs, visible=averaged),
                ),
                row=mi + 1, col=1,
            )
    for mi, metric in enumerate(metrics):
        if _in_percent(metric):
            fig.for_each_yaxis(percent_axis, row=mi + 1, col=1)
    fig.update_xaxes(title_text=x_name or "run", row=len(metrics), col=1)
    subtitle = " (mean ± std over seeds)" if averaged else ""
    fig.update_layout(title=full_title + subtitle, height=120 + 260 * len(metrics),
                      legend_title_text=", ".join(groups_by) or None, margin=dict(t=80))
    return fig
