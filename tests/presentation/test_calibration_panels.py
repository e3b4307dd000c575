"""Notebook 04's figures (`ltlab.viz.calibration`) and live panels
(`ltlab.widgets.calibration`), on a zoo of random logits (no training)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
import torch

from ltlab.data import GaussianMixtureLT
from ltlab.experiments.calibration import (
    MODEL_LABELS,
    MODEL_NAMES,
    SHIFT_SETTINGS,
    evaluate_zoo,
    label_shift_sweep,
    shifted_calibration,
)
from ltlab.viz.calibration import (
    calibration_overview,
    calibration_table_figure,
    label_shift_calibration_figure,
    label_shift_sweep_figure,
    shot_calibration_figure,
)
from ltlab.widgets.calibration import calibration_panel, label_shift_panel


@pytest.fixture(scope="module")
def mixture_posteriors():
    gm = GaussianMixtureLT(num_classes=5, dim=2, radius=2.0, seed=0)
    x, y = gm.sample_counts([100] * 5, seed=1)
    return gm.bayes_posterior(x, torch.full((5,), 0.2)), y


def test_calibration_panel_follows_its_controls(fake_zoo):
    panel = calibration_panel(fake_zoo, interactive=True)
    assert isinstance(panel.figure, go.FigureWidget)

    def snapshot():
        return [list(t.y) for t in panel.figure.data], panel.figure.layout.title.text

    before = snapshot()
    panel.controls["temperature"].value = 2.0
    after_t = snapshot()
    assert after_t != before and "T = 2.00" in after_t[1]
    panel.controls["model"].value = "balpoe_mixup"
    after_model = snapshot()
    assert after_model != after_t and "BalPoE + mixup" in after_model[1]
    panel.controls["n_bins"].value = 5
    assert len(panel.figure.data[0].x) == 5 and panel.updates == 3
    with pytest.raises(ValueError, match="model must be one of"):
        calibration_panel(fake_zoo, model="svm")


def test_label_shift_panel_follows_its_slider(mixture_posteriors):
    probs, y = mixture_posteriors
    panel = label_shift_panel(probs, y, setting="uniform", interactive=True)
    titles = [panel.figure.layout.title.text]
    prior = list(panel.figure.data[0].y)
    after_em = list(panel.figure.data[2].y)
    panel.controls["setting"].value = "backward-50"
    titles.append(panel.figure.layout.title.text)
    assert "backward-50" in titles[1] and titles[0] != titles[1]
    assert list(panel.figure.data[0].y) != prior  # the true test prior bars
    assert list(panel.figure.data[2].y) != after_em  # the EM-adapted mean prediction
    static = label_shift_panel(probs, y, interactive=False)
    assert "forward-10" in static.figure.layout.title.text


def test_static_figures(fake_zoo, mixture_posteriors):
    ev = evaluate_zoo(fake_zoo, n_bins=10)
    table = calibration_table_figure(ev, labels=MODEL_LABELS)
    assert list(table.data[0].cells.values[0]) == ["CE", "CE + mixup", "LA", "BalPoE",
                                                   "BalPoE + mixup"]
    assert table.data[0].cells.values[1][0] == f"{100 * ev['ce']['ece']:.1f}"
    assert list(calibration_table_figure(ev).data[0].cells.values[0]) == list(MODEL_NAMES)
    # the fake zoo's test half is balanced: accuracy is balanced accuracy, one column
    header = list(table.data[0].header.values)
    assert "ACC % ↑ (balanced test)" in header and "balanced ACC % ↑" not in header
    skewed = {m: dict(r, accuracy=r["balanced_accuracy"] + 0.1) for m, r in ev.items()}
    header = list(calibration_table_figure(skewed).data[0].header.values)
    assert "ACC % ↑" in header and "balanced ACC % ↑" in header
    fig = shot_calibration_figure({m: ev[m]["groups"] for m in ev}, labels=MODEL_LABELS)
    assert len(fig.data) == 5 and list(fig.data[0].x) == ["many", "medium", "few"]
    assert fig.data[4].name == "BalPoE + mixup"
    # in points: 100 x the gap mean confidence - accuracy
    assert list(fig.data[0].y) == pytest.approx(
        [100 * ev["ce"]["groups"][g]["gap"] for g in ("many", "medium", "few")], nan_ok=True)
    assert "points" in fig.layout.yaxis.title.text
    fig = calibration_overview(fake_zoo.probs("ce"), fake_zoo.y_test, fake_zoo.train_counts, 10)
    assert f"ECE {100 * ev['ce']['ece']:.1f}%" in fig.layout.title.text
    assert sum(fig.data[3].y) == len(fake_zoo.y_test)  # the confidence histogram
    probs, y = mixture_posteriors
    sweep = label_shift_sweep(probs, y)
    fig = label_shift_sweep_figure(sweep)
    assert list(fig.data[0].x) == list(SHIFT_SETTINGS)
    assert list(fig.data[0].y) == pytest.approx(
        [100 * sweep[s]["classwise_ece_before"] for s in SHIFT_SETTINGS])  # in %
    assert fig.layout.yaxis.title.text == "class-wise ECE (%)"
    result = shifted_calibration(probs, y, "forward-10", n_bins=10)
    fig = label_shift_calibration_figure(result, n_bins=10)
    assert list(fig.data[0].y) == pytest.approx(result["true_prior"].tolist())
    with pytest.raises(ValueError, match="metric must be"):
        shot_calibration_figure({}, metric="nll")


def test_overview_axis_titles_fit_beside_their_panels(fake_zoo):
    """The per-group panel is a third of the figure wide: a y-axis title longer than its
    panel is tall crowds the tick labels, so each line of every axis title stays short."""
    fig = calibration_overview(fake_zoo.probs("ce"), fake_zoo.y_test, fake_zoo.train_counts, 10)
    axes = [fig.layout[name] for name in fig.layout if name.startswith(("xaxis", "yaxis"))]
    titles = [a.title.text for a in axes if a.title.text]
    assert any("points" in t for t in titles)  # the signed gap keeps its unit
    too_long = [line for t in titles for line in t.split("<br>") if len(line) > 24]
    assert too_long == []
    # the per-group panel's axis (the one in points) stands on its right edge, away from the
    # reliability diagram
    group_axis = [a for a in axes if a.title.text and "points" in a.title.text]
    assert [a.side for a in group_axis] == ["right"]
