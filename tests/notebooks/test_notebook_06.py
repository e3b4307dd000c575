"""Notebook 06 (Geometric Harmonization) executed in quick mode: the recorded results of the
sphere toy (the bands are `ltlab.experiments.gh.BANDS`, the ones the notebook's self-test
asserts), the three marginals' contract (the matched marginal's interval above zero at the
defaults). The closing "Paper vs this lab" rows are checked for every notebook in
tests/notebooks/test_paper_vs_lab_records.py. The MNIST-1D probe is notebook 08's
(tests/notebooks/test_notebook_08.py)."""

from __future__ import annotations

import pytest

from ltlab.experiments import gh as driver
from ltlab.experiments.protocol import failed_bands

ARMS = {"simclr_balanced", "simclr_lt", "simclr_gh_lt"}
METRICS = {"tail_accuracy", "tail_nearest_cosine", "etf_gap"}


def test_notebook_06_records_the_sphere_toy_only(executed):
    r = executed("06_geometric_harmonization")
    assert not {"probe_accuracy", "probe_seed_table", "probe_gain"} & set(r)  # notebook 08's
    assert {
        "sphere_toy", "sphere_toy_paired", "sphere_toy_marginals", "sphere_toy_improvements",
        "sphere_toy_prior_error", "paper_vs_lab"} <= set(r)


def test_notebook_06_bands_hold(executed):
    """The driver's bands on the executed notebook: the sphere toy shows the disparity, the
    matched marginal's interval lies above zero, the three marginals keep their order and
    the faster memory helps GH's own pi_hat (what each band pins, and why:
    `ltlab.experiments.gh.BANDS`)."""
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


def test_notebook_06_records_the_three_marginals(executed):
    r = executed("06_geometric_harmonization")
    marginals, seeds = r["sphere_toy_marginals"], len(driver.settings().sphere.seeds)
    assert set(marginals) == {"matched", "estimated", "uniform"}
    for m, p in marginals.items():
        assert set(p) == {"mean", "ci_low", "ci_high", "per_seed"}, (m, p)
        assert len(p["per_seed"]) == seeds, m
        assert p["ci_low"] <= p["mean"] <= p["ci_high"], (m, p)
        assert p["mean"] == pytest.approx(sum(p["per_seed"]) / seeds, abs=1e-9)
    # the estimated marginal is GH's own pi_hat: the same arm as sphere_toy_paired
    assert marginals["estimated"]["mean"] == pytest.approx(
        r["sphere_toy_paired"]["tail_accuracy"]["mean"], abs=1e-9)
    # the contract at the defaults: GH with the class prior as marginal lifts the tail
    assert marginals["matched"]["ci_low"] > 0, marginals["matched"]
    errors = r["sphere_toy_prior_error"]
    assert all(len(v) == seeds for v in errors.values())
    assert set(r["sphere_toy_improvements"]) == {"faster_memory"}
