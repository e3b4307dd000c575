"""ltlab.experiments.balpoe (notebook 02's driver): its three verbs on a tiny run, the shifted
test sets, and the ideal experts' marginals against the law of total probability."""

from __future__ import annotations

import pytest
import torch

from ltlab.data import mnist1d_lt
from ltlab.experiments import balpoe as E
from ltlab.experiments.mnist1d_setup import mnist_recipe
from ltlab.metrics import accuracy
from ltlab.priors import shifted_prior

NOTEBOOK_KEYS = {"balanced_accuracy_ce", "balanced_accuracy_la", "balanced_accuracy_balpoe",
                 "balanced_accuracy_balpoe_mixup", "ece_ce", "ece_balpoe_mixup",
                 "shifted_accuracy", "experts_curve"}


@pytest.fixture(scope="module")
def tiny_mnist():
    return mnist1d_lt(10, max_count=40, test_per_class=20, seed=0)


def test_settings():
    assert E.NOTEBOOK == "02_balpoe"
    assert E.settings(True)["recipe"] == mnist_recipe(True)
    assert E.settings(True)["num_experts"] == (1, 3, 5)
    assert 3 in E.settings(False)["num_experts"] and E.settings(False)["shifts"] == E.SHIFTS


def test_compare_and_recorded_results_on_a_tiny_run(tiny_mnist):
    models = E.train_models(tiny_mnist, quick=True, seed=0, device="cpu", epochs=3)
    table = E.calibration_table(models, tiny_mnist, "cpu")
    shifted = E.shifted_accuracy(models["balpoe_mixup"], tiny_mnist, "cpu")
    curve = E.experts_curve(tiny_mnist, (1, 3), device="cpu", epochs=3,
                            reuse={3: models["balpoe_mixup"]})
    result = E.BalPoEComparison(table, shifted, curve, models)
    rec = E.recorded_results(result)
    assert set(rec) == NOTEBOOK_KEYS
    assert rec["ece_ce"] == table["ce"]["ece"] and rec["experts_curve"] == curve
    assert set(rec["shifted_accuracy"]) == set(E.SHIFTS)
    assert [r["num_experts"] for r in curve] == [1, 3]
    # the reused 3-expert model gives the table's own number
    assert curve[1]["balanced_accuracy"] == table["balpoe_mixup"]["balanced_accuracy"]
    rows = result.rows()
    assert [r["method"] for r in rows] == list(E.TABLE2_MODELS)
    assert rows[-1]["label"] == "BalPoE + mixup" and "mce" in rows[-1]
    # the same seed and recipe: `compare` reproduces the pieces
    again = E.compare(tiny_mnist, device="cpu", num_experts=(1, 3), epochs=3)
    assert E.recorded_results(again) == rec


def test_shifted_sets_follow_their_priors(tiny_mnist):
    sets = E.shifted_test_sets(tiny_mnist)
    y = tiny_mnist.y_test
    fwd = torch.bincount(y[sets["forward-50"]], minlength=10).double()
    bwd = torch.bincount(y[sets["backward-50"]], minlength=10).double()
    assert fwd[0] > fwd[-1] and bwd[-1] > bwd[0]
    assert torch.bincount(y[sets["uniform"]], minlength=10).unique().numel() == 1
    want = shifted_prior(10, 50, "forward")
    assert (fwd / fwd.sum() - want).abs().max() < 0.1


def test_known_prior_of_a_uniform_set_changes_nothing(tiny_mnist):
    models = E.train_models(tiny_mnist, ("la",), device="cpu", epochs=2)
    shifted = E.shifted_accuracy(models["la"], tiny_mnist, "cpu", shifts={"uniform": (1, "uniform")})
    idx = E.shifted_test_sets(tiny_mnist, {"uniform": (1, "uniform")})["uniform"]
    z = models["la"].logits(tiny_mnist.x_test[idx], "cpu")
    assert shifted["uniform"]["no_prior"] == accuracy(z, tiny_mnist.y_test[idx])
    assert shifted["uniform"]["known_prior"] == shifted["uniform"]["no_prior"]


def test_calibrated_experts_have_their_target_marginals():
    m = E.expert_marginals((1.0, 0.0, -1.0), temperature=1.0, num_samples=20000)
    assert m["bias"] == 0.0 and len(m["kl"]) == 3
    assert max(m["kl"]) < 0.01 and m["ensemble_kl"] < 0.01
    hot = E.expert_marginals((1.0, 0.0, -1.0), temperature=0.25, num_samples=20000)
    assert min(hot["kl"]) > max(m["kl"])  # miscalibration moves the marginal off its target
    with pytest.raises(ValueError, match="temperature"):
        E.expert_marginals((1.0,), temperature=0.0)
