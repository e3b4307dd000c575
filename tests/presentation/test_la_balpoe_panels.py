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
    error_before = list(panel.figure.data[-1].y)
    assert abs(error_before[1] - error_before[0]) < 0.02  # calibrated: the Bayes error
    panel.controls["temperature"].value = 4.0
    assert list(panel.figure.data[-2].y) != kl_before
    # over-confident experts bias the balanced decision: the ensemble's error rises
    error_after = list(panel.figure.data[-1].y)
    assert error_after[0] == error_before[0] and error_after[1] > error_before[1] + 0.02
    for t in (2.0, 0.5):  # the values of notebook 02's Exercise 5
        panel.controls["temperature"].value = t
        assert f"T = {t:g}" in panel.figure.layout.title.text
