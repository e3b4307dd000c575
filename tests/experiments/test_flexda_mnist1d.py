"""ltlab.experiments.flexda_mnist1d: notebook 07's driver (FlexDA on MNIST-1D, optional).

The notebook itself runs seed 0 (tests/notebooks/test_notebook_07.py); the MNIST-1D parts it
drives (splits, one run) are tested in test_flexda_driver.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest
import torch

from ltlab.experiments import flexda_mnist1d as driver
from ltlab.experiments.flexda import HARD_TO_EASY, ProfileSettings, profile_settings
from ltlab.experiments.protocol import FitOptions, failed_bands


def test_settings_quick_and_full_and_the_hash_layout():
    quick, full = driver.settings(True), driver.settings(False)
    assert driver.NOTEBOOK == "07_flexda_on_mnist1d"
    assert quick.profiles == profile_settings(True) and full.profiles == profile_settings(False)
    assert quick.seed == 0 and quick.replace(seed=2).seed == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.seed = 1
    # the full-size hash covers the flat profile layout of the record notebook 03 once made
    assert driver.hashed_settings(full) == dict(
        labeled_max=400, unlabeled_max=1000, imbalance_ratio=20, test_per_class=200,
        class_order=HARD_TO_EASY, steps=2400, batch_size=64, unlabeled_ratio=2, lr=0.03,
        weight_decay=5e-4, momentum=0.995, ema=0.995, channels=32, feature_dim=64,
        distill_start=0.2)


TINY = replace(profile_settings(), labeled_max=60, unlabeled_max=120, test_per_class=40,
               profiles=("reversed", "uniform"), trace_every=0,
               fit=FitOptions(batch_size=32, lr=0.1, weight_decay=1.5e-4, extra=(
                   ("steps", 15), ("unlabeled_ratio", 2), ("schedule", "constant"))))


def _balanced_accuracy(pred, y) -> float:
    pred, y = torch.tensor(pred), torch.tensor(y)
    return sum(float((pred[y == c] == c).double().mean()) for c in y.unique()) / len(y.unique())


def test_compare_records_the_profiles_differences_and_the_toy():
    s = driver.settings().replace(profiles=TINY, toy_steps=10)
    result = driver.compare(s, seeds=[1], device="cpu")
    assert result.rows() == result.profiles.rows() and len(result.rows()) == 6
    recorded = driver.recorded_results(result)
    assert list(recorded) == ["kl_to_true_prior", "kl_em_to_true_prior", "balanced_accuracy",
                              "profile_differences", "toy_balanced_accuracy"]
    assert recorded["toy_balanced_accuracy"] == result.toy["balanced_accuracy"]
    for p in TINY.profiles:
        by_method = result.results[p]
        for key, a, b in driver.PAIRS:
            d = recorded["profile_differences"][p][key]
            # an independent recomputation: the balanced accuracies of the predictions
            acc = {m: _balanced_accuracy(by_method[m]["predictions"], by_method[m]["targets"])
                   for m in (a, b)}
            assert d["mean"] == pytest.approx(acc[a] - acc[b], abs=1e-9)
            assert d["mean"] == pytest.approx(by_method[a]["balanced_accuracy"]
                                              - by_method[b]["balanced_accuracy"], abs=1e-6)
            assert d["ci_low"] <= d["mean"] <= d["ci_high"] and d["over"] == "test samples"
    # the seed is the one of ``seeds``: the same run as settings.seed = 1
    again = driver.compare(s.replace(seed=1, toy_steps=10), device="cpu")
    assert again.results["reversed"]["flexda"]["balanced_accuracy"] == \
        result.results["reversed"]["flexda"]["balanced_accuracy"]


def test_compare_rejects_other_settings_and_several_seeds():
    with pytest.raises(TypeError, match="settings must be"):
        driver.compare(profile_settings())
    with pytest.raises(ValueError, match="seeds"):
        driver.compare(driver.settings(), seeds=[0, 1])
    assert isinstance(driver.settings().profiles, ProfileSettings)


def test_bands_name_recorded_keys_and_fail_with_their_reason():
    profiles = ("consistent", "uniform", "reversed")
    good = {
        "kl_to_true_prior": dict.fromkeys(profiles, 0.01),
        "kl_em_to_true_prior": dict.fromkeys(profiles, 0.005),
        "balanced_accuracy": {p: {"fixmatch": 0.85, "flexda": 0.86} for p in profiles},
        "toy_balanced_accuracy": {"bayes": 0.9, "fixmatch": 0.6, "flexda": 0.7},
    }
    assert failed_bands(good, driver.BANDS) == [] and failed_bands(good, driver.FULL_BANDS) == []
    bad = dict(good, kl_em_to_true_prior=dict(good["kl_em_to_true_prior"], uniform=0.02))
    assert failed_bands(bad, driver.BANDS) == [
        "kl_em_to_true_prior.uniform = 0.02 is above 0.015 (EM on held-out finds Q)"]
    collapse = dict(good, balanced_accuracy=dict(good["balanced_accuracy"],
                                                 reversed={"fixmatch": 0.7, "flexda": 0.6}))
    assert len(failed_bands(collapse, driver.BANDS)) == 2  # not worse by > 3 points; floor
    assert len(failed_bands(collapse, driver.FULL_BANDS)) == 1  # no floor at full size
    toy = dict(good, toy_balanced_accuracy={"bayes": 0.9, "fixmatch": 0.7, "flexda": 0.6})
    assert len(failed_bands(toy, driver.BANDS)) == 1 and failed_bands(toy, driver.FULL_BANDS) == []


def test_claims_point_at_recorded_keys_and_their_verdicts_follow():
    from ltlab.experiments.paper_vs_lab import paper_vs_lab, verdict
    from ltlab.experiments.protocol import lookup

    pair = {"mean": 0.05, "ci_low": 0.03, "ci_high": 0.07, "per_seed": []}
    results = {"profile_differences": {p: {k: pair for k, _, _ in driver.PAIRS}
                                       for p in ("consistent", "uniform", "reversed")}}
    for claim in driver.CLAIMS:
        lookup(results, claim.key)  # every claim reads a key the driver records
        assert claim.paper and claim.reason
    rows = paper_vs_lab(results, driver.CLAIMS)
    assert [row["verdict"] for row in rows] == [verdict(0.03, 0.07, c.direction)
                                                for c in driver.CLAIMS]
    assert all(row["verdict"] == "agrees" for row in rows)
