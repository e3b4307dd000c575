"""The live panels of notebooks 01 and 02, driven from Python: move a control, the figure's
data change."""

import plotly.graph_objects as go
import pytest

from ltlab.widgets.balpoe import experts_panel
from ltlab.widgets.logit_adjustment import mixture_panel


def _heatmaps(fig):
    return [tr.z for tr in fig.data if tr.type == "heatmap"]


def test_mixture_panel_follows_tau_mode_and_imbalance():
    panel = mixture_panel(imbalance_ratio=100, tau=1.0, interactive=True)
    assert isinstance(panel.figure, go.FigureWidget)
    before_regions = _heatmaps(panel.figure)[0]
    before_title = panel.figure.layout.title.text
    panel.controls["tau"].value = 0.0  # plain CE: the head's regions grow
    assert _heatmaps(panel.figure)[0] != before_regions
    assert _heatmaps(panel.figure)[1] == _heatmaps(panel.figure)[1]  # the Bayes regions stay
    panel.controls["mode"].value = "posthoc"
    assert "post-hoc" in panel.figure.layout.annotations[0].text
    panel.controls["imbalance_ratio"].value = 10
    assert panel.figure.layout.title.text != before_title
    assert "Imbalance ratio 10" in panel.figure.layout.title.text
    assert panel.updates == 3


def test_mixture_panel_static_mode_and_bad_input():
    panel = mixture_panel(interactive=False)
    assert not isinstance(panel.figure, go.FigureWidget)
    with pytest.raises(ValueError, match="imbalance_ratio"):
        mixture_panel(imbalance_ratio=7, interactive=False)


def test_experts_panel_follows_its_controls():
    panel = experts_panel(interactive=True)
    n_traces = len(panel.figure.data)
    assert "mean λ = +0.00" in panel.figure.layout.title.text
    panel.controls["num_experts"].value = 5
    assert len(panel.figure.data) == n_traces + 4  # two more experts: target and marginal each
    panel.controls["lambda_range"].value = [0.0, 1.0]
    assert "mean λ = +0.50" in panel.figure.layout.title.text
    kl_before = list(panel.figure.data[-2].y)
    error_before = list(panel.figure.data[-1].y)  # balanced errors, in percent
    assert abs(error_before[1] - error_before[0]) < 2  # calibrated: the Bayes error
    panel.controls["temperature"].value = 4.0
    assert list(panel.figure.data[-2].y) != kl_before
    # over-confident experts bias the balanced decision: the ensemble's error rises
    error_after = list(panel.figure.data[-1].y)
    assert error_after[0] == error_before[0] and error_after[1] > error_before[1] + 2
    for t in (2.0, 0.5):  # the values of notebook 02's Exercise 5
        panel.controls["temperature"].value = t
        assert f"T = {t:g}" in panel.figure.layout.title.text


def test_accuracy_axes_of_notebooks_01_and_02_read_in_percent():
    """Every accuracy a student reads off a figure of 01 or 02 is in percent, on a 0-100 axis."""
    from ltlab.viz import balpoe as V2
    from ltlab.viz import logit_adjustment as V1

    shots = {"ce": {"balanced_accuracy": 0.5, "many": 0.9, "medium": 0.5, "few": 0.125, "ece": 0.2,
                    "mce": 0.3},
             "la": {"balanced_accuracy": 0.6, "many": 0.8, "medium": 0.6, "few": 0.4, "ece": 0.1,
                    "mce": 0.2}}
    fig = V1.shot_bars_figure(shots)
    assert list(fig.data[0].y)[-1] == 12.5 and tuple(fig.layout.yaxis.range) == (0, 100)
    assert "%" in fig.layout.yaxis.title.text
    fig = V2.balpoe_table_figure(shots)
    assert list(fig.data[0].y) == [50.0, 60.0] and list(fig.data[1].y) == [20.0, 10.0]
    assert tuple(fig.layout.yaxis.range) == (0, 100)
    fig = V2.experts_curve_figure([{"num_experts": k, **shots["la"]} for k in (1, 3)])
    assert list(fig.data[0].y) == [60.0, 60.0] and "%" in fig.layout.yaxis.title.text
    by_model = {"ce": {"uniform": 0.5, "backward-50": 0.25}}
    fig = V2.shifted_by_model_figure(by_model)
    assert list(fig.data[0].y) == [50.0, 25.0] and "%" in fig.layout.yaxis.title.text
    fig = V2.shifted_accuracy_figure({"uniform": {"no_prior": 0.5, "known_prior": 0.5}})
    assert list(fig.data[0].y) == [50.0]


def test_metrics_table_shows_its_differs_by_column():
    from ltlab.viz.logit_adjustment import metrics_table_figure

    rows = {"ce": {"balanced_accuracy": 0.5}, "la": {"balanced_accuracy": 0.625}}
    fig = metrics_table_figure(rows, ("balanced_accuracy",), {"la": "LA loss"},
                               text_columns={"differs from CE by": {"la": "loss"}})
    table = fig.data[0]
    assert list(table.header.values) == ["model", "balanced accuracy (%)", "differs from CE by"]
    assert [list(col) for col in table.cells.values] == [["ce", "LA loss"], ["50.0", "62.5"],
                                                         ["–", "loss"]]
