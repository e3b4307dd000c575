"""ltlab.experiments.gh: notebook 06's driver (the protocol over the sphere toy, its bands and
claims) and the toy batch of the allocation panel. Notebook 08's MNIST-1D probe parts and
driver: tests/experiments/test_gh_mnist1d.py."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch

from ltlab.experiments import gh as driver
from ltlab.experiments.protocol import failed_bands
from ltlab.gh import uniform_structure


def test_settings_are_the_notebooks_sizes():
    assert driver.NOTEBOOK == "06_geometric_harmonization"
    quick, full = driver.settings(quick=True), driver.settings(quick=False)
    assert [f.name for f in fields(quick)] == ["sphere", "seed"]  # the probe lives in 08
    assert quick.sphere.seeds == tuple(range(14)) and len(full.sphere.seeds) >= 14
    assert quick.sphere.fit.epochs == 100 and quick.sphere.memory_beta == 0.9
    assert quick.replace(seed=3).seed == 3 and quick.seed == 0


def test_hashed_settings_hold_the_sphere_toy_under_its_key():
    old = driver.hashed_settings(driver.settings(quick=False))
    assert list(old) == ["ltlab.experiments.gh_sphere:settings"]
    sphere = old["ltlab.experiments.gh_sphere:settings"]
    assert sphere == dict(num_classes=4, dim=32, radius=3.0, std=0.7, imbalance_ratio=64,
                          max_count=256, hidden=64, lr=3e-3, noise=0.5, mask=0.2,
                          eval_per_class=1000, seeds=tuple(range(16)), epochs=400,
                          warmup_epochs=100, batch_size=None, ramp_epochs=10, prior_every=20,
                          gh_options=(), matched_prior=True, uniform_prior=True,
                          prior_floor=0.02, memory_beta=0.9, longer_warmup=100)


def test_toy_scores_are_geometric_logits_around_their_anchors():
    scores, labels = driver.toy_scores((6, 3, 2), noise=0.0, seed=1)
    assert scores.shape == (11, 3) and labels.tolist() == [0] * 6 + [1] * 3 + [2] * 2
    # without noise a sample's logits are its anchor's row of M M^T, normalised
    m = uniform_structure(3, 3, seed=1).double()
    gram = m @ m.T
    assert torch.allclose(scores.double(), (gram / gram.norm(dim=1, keepdim=True))[labels],
                          atol=1e-6)
    assert torch.allclose(scores.norm(dim=1), torch.ones(11), atol=1e-6)
    with pytest.raises(ValueError, match="counts"):
        driver.toy_scores((5,))


def test_bands_hold_on_good_numbers_and_name_what_fails():
    toy = {"simclr_balanced": {"tail_accuracy": 0.9}, "simclr_lt": {"tail_accuracy": 0.3},
           "simclr_gh_lt": {"tail_accuracy": 0.3}}
    paired = {"tail_accuracy": {"mean": -0.03}}
    marginals = {"matched": {"mean": 0.1, "ci_low": 0.02}, "estimated": {"mean": -0.03},
                 "uniform": {"mean": -0.15}}
    good = {"sphere_toy": toy, "sphere_toy_paired": paired,
            "sphere_toy_marginals": marginals,
            "sphere_toy_improvements": {"faster_memory": {"vs_estimated": {"mean": 0.05}}},
            "sphere_toy_prior_error": {"largest_share": [0.5, 0.7]}}
    assert failed_bands(good, driver.BANDS) == [] and failed_bands(good, driver.FULL_BANDS) == []
    straddles = dict(good, sphere_toy_marginals=dict(marginals, matched={"mean": 0.1,
                                                                         "ci_low": -0.01}))
    assert failed_bands(straddles, driver.BANDS) == [
        "sphere_toy_marginals.matched.ci_low = -0.01 fails its test (GH with the class prior "
        "as marginal: the tail's interval lies above zero)"]
    assert failed_bands(straddles, driver.FULL_BANDS) == []  # full size: the mean only
    swapped = dict(good, sphere_toy_marginals=dict(marginals, uniform={"mean": 0.2}))
    assert len(failed_bands(swapped, driver.FULL_BANDS)) == 1
    assert len(failed_bands(swapped, driver.BANDS)) == 2  # and the order of the three
    peaked = dict(good, sphere_toy_prior_error={"largest_share": [0.8, 0.76]})
    assert len(failed_bands(peaked, driver.FULL_BANDS)) == 1
    slower = dict(good, sphere_toy_improvements={"faster_memory": {"vs_estimated": {"mean": -0.01}}})
    assert len(failed_bands(slower, driver.BANDS)) == 1
    assert all("probe" not in band.key for band in (*driver.BANDS, *driver.FULL_BANDS))


def test_claims_point_at_recorded_keys_and_give_the_papers_number():
    from ltlab.experiments.paper_vs_lab import paper_vs_lab
    from ltlab.experiments.protocol import lookup

    interval = {"mean": 0.05, "ci_low": 0.01, "ci_high": 0.09}
    results = {"sphere_toy_marginals": {"estimated": interval, "matched": interval},
               "sphere_toy_improvements": {"faster_memory": {"vs_simclr": interval}}}
    for claim in driver.CLAIMS:
        lookup(results, claim.key)  # every key exists in the recorded layout
        assert any(ch.isdigit() for ch in claim.paper) and claim.reason
    rows = paper_vs_lab(results, driver.CLAIMS)
    assert [r["verdict"] for r in rows] == ["agrees"] * len(driver.CLAIMS)


def test_compare_runs_the_sphere_toy_and_records_the_contract_keys():
    s = driver.settings()
    tiny = s.replace(sphere=s.sphere.replace(fit=s.sphere.fit.replace(epochs=8), warmup_epochs=4,
                                             eval_per_class=20, max_count=64, memory_beta=None))
    result = driver.compare(tiny, seeds=(2, 3), device="cpu")
    assert [r.seed for r in result.sphere.runs] == [2, 3]
    assert result.rows() == result.sphere.rows() and len(result.rows()) == 2 * 3
    rec = driver.recorded_results(result)
    assert list(rec) == ["sphere_toy", "sphere_toy_paired", "sphere_toy_marginals",
                         "sphere_toy_improvements", "sphere_toy_prior_error"]
    assert rec["sphere_toy_improvements"] == {}  # memory_beta=None: no attempt ran
    assert set(rec["sphere_toy_marginals"]["matched"]) == {"mean", "ci_low", "ci_high", "per_seed"}
    assert set(rec["sphere_toy_paired"]["etf_gap"]) == {"mean", "ci_low", "ci_high"}
    # the default seeds are the settings' offsets from ``seed``
    shifted = driver.compare(tiny.replace(seed=5, sphere=tiny.sphere.replace(seeds=(0,))),
                             device="cpu")
    assert [r.seed for r in shifted.sphere.runs] == [5]
    # one-thread workers give the numbers of one process at one thread
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = driver.compare(tiny, seeds=(2, 3), device="cpu")
    finally:
        torch.set_num_threads(threads)
    alone = driver.compare(tiny, seeds=(2, 3), device="cpu", workers=2)
    assert [r.metrics for r in alone.sphere.runs] == [r.metrics for r in one.sphere.runs]
    default = driver.compare.__kwdefaults__
    assert default == {"seeds": None, "device": "auto", "workers": 1}
    with pytest.raises(TypeError, match="settings must be"):
        driver.compare(s.sphere)


def test_probe_names_stay_importable_from_the_package():
    from ltlab.experiments import gh_mnist1d

    for name in driver.__all__:
        assert getattr(driver, name) is not None, name
    assert driver.pretrain_and_probe is gh_mnist1d.pretrain_and_probe
    assert driver.ProbeSettings is type(gh_mnist1d.settings().probe)
