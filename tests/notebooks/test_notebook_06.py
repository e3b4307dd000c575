"""Notebook 06 (Geometric Harmonization) executed in quick mode: the recorded results (the
bands are `ltlab.experiments.gh.BANDS`, the ones the notebook's Checks assert)."""

from __future__ import annotations

import math

import pytest

from ltlab.experiments import gh as driver
from ltlab.experiments.protocol import failed_bands

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
        groups = [acc["many"], acc["medium"], acc["few"]]
        # "all" is the mean over the 10 classes, i.e. (4 many + 3 medium + 3 few) / 10
        assert abs(acc["all"] - (4 * groups[0] + 3 * groups[1] + 3 * groups[2]) / 10) < 1e-9


def test_notebook_06_bands_hold(executed):
    """The driver's bands on the executed notebook: the probe beats chance, GH costs the tail
    third a bounded amount, the sphere toy shows the disparity, and the multi-seed MNIST-1D
    table is recorded (what each band pins, and why: `ltlab.experiments.gh.BANDS`)."""
    assert failed_bands(executed("06_geometric_harmonization"), driver.BANDS) == []


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
