"""Notebook 07 (FlexDA on MNIST-1D, optional) executed in quick mode: recorded results and their
bands (the bands are `ltlab.experiments.flexda_mnist1d.BANDS`, the ones its self-test asserts)."""

from __future__ import annotations

import math

import pytest

from ltlab.experiments import flexda_mnist1d as driver
from ltlab.experiments.protocol import failed_bands

PROFILES = {"consistent", "uniform", "reversed"}
METHODS = {"fixmatch", "flexda", "adello"}
NAME = "07_flexda_on_mnist1d"


def test_recorded_keys(executed):
    res = executed(NAME)
    assert set(res["kl_to_true_prior"]) == PROFILES
    assert set(res["kl_em_to_true_prior"]) == PROFILES
    assert set(res["balanced_accuracy"]) == PROFILES
    for p in PROFILES:
        assert set(res["balanced_accuracy"][p]) == METHODS
        for acc in res["balanced_accuracy"][p].values():
            assert 0.0 <= acc <= 1.0
        for kl in (res["kl_to_true_prior"][p], res["kl_em_to_true_prior"][p]):
            assert math.isfinite(kl) and kl >= 0.0
    assert set(res["toy_balanced_accuracy"]) == {"bayes", "fixmatch", "flexda"}
    assert not {"prior_arms", "consistent_arms"} & set(res)  # notebook 03's


def test_profile_differences_are_the_recorded_accuracies_differences(executed):
    """The paired difference on the test samples has the two methods' balanced accuracies'
    difference as its mean (same test set), and an interval around it."""
    res = executed(NAME)
    acc = res["balanced_accuracy"]
    for p in PROFILES:
        assert {k for k, _, _ in driver.PAIRS} == set(res["profile_differences"][p])
        for key, a, b in driver.PAIRS:
            d = res["profile_differences"][p][key]
            assert d["mean"] == pytest.approx(acc[p][a] - acc[p][b], abs=1e-6), (p, key)
            assert d["ci_low"] < d["mean"] < d["ci_high"]


def test_the_notebooks_bands_hold(executed):
    """Section 2: FlexDA not worse than FixMatch by more than noise and no collapse; section
    3: the estimates find Q (online KL <= 0.03, EM <= 0.015); section 5: the toy's regions."""
    assert failed_bands(executed(NAME), driver.BANDS) == []


@pytest.mark.gpu
def test_full_mode_on_gpu(executed):
    """Full mode on a GPU: the full-size record's bands."""
    res = executed(NAME, quick=False, device="cuda")
    assert failed_bands(res, driver.FULL_BANDS) == []
