"""ltlab.experiments.lda: notebook 05's driver (the protocol, the comparison it measures).

The notebook itself runs seed 0 (tests/notebooks/test_notebook_05.py); the slow test here
repeats its quick setting for seeds 0-2 with CE and LDA.
"""

from __future__ import annotations

import pytest
import torch

from ltlab.analysis import distance_ratio, extract_features, weight_norm_ratio
from ltlab.augment import signal_weak
from ltlab.data import GaussianMixtureLT, LTData
from ltlab.experiments import lda as driver
from ltlab.experiments.protocol import FitOptions, failed_bands
from ltlab.lda import LDA

TINY_FIT = FitOptions(epochs=2, batch_size=32, lr=0.05)


@pytest.fixture(scope="module")
def mixture():
    return GaussianMixtureLT(num_classes=4, max_count=120, imbalance_ratio=20).dataset(50)


@pytest.fixture(scope="module")
def run(mixture):
    return driver.compare_methods(mixture, ["ce", "lda"], TINY_FIT, device="cpu",
                                  variant="normalised")


def test_settings_are_the_notebooks_sizes():
    assert driver.NOTEBOOK == "05_lda"
    quick = driver.settings(quick=True)
    assert (quick.max_count, quick.panel_epochs, quick.imbalance_ratio) == (400, 8, 100)
    assert quick.fit.as_kwargs() == dict(epochs=30, batch_size=64, lr=0.05, weight_decay=5e-4,
                                         momentum=0.9, warmup_epochs=0, mixup_alpha=0.0,
                                         augment=signal_weak)
    assert quick.methods == driver.METHOD_NAMES + driver.ABLATION_METHODS
    assert (quick.variant, quick.gamma, quick.window, quick.loss1_factor) == (
        "normalised", 2.0, 100, 20.0)
    full = driver.settings(quick=False)
    assert full.max_count > 400 and full.fit.epochs > 30
    assert full.max_count / 100 < 20  # the tail stays in the few group: LDA has headroom
    # the full-size record's hash covers the layout it was made with
    assert driver.hashed_settings(full) == dict(max_count=1500, epochs=60, panel_epochs=12,
                                                batch_size=64, lr=0.05)


def test_compare_builds_the_notebooks_data_and_checks_its_arguments():
    s = driver.settings().replace(max_count=100, methods=("ce",), fit=TINY_FIT)
    run = driver.compare(s, seeds=[3], device="cpu")
    assert run.data.train_counts[0] == 100 and run.data.num_classes == 10
    assert list(run.balanced_accuracy) == ["ce"]
    with pytest.raises(ValueError, match="one seed"):
        driver.compare(s, seeds=[0, 1])
    with pytest.raises(TypeError, match="settings must be"):
        driver.compare({"epochs": 2})


def test_bands_hold_on_good_numbers_and_name_what_fails():
    bal = {"ce": 0.50, "la": 0.55, "lda": 0.60, "lda_distance": 0.61}
    good = {"balanced_accuracy": bal, "weight_norm_ratio": {"ce": 3.0, "lda": 1.5},
            "shot_accuracy": {"ce": {"few": 0.1}, "lda": {"few": 0.3}},
            "ablation_balanced_accuracy": {**dict.fromkeys(driver.ABLATION_ARMS, 0.5),
                                           "ce": 0.50, "lda": 0.60}}
    assert failed_bands(good, driver.FULL_BANDS) == []
    good["balance_weight_by_fifth"] = [0.6, 0.7, 0.4, 0.2, 0.1]
    assert failed_bands(good, driver.BANDS) == []
    assert failed_bands(dict(good, balance_weight_by_fifth=[0.6, 0.7, 0.6, 0.5, 0.4]),
                        driver.BANDS) != []  # a weight that is not withdrawn
    close = dict(good, balanced_accuracy=dict(bal, lda=0.52))
    problems = failed_bands(close, driver.BANDS)
    assert problems == ["balanced_accuracy = " + repr(close["balanced_accuracy"])
                        + " fails its test (LDA's balanced head beats CE by 3 points)"]


def test_compare_measures_each_method_and_the_auxiliary_head(run, mixture):
    assert list(run.balanced_accuracy) == ["ce", "lda", "lda_unbalanced"]
    assert [r["method"] for r in run.rows()] == ["ce", "lda", "lda_unbalanced"]
    assert set(run.rows()[0]) == {"method", "balanced", "many", "medium", "few"}
    assert isinstance(run.methods["lda"], LDA)
    for name in ("ce", "lda"):
        assert run.weight_norm_ratio[name] == pytest.approx(weight_norm_ratio(
            run.weight_norms[name]))
        features = extract_features(run.models[name], mixture.x_test)
        assert run.distance_ratio[name] == pytest.approx(distance_ratio(features, mixture.y_test))
        # balanced accuracy is the mean of the per-class accuracies
        assert run.balanced_accuracy[name] == pytest.approx(
            float(run.per_class_accuracy[name].mean()))
    # h' of the LDA run is its unbalanced head, not the balanced one
    assert not torch.equal(run.weight_norms["lda_unbalanced"], run.weight_norms["lda"])
    assert "lda" in str(run) and "balanced" in str(run)


def test_recorded_results_are_the_notebooks_keys():
    full = driver.LDAComparison(
        balanced_accuracy={"ce": 0.3, "la": 0.4, "lda": 0.5, "lda_distance": 0.6,
                           "lda_unbalanced": 0.35},
        shot_accuracy={"ce": {"many": 0.9, "medium": 0.2, "few": 0.1}},
        weight_norm_ratio={"ce": 2.0, "la": 1.5, "lda": 1.2, "lda_distance": 1.1},
        distance_ratio={"ce": 0.4})
    rec = driver.recorded_results(full)
    assert set(rec) == {"balanced_accuracy", "weight_norm_ratio", "shot_accuracy",
                        "distance_ratio"}
    assert rec["balanced_accuracy"] == {"ce": 0.3, "la": 0.4, "lda": 0.5, "lda_distance": 0.6}
    assert rec["weight_norm_ratio"] == {"ce": 2.0, "lda": 1.2}
    assert rec["shot_accuracy"] is full.shot_accuracy


def test_mean_by_part_and_the_balance_weight_per_fifth(run):
    # 7 values in 3 parts: 3 + 2 + 2 (the first part holds the extra one)
    assert driver.mean_by_part([1, 2, 3, 4, 5, 6, 7], parts=3) == [2.0, 4.5, 6.5]
    with pytest.raises(ValueError, match="parts"):
        driver.mean_by_part([1.0, 2.0], parts=3)
    with pytest.raises(ValueError, match="parts"):
        driver.mean_by_part([1.0, 2.0], parts=0)
    logged = run.histories["lda"].step_terms["balanced_weight"]
    fifths = driver.balance_weight_by_fifth(run.histories["lda"])
    chunks = torch.tensor_split(torch.tensor(logged, dtype=torch.float64), 5)
    assert fifths == pytest.approx([float(c.mean()) for c in chunks])
    # the weight is min(loss1_factor * omega, 1): never above the cap
    assert all(0.0 <= w <= 1.0 for w in fifths)
    with pytest.raises(ValueError, match="balanced_weight"):
        driver.balance_weight_by_fifth(run.histories["ce"])


def test_recorded_results_carry_the_weight_and_the_paired_differences(run, mixture):
    """With the LDA run's history and the predictions, the record holds the weight per
    fifth, both heads' training-batch accuracy per fifth (fractions) and the paired
    differences of the methods that were trained, each the interval of
    `balanced_accuracy_difference` on the test predictions."""
    from ltlab.metrics import balanced_accuracy_difference

    rec = driver.recorded_results(driver.LDAComparison(
        balanced_accuracy={**dict.fromkeys(driver.METHOD_NAMES, 0.5), **run.balanced_accuracy},
        weight_norm_ratio={"ce": 2.0, "lda": 1.0}, histories=run.histories,
        methods=run.methods, predictions=run.predictions, data=run.data))
    assert rec["balance_weight_by_fifth"] == driver.balance_weight_by_fifth(run.histories["lda"])
    acc = rec["batch_accuracy_by_fifth"]
    assert set(acc) == {"lda", "lda_unbalanced"}
    assert all(0.0 <= a <= 1.0 for a in acc["lda"] + acc["lda_unbalanced"])
    assert set(rec["paired_differences"]) == {"lda_minus_ce"}  # only CE and LDA were trained
    diff = rec["paired_differences"]["lda_minus_ce"]
    assert diff == balanced_accuracy_difference(run.predictions["lda"], run.predictions["ce"],
                                                mixture.y_test, mixture.num_classes)
    assert diff["mean"] == pytest.approx(run.balanced_accuracy["lda"]
                                         - run.balanced_accuracy["ce"])
    assert diff["ci_low"] < diff["mean"] < diff["ci_high"]


def test_claims_point_at_recorded_differences():
    """"Paper vs this lab": every claim is LDA's h minus one arm of Table 5 (ImageNet-LT),
    recorded by `paired_differences`, and the verdict follows from the interval."""
    from ltlab.experiments.paper_vs_lab import paper_vs_lab, verdict

    assert len(driver.CLAIMS) == 3
    intervals = {k: {"mean": 0.01 * i, "ci_low": 0.01 * i - 0.02, "ci_high": 0.01 * i + 0.02}
                 for i, k in enumerate(driver.PAIRED_DIFFERENCES)}
    rows = paper_vs_lab({"paired_differences": intervals}, driver.CLAIMS)
    for claim, row in zip(driver.CLAIMS, rows):
        key = claim.key.split(".")[1]
        assert driver.PAIRED_DIFFERENCES[key][0] == "lda" and claim.direction == 1
        assert "ImageNet-LT" in claim.paper and "Table 5" in claim.paper
        assert row["verdict"] == verdict(intervals[key]["ci_low"], intervals[key]["ci_high"])


def test_reweighted_risk_is_torchs_weighted_cross_entropy_after_the_deferral():
    """The ablation's single-head arms: CE before ``defer`` of the steps, then the balanced
    risk of Eq. 5 as a weighted mean, i.e. F.cross_entropy(weight=1 / (C n_y))."""
    import torch.nn.functional as F

    from ltlab.train import Batch

    counts = torch.tensor([60, 20, 5])
    data = LTData(torch.zeros(85, 4), torch.zeros(85, dtype=torch.long), torch.zeros(3, 4),
                  torch.arange(3), counts, list("abc"))
    model = torch.nn.Linear(4, 3)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
    batch = Batch(x, y, torch.arange(16))
    drw = driver.ReweightedRisk(defer=0.8)
    drw.setup(model, data, total_steps=10, device="cpu")
    w = 1.0 / (3 * counts.double())
    z = model(x)
    assert torch.allclose(drw.loss(model, batch, 7), F.cross_entropy(z, y))
    assert torch.allclose(drw.loss(model, batch, 8), F.cross_entropy(z, y, weight=w.float()))
    rw = driver.ReweightedRisk()
    rw.setup(model, data, total_steps=10, device="cpu")
    assert torch.allclose(rw.loss(model, batch, 0), F.cross_entropy(z, y, weight=w.float()))
    assert torch.equal(rw.predict(model, x), z)
    with pytest.raises(ValueError, match="defer"):
        driver.ReweightedRisk(defer=1.0)


def test_the_ablation_table_and_its_recorded_key(mixture):
    run = driver.compare_methods(mixture, ["ce", "rw", "drw", "lda"], TINY_FIT, device="cpu",
                                 variant="normalised")
    rows = run.ablation_rows()
    assert [r["method"] for r in rows] == list(driver.ABLATION_ARMS)
    assert all(r["label"] == driver.ABLATION_ARMS[r["method"]] for r in rows)
    rec = driver.recorded_results(driver.LDAComparison(
        balanced_accuracy={**{k: 0.5 for k in driver.METHOD_NAMES}, **run.balanced_accuracy},
        weight_norm_ratio={"ce": 2.0, "lda": 1.0}))
    assert rec["ablation_balanced_accuracy"] == {
        arm: run.balanced_accuracy[arm] for arm in driver.ABLATION_ARMS}
    assert isinstance(run.methods["drw"], driver.ReweightedRisk)
    assert run.methods["drw"].defer == 0.8 and run.methods["rw"].defer == 0.0


def test_compare_rejects_unknown_variants_and_methods(mixture):
    with pytest.raises(ValueError, match="variant"):
        driver.compare_methods(mixture, ["lda"], variant="percent")
    with pytest.raises(ValueError, match="unknown method"):
        driver.compare_methods(mixture, ["lda", "bbn"])


def test_default_model_follows_the_input_shape(mixture):
    from ltlab.models import CNN1D, MLP

    assert isinstance(driver.default_model(mixture), MLP)
    signals = LTData(torch.randn(8, 40), torch.arange(8) % 4, torch.randn(4, 40),
                     torch.arange(4), torch.tensor([2, 2, 2, 2]), list("abcd"))
    assert isinstance(driver.default_model(signals), CNN1D)


# ----------------------------------------------------------------------------- targets
SEEDS = (0, 1, 2)
# notebook 05's quick setting: the normalised variant, weak augmentation for every method
QUICK = dict(fit_options=driver.settings().fit, variant="normalised", device="cpu")


@pytest.fixture(scope="module")
def mnist_runs():
    from ltlab.data import mnist1d_lt

    data = mnist1d_lt(100)
    return [driver.compare_methods(data, ["ce", "lda"], seed=s, **QUICK) for s in SEEDS]


@pytest.mark.slow
def test_lda_beats_ce_by_three_points_on_every_seed(mnist_runs):
    gains = [r.balanced_accuracy["lda"] - r.balanced_accuracy["ce"] for r in mnist_runs]
    assert min(gains) >= 0.03, gains


@pytest.mark.slow
def test_lda_weight_norms_are_flatter_than_ce(mnist_runs):
    for r in mnist_runs:
        assert r.weight_norm_ratio["lda"] < r.weight_norm_ratio["ce"], r.weight_norm_ratio
