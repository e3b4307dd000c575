"""ltlab.experiments.gh: notebook 06's driver (the three verbs, the data splits, the toy batch
of the allocation panel, the paired SimCLR / SimCLR + GH comparison)."""

from __future__ import annotations

import pytest
import torch

from ltlab.data import LTData
from ltlab.experiments import gh as driver
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
    assert driver.settings(quick=True) == dict(max_count=400, probe_per_class=1000,
                                               test_per_class=1000, epochs=40, warmup_epochs=10,
                                               seeds=5)
    full = driver.settings(quick=False)
    assert set(full) == set(driver.settings(quick=True))
    assert full["epochs"] > full["warmup_epochs"] > 0 and full["epochs"] > 40
    assert full["max_count"] > 400 and full["seeds"] >= 5


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


def test_recorded_results_and_rows():
    acc = {"simclr": {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.51},
           "simclr_gh": {"many": 0.6, "medium": 0.55, "few": 0.5, "all": 0.555}}
    result = driver.GHComparison(probe_accuracy=acc)
    assert driver.recorded_results(result) == {"probe_accuracy": acc}
    assert result.rows()[1] == {"method": "simclr_gh", **acc["simclr_gh"]}
    assert result.few_gain() == pytest.approx(0.1)


def test_compare_shares_the_warmup_and_probes_both_methods():
    data = _toy_data()
    res = driver.compare(data, data.x_train, data.y_train, lambda: MLP(40, 3, (32,)), epochs=3,
                     warmup_epochs=1, ramp_epochs=1, proj_dim=8, batch_size=32,
                     probe_epochs=50, device="cpu")
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
        driver.compare(data, data.x_train, data.y_train, lambda: MLP(40, 3, (32,)), epochs=5,
                       warmup_epochs=5)



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
    table = driver.compare_seeds(data, probe_x, probe_y, seeds=(0, 1), workers=1, epochs=2,
                                 warmup_epochs=1, ramp_epochs=1, probe_epochs=20)
    assert table.seeds == [0, 1] and len(table.probe_accuracy) == 2
    assert table.probe_accuracy[0] != table.probe_accuracy[1]  # the seeds differ
    assert [r["group"] for r in table.rows()] == ["many", "medium", "few", "all"]
    again = driver.compare_seeds(data, probe_x, probe_y, seeds=(0, 1), workers=1,
                                 done={0: {"simclr": {}, "simclr_gh": {}}}, epochs=2,
                                 warmup_epochs=1, ramp_epochs=1, probe_epochs=20)
    assert again.probe_accuracy[0] == {"simclr": {}, "simclr_gh": {}}  # not run again
    assert again.probe_accuracy[1] == table.probe_accuracy[1]  # the same seed, the same numbers
    with pytest.raises(ValueError, match="at least one seed"):
        driver.compare_seeds(data, probe_x, probe_y, seeds=())
