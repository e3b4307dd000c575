"""Notebook 06's figures of the sphere toy's marginals (`ltlab.viz.gh`): the three marginals
side by side, each seed's gain against pi_hat's error, and the readable, percent-scaled axes
and titles a student reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltlab.gh import sinkhorn_allocation
from ltlab.metrics import paired_interval
from ltlab.viz import gh as figures
from ltlab.widgets.gh import allocation_panel_figure


def test_paired_gain_figure_draws_means_intervals_and_seeds_in_points():
    a = paired_interval([0.5, 0.6, 0.7], [0.4, 0.4, 0.5])
    b = paired_interval([0.3, 0.2, 0.4], [0.4, 0.4, 0.5])
    fig = figures.paired_gain_figure({"matched": a, "uniform": b},
                                     {"matched": "oracle", "uniform": "uniform"})
    bars = fig.data[0]
    assert list(bars.x) == ["oracle", "uniform"]
    assert list(bars.y) == pytest.approx([100 * a["mean"], 100 * b["mean"]])
    # the whiskers reach the interval's bounds, in points
    assert bars.y[0] + bars.error_y.array[0] == pytest.approx(100 * a["ci_high"])
    assert bars.y[1] - bars.error_y.arrayminus[1] == pytest.approx(100 * b["ci_low"])
    dots = fig.data[1:]
    assert [list(d.y) for d in dots] == [pytest.approx([10.0, 20.0, 20.0]),
                                         pytest.approx([-10.0, -20.0, -10.0])]
    assert sum(bool(d.showlegend) for d in dots) == 1  # "one seed" once in the legend
    assert "points" in fig.layout.yaxis.title.text


def test_gain_vs_prior_error_figure_gives_each_series_its_correlation():
    errors, gains = [0.1, 0.2, 0.3, 0.4], [0.2, 0.1, 0.05, -0.1]
    fig = figures.gain_vs_prior_error_figure({"GH": (errors, gains)}, seeds=[3, 4, 5, 6])
    r = np.corrcoef(errors, gains)[0, 1]  # an independent Pearson r
    assert fig.data[0].name == f"GH (r = {r:+.2f})"
    assert list(fig.data[0].y) == pytest.approx([20.0, 10.0, 5.0, -10.0])
    assert list(fig.data[0].text) == ["seed 3", "seed 4", "seed 5", "seed 6"]
    flat = figures.gain_vs_prior_error_figure({"flat": ([0.2, 0.2], [0.1, 0.3])})
    assert flat.data[0].name == "flat (r = +nan)"  # no spread in the errors: no correlation
    with pytest.raises(ValueError, match="one of each per seed"):
        figures.gain_vs_prior_error_figure({"GH": ([0.1, 0.2], [0.3])})


def test_probe_accuracy_figure_reads_in_percent_with_the_thirds_named():
    acc = {"simclr": {"many": 0.5, "medium": 0.4, "few": 0.3, "all": 0.42}}
    fig = figures.probe_accuracy_figure(acc)
    assert list(fig.data[0].x) == ["head third", "middle third", "tail third", "all classes"]
    assert list(fig.data[0].y) == pytest.approx([50.0, 40.0, 30.0, 42.0])
    assert fig.layout.yaxis.title.text == "accuracy (%)" and list(fig.layout.yaxis.range) == [0, 100]


def test_allocation_titles_keep_to_their_lines():
    """The figure title's two lines sit above one-line subplot titles, with room for all."""
    fig = allocation_panel_figure(0.05, 300, "uniform")
    subplot_titles = [a.text for a in fig.layout.annotations]
    assert subplot_titles[0] == "allocation A (rows: samples by cluster)"
    assert all("<br>" not in t for t in subplot_titles)
    assert fig.layout.title.text.count("<br>") == 1 and fig.layout.margin.t >= 100
    scores = torch.randn(6, 3)
    prior = torch.full((3,), 1 / 3)
    plain = figures.allocation_figure(scores, sinkhorn_allocation(scores, prior),
                                      torch.tensor([0, 0, 1, 1, 2, 2]), prior, title="t")
    assert plain.layout.title.text.startswith("t<br>")


def test_sphere_figure_gives_each_panel_its_own_subtitle_and_one_legend():
    """Each arm's panel title carries that arm's subtitle (the balanced arm's counts are not
    the long-tailed ones), and each class appears once in the legend."""
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 2, 3])
    arms = {a: torch.randn(6, 3, generator=g) for a in ("simclr_balanced", "simclr_lt")}
    subtitles = {"simclr_balanced": "n = 85 per class", "simclr_lt": "n = 256, 64, 16, 4"}
    fig = figures.sphere_figure(arms, labels, subtitles=subtitles,
                                class_names=[f"class {c}" for c in range(4)])
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == 2
    assert "85 per class" in titles[0] and "256" not in titles[0]
    assert "256, 64, 16, 4" in titles[1] and "per class" not in titles[1]
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == [f"class {c}" for c in range(4)]
