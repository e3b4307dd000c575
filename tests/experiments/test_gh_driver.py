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
    assert driver.settings(quick=True) == dict(max_count=400, probe_per_class=100,
                                               test_per_class=100, epochs=40, warmup_epochs=10)
    assert driver.settings(quick=False) == dict(max_count=1000, probe_per_class=300,
                                                test_per_class=300, epochs=400,
                                                warmup_epochs=100)


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

