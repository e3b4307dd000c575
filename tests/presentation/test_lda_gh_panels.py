"""The figures and live panels of notebooks 05 (LDA) and 06 (GH): built from data, and
driven from Python (move a control, the figure's data change)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from ltlab import viz
from ltlab.analysis import class_mean_cosines, frequency_groups, pca_2d
from ltlab.data import GaussianMixtureLT
from ltlab.experiments.gh import toy_scores
from ltlab.experiments.lda import compare_methods
from ltlab.experiments.protocol import FitOptions
from ltlab.gh import sinkhorn_allocation, uniform_structure
from ltlab.viz.lda import (
    balance_dynamics_figure,
    balance_weight_figure,
    distance_ratio_figure,
    head_accuracy_figure,
    lda_comparison_table,
    weight_norm_figure,
)
from ltlab.widgets.gh import allocation_panel, toy_marginal
from ltlab.widgets.lda import balance_factor_panel


# ----------------------------------------------------------------------------- LDA (05)
@pytest.fixture(scope="module")
def mixture():
    return GaussianMixtureLT(num_classes=4, max_count=120, imbalance_ratio=20).dataset(50)


def test_figures_and_panel(mixture):
    run = compare_methods(mixture, ["ce", "lda"], FitOptions(epochs=2, batch_size=32),
                          device="cpu", variant="normalised")
    hist = run.histories["lda"]
    fig = balance_dynamics_figure(hist)
    assert list(fig.data[0].y) == pytest.approx(hist.step_terms["alpha"])
    assert len(head_accuracy_figure(hist).data) == 4
    assert len(weight_norm_figure(run.weight_norms, [120, 50, 20, 6]).data) == 3
    assert list(distance_ratio_figure(run.distance_ratio).data[0].x) == ["ce", "lda"]
    assert len(lda_comparison_table(run.rows()).data[0].cells.values[0]) == 3
    with pytest.raises(ValueError, match="step terms"):
        balance_dynamics_figure(run.histories["ce"])

    panel = balance_factor_panel(mixture, epochs=2, batch_size=32, device="cpu", window=5,
                                 variant="normalised")
    before = list(panel.figure.data[0].y)
    panel.controls["window"].value = 1
    after = list(panel.figure.data[0].y)
    assert panel.updates == 1 and before != after
    assert panel.controls["gamma"].continuous_update is False
    static = balance_factor_panel(mixture, epochs=2, batch_size=32, device="cpu",
                                  variant="normalised", interactive=False)
    assert not isinstance(static.figure, go.FigureWidget)


def test_head_accuracy_figure_draws_the_logged_window_means():
    terms = {"accuracy_unbalanced": [80.0, 90.0], "accuracy_balanced": [40.0, 60.0],
             "mean_accuracy_unbalanced": [20.0, 42.5], "mean_accuracy_balanced": [10.0, 25.0]}
    fig = head_accuracy_figure(terms)
    assert [list(tr.y) for tr in fig.data] == [[80.0, 90.0], [20.0, 42.5], [40.0, 60.0],
                                               [10.0, 25.0]]
    with pytest.raises(ValueError, match="mean_accuracy_balanced"):
        head_accuracy_figure({k: v for k, v in terms.items() if k != "mean_accuracy_balanced"})


def test_balance_weight_figure_sets_lda_beside_the_schedules_of_rw_and_drw():
    weights = {"LDA h, this run": [0.6, 0.7, 0.5, 0.3, 0.2],
               "LDA h, full size": [0.43, 0.048, 0.007, 0.004, 0.005]}
    accuracy = {"this run": [0.4, 0.5, 0.6, 0.7, 0.75], "full size": [0.7, 0.9, 0.96, 0.97, 0.98]}
    fig = balance_weight_figure(weights, accuracy)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [list(b.y) for b in bars] == list(weights.values())
    schedules = {t.name: list(t.y) for t in fig.data if t.type == "scatter" and t.xaxis == "x"}
    assert schedules == {"RW: re-weighting throughout": [1.0] * 5,
                         "DRW: re-weighting late": [0.0, 0.0, 0.0, 0.0, 1.0]}
    lines = [list(t.y) for t in fig.data if t.xaxis == "x2"]
    assert lines == [[100 * a for a in v] for v in accuracy.values()]  # in percent
    assert fig.layout.yaxis2.title.text == "accuracy (%)"
    assert len(balance_weight_figure({"h": [0.5] * 5}).data) == 3  # no accuracy row
    with pytest.raises(ValueError, match="same, non-zero number"):
        balance_weight_figure({"a": [0.1] * 5, "b": [0.1] * 4})
    with pytest.raises(ValueError, match="weights is empty"):
        balance_weight_figure({})


def test_head_accuracy_figure_draws_fractions_in_percent():
    terms = {"accuracy_unbalanced": [0.8, 0.9], "accuracy_balanced": [0.4, 0.6],
             "mean_accuracy_unbalanced": [0.2, 0.425], "mean_accuracy_balanced": [0.1, 0.25]}
    fig = head_accuracy_figure(terms)
    assert list(fig.data[0].y) == pytest.approx([80.0, 90.0])
    assert list(fig.data[3].y) == pytest.approx([10.0, 25.0])
    assert fig.layout.yaxis.title.text == "training-batch accuracy (%)"


# ----------------------------------------------------------------------------- GH (06)
def test_figures_build():

    assert len(viz.structure_figure(uniform_structure(3, 2)).data) == 4
    scores, labels = toy_scores()
    prior = torch.full((5,), 0.2)
    fig = viz.allocation_figure(scores, sinkhorn_allocation(scores, prior), labels, prior)
    assert fig.data[0].type == "heatmap" and len(fig.data) == 4
    acc = {"simclr": {"many": 0.5, "medium": 0.4, "few": 0.3, "all": 0.4},
           "simclr_gh": {"many": 0.5, "medium": 0.45, "few": 0.35, "all": 0.43}}
    assert len(viz.probe_accuracy_figure(acc).data) == 2
    feats = torch.randn(30, 8)
    coords = {"simclr": pca_2d(feats), "simclr_gh": pca_2d(feats + 1)}
    y = torch.arange(3).repeat(10)
    groups = frequency_groups(torch.tensor([30, 20, 10]))
    assert len(viz.feature_projection_figure(coords, y, groups).data) == 6
    cos = class_mean_cosines(feats, y, 3)
    assert torch.allclose(cos.diagonal(), torch.ones(3), atol=1e-6)
    assert len(viz.class_similarity_figure({"simclr": cos}).data) == 1


def test_allocation_panel_redraws_on_every_control():
    panel = allocation_panel(interactive=True)
    means = panel.figure.data[2].y
    assert np.allclose(means, 0.2, atol=1e-3)
    panel.controls["marginal"].value = "cluster prior"
    assert np.allclose(panel.figure.data[2].y, toy_marginal("cluster prior", (24, 12, 6, 3, 2)),
                       atol=1e-3)
    before = panel.figure.data[0].z
    panel.controls["n_iter"].value = 1
    assert panel.figure.data[0].z != before and "1 iteration" in panel.figure.layout.title.text
    before = panel.figure.data[0].z
    panel.controls["eps"].value = 1.0
    assert panel.figure.data[0].z != before
    with pytest.raises(ValueError, match="marginal"):
        toy_marginal("zipf", (3, 2))



def test_sphere_figure_draws_each_arm_on_the_unit_sphere_with_its_anchors():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(300)
    emb = {"simclr_lt": 5 * torch.randn(1200, 3, generator=g),
           "simclr_gh_lt": torch.randn(1200, 3, generator=g)}
    anchors = uniform_structure(4, 3)
    fig = viz.sphere_figure(emb, labels, anchors, subtitles={"simclr_gh_lt": "tail 40%"},
                            points_per_class=100)
    # per arm: the sphere surface, one trace per class, the anchors
    assert len(fig.data) == 2 * (1 + 4 + 1)
    points = [t for t in fig.data if t.type == "scatter3d" and t.name.startswith("class")]
    assert all(len(t.x) == 100 for t in points)
    radii = np.sqrt(np.array(points[0].x) ** 2 + np.array(points[0].y) ** 2
                    + np.array(points[0].z) ** 2)
    assert np.allclose(radii, 1.0, atol=1e-5)  # normalised onto the sphere
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "SimCLR, ratio 64" and "tail 40%" in titles[1]
    assert sum(t.showlegend for t in fig.data if t.type == "scatter3d") == 5  # once per name
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        viz.sphere_figure({"x": torch.randn(4, 2)}, torch.arange(4))
