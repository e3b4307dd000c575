"""ltlab.experiments.logit_adjustment (notebook 01's driver): its three verbs, the loss table
on a tiny run, and the 2-D mixture's numbers against independent computations."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ltlab.data import mnist1d_lt
from ltlab.experiments import logit_adjustment as E
from ltlab.experiments.mnist1d_setup import mnist_fit_options, mnist_sizes
from ltlab.losses import adjust_logits, log_prior_from_counts
from ltlab.metrics import balanced_accuracy
from ltlab.models import CosineClassifier
from ltlab.train import predict_logits


@pytest.fixture(scope="module")
def tiny_mnist():
    """A small MNIST-1D-LT (the tests train on it for a few epochs)."""
    return mnist1d_lt(10, max_count=40, test_per_class=20, seed=0)


NOTEBOOK_KEYS = {"balanced_error_bayes", "balanced_error_ce", "balanced_error_posthoc",
                 "balanced_error_la", "balanced_accuracy_ce", "balanced_accuracy_la"}


def test_settings_follow_the_recipe():
    quick, full = E.settings(True), E.settings(False)
    assert quick.fit == mnist_fit_options(True) and full.fit == mnist_fit_options(False)
    assert quick.data == mnist_sizes(True) and full.data.max_count == 1500
    assert quick.losses == E.LOSS_TABLE and "posthoc" in quick.losses
    assert quick.mixture.taus == E.TAU_GRID and (quick.imbalance_ratio, quick.tau) == (100, 1.0)
    assert E.NOTEBOOK == "01_logit_adjustment"
    assert E.hashed_settings(full)["recipe"] == {
        "batch_size": 128, "lr": 0.01, "optimizer": "adam", "weight_decay": 2e-3,
        "schedule": "cosine", "epochs": 150}


def test_recorded_results_are_the_notebook_keys():
    errors = {"balanced_error_bayes": 0.2, "balanced_error_ce": 0.3,
              "balanced_error_posthoc": 0.25, "balanced_error_la": 0.21}
    table = {"ce": {"balanced_accuracy": 0.4, "seconds": 1.0},
             "la": {"balanced_accuracy": 0.5, "seconds": 2.0}}
    result = E.LossComparison(errors, table)
    rec = E.recorded_results(result)
    assert set(rec) == NOTEBOOK_KEYS
    assert rec["balanced_accuracy_la"] == 0.5 and rec["balanced_error_ce"] == 0.3
    rows = result.rows()
    assert [r["method"] for r in rows] == ["ce", "la"]
    assert rows[1]["label"] == "LA loss" and rows[1]["balanced_accuracy"] == 0.5


def test_compare_losses_rejects_unknown_names_before_training():
    with pytest.raises(ValueError, match="unknown method"):
        E.compare_losses(None, ["ce", "svm"])


def test_loss_table_reuses_models_and_matches_its_own_logits(tiny_mnist):
    rows = E.compare_losses(tiny_mnist, ("ce", "posthoc", "la", "balanced_softmax"),
                            mnist_fit_options().replace(epochs=5), device="cpu")
    assert rows["ce"]["trained"].settings["epochs"] == 5
    assert list(rows) == ["ce", "posthoc", "la", "balanced_softmax"]
    assert rows["posthoc"]["trained"] is rows["ce"]["trained"] and rows["posthoc"]["reused"] == "ce"
    assert rows["balanced_softmax"]["reused"] == "la"
    assert rows["balanced_softmax"]["balanced_accuracy"] == rows["la"]["balanced_accuracy"]
    ce = rows["ce"]["trained"]
    z = ce.logits(tiny_mnist.x_test, "cpu")
    lp = log_prior_from_counts(tiny_mnist.train_counts)
    want = balanced_accuracy(adjust_logits(z, lp), tiny_mnist.y_test, tiny_mnist.num_classes)
    assert rows["posthoc"]["balanced_accuracy"] == pytest.approx(want, abs=1e-12)


def test_mixture_errors_against_their_definition():
    errors = E.mixture_errors(100, tau=1.0, seed=0)
    _, data, bayes = E.mixture_setup(100, 0)
    model, method = E.train_mixture_model(100, "la", 1.0, 0)
    z = predict_logits(model, method, data.x_test, "cpu")
    assert errors["balanced_error_la"] == pytest.approx(
        1 - balanced_accuracy(z, data.y_test, 10), abs=1e-12)
    assert errors["balanced_error_bayes"] == bayes
    # the Bayes floor is below every trained model
    assert min(errors.values()) == pytest.approx(bayes, abs=0.02)
    assert errors["balanced_error_ce"] > errors["balanced_error_posthoc"]


def test_mixture_study_shows_the_selected_model():
    s = E.mixture_study(100, tau=1.0, mode="posthoc", seed=0, taus=(0.0, 1.0), resolution=12)
    assert s.errors["posthoc"] == pytest.approx(
        E.mixture_errors(100, 1.0, 0)["balanced_error_posthoc"], abs=1e-12)
    assert len(s.grid[2]) == 12 and len(s.grid[2][0]) == 12
    assert s.tau_curve["LA loss"][0] == [0.0, 1.0]
    assert torch.tensor(s.recall["Bayes"]).mean().item() == pytest.approx(
        1 - s.errors["bayes"], abs=0.02)
    with pytest.raises(ValueError, match="mode"):
        E.mixture_study(mode="both")


def test_compare_runs_both_parts():
    s = E.settings(True)
    s = dataclasses.replace(s, losses=("ce", "la"), fit=s.fit.replace(epochs=2), tau=0.5)
    result = E.compare(s, device="cpu")
    assert result.errors == E.mixture_errors(100, 0.5, 0)
    assert result.errors != E.mixture_errors(100, 1.0, 0)  # the settings' tau is used
    assert result.data.train_counts[0] == s.data.max_count
    assert result.table["la"]["trained"].method.tau == 0.5
    rec = E.recorded_results(result)
    # the data is kept, so the one pair both of whose arms ran is measured too
    assert set(rec) == NOTEBOOK_KEYS | {"balanced_accuracy_la_minus_ce"}
    assert rec["balanced_accuracy_la_minus_ce"]["mean"] == pytest.approx(
        rec["balanced_accuracy_la"] - rec["balanced_accuracy_ce"], abs=1e-12)
    assert rec["balanced_accuracy_ce"] == result.table["ce"]["balanced_accuracy"]
    with pytest.raises(ValueError, match="seeds"):
        E.compare(s, seeds=())


def test_bands_are_the_notebook_claims():
    from ltlab.experiments.protocol import failed_bands

    good = {"balanced_error_bayes": 0.2, "balanced_error_ce": 0.3, "balanced_error_posthoc": 0.25,
            "balanced_error_la": 0.21, "balanced_accuracy_ce": 0.4, "balanced_accuracy_la": 0.45}
    assert failed_bands(good, E.BANDS) == [] and failed_bands(good, E.FULL_BANDS) == []
    bad = dict(good, balanced_error_la=0.22, balanced_accuracy_la=0.41)
    problems = failed_bands(bad, E.BANDS)
    assert len(problems) == 2, problems
    assert problems[0].startswith("balanced_error_la - balanced_error_bayes = 0.02 is above 0.015")


def test_at_imbalance_ratio_1_tau_changes_nothing_and_the_panel_says_so():
    """A uniform prior makes log pi_s a constant: tau shifts every logit equally, so neither
    the post-hoc curve nor the LA-loss curve moves (the panel's text once claimed that tau
    "only hurts" there)."""
    from ltlab.viz.logit_adjustment import la_mixture_figure

    s = E.mixture_study(1, tau=1.0, mode="loss", seed=0, taus=(0.0, 1.0, 2.0), resolution=12)
    assert len(set(s.train_counts)) == 1
    for name, (_taus, errors) in s.tau_curve.items():
        assert max(errors) - min(errors) <= 1e-3, (name, errors)
    notes = [a.text for a in la_mixture_figure(s).layout.annotations]
    assert any("Uniform prior" in t and "flat" in t for t in notes), notes
    # at ratio 100 the curves do move, and the note gives the spread of log pi_s instead
    s100 = E.mixture_study(100, tau=1.0, mode="loss", seed=0, taus=(0.0, 1.0), resolution=12)
    posthoc = s100.tau_curve["post-hoc"][1]
    assert max(posthoc) - min(posthoc) > 0.05
    notes = [a.text for a in la_mixture_figure(s100).layout.annotations]
    assert any("spans 4.6 nats" in t for t in notes), notes  # log(1000 / 10)


def test_the_panel_at_the_exercise_imbalance_ratio_draws():
    """Exercise 3 of notebook 01 sets the panel to imbalance ratio 10."""
    from ltlab.viz.logit_adjustment import la_mixture_figure

    s = E.mixture_study(10, tau=1.0, mode="posthoc", seed=0, taus=(0.0, 1.0), resolution=12)
    assert s.train_counts[0] / s.train_counts[-1] == pytest.approx(10, rel=0.01)
    fig = la_mixture_figure(s)
    assert any("spans 2.3 nats" in a.text for a in fig.layout.annotations)  # log(10)
    taus, errors = s.tau_curve["post-hoc"]
    assert min(errors) <= errors[0] and min(errors) >= s.errors["bayes"] - 0.02


def test_arm_settings_name_what_each_row_changes():
    """The "differs by" column comes from the arms: each equal-head pair differs in one
    setting, and every row's difference from CE is what its arm declares."""
    ce = E.arm_settings("ce")
    assert E.differs_by(E.arm_settings("ldam_drw"), E.arm_settings("la_cosine")) == ["loss"]
    assert E.differs_by(E.arm_settings("la_cosine"), E.arm_settings("la")) == ["head"]
    assert E.differs_by(E.arm_settings("ce_cosine"), ce) == ["head"]
    assert E.differs_by(E.arm_settings("posthoc"), ce) == ["prediction"]
    assert E.differs_by(E.arm_settings("ldam_drw"), ce) == ["loss", "head"]
    assert E.differs_by(ce, ce) == [] and E.describe_difference(ce, ce) == "nothing"
    assert E.describe_difference(E.arm_settings("la_cosine"), E.arm_settings("la")) == \
        "head: linear → cosine (s = 30)"
    assert "τ = 0.5" in E.arm_settings("la", tau=0.5)["loss"]
    for name, arm in E.ARMS.items():
        s = E.arm_settings(name)
        assert (s["head"] != "linear") == (arm.head == "cosine"), name
    with pytest.raises(ValueError, match="unknown arm 'svm'"):
        E.arm_settings("svm")
    with pytest.raises(ValueError, match="same names"):
        E.differs_by({"loss": "CE"}, {"head": "linear"})
    # every pair a Claim reads is measured, and every measured pair names two arms
    assert {c.key for c in E.CLAIMS} <= set(E.PAIRS)
    assert all(a in E.ARMS and b in E.ARMS for a, b in E.PAIRS.values())


def test_arms_train_the_head_they_declare_and_pairs_match_the_table(tiny_mnist):
    names = ("ce", "la", "la_cosine", "ldam_drw")
    rows = E.compare_losses(tiny_mnist, names, mnist_fit_options().replace(epochs=2),
                            device="cpu")
    for name in names:
        head = rows[name]["trained"].model.classifier.heads[0]
        assert isinstance(head, CosineClassifier) == (E.ARMS[name].head == "cosine"), name
    assert type(rows["la_cosine"]["trained"].method) is type(rows["la"]["trained"].method)
    diffs = E.loss_differences(rows, tiny_mnist)
    assert set(diffs) == set(E.PAIRS)
    for key, (a, b) in E.PAIRS.items():
        d = diffs[key]
        assert d["mean"] == pytest.approx(rows[a]["balanced_accuracy"]
                                          - rows[b]["balanced_accuracy"], abs=1e-12), key
        assert d["ci_low"] <= d["mean"] <= d["ci_high"], key
    result = E.LossComparison({}, rows, tiny_mnist)
    table = {r["method"]: r for r in result.rows()}
    assert table["ldam_drw"]["differs_by"] == ["loss", "head"] and table["ce"]["differs_by"] == []
    rec = E.recorded_results(E.LossComparison({"balanced_error_bayes": 0.2}, rows, tiny_mnist))
    assert rec["loss_table"]["la_cosine"]["differs_by"] == ["loss", "head"]
    assert rec["loss_table"]["la_cosine"]["settings"] == E.arm_settings("la_cosine")
