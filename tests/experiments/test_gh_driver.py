"""ltlab.experiments.gh: notebook 06's driver (the protocol, the data splits, the toy batch
of the allocation panel, the paired SimCLR / SimCLR + GH comparison)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ltlab.data import LTData
from ltlab.experiments import gh as driver
from ltlab.experiments.protocol import failed_bands
from ltlab.gh import uniform_structure
from ltlab.models import MLP


def _toy_data(n_per_class=(40, 20, 8), dim=40, seed=0) -> LTData:
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(len(n_per_class), dim, generator=g)
    y = torch.repeat_interleave(torch.arange(len(n_per_class)), torch.tensor(n_per_class))
    yt = torch.arange(len(n_per_class)).repeat(10)
    x, xt = (means[t] + torch.randn(len(t), dim, generator=g) for t in (y, yt))
    return LTData(x, y, xt, yt, torch.tensor(n_per_class), ["0", "1", "2"], name="toy")


def test_settings_are_the_notebooks_sizes():
    assert driver.NOTEBOOK == "06_geometric_harmonization"
    quick, full = driver.settings(quick=True), driver.settings(quick=False)
    p = quick.probe
    assert (p.max_count, p.probe_per_class, p.test_per_class, p.warmup_epochs, p.seeds) == (
        400, 1000, 1000, 10, 5)
    assert (p.imbalance_ratio, p.num_prototypes) == (100, 10)  # the notebook's parameters
    assert p.fit.as_kwargs() == dict(epochs=40, batch_size=128, lr=1e-3, weight_decay=0.0,
                                     momentum=0.9, warmup_epochs=0, mixup_alpha=0.0,
                                     optimizer="adam", nesterov=False, schedule="constant")
    f = full.probe
    assert f.fit.epochs > f.warmup_epochs > 0 and f.fit.epochs > 40
    assert f.max_count > 400 and f.seeds >= 5
    assert quick.sphere.seeds == tuple(range(14)) and len(full.sphere.seeds) >= 14


def test_hashed_settings_keep_the_layout_of_the_committed_record():
    old = driver.hashed_settings(driver.settings(quick=False))
    sphere = old.pop("ltlab.experiments.gh_sphere:settings")
    assert old == dict(max_count=1000, probe_per_class=1000, test_per_class=1000, epochs=150,
                       warmup_epochs=40, seeds=8)
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


def test_mnist1d_pretraining_splits_are_long_tailed_balanced_and_balanced():
    data, probe_x, probe_y = driver.mnist1d_pretraining_splits(
        imbalance_ratio=10, max_count=50, probe_per_class=20, test_per_class=20, seed=0)
    assert int(data.train_counts[0]) == 50 and int(data.train_counts[-1]) == 5
    assert torch.bincount(probe_y).tolist() == [20] * 10
    assert torch.bincount(data.y_test).tolist() == [20] * 10
    assert probe_x.shape == (200, data.x_train.shape[1])


def test_comparison_rows_and_few_gain():
    acc = {"simclr": {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.51},
           "simclr_gh": {"many": 0.6, "medium": 0.55, "few": 0.5, "all": 0.555}}
    result = driver.GHComparison(probe_accuracy=acc)
    assert result.rows()[1] == {"method": "simclr_gh", **acc["simclr_gh"]}
    assert result.few_gain() == pytest.approx(0.1)


def test_bands_hold_on_good_numbers_and_name_what_fails():
    acc = {"simclr": {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.51},
           "simclr_gh": {"many": 0.6, "medium": 0.55, "few": 0.45, "all": 0.54}}
    toy = {"simclr_balanced": {"tail_accuracy": 0.9}, "simclr_lt": {"tail_accuracy": 0.3},
           "simclr_gh_lt": {"tail_accuracy": 0.3}}
    paired = {"tail_accuracy": {"mean": -0.03}}
    marginals = {"matched": {"mean": 0.1, "ci_low": 0.02}, "estimated": {"mean": -0.03},
                 "uniform": {"mean": -0.15}}
    good = {"probe_accuracy": acc, "sphere_toy": toy, "sphere_toy_paired": paired,
            "sphere_toy_marginals": marginals,
            "sphere_toy_improvements": {"faster_memory": {"vs_estimated": {"mean": 0.05}}},
            "sphere_toy_prior_error": {"largest_share": [0.5, 0.7]},
            "probe_seed_table": {"all": {"difference": -0.01}}}
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
    far = dict(good, probe_seed_table={"all": {"difference": 0.09}})
    assert failed_bands(far, driver.BANDS) == [
        "probe_seed_table.all.difference = 0.09 is above 0.08 (over the training seeds, GH - "
        "SimCLR within 8 points on all classes)"]


def test_claims_point_at_recorded_keys_and_give_the_papers_number():
    from ltlab.experiments.paper_vs_lab import paper_vs_lab
    from ltlab.experiments.protocol import lookup

    interval = {"mean": 0.05, "ci_low": 0.01, "ci_high": 0.09}
    results = {"sphere_toy_marginals": {"estimated": interval, "matched": interval},
               "sphere_toy_improvements": {"faster_memory": {"vs_simclr": interval}},
               "probe_gain": {"few": interval, "all": interval}}
    for claim in driver.CLAIMS:
        lookup(results, claim.key)  # every key exists in the recorded layout
        assert any(ch.isdigit() for ch in claim.paper) and claim.reason
    rows = paper_vs_lab(results, driver.CLAIMS)
    assert [r["verdict"] for r in rows] == ["agrees"] * len(driver.CLAIMS)


def test_compare_shares_the_warmup_and_probes_both_methods():
    data = _toy_data()
    s = replace(driver.probe_settings(), fit=driver.probe_settings().fit.replace(
        epochs=3, batch_size=32), warmup_epochs=1, ramp_epochs=1, proj_dim=8, probe_epochs=50,
        num_prototypes=None)
    res = driver.pretrain_and_probe(data, data.x_train, data.y_train, lambda: MLP(40, 3, (32,)),
                                    s, device="cpu")
    assert set(res.probe_accuracy) == {"simclr", "simclr_gh"}
    for acc in res.probe_accuracy.values():
        assert set(acc) == {"many", "medium", "few", "all"}
        assert all(0.0 <= v <= 1.0 for v in acc.values())
    assert set(res.histories) == {"warmup", "simclr", "simclr_gh"}
    assert res.histories["simclr_gh"].terms["w_gh"] == [1.0, 1.0]
    assert "gh" not in res.histories["simclr"].terms
    assert res.test_features["simclr"].shape == (len(data.y_test), 32)
    assert not torch.equal(res.test_features["simclr"], res.test_features["simclr_gh"])
    with pytest.raises(ValueError, match="epochs must exceed warmup_epochs"):
        driver.pretrain_and_probe(data, data.x_train, data.y_train, lambda: MLP(40, 3, (32,)),
                                  replace(s, warmup_epochs=3))



def test_seed_table_rows_are_means_and_paired_differences():
    accs = [{"simclr": {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.5},
             "simclr_gh": {"many": 0.6, "medium": 0.5, "few": 0.5, "all": 0.55}},
            {"simclr": {"many": 0.7, "medium": 0.5, "few": 0.2, "all": 0.5},
             "simclr_gh": {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.5}}]
    rows = {r["group"]: r for r in driver.SeedTable([0, 1], accs).rows()}
    assert rows["few"]["simclr"] == pytest.approx(0.3)
    assert rows["few"]["simclr_gh"] == pytest.approx(0.45)
    assert rows["few"]["difference"] == pytest.approx(0.15)
    # two seeds, differences 0.1 and 0.2: half-width t(0.975, 1) * 0.0707 / sqrt(2) = 0.635
    assert rows["few"]["ci_high"] - rows["few"]["difference"] == pytest.approx(0.6353, abs=1e-3)
    assert rows["many"]["difference"] == pytest.approx(-0.05)


def test_compare_seeds_runs_each_seed_on_the_same_split():
    data, probe_x, probe_y = driver.mnist1d_pretraining_splits(
        imbalance_ratio=10, max_count=30, probe_per_class=10, test_per_class=10, seed=0)
    s = replace(driver.probe_settings(), fit=driver.probe_settings().fit.replace(epochs=2),
                warmup_epochs=1, ramp_epochs=1, probe_epochs=20)
    table = driver.compare_seeds(data, probe_x, probe_y, s, seeds=(0, 1), workers=1)
    assert table.seeds == [0, 1] and len(table.probe_accuracy) == 2
    assert table.probe_accuracy[0] != table.probe_accuracy[1]  # the seeds differ
    assert [r["group"] for r in table.rows()] == ["many", "medium", "few", "all"]
    again = driver.compare_seeds(data, probe_x, probe_y, s, seeds=(0, 1), workers=1,
                                 done={0: {"simclr": {}, "simclr_gh": {}}})
    assert again.probe_accuracy[0] == {"simclr": {}, "simclr_gh": {}}  # not run again
    assert again.probe_accuracy[1] == table.probe_accuracy[1]  # the same seed, the same numbers
    with pytest.raises(ValueError, match="at least one seed"):
        driver.compare_seeds(data, probe_x, probe_y, seeds=())


def test_compare_runs_both_parts_and_records_the_contract_keys():
    s = driver.settings()
    tiny = s.replace(
        sphere=s.sphere.replace(fit=s.sphere.fit.replace(epochs=8), warmup_epochs=4,
                                eval_per_class=20, max_count=64, memory_beta=None),
        probe=replace(s.probe, imbalance_ratio=10, max_count=30, probe_per_class=10,
                      test_per_class=10, fit=s.probe.fit.replace(epochs=2), warmup_epochs=1,
                      ramp_epochs=1, probe_epochs=10))
    result = driver.compare(tiny, seeds=(2, 3), device="cpu")
    assert [r.seed for r in result.sphere.runs] == [2, 3] and result.table.seeds == [2, 3]
    assert result.table.probe_accuracy[0] == result.run.probe_accuracy  # the first seed, reused
    assert result.rows() == result.run.rows()
    rec = driver.recorded_results(result)
    assert list(rec) == ["probe_accuracy", "sphere_toy", "sphere_toy_paired",
                         "sphere_toy_marginals", "sphere_toy_improvements",
                         "sphere_toy_prior_error", "probe_seed_table", "probe_gain"]
    assert rec["sphere_toy_improvements"] == {}  # memory_beta=None: no attempt ran
    assert set(rec["sphere_toy_marginals"]["matched"]) == {"mean", "ci_low", "ci_high", "per_seed"}
    for group, row in rec["probe_seed_table"].items():
        assert rec["probe_gain"][group] == {"mean": row["difference"], "ci_low": row["ci_low"],
                                            "ci_high": row["ci_high"]}
    # the shared pool (one-thread workers) gives the numbers of one process at one thread
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = driver.compare(tiny, seeds=(2, 3), device="cpu")
    finally:
        torch.set_num_threads(threads)
    alone = driver.compare(tiny, seeds=(2, 3), device="cpu", workers=2)
    assert alone.table.probe_accuracy == one.table.probe_accuracy
    assert [r.metrics for r in alone.sphere.runs] == [r.metrics for r in one.sphere.runs]
    assert set(rec["sphere_toy_paired"]["etf_gap"]) == {"mean", "ci_low", "ci_high"}
    table = {r["group"]: r for r in result.table.rows()}
    assert rec["probe_seed_table"]["all"]["difference"] == table["all"]["difference"]
    default = driver.compare.__kwdefaults__
    assert default == {"seeds": None, "device": "auto", "workers": 1}
    with pytest.raises(TypeError, match="settings must be"):
        driver.compare(s.probe)
