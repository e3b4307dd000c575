"""ltlab.experiments.balpoe (notebook 02's driver): its three verbs on a tiny run, the shifted
test sets, and the ideal experts' marginals against the law of total probability."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ltlab.data import mnist1d_lt
from ltlab.experiments import balpoe as E
from ltlab.experiments.mnist1d_setup import mnist_fit_options
from ltlab.experiments.protocol import failed_bands
from ltlab.metrics import accuracy
from ltlab.priors import shifted_prior

NOTEBOOK_KEYS = {"balanced_accuracy_ce", "balanced_accuracy_la", "balanced_accuracy_balpoe",
                 "balanced_accuracy_balpoe_mixup", "ece_ce", "ece_balpoe_mixup",
                 "shifted_accuracy", "experts_curve", "balanced_accuracy_la_mixup",
                 "shifted_accuracy_by_model", "expert_disagreement"}


@pytest.fixture(scope="module")
def tiny_mnist():
    return mnist1d_lt(10, max_count=40, test_per_class=20, seed=0)


def _fit(epochs):
    return mnist_fit_options().replace(epochs=epochs)


def test_settings():
    assert E.NOTEBOOK == "02_balpoe"
    assert E.settings(True).fit == mnist_fit_options(True)
    assert E.settings(True).num_experts == (1, 3, 5)
    full = E.settings(False)
    assert 3 in full.num_experts and dict(full.shifts) == E.SHIFTS
    assert E.hashed_settings(full)["shifts"] == E.SHIFTS
    assert E.hashed_settings(full)["decomposition"] == E.DECOMPOSITION == full.decomposition
    assert E.hashed_settings(full)["balpoe_model"] == {"lambdas": [1.0, 0.0, -1.0], "cosine": True,
                                                       "shared_convs": 2}


def test_compare_and_recorded_results_on_a_tiny_run(tiny_mnist):
    models = E.train_models(tiny_mnist, options=_fit(3), seed=0, device="cpu")
    table = E.calibration_table(models, tiny_mnist, "cpu")
    shifted = E.shifted_accuracy(models["balpoe_mixup"], tiny_mnist, "cpu")
    curve = E.experts_curve(tiny_mnist, (1, 3), _fit(3), device="cpu",
                            reuse={1: models["la_mixup"], 3: models["balpoe_mixup"]})
    by_model = E.shifted_accuracy_by_model(models, tiny_mnist, "cpu")
    diversity = E.diversity_comparison(tiny_mnist, models["balpoe_mixup"], _fit(3), device="cpu")
    result = E.BalPoEComparison(table, shifted, curve, models, by_model, diversity)
    rec = E.recorded_results(result)
    assert set(rec) == NOTEBOOK_KEYS
    assert rec["ece_ce"] == table["ce"]["ece"] and rec["experts_curve"] == curve
    assert rec["balanced_accuracy_la_mixup"] == table["la_mixup"]["balanced_accuracy"]
    assert set(rec["shifted_accuracy"]) == set(E.SHIFTS)
    # Table 3 rows: CE, LA, BalPoE + mixup without the prior, BalPoE + mixup with it
    assert set(rec["shifted_accuracy_by_model"]) == set(E.SHIFTED_MODELS)
    for row, (name, prior) in E.SHIFTED_MODELS.items():
        own = E.shifted_accuracy(models[name], tiny_mnist, "cpu")
        assert rec["shifted_accuracy_by_model"][row] == {
            s: own[s]["known_prior" if prior else "no_prior"] for s in E.SHIFTS}, row
    assert set(rec["expert_disagreement"]) == {"own_layers", "shared_network"}
    assert [r["num_experts"] for r in curve] == [1, 3]
    # the reused models give the table's own numbers: one expert is LA + mixup
    assert curve[0]["balanced_accuracy"] == table["la_mixup"]["balanced_accuracy"]
    assert curve[1]["balanced_accuracy"] == table["balpoe_mixup"]["balanced_accuracy"]
    rows = result.rows()
    assert [r["method"] for r in rows] == list(E.TABLE2_MODELS)
    assert rows[-1]["label"] == "BalPoE + mixup" and "mce" in rows[-1]
    # the bands read the recorded keys (whatever a 3-epoch run gives, each one is evaluated)
    assert all(isinstance(p, str) for p in failed_bands(rec, E.BANDS + E.FULL_BANDS))


def test_compare_follows_its_settings():
    """`compare` on the quick data with a 2-epoch schedule: its pieces are the functions'
    own, and it uses the settings' models, experts and shifts."""
    s = E.settings(True)
    s = dataclasses.replace(s, fit=s.fit.replace(epochs=2), num_experts=(1, 3),
                            shifts=(("uniform", (1, "uniform")), ("forward-50", (50, "forward"))),
                            diversity=False)
    result = E.compare(s, device="cpu")
    data, models = result.data, result.models
    # Table 2's models, then the decomposition's two more (LA on the cosine head, BalPoE +
    # mixup with one shared network)
    assert data.train_counts[0] == s.data.max_count
    assert list(models) == list(s.models) + ["la_cosine", "balpoe_mixup_shared"]
    assert result.table == E.calibration_table({n: models[n] for n in s.models}, data, "cpu")
    assert set(result.shifted) == {"uniform", "forward-50"} and result.diversity == {}
    assert [r["num_experts"] for r in result.curve] == [1, 3]
    assert result.curve[0]["balanced_accuracy"] == result.table["la_mixup"]["balanced_accuracy"]
    assert models["balpoe_mixup"].settings["epochs"] == 2


def test_la_mixup_is_balpoe_mixup_with_one_expert_at_lambda_zero(tiny_mnist):
    la = E.train_models(tiny_mnist, ("la_mixup",), _fit(2), device="cpu")["la_mixup"]
    one = E.experts_curve(tiny_mnist, (1,), _fit(2), device="cpu")[0]
    assert one["balanced_accuracy"] == E.calibration_table({"m": la}, tiny_mnist, "cpu")["m"]["balanced_accuracy"]


def test_expert_disagreement_and_ensemble_bias_against_hand_computation(tiny_mnist):
    """Exercise 3's value, lambdas (1, 0.5, 0): the raw aggregate and the bias-removed one."""
    network = dataclasses.replace(E.BALPOE_MODEL, lambdas=(1.0, 0.5, 0.0))
    t = E.train_models(tiny_mnist, ("balpoe_mixup",), _fit(2), device="cpu",
                       balpoe_model=network)["balpoe_mixup"]
    z = E.expert_logits(t, tiny_mnist.x_test, "cpu")
    lp = torch.log(tiny_mnist.train_counts.double() / tiny_mnist.train_counts.sum())
    lam = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    balanced = (z.double() - lam[:, None, None] * lp).argmax(2)
    d = E.expert_disagreement(t, tiny_mnist, "cpu")
    n_differ = sum(len(set(balanced[:, i].tolist())) > 1 for i in range(balanced.shape[1]))
    assert d["disagreement"] == pytest.approx(n_differ / balanced.shape[1])
    assert d["pairwise_kl"] >= 0
    report = E.ensemble_bias(t, tiny_mnist, "cpu")
    assert report["bias"] == pytest.approx(0.5)
    raw = z.double().mean(0)
    want_raw = torch.bincount(raw.argmax(1), minlength=10).double() / raw.shape[0]
    want_bal = torch.bincount((raw - 0.5 * lp).argmax(1), minlength=10).double() / raw.shape[0]
    assert report["predicted_raw"] == pytest.approx(want_raw.tolist())
    assert report["predicted_balanced"] == pytest.approx(want_bal.tolist())
    with pytest.raises(ValueError, match="not a BalPoE model"):
        E.expert_logits(E.train_models(tiny_mnist, ("ce",), _fit(1), device="cpu")["ce"],
                        tiny_mnist.x_test)


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
    models = E.train_models(tiny_mnist, ("la",), _fit(2), device="cpu")
    shifted = E.shifted_accuracy(models["la"], tiny_mnist, "cpu", shifts={"uniform": (1, "uniform")})
    idx = E.shifted_test_sets(tiny_mnist, {"uniform": (1, "uniform")})["uniform"]
    z = models["la"].logits(tiny_mnist.x_test[idx], "cpu")
    assert shifted["uniform"]["no_prior"] == accuracy(z, tiny_mnist.y_test[idx])
    assert shifted["uniform"]["known_prior"] == shifted["uniform"]["no_prior"]


def test_calibrated_experts_have_their_target_marginals():
    m = E.expert_marginals((1.0, 0.0, -1.0), temperature=1.0, num_samples=20000)
    assert m["bias"] == 0.0 and len(m["kl"]) == 3
    assert max(m["kl"]) < 0.01 and m["ensemble_kl"] < 0.01
    # calibrated experts: the ensemble's balanced prediction is the Bayes rule
    assert m["ensemble_balanced_error"] == pytest.approx(m["bayes_balanced_error"], abs=0.005)
    for t in (4.0, 0.25):  # over- and under-confident experts (notebook 04's model)
        off = E.expert_marginals((1.0, 0.0, -1.0), temperature=t, num_samples=20000)
        assert min(off["kl"]) > max(m["kl"])  # miscalibration moves the marginal off its target
        # ... and biases the balanced decision: a higher balanced error than the Bayes rule
        assert off["ensemble_balanced_error"] > off["bayes_balanced_error"] + 0.02, (t, off)
    with pytest.raises(ValueError, match="temperature"):
        E.expert_marginals((1.0,), temperature=0.0)


def test_every_arm_trains_the_network_its_settings_name(tiny_mnist):
    """The decomposition's "differs by" column is computed from `model_arms`: each arm must
    train what it declares (head, experts, shared layers, mixup)."""
    from ltlab.models import CosineClassifier

    arms = E.model_arms()
    models = E.train_models(tiny_mnist, tuple(arms), _fit(1), device="cpu")
    for name, arm in arms.items():
        t = models[name]
        net = t.model
        assert net.num_experts == len(arm.lambdas), name
        assert net.shared_convs == arm.shared_convs, name
        assert isinstance(net.classifier.heads[0], CosineClassifier) == arm.cosine, name
        assert t.settings["mixup_alpha"] == arm.mixup_alpha, name
        if len(arm.lambdas) > 1:
            assert t.method.balpoe.lambdas.tolist() == list(arm.lambdas), name
    with pytest.raises(ValueError, match="unknown model"):
        E.train_models(tiny_mnist, ("svm",), _fit(1), device="cpu")


def test_decomposition_changes_one_setting_per_row(tiny_mnist):
    arms = E.model_arms()
    models = E.train_models(tiny_mnist, E.DECOMPOSITION, _fit(2), device="cpu")
    rows = E.decomposition_rows(models, tiny_mnist, "cpu", arms)
    assert [r["arm"] for r in rows] == list(E.DECOMPOSITION) and "gain" not in rows[0]
    table = E.calibration_table(models, tiny_mnist, "cpu")
    named = set()
    for before, row in zip(rows, rows[1:]):
        assert row["against"] == before["arm"]
        changed = [k for k in row["settings"] if row["settings"][k] != before["settings"][k]]
        assert row["differs_by"] == changed and len(changed) == 1, row
        named |= set(changed)
        assert row["settings"] == E.arm_settings(arms[row["arm"]])
        assert row["gain"]["mean"] == pytest.approx(
            table[row["arm"]]["balanced_accuracy"] - table[before["arm"]]["balanced_accuracy"],
            abs=1e-12)
        assert row["gain"]["ci_low"] <= row["gain"]["mean"] <= row["gain"]["ci_high"]
    # from LA to BalPoE + mixup every setting changes once
    assert named == set(rows[0]["settings"])


def test_ece_difference_against_the_metric_and_its_interval():
    from ltlab.metrics import expected_calibration_error

    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat(30)
    pa = torch.softmax(4 * torch.randn(300, 10, generator=g), 1)
    pb = torch.softmax(0.5 * torch.randn(300, 10, generator=g), 1)
    d = E.ece_difference(pa, pb, y, resamples=200)
    want = expected_calibration_error(pa, y) - expected_calibration_error(pb, y)
    assert d["mean"] == pytest.approx(want, abs=1e-12)
    assert d["ci_low"] < d["ci_high"] and d["per_seed"] == []
    # the bootstrap's resamples are scored by the metric's own definition
    from ltlab.metrics.intervals import _resampled_ece

    idx = torch.randint(300, (4, 300), generator=g)
    assert _resampled_ece(pa.double(), y, idx).tolist() == pytest.approx(
        [expected_calibration_error(pa[i], y[i]) for i in idx], abs=1e-12)
    same = E.ece_difference(pa, pa, y, resamples=50)
    assert same["mean"] == same["ci_low"] == same["ci_high"] == 0.0
    with pytest.raises(ValueError, match="same test samples"):
        E.ece_difference(pa, pb[:10], y)


def test_paired_results_are_the_claims_keys(tiny_mnist):
    models = E.train_models(tiny_mnist, ("la", "balpoe", "balpoe_mixup"), _fit(1), device="cpu")
    pairs = E.paired_results(models, tiny_mnist, "cpu")
    assert {c.key for c in E.CLAIMS} == set(pairs)
    table = E.calibration_table(models, tiny_mnist, "cpu")
    assert pairs["balanced_accuracy_balpoe_mixup_minus_la"]["mean"] == pytest.approx(
        table["balpoe_mixup"]["balanced_accuracy"] - table["la"]["balanced_accuracy"], abs=1e-12)
    assert pairs["ece_balpoe_mixup_minus_balpoe"]["mean"] == pytest.approx(
        table["balpoe_mixup"]["ece"] - table["balpoe"]["ece"], abs=1e-9)
    assert E.paired_results({"la": models["la"]}, tiny_mnist, "cpu") == {}
