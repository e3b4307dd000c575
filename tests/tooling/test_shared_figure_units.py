"""The shared figure builders as a student reads them (`ltlab.viz.overview`, `.style`,
`.sweep`): accuracy axes in percent (the plotted values stay the metrics' fractions), log
axes labelled at powers of ten only, readable panel names, and the tour's signals figure."""

from __future__ import annotations

import types

import plotly.graph_objects as go
import pytest
import torch

from ltlab.viz.overview import (
    class_count_bars,
    per_class_accuracy_figure,
    signals_figure,
    training_curves,
)
from ltlab.viz.style import GROUP_COLORS, shot_group_labels, style_figure
from ltlab.viz.sweep import readable_name, sweep_summary_figure


def test_log_axes_label_only_the_powers_of_ten():
    fig = class_count_bars([400, 239, 143, 86, 51, 30, 18, 11, 6, 4])
    axis = fig.layout.yaxis
    assert axis.type == "log" and axis.dtick == 1  # one label per decade: 1, 10, 100, 1000
    assert axis.minor.dtick == "D1" and axis.minor.showgrid  # 2..9 as unlabelled minor ticks
    assert class_count_bars([400, 4], log=False).layout.yaxis.dtick is None  # linear: plotly's
    # every log axis of a styled figure, x or y, of any builder
    both = style_figure(go.Figure(go.Scatter(x=[1, 1e3], y=[1e-4, 1])).update_xaxes(type="log")
                        .update_yaxes(type="log"))
    assert both.layout.xaxis.dtick == both.layout.yaxis.dtick == 1


def test_accuracy_axes_read_in_percent():
    fig = per_class_accuracy_figure({"CE": [0.9, 0.5, 0.1]}, counts=[100, 30, 5])
    assert fig.layout.yaxis.tickformat == ".0%" and list(fig.layout.yaxis.range) == [0, 1]
    assert list(fig.data[0].y) == pytest.approx([0.9, 0.5, 0.1])  # fractions, shown as %
    assert "%" in fig.layout.yaxis.title.text and "%{y:.1%}" in fig.data[0].hovertemplate
    history = types.SimpleNamespace(metrics={"epoch": [1, 2], "balanced_accuracy": [0.3, 0.5],
                                             "loss": [2.0, 1.0]})
    acc = training_curves({"CE": history})
    assert acc.layout.yaxis.tickformat == ".0%" and acc.layout.yaxis.title.text == \
        "balanced accuracy (%)"
    loss = training_curves({"CE": history}, metric="loss")
    assert loss.layout.yaxis.tickformat is None and loss.layout.yaxis.title.text == "loss"


def test_sweep_panels_have_readable_names_and_percent_accuracy():
    rows = [{"tau": t, "seed": s, "balanced_accuracy": 0.5 + t / 10, "loss": 1.0 - t / 10,
             "shot_accuracy.few": 0.1 * t, "ece": 0.05, "status": "ok"}
            for t in (0, 1, 2) for s in (0, 1)]
    fig = sweep_summary_figure(rows, ["tau", "seed"])
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["balanced accuracy (%)", "loss", "shot accuracy: few (%)", "ece (%)"]
    formats = [fig.layout[f"yaxis{i if i > 1 else ''}"].tickformat for i in range(1, 5)]
    assert formats == [".0%", None, ".0%", ".0%"]
    assert readable_name("per_class_accuracy.3") == "per class accuracy: 3"


def test_signals_figure_shows_a_few_signals_of_every_class():
    g = torch.Generator().manual_seed(0)
    counts = [6, 3, 1]
    y = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    x = torch.randn(len(y), 40, generator=g)
    fig = signals_figure(x, y, ["a", "b", "c"], per_class=2, counts=counts)
    assert [a.text for a in fig.layout.annotations] == ["a (n = 6)", "b (n = 3)", "c (n = 1)"]
    assert len(fig.data) == 2 + 2 + 1  # two a class, the rarest has only one
    first = [i for i in range(len(y)) if y[i] == 1][:2]
    assert [list(tr.y) for tr in fig.data[2:4]] == [x[i].tolist() for i in first]
    groups = shot_group_labels(counts)
    assert [tr.line.color for tr in fig.data] == [GROUP_COLORS[groups[c]] for c in (0, 0, 1, 1, 2)]
