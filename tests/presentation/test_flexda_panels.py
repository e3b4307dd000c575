"""Notebook 03's figures (`ltlab.viz.flexda`) and live panels (`ltlab.widgets.flexda`)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from ltlab.experiments.flexda import alpha_curves
from ltlab.flexda import alpha_schedule, smoothed_prior
from ltlab.priors import kl_divergence, shifted_prior
from ltlab.viz.flexda import alpha_schedule_figure, prior_estimation_figure, ssl_results_table
from ltlab.widgets.flexda import alpha_panel, prior_curves_panel, ssl_table_panel


def _fake_traces():
    q = {"consistent": shifted_prior(4, 10, "forward"), "reversed": shifted_prior(4, 10, "backward")}
    traces = {}
    for p, prior in q.items():
        steps = [10, 20, 30]
        q_hats = [smoothed_prior(prior, a).tolist() for a in (0.2, 0.6, 1.0)]
        traces[p] = {"step": steps, "q_hat": q_hats, "em": q_hats[::-1], "q_hat_em": q_hats}
    return traces, {p: v.tolist() for p, v in q.items()}


def test_prior_estimation_figure_values():
    traces, true = _fake_traces()
    fig = prior_estimation_figure(traces, true)
    assert len(fig.data) == 6  # KL to Q, KL to U and EM per profile
    kl_q = fig.data[0].y
    assert kl_q[-1] == pytest.approx(0.0, abs=1e-6)  # the last estimate is the true prior
    assert kl_q[0] == pytest.approx(kl_divergence(torch.tensor(traces["consistent"]["q_hat"][0]),
                                                  torch.tensor(true["consistent"])), rel=1e-5)
    assert len(prior_estimation_figure(traces, true, show_em=False).data) == 4


def test_alpha_figure_draws_the_data_it_is_given():
    q = [0.7, 0.2, 0.1]
    data = alpha_curves(q, alpha_min=0.2, power=1.0, progress_fraction=0.5, points=11)
    assert data["grid"] == pytest.approx([i / 10 for i in range(11)])
    assert data["alphas"] == pytest.approx([1 - 0.8 * t for t in data["grid"]])
    assert data["alpha"] == pytest.approx(0.6)
    expect = torch.tensor(q, dtype=torch.float64) ** 0.6
    assert data["q_alpha"] == pytest.approx((expect / expect.sum()).tolist())
    fig = alpha_schedule_figure(**data)
    assert list(fig.data[0].y) == pytest.approx(data["alphas"])
    assert list(fig.data[1].x) == [0.5] and list(fig.data[1].y) == pytest.approx([0.6])
    assert list(fig.data[2].y) == pytest.approx(q) and list(fig.data[3].y) == pytest.approx(
        data["q_alpha"])
    assert list(fig.data[4].y) == pytest.approx([1 / 3] * 3)


def test_results_table_marks_the_best_method_per_profile():
    results = {"reversed": {"fixmatch": {"balanced_accuracy": 0.8, "ece": 0.1},
                            "flexda": {"balanced_accuracy": 0.9, "ece": 0.05}}}
    cells = ssl_results_table(results, columns=("balanced_accuracy", "ece")).data[0].cells.values
    assert list(cells[1]) == ["FixMatch", "FlexDA"]
    assert list(cells[2]) == ["80.0", "90.0\u00a0★"] and list(cells[3]) == ["10.0", "5.0"]


def test_results_table_names_the_groups_by_labelled_counts():
    from ltlab.experiments.flexda import SHOTS
    from ltlab.viz.flexda import group_labels

    results = {"reversed": {"flexda": {"balanced_accuracy": 0.9, "many": 0.95, "medium": 0.9,
                                       "few": 0.8, "ece": 0.05}}}
    table = ssl_results_table(results).data[0]
    # one line per cell: no plain space (plotly's table wraps those, and a live panel drew
    # them blank) and no tag; the columns are as wide as their longest text
    texts = [*table.header.values, *(t for col in table.cells.values for t in col)]
    assert not any(" " in t or "<" in t or ">" in t for t in texts), texts
    assert list(table.columnwidth) == [max(len(t) for t in [h, *col]) + 2
                                       for h, col in zip(table.header.values, table.cells.values)]
    header = [h.replace("\u00a0", " ") for h in table.header.values]
    # the default thresholds are the driver's SHOTS, and no column is called many/medium/few
    assert header[2:] == ["balanced accuracy (%)", "over 100 labels (%)", "40–100 labels (%)",
                          "under 40 labels (%)", "ECE (%)"]
    assert not any("<" in h or ">" in h for h in header)  # plotly reads text as HTML
    assert group_labels(SHOTS) == group_labels()
    assert group_labels((50, 10))["few"] == "under 10 labels"
    assert not any(h.split(" ")[0] in ("many", "medium", "few") for h in header)


def test_alpha_panel_redraws_when_driven():
    q = shifted_prior(5, 20, "backward")
    panel = alpha_panel(q, interactive=True)
    before = list(panel.figure.data[3].y)  # the Q_alpha bars
    panel.controls["progress"].value = 1.0
    after = list(panel.figure.data[3].y)
    assert after != before
    expect = smoothed_prior(q, alpha_schedule(1.0, 0.1, 2.0)).tolist()
    assert after == pytest.approx(expect, abs=1e-6)
    panel.controls["alpha_min"].value = 1.0  # alpha stays 1: the target is the estimate itself
    assert list(panel.figure.data[3].y) == pytest.approx(q.tolist(), abs=1e-6)
    assert panel.figure.data[1].y[0] == pytest.approx(1.0)
    static = alpha_panel(q, interactive=False)
    assert not isinstance(static.figure, go.FigureWidget)


def test_prior_curves_and_table_panels_follow_their_controls():
    traces, true = _fake_traces()
    panel = prior_curves_panel(traces, true, interactive=True)
    assert len(panel.figure.data) == 6
    panel.controls["profiles"].value = ("reversed",)
    assert len(panel.figure.data) == 3 and all("reversed" in t.name for t in panel.figure.data)
    panel.controls["show_em"].value = False
    assert len(panel.figure.data) == 2
    results = {p: {m: {"balanced_accuracy": 0.5 + 0.1 * i, "many": 0.9, "medium": 0.5,
                       "few": float("nan"), "ece": 0.05}
                   for i, m in enumerate(("fixmatch", "flexda", "adello"))}
               for p in ("consistent", "reversed")}
    table = ssl_table_panel(results, interactive=True)
    assert len(table.figure.data[0].cells.values[0]) == 6
    table.controls["profiles"].value = ("consistent",)
    cells = table.figure.data[0].cells.values
    assert len(cells[0]) == 3 and "70.0\u00a0★" in cells[2]


# ----------------------------------------------------------------------------- demonstration
from ltlab.viz.flexda_demo import (  # noqa: E402
    decision_regions_figure,
    kl_curve_figure,
    pass_rate_figure,
    prior_arms_figure,
    pseudo_label_curves_figure,
    tradeoff_figure,
)


def _stats(mean, half, seeds):
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "per_seed": seeds}


def test_prior_arms_figure_draws_means_intervals_and_seeds():
    acc = {"fixmatch": _stats(0.6, 0.05, [0.55, 0.6, 0.65]), "flexda": _stats(0.7, 0.02, [0.69, 0.7, 0.71])}
    ece = {"fixmatch": _stats(0.2, 0.01, [0.19, 0.2, 0.21]), "flexda": _stats(0.1, 0.01, [0.09, 0.1, 0.11])}
    fig = prior_arms_figure(acc, ece)
    means = [t for t in fig.data if t.error_x.array is not None]
    assert len(means) == 2  # one per panel
    assert list(means[0].x) == pytest.approx([60.0, 70.0])
    assert list(means[0].error_x.array) == pytest.approx([5.0, 2.0])
    assert list(means[1].x) == pytest.approx([20.0, 10.0])
    seeds = [t for t in fig.data if t.error_x.array is None]
    assert sorted(x for t in seeds[:2] for x in t.x) == pytest.approx([55, 60, 65, 69, 70, 71])


def test_pseudo_label_curves_one_line_per_class_and_panel():
    curves = {m: {"step": [10, 20], "mask_rate": [[0.1, 0.9], [0.2, float("nan")]],
                  "recall": [[0.1, 0.5], [0.2, 0.6]], "discarded_correct": [[0.0, 1.0], [0.5, 0.5]]}
              for m in ("fixmatch", "flexda")}
    fig = pseudo_label_curves_figure(curves, [100, 5])
    assert len(fig.data) == 2 * 3 * 2
    assert list(fig.data[1].y) == [0.9, None]  # NaN (no sample of the class) is a gap
    assert sum(t.showlegend for t in fig.data) == 2


def test_decision_regions_and_kl_curve():
    regions = {"bayes": [[0, 1], [2, 2]], "flexda": [[0, 0], [1, 2]]}
    fig = decision_regions_figure([-1.0, 1.0], regions, titles={"bayes": "Bayes"})
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert [list(map(list, h.z)) for h in heat] == [regions["bayes"], regions["flexda"]]
    assert heat[0].zmin == -0.5 and heat[0].zmax == 2.5
    kl = kl_curve_figure([10, 20, 30], [0.2, 1e-3, 0.0])
    assert kl.layout.yaxis.type == "log" and kl.layout.yaxis.exponentformat == "power"
    assert list(kl.data[0].y) == pytest.approx([0.2, 1e-3, 1e-8])  # zero clipped for the log axis


def test_tradeoff_figure_puts_every_arm_at_its_ece_and_accuracy():
    acc = {"fixmatch": _stats(0.6, 0.05, [0.6]), "flexda": _stats(0.7, 0.02, [0.7]),
           "adello": _stats(0.65, 0.01, [0.65])}
    ece = {"fixmatch": _stats(0.25, 0.02, [0.25]), "flexda": _stats(0.2, 0.01, [0.2]),
           "adello": _stats(0.05, 0.01, [0.05])}
    cons_acc = {"flexda": _stats(0.64, 0.01, [0.64]), "adello": _stats(0.66, 0.01, [0.66])}
    cons_ece = {"flexda": _stats(0.24, 0.01, [0.24]), "adello": _stats(0.06, 0.01, [0.06])}
    fig = tradeoff_figure({"reversed": (acc, ece), "consistent": (cons_acc, cons_ece)})
    assert len(fig.data) == 5  # one point per arm and setting
    points = {t.name: (t.x[0], t.y[0]) for t in fig.data}
    assert points["ADELLO (reversed)"] == pytest.approx((5.0, 65.0))
    assert points["FlexDA (estimated Q̂) (consistent)"] == pytest.approx((24.0, 64.0))
    assert list(fig.data[0].error_y.array) == pytest.approx([5.0])
    assert list(fig.data[0].error_x.array) == pytest.approx([2.0])
    assert {t.marker.symbol for t in fig.data} == {"circle", "diamond"}
    # one arrow per setting, from FlexDA to ADELLO
    arrows = [(a.ax, a.ay, a.x, a.y) for a in fig.layout.annotations if a.showarrow]
    assert arrows == [pytest.approx((20.0, 70.0, 5.0, 65.0)),
                      pytest.approx((24.0, 64.0, 6.0, 66.0))]
    assert "ECE (%)" in fig.layout.xaxis.title.text
    assert fig.layout.yaxis.title.text == "balanced accuracy (%)"
    with pytest.raises(ValueError, match="settings"):
        tradeoff_figure({})


def test_pass_rate_figure_bars_per_class_and_curve_in_percent():
    late = {"flexda": [0.7, 0.6, float("nan")], "adello": [0.4, 0.05, 0.0]}
    curves = {m: {"step": [10, 20], "pass_rate": [0.6, 0.1 if m == "adello" else 0.6]}
              for m in late}
    fig = pass_rate_figure(late, [100, 10, 2], curves, distill_step=15)
    bars = [t for t in fig.data if t.type == "bar"]
    assert list(bars[0].y[:2]) == pytest.approx([70.0, 60.0]) and bars[0].y[2] is None
    assert list(bars[1].y) == pytest.approx([40.0, 5.0, 0.0])
    assert list(bars[0].x) == ["0 (100)", "1 (10)", "2 (2)"]
    lines = [t for t in fig.data if t.type == "scatter"]
    assert [list(t.y) for t in lines] == [[60.0, 60.0], [60.0, 10.0]]
    assert not any(t.showlegend for t in lines)  # the bars carry the legend
    assert any(getattr(sh, "x0", None) == 15 for sh in fig.layout.shapes)
    assert len(pass_rate_figure(late, [100, 10, 2]).data) == 2  # bars only
    with pytest.raises(ValueError, match="classes"):
        pass_rate_figure({"flexda": [0.5]}, [100, 10])
