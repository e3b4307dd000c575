"""The figure builders shared by several notebooks (`ltlab.viz.overview`,
`ltlab.viz.reliability`) and the styling they share (`ltlab.viz.style`), checked against
independent computations."""

from __future__ import annotations

import types

import pytest
import torch

from ltlab.metrics import expected_calibration_error, shot_accuracy
from ltlab.viz.overview import class_count_bars, per_class_accuracy_figure, training_curves
from ltlab.viz.reliability import reliability_diagram
from ltlab.viz.style import GROUP_COLORS, shot_group_labels


@pytest.mark.parametrize("count, group", [(101, "many"), (100, "medium"), (20, "medium"),
                                          (19, "few"), (0, "few")])
def test_shot_group_labels_use_the_metrics_thresholds(count, group):
    assert shot_group_labels([500, count, 5])[1] == group


def test_bar_colours_agree_with_the_groups_shot_accuracy_reports():
    counts = [400, 150, 101, 100, 60, 20, 19, 3]
    fig = class_count_bars(counts, log=False)
    bar = fig.data[0]
    assert list(bar.y) == counts and list(bar.hovertext) == shot_group_labels(counts)
    # a classifier right only on the "few" classes scores 1 on few and 0 elsewhere: the
    # classes coloured as "few" are exactly those shot_accuracy calls few
    few = [i for i, colour in enumerate(bar.marker.color) if colour == GROUP_COLORS["few"]]
    n = len(counts)
    targets = torch.arange(n)
    predicted = torch.tensor([i if i in few else (i + 1) % n for i in range(n)])
    logits = torch.nn.functional.one_hot(predicted, n).float()
    shots = shot_accuracy(logits, targets, counts)
    assert few == [6, 7] and shots["few"] == 1.0 and shots["many"] == 0.0
    assert class_count_bars(counts).layout.yaxis.type == "log"


def test_per_class_accuracy_one_series_per_model():
    fig = per_class_accuracy_figure({"CE": [0.9, 0.5, 0.1], "LA": torch.tensor([0.8, 0.6, 0.4])},
                                    counts=[100, 30, 5])
    assert [tr.name for tr in fig.data] == ["CE", "LA"]
    assert list(fig.data[1].y) == pytest.approx([0.8, 0.6, 0.4])
    assert list(fig.layout.xaxis.ticktext) == ["0<br>n=100", "1<br>n=30", "2<br>n=5"]


def test_training_curves_plot_the_requested_metric():
    history = types.SimpleNamespace(metrics={"epoch": [1, 2, 3], "loss": [2.0, 1.0, 0.5]})
    fig = training_curves({"CE": history}, metric="loss")
    assert list(fig.data[0].x) == [1, 2, 3] and list(fig.data[0].y) == [2.0, 1.0, 0.5]
    assert fig.layout.title.text == "loss"


def test_reliability_diagram_bins_and_title_match_the_metrics():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(400, 5, generator=g), dim=1)
    targets = torch.randint(0, 5, (400,), generator=g)
    fig = reliability_diagram(probs, targets, n_bins=10, title="T")
    ece = expected_calibration_error(probs, targets, 10)
    assert fig.layout.title.text.startswith(f"T: ECE {100 * ece:.1f}%")
    accuracy, _gap, _diagonal, samples = fig.data
    assert sum(samples.y) == 400
    # independent binning: (lo, hi] bins of width 0.1 on the confidence
    conf, pred = probs.max(1)
    bins = torch.clamp(torch.ceil(conf * 10).long() - 1, 0, 9)
    for b in range(10):
        in_bin = bins == b
        assert samples.y[b] == int(in_bin.sum())
        if in_bin.any():
            assert accuracy.y[b] == pytest.approx(100 * float((pred[in_bin] == targets[in_bin])
                                                              .float().mean()))  # in %


def test_tau_effect_note_is_computed_from_the_counts():
    import math

    from ltlab.viz.logit_adjustment import tau_effect_note

    assert "flat" in tau_effect_note([7, 7, 7, 7])
    spread = math.log(400 / 4)
    assert f"spans {spread:.1f} nats" in tau_effect_note([400, 40, 4])
    assert "flat" not in tau_effect_note([400, 40, 4])


def test_shared_figures_get_the_house_style():
    counts = [400, 40, 4]
    for fig in (class_count_bars(counts), per_class_accuracy_figure({"CE": [0.9, 0.5, 0.1]}, counts)):
        assert fig.layout.yaxis.automargin and fig.layout.font.size == 13
    assert class_count_bars(counts).layout.yaxis.exponentformat == "power"  # log axis: 10^k
