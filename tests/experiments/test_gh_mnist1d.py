"""ltlab.experiments.gh_mnist1d: notebook 08's driver (the protocol over the MNIST-1D probe,
its bands and claims) and the probe's parts in `ltlab.experiments.gh.probe` (the data splits,
the paired SimCLR / SimCLR + GH pre-training, the multi-seed table)."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
import torch

from ltlab.data import LTData
from ltlab.experiments import gh_mnist1d as driver
from ltlab.experiments.gh import (
    GHComparison,
    SeedTable,
    compare_seeds,
    mnist1d_pretraining_splits,
    pretrain_and_probe,
    probe_settings,
)
from ltlab.experiments.protocol import failed_bands
from ltlab.models import MLP


def _toy_data(n_per_class=(40, 20, 8), dim=40, seed=0) -> LTData:
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(len(n_per_class), dim, generator=g)
    y = torch.repeat_interleave(torch.arange(len(n_per_class)), torch.tensor(n_per_class))
    yt = torch.arange(len(n_per_class)).repeat(10)
    x, xt = (means[t] + torch.randn(len(t), dim, generator=g) for t in (y, yt))
    return LTData(x, y, xt, yt, torch.tensor(n_per_class), ["0", "1", "2"], name="toy")


def test_settings_are_the_notebooks_sizes():
    assert driver.NOTEBOOK == "08_gh_on_mnist1d"
    quick, full = driver.settings(quick=True), driver.settings(quick=False)
    assert [f.name for f in fields(quick)] == ["probe", "seed"]
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
    assert quick.replace(seed=2).seed == 2 and quick.seed == 0


def test_hashed_settings_are_the_probes_flat_layout():
    assert driver.hashed_settings(driver.settings(quick=False)) == dict(
        max_count=1000, probe_per_class=1000, test_per_class=1000, epochs=150,
        warmup_epochs=40, seeds=8)


def test_mnist1d_pretraining_splits_are_long_tailed_balanced_and_balanced():
    data, probe_x, probe_y = mnist1d_pretraining_splits(
        imbalance_ratio=10, max_count=50, probe_per_class=20, test_per_class=20, seed=0)
    assert int(data.train_counts[0]) == 50 and int(data.train_counts[-1]) == 5
    assert torch.bincount(probe_y).tolist() == [20] * 10
    assert torch.bincount(data.y_test).tolist() == [20] * 10
    assert probe_x.shape == (200, data.x_train.shape[1])


def test_comparison_rows_and_few_gain():
    acc = {"simclr": {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.51},
           "simclr_gh": {"many": 0.6, "medium": 0.55, "few": 0.5, "all": 0.555}}
    result = GHComparison(probe_accuracy=acc)
    assert result.rows()[1] == {"method": "simclr_gh", **acc["simclr_gh"]}
    assert result.few_gain() == pytest.approx(0.1)


def test_bands_hold_on_good_numbers_and_name_what_fails():
    acc = {"simclr": {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.51},
           "simclr_gh": {"many": 0.6, "medium": 0.55, "few": 0.45, "all": 0.54}}
    good = {"probe_accuracy": acc, "probe_seed_table": {"all": {"difference": -0.01}}}
    assert failed_bands(good, driver.BANDS) == [] and failed_bands(good, driver.FULL_BANDS) == []
    far = dict(good, probe_seed_table={"all": {"difference": 0.09}})
    assert failed_bands(far, driver.BANDS) == [
        "probe_seed_table.all.difference = 0.09 is above 0.08 (over the training seeds, GH - "
        "SimCLR within 8 points on all classes)"]
    costly = dict(good, probe_accuracy=dict(acc, simclr_gh=dict(acc["simclr_gh"], few=0.3)))
    assert len(failed_bands(costly, driver.BANDS)) == 1
    broken = dict(good, probe_accuracy=dict(acc, simclr=dict(acc["simclr"], few=float("nan"))))
    assert len(failed_bands(broken, driver.FULL_BANDS)) == 1
    assert all(band.key.startswith("probe") for band in (*driver.BANDS, *driver.FULL_BANDS))


def test_claims_point_at_recorded_keys_and_give_the_papers_number():
    from ltlab.experiments.paper_vs_lab import paper_vs_lab
    from ltlab.experiments.protocol import lookup

    interval = {"mean": 0.05, "ci_low": 0.01, "ci_high": 0.09}
    results = {"probe_gain": {"few": interval, "all": interval}}
    for claim in driver.CLAIMS:
        lookup(results, claim.key)  # every key exists in the recorded layout
        assert any(ch.isdigit() for ch in claim.paper) and claim.reason
    rows = paper_vs_lab(results, driver.CLAIMS)
    assert [r["verdict"] for r in rows] == ["agrees"] * len(driver.CLAIMS)
    below = {"probe_gain": {"few": {"mean": -0.05, "ci_low": -0.09, "ci_high": -0.01},
                            "all": interval}}
    assert [r["verdict"] for r in paper_vs_lab(below, driver.CLAIMS)][0] == "disagrees"


def test_compare_shares_the_warmup_and_probes_both_methods():
    data = _toy_data()
    s = replace(probe_settings(), fit=probe_settings().fit.replace(
        epochs=3, batch_size=32), warmup_epochs=1, ramp_epochs=1, proj_dim=8, probe_epochs=50,
        num_prototypes=None)
    res = pretrain_and_probe(data, data.x_train, data.y_train, lambda: MLP(40, 3, (32,)),
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
        pretrain_and_probe(data, data.x_train, data.y_train, lambda: MLP(40, 3, (32,)),
                                  replace(s, warmup_epochs=3))



def test_seed_table_rows_are_means_and_paired_differences():
    accs = [{"simclr": {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.5},
             "simclr_gh": {"many": 0.6, "medium": 0.5, "few": 0.5, "all": 0.55}},
            {"simclr": {"many": 0.7, "medium": 0.5, "few": 0.2, "all": 0.5},
             "simclr_gh": {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.5}}]
    rows = {r["group"]: r for r in SeedTable([0, 1], accs).rows()}
    assert rows["few"]["simclr"] == pytest.approx(0.3)
    assert rows["few"]["simclr_gh"] == pytest.approx(0.45)
    assert rows["few"]["difference"] == pytest.approx(0.15)
    # two seeds, differences 0.1 and 0.2: half-width t(0.975, 1) * 0.0707 / sqrt(2) = 0.635
    assert rows["few"]["ci_high"] - rows["few"]["difference"] == pytest.approx(0.6353, abs=1e-3)
    assert rows["many"]["difference"] == pytest.approx(-0.05)


def test_compare_seeds_runs_each_seed_on_the_same_split():
    data, probe_x, probe_y = mnist1d_pretraining_splits(
        imbalance_ratio=10, max_count=30, probe_per_class=10, test_per_class=10, seed=0)
    s = replace(probe_settings(), fit=probe_settings().fit.replace(epochs=2),
                warmup_epochs=1, ramp_epochs=1, probe_epochs=20)
    table = compare_seeds(data, probe_x, probe_y, s, seeds=(0, 1), workers=1)
    assert table.seeds == [0, 1] and len(table.probe_accuracy) == 2
    assert table.probe_accuracy[0] != table.probe_accuracy[1]  # the seeds differ
    assert [r["group"] for r in table.rows()] == ["many", "medium", "few", "all"]
    again = compare_seeds(data, probe_x, probe_y, s, seeds=(0, 1), workers=1,
                                 done={0: {"simclr": {}, "simclr_gh": {}}})
    assert again.probe_accuracy[0] == {"simclr": {}, "simclr_gh": {}}  # not run again
    assert again.probe_accuracy[1] == table.probe_accuracy[1]  # the same seed, the same numbers
    with pytest.raises(ValueError, match="at least one seed"):
        compare_seeds(data, probe_x, probe_y, seeds=())


def test_compare_runs_the_first_seed_and_the_table_and_records_the_contract_keys():
    s = driver.settings()
    tiny = s.replace(probe=replace(s.probe, imbalance_ratio=10, max_count=30, probe_per_class=10,
                                   test_per_class=10, fit=s.probe.fit.replace(epochs=2),
                                   warmup_epochs=1, ramp_epochs=1, probe_epochs=10))
    result = driver.compare(tiny, seeds=(2, 3), device="cpu")
    assert result.table.seeds == [2, 3]
    assert result.table.probe_accuracy[0] == result.run.probe_accuracy  # the first seed, reused
    assert result.rows() == result.run.rows()
    rec = driver.recorded_results(result)
    assert list(rec) == ["probe_accuracy", "probe_seed_table", "probe_gain"]
    for group, row in rec["probe_seed_table"].items():
        assert rec["probe_gain"][group] == {"mean": row["difference"], "ci_low": row["ci_low"],
                                            "ci_high": row["ci_high"]}
    table = {r["group"]: r for r in result.table.rows()}
    assert rec["probe_seed_table"]["all"]["difference"] == table["all"]["difference"]
    # the pool (one-thread workers) gives the numbers of one process at one thread
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = driver.compare(tiny, seeds=(2, 3), device="cpu")
    finally:
        torch.set_num_threads(threads)
    alone = driver.compare(tiny, seeds=(2, 3), device="cpu", workers=2)
    assert alone.table.probe_accuracy == one.table.probe_accuracy
    assert alone.run.probe_accuracy == result.run.probe_accuracy
    default = driver.compare.__kwdefaults__
    assert default == {"seeds": None, "device": "auto", "workers": 1}
    with pytest.raises(TypeError, match="settings must be"):
        driver.compare(s.probe)
    with pytest.raises(ValueError, match="seeds"):
        driver.compare(tiny, seeds=[])


@pytest.mark.parametrize("changes", [dict(num_prototypes=4), dict(imbalance_ratio=10)])
def test_runs_at_the_values_notebook_08s_exercises_ask_for(changes):
    """Exercises 2 and 3 of notebook 08 set ``imbalance_ratio = 10`` and ``num_prototypes = 4``
    (fewer anchors than classes): the driver trains and records at both, and with four anchors
    GH's pi_hat has four shares."""
    s = driver.settings()
    tiny = s.replace(probe=replace(s.probe, max_count=200, probe_per_class=10, test_per_class=10,
                                   fit=s.probe.fit.replace(epochs=2), warmup_epochs=1,
                                   ramp_epochs=1, probe_epochs=10, **changes))
    result = driver.compare(tiny, seeds=(0,), device="cpu")
    rec = driver.recorded_results(result)
    assert set(rec["probe_accuracy"]) == {"simclr", "simclr_gh"}
    pi_hat = result.run.methods["simclr_gh"].prior
    assert len(pi_hat) == changes.get("num_prototypes", 10)
    assert float(pi_hat.sum()) == pytest.approx(1.0, abs=1e-5)
