"""ltlab.experiments.flexda: notebook 03's driver (the arms, the protocol) and the MNIST-1D
parts notebook 07 runs (splits, one run; 07's protocol: tests/experiments/test_flexda_mnist1d.py).

The notebooks themselves run seed 0 (tests/notebooks/test_notebook_03.py and _07.py); the slow
tests here repeat their quick experiments for other seeds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace

import pytest
import torch

from ltlab.data import LTData
from ltlab.experiments import flexda as driver
from ltlab.experiments.flexda import (
    HARD_TO_EASY,
    NOTEBOOK,
    SPLIT_KEYS,
    SSLComparison,
    compare_profiles,
    heldout_split,
    make_ssl_data,
    profile_settings,
    recorded_profile_results,
    reorder_classes,
    settings,
    true_unlabeled_prior,
)
from ltlab.experiments.protocol import FitOptions, failed_bands

#: a split and a run small enough for the inner loop (a few seconds)
TINY = replace(profile_settings(), labeled_max=60, unlabeled_max=120, test_per_class=40,
               fit=FitOptions(batch_size=32, lr=0.1, weight_decay=1.5e-4, extra=(
                   ("steps", 20), ("unlabeled_ratio", 2), ("schedule", "constant"))))


def _toy(num_classes=3) -> LTData:
    y = torch.arange(num_classes).repeat_interleave(torch.tensor([5, 3, 2][:num_classes]))
    x = y.float()[:, None].repeat(1, 4)
    return LTData(x, y, x.clone(), y.clone(), torch.bincount(y), [f"c{i}" for i in range(num_classes)])


def test_reorder_classes_makes_the_chosen_class_the_head():
    data = _toy()
    out = reorder_classes(data, (2, 0, 1))
    assert out.train_counts.tolist() == [2, 5, 3]
    assert out.classes == ["c2", "c0", "c1"]
    # old class 2 is new class 0: the signals keep their (old) value
    assert (out.x_train[out.y_train == 0, 0] == 2).all()
    with pytest.raises(ValueError, match="permutation"):
        reorder_classes(data, (0, 0, 1))


def test_ssl_split_profiles_and_true_prior():
    sizes = {k: getattr(TINY, k) for k in ("labeled_max", "unlabeled_max", "test_per_class")}
    consistent = make_ssl_data("consistent", imbalance_ratio=10, **sizes)
    reversed_ = make_ssl_data("reversed", imbalance_ratio=10, **sizes)
    assert consistent.train_counts[0] == 60 and consistent.train_counts[-1] == 6
    q_c, q_r = true_unlabeled_prior(consistent), true_unlabeled_prior(reversed_)
    assert math.isclose(float(q_c.sum()), 1.0, abs_tol=1e-6)
    assert q_c[0] > q_c[-1] and q_r[0] < q_r[-1]  # reversed: the labeled head is the tail
    counts = torch.bincount(reversed_.y_unlabeled, minlength=10).double()
    assert torch.allclose(q_r.double(), counts / counts.sum(), atol=1e-7)
    # the hardest digit (9) is class 0, the head
    assert consistent.classes == reversed_.classes == [str(c) for c in HARD_TO_EASY]
    with pytest.raises(ValueError, match="unlabeled"):
        true_unlabeled_prior(_toy())


def test_heldout_split_is_disjoint_balanced_and_shaped_like_q():
    data = make_ssl_data("reversed", 60, 120, 10, test_per_class=40)
    q = true_unlabeled_prior(data)
    cal, est = heldout_split(data, q, seed=0)
    assert not set(cal.tolist()) & set(est.tolist())
    assert torch.bincount(data.y_test[cal], minlength=10).tolist() == [20] * 10
    got = torch.bincount(data.y_test[est], minlength=10).double()
    assert torch.allclose(got / got.sum(), q.double(), atol=0.05)


def test_settings_quick_and_full():
    quick, full = settings(True), settings(False)
    assert NOTEBOOK == "03_flexda_prior_estimation"
    assert {f.name for f in dataclasses.fields(quick)} == {"arms", "tradeoff", "seed"}
    assert full.arms.seeds > quick.arms.seeds >= 5
    assert full.tradeoff.seeds > quick.tradeoff.seeds >= 3
    qp, fp = profile_settings(True), profile_settings(False)
    assert set(qp.split()) == set(SPLIT_KEYS)
    assert qp.steps == 800 and fp.steps > qp.steps
    assert qp.prior_momentum == qp.ema == 0.99
    # the prior estimate must settle: several EMA time constants within the full run
    assert fp.steps * (1 - fp.prior_momentum) >= 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.seed = 1  # frozen: change a copy, settings().replace(seed=1)
    assert quick.replace(seed=1).seed == 1 and settings().seed == 0
    # fit's options reach fit as its keywords (a step budget replaces the epochs)
    kwargs = qp.fit.as_kwargs()
    assert kwargs["steps"] == 800 and "epochs" not in kwargs and kwargs["momentum"] == 0.9


def test_hashed_settings_keep_the_layout_of_the_committed_record():
    """The full-size record's hash covers the arms (under their old module:function name)
    and the trade-off: these keys and values, nothing else (the MNIST-1D profiles are
    notebook 07's, `test_flexda_mnist1d`)."""
    old = driver.hashed_settings(settings(quick=False))
    arms = old.pop("ltlab.experiments.flexda_arms:settings")
    tradeoff = old.pop("ltlab.experiments.flexda:tradeoff")
    # the trade-off's setting: the arms' at full size, consistent profile, FlexDA and ADELLO
    assert tradeoff == {**arms, "profile": "consistent", "arms": ["flexda", "adello"]}
    assert old == {}
    assert arms == dict(data="mixture", profile="reversed", labeled_max=300, unlabeled_max=1500,
                        imbalance_ratio=50, unlabeled_imbalance_ratio=50, test_per_class=300,
                        dim=8, radius=2.5, steps=800, batch_size=1024, unlabeled_ratio=2,
                        lr=0.005, optimizer="adam", weight_decay=0.0, momentum=0.98, ema=0.995,
                        hidden=64, channels=16, feature_dim=64, view_noise=(0.1, 0.5),
                        distill_start=0.2, seeds=10)


def test_compare_profiles_rows_and_recorded_results():
    s = replace(TINY, profiles=("reversed",), methods=("fixmatch", "flexda"), trace_every=5)
    result = compare_profiles(s, device="cpu")
    assert isinstance(result, SSLComparison)
    fm, flex = result.results["reversed"]["fixmatch"], result.results["reversed"]["flexda"]
    # run_ssl's numbers agree with each other (an independent recomputation)
    assert flex["balanced_accuracy"] == pytest.approx(
        sum(flex["per_class_accuracy"]) / 10, abs=1e-9)
    assert flex["kl_to_true_prior"] == pytest.approx(
        float((torch.tensor(flex["q_hat"]).double() * (torch.tensor(flex["q_hat"]).double()
              / torch.tensor(flex["true_prior"]).double()).log()).sum()), rel=1e-3)
    assert flex["trace"]["step"][-1] == 20
    assert "kl_to_true_prior" not in fm
    rows = result.rows()
    assert [(r["profile"], r["method"]) for r in rows] == [("reversed", "fixmatch"),
                                                           ("reversed", "flexda")]
    assert rows[1]["kl_to_true_prior"] == flex["kl_to_true_prior"]
    assert math.isnan(rows[0]["kl_to_true_prior"])
    recorded = recorded_profile_results(result)
    assert recorded == {
        "kl_to_true_prior": {"reversed": flex["kl_to_true_prior"]},
        "kl_em_to_true_prior": {"reversed": flex["kl_em_to_true_prior"]},
        "balanced_accuracy": {"reversed": {"fixmatch": fm["balanced_accuracy"],
                                           "flexda": flex["balanced_accuracy"]}},
    }
    with pytest.raises(ValueError, match="flexda"):
        recorded_profile_results(SSLComparison({"reversed": {"fixmatch": fm}}))


def test_compare_rejects_other_settings_and_unknown_methods():
    with pytest.raises(TypeError, match="settings must be"):
        driver.compare({"steps": 1})
    with pytest.raises(TypeError, match="ProfileSettings"):
        compare_profiles(settings().arms)
    with pytest.raises(ValueError, match="method must be one of"):
        driver.run_ssl(make_ssl_data("uniform", 60, 120, 10, test_per_class=40), "mixmatch")


def test_driver_compare_runs_every_part_and_records_the_contract_keys():
    s = settings()
    tiny = s.replace(
        arms=replace(s.arms, labeled_max=60, unlabeled_max=120, test_per_class=20,
                     arms=("fixmatch", "flexda"), monitor_every=0,
                     fit=s.arms.fit.replace(extra=(("steps", 10),) + s.arms.fit.extra[1:])))
    tiny = tiny.replace(tradeoff=replace(tiny.arms, profile="consistent",
                                         arms=("flexda", "adello")))
    result = driver.compare(tiny, seeds=(3, 4), device="cpu")
    assert result.arms.seeds == [3, 4] and result.tradeoff.seeds == [3, 4]
    assert result.rows() == result.arms.rows()
    recorded = driver.recorded_results(result)
    assert list(recorded) == ["prior_arms", "prior_arms_ece", "prior_arms_paired",
                              "consistent_arms"]
    consistent = recorded["consistent_arms"]
    assert set(consistent["prior_arms"]) == {"flexda", "adello"}
    assert consistent["prior_arms_ece"]["adello"]["per_seed"] == result.tradeoff.values(
        "adello", "ece")
    assert consistent["prior_arms_paired"]["ece_adello_minus_flexda"]["per_seed"] == \
        pytest.approx([a - b for a, b in zip(result.tradeoff.values("adello", "ece"),
                                             result.tradeoff.values("flexda", "ece"))])
    assert recorded["prior_arms"]["flexda"]["per_seed"] == result.arms.values("flexda")
    assert 0.0 <= result.bayes <= 1.0


def test_bands_name_recorded_keys_and_fail_with_their_reason():
    """Every band reads a key the notebook records; a failing value is reported with the
    band's reason (the notebook's Checks, its test and the full-size test share them)."""
    good = {
        "prior_arms_paired": {k: {"mean": 0.05, "ci_low": 0.01, "ci_high": 0.09}
                              for k in ("flexda_minus_fixmatch", "flexda_minus_fixed_labeled")},
        "prior_arms_ece": {"flexda": {"per_seed": [0.1, 0.2]},
                           "fixmatch": {"per_seed": [0.2, 0.3]}},
    }
    ece = {"mean": -0.1, "ci_low": -0.15, "ci_high": -0.05}
    good["prior_arms_paired"]["ece_adello_minus_flexda"] = ece
    good["consistent_arms"] = {"prior_arms_paired": {
        "ece_adello_minus_flexda": ece,
        "adello_minus_flexda": {"mean": 0.004, "ci_low": -0.006, "ci_high": 0.014}}}
    assert failed_bands(good, driver.BANDS) == [] and failed_bands(good, driver.FULL_BANDS) == []
    # ADELLO worse calibrated, or clearly less accurate, on the consistent profile: named
    tie = good["consistent_arms"]["prior_arms_paired"]
    worse_cal = dict(good, consistent_arms={"prior_arms_paired": dict(
        tie, ece_adello_minus_flexda=dict(ece, ci_high=0.01))})
    assert failed_bands(worse_cal, driver.FULL_BANDS) == [
        "consistent_arms.prior_arms_paired.ece_adello_minus_flexda.ci_high = 0.01 is above 0 "
        "(consistent profile: ADELLO better calibrated than FlexDA)"]
    no_tie = dict(good, consistent_arms={"prior_arms_paired": dict(
        tie, adello_minus_flexda=dict(tie["adello_minus_flexda"], mean=-0.02))})
    assert len(failed_bands(no_tie, driver.BANDS)) == 1
    bad = dict(good, prior_arms_ece={"flexda": {"per_seed": [0.1, 0.4]},
                                     "fixmatch": {"per_seed": [0.2, 0.3]}})
    [problem] = failed_bands(bad, driver.BANDS)
    assert problem.startswith("prior_arms_ece = ") and problem.endswith(
        "fails its test (FlexDA's ECE is below FixMatch's on every seed)")
    worse = dict(good, prior_arms_paired={k: dict(v, ci_low=-0.01)
                                          for k, v in good["prior_arms_paired"].items()})
    assert len(failed_bands(worse, driver.FULL_BANDS)) == 2


@pytest.mark.slow
def test_quick_mode_targets_hold_for_other_seeds():
    """Notebook 07's quick experiment (seed 0 runs in test_notebook_07) for seeds 1 and 2:
    the issue's targets for the estimates (KL <= 0.02 online, <= 0.01 for EM on held-out
    predictions; small slack for other machines), FlexDA not worse than FixMatch."""
    quick = profile_settings()
    for seed in (1, 2):
        res = compare_profiles(replace(quick, profiles=("consistent", "reversed"),
                                       methods=("fixmatch", "flexda"), trace_every=0),
                               seed=seed, workers=2).results
        res.update(compare_profiles(replace(quick, profiles=("uniform",), methods=("flexda",),
                                            trace_every=0), seed=seed).results)
        kl = {p: r["flexda"]["kl_to_true_prior"] for p, r in res.items()}
        kl_em = {p: r["flexda"]["kl_em_to_true_prior"] for p, r in res.items()}
        assert all(v <= 0.025 for v in kl.values()), (seed, kl)
        assert all(v <= 0.012 for v in kl_em.values()), (seed, kl_em)
        for p in ("consistent", "reversed"):
            gain = res[p]["flexda"]["balanced_accuracy"] - res[p]["fixmatch"]["balanced_accuracy"]
            assert gain >= -0.03, (seed, p, gain)


# ----------------------------------------------------------------------------- section 7's arms
from ltlab.metrics import mean_interval, paired_interval  # noqa: E402
from ltlab.train import Batch  # noqa: E402

flexda_arms = driver  # the arms' functions, from the driver package

_ARMS = settings().arms
ARMS_TINY = replace(_ARMS, labeled_max=60, unlabeled_max=120, test_per_class=20,
                    fit=_ARMS.fit.replace(extra=(("steps", 15),) + _ARMS.fit.extra[1:]))


def test_mean_interval_matches_scipy_t_interval():
    from scipy import stats

    values = [0.61, 0.55, 0.70, 0.64, 0.58]
    r = mean_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=sum(values) / 5,
                                 scale=stats.sem(values))
    assert r["mean"] == pytest.approx(sum(values) / 5)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert r["per_seed"] == values
    one = mean_interval([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])
    d = paired_interval([0.7, 0.8, 0.9], [0.6, 0.6, 0.9])
    assert d["per_seed"] == pytest.approx([0.1, 0.2, 0.0])
    with pytest.raises(ValueError, match="same, non-empty seeds"):
        paired_interval([0.1], [0.1, 0.2])


def test_pseudo_label_monitor_counts_per_true_class():
    y_unl = torch.tensor([0, 0, 1, 1, 2, 2])
    mon = flexda_arms.PseudoLabelMonitor(y_unl, 3, threshold=0.9, every=1)
    big = 10.0
    # samples: class 0 -> confident 0 (right), class 0 -> unsure 0 (right, discarded),
    # class 1 -> confident 0 (wrong), class 1 -> unsure 1, class 2 -> confident 2, class 2 -> unsure 1
    logits = torch.tensor([[big, 0, 0], [0.1, 0, 0], [big, 0, 0], [0, 0.1, 0], [0, 0, big],
                           [0, 0.1, 0]])
    batch = Batch(x=torch.zeros(1, 2), y=torch.zeros(1, dtype=torch.long), index=torch.zeros(1),
                  index_unlabeled=torch.arange(6))
    mon(batch, logits)
    c = mon.curves
    assert c["step"] == [1]
    assert c["mask_rate"][0] == [0.5, 0.5, 0.5]
    assert c["recall"][0] == [0.5, 0.0, 0.5]
    assert c["precision"][0][0] == 0.5 and math.isnan(c["precision"][0][1]) and c["precision"][0][2] == 1.0
    assert c["discarded_correct"][0] == [1.0, 1.0, 0.0]
    # the mean confidence per true class, and the overall pass rate (3 of 6 passed)
    conf = torch.softmax(logits, 1).max(1).values.double()
    expected = [float(conf[y_unl == k].mean()) for k in range(3)]
    assert c["confidence"][0] == pytest.approx(expected)
    assert c["pass_rate"] == [0.5]


def test_late_rates_average_the_last_records_per_class():
    curves = {"mask_rate": [[0.0, 0.2], [0.4, math.nan], [0.6, 0.1], [0.8, 0.3]]}
    assert flexda_arms.late_rates(curves, fraction=0.5) == pytest.approx([0.7, 0.2])
    # a class without a finite record in the window is NaN; the last record alone at 0.25
    only_nan = {"mask_rate": [[0.5, 0.5], [0.1, math.nan]]}
    late = flexda_arms.late_rates(only_nan, fraction=0.25)
    assert late[0] == pytest.approx(0.1) and math.isnan(late[1])
    with pytest.raises(ValueError, match="monitor_every"):
        flexda_arms.late_rates({"mask_rate": []})
    with pytest.raises(ValueError, match="fraction"):
        flexda_arms.late_rates(curves, fraction=0.0)


def test_split_summary_counts_what_the_split_holds():
    s = replace(ARMS_TINY, labeled_max=60, unlabeled_max=120)
    summary = flexda_arms.split_summary(s, seed=1)
    data = flexda_arms.arms._split(1, **s.split())
    assert summary["labeled_counts"] == data.train_counts.tolist()
    assert summary["unlabeled"] == data.x_unlabeled.shape[0]
    assert summary["labeled"] == data.x_train.shape[0]
    # reversed: the labeled head is the unlabeled tail
    lab, unl = summary["labeled_counts"], summary["unlabeled_counts"]
    assert lab[0] == max(lab) and unl[0] == min(unl) and unl[-1] == max(unl)
    assert summary["unlabeled_per_labeled"] == pytest.approx(sum(unl) / sum(lab))
    assert summary["imbalance_ratio"] == pytest.approx(max(lab) / min(lab))


def test_tradeoff_settings_differ_from_the_arms_only_in_profile_arms_seeds():
    for quick in (True, False):
        arms, trade = settings(quick).arms, settings(quick).tradeoff
        assert trade == driver.tradeoff_settings(quick)
        assert trade.profile == "consistent" and trade.arms == ("flexda", "adello")
        assert replace(trade, profile=arms.profile, arms=arms.arms, seeds=arms.seeds,
                       monitor_every=arms.monitor_every) == arms
    assert settings(False).tradeoff.seeds == 10 and settings(True).tradeoff.seeds >= 3


def test_compare_arms_settings_equals_one_call_per_settings():
    a = replace(ARMS_TINY, arms=("fixmatch", "fixmatch_la", "adello"), monitor_every=5)
    b = replace(ARMS_TINY, profile="consistent", arms=("flexda",), monitor_every=0)
    both = flexda_arms.compare_arms_settings([a, b], seeds=(0, 1), device="cpu")
    alone = [flexda_arms.compare_arms(s, seeds=(0, 1), device="cpu") for s in (a, b)]
    for x, y in zip(both, alone):
        assert set(x.results) == set(y.results) and x.seeds == y.seeds == [0, 1]
        for arm in x.results:
            assert x.values(arm) == y.values(arm) and x.values(arm, "ece") == y.values(arm, "ece")
    assert both[0].results["adello"][0]["distill_temperature"] >= 1.0
    assert "pseudo_labels" in both[0].results["adello"][0]
    rec = flexda_arms.recorded_arms_results(both[0])
    assert set(rec["pass_rate_late"]) == {"fixmatch", "adello"}
    assert rec["pass_rate_late"]["adello"] == flexda_arms.late_rates(
        both[0].results["adello"][0]["pseudo_labels"])
    assert "pass_rate_late" not in flexda_arms.recorded_arms_results(both[1])


def test_claims_point_at_recorded_keys_and_their_verdicts_follow():
    from ltlab.experiments.paper_vs_lab import paper_vs_lab, verdict
    from ltlab.experiments.protocol import lookup

    pair = {"mean": -0.05, "ci_low": -0.07, "ci_high": -0.03, "per_seed": [-0.05]}
    paired = dict.fromkeys(("adello_minus_fixmatch", "flexda_minus_fixmatch",
                            "flexda_minus_uniform", "adello_minus_flexda",
                            "ece_adello_minus_flexda", "ece_flexda_minus_fixmatch"), pair)
    results = {"prior_arms_paired": paired, "consistent_arms": {"prior_arms_paired": paired}}
    for claim in driver.CLAIMS:
        lookup(results, claim.key)  # every claim reads a key the driver records
        assert claim.paper and claim.reason
    rows = paper_vs_lab(results, driver.CLAIMS)
    for claim, row in zip(driver.CLAIMS, rows):
        assert row["verdict"] == verdict(-0.07, -0.03, claim.direction)
        assert row["verdict"] == ("agrees" if claim.direction < 0 else "disagrees")


def test_arms_are_the_right_methods():
    data = make_ssl_data("reversed", 60, 120, 10, test_per_class=20)
    q = true_unlabeled_prior(data).double()
    oracle = flexda_arms.make_arm("flexda_oracle", data)
    assert oracle.fixed_prior is None and torch.allclose(oracle.target_prior.double(), q)
    fixed = flexda_arms.make_arm("flexda_fixed_labeled", data)
    assert torch.allclose(fixed.fixed_prior.double(), data.train_prior.double())
    assert torch.allclose(flexda_arms.make_arm("flexda_uniform", data).fixed_prior.double(),
                          torch.full((10,), 0.1, dtype=torch.float64))
    assert flexda_arms.make_arm("adello", data).distill
    assert type(flexda_arms.make_arm("fixmatch", data, power=1.0)).__name__ == "FixMatch"
    with pytest.raises(ValueError, match="fixmatch_la"):
        flexda_arms.make_arm("fixmatch_la", data)


def test_arms_compare_records_every_arm_with_intervals():
    res = flexda_arms.compare_arms(replace(ARMS_TINY, arms=flexda_arms.ARMS, monitor_every=5),
                                   seeds=(0, 1), device="cpu")
    assert res.seeds == [0, 1] and set(res.results) == set(flexda_arms.ARMS)
    rec = flexda_arms.recorded_arms_results(res)
    for key in ("prior_arms", "prior_arms_ece"):
        assert set(rec[key]) == set(flexda_arms.ARMS)
        for stats in rec[key].values():
            assert set(stats) == {"mean", "ci_low", "ci_high", "per_seed"}
            assert stats["ci_low"] <= stats["mean"] <= stats["ci_high"]
            assert len(stats["per_seed"]) == 2
    # fixmatch_la is the fixmatch model predicting with z - log P_L: same seeds, other numbers
    assert rec["prior_arms"]["fixmatch_la"]["per_seed"] != rec["prior_arms"]["fixmatch"]["per_seed"]
    d = rec["prior_arms_paired"]["flexda_minus_fixmatch"]["per_seed"]
    assert d == pytest.approx([a - b for a, b in zip(res.values("flexda"), res.values("fixmatch"))])
    curves = res.results["flexda"][0]["pseudo_labels"]
    assert curves["step"] == [5, 10, 15] and len(curves["q_hat"][0]) == 10
    assert "pseudo_labels" not in res.results["flexda"][1]  # only the monitored seed
    assert 0.0 <= flexda_arms.bayes_balanced_accuracy() <= 1.0
    with pytest.raises(ValueError, match="unknown arm"):
        flexda_arms.compare_arms(replace(ARMS_TINY, arms=("mixmatch",)), seeds=(0,))


@pytest.mark.slow
def test_demonstration_targets_hold_on_other_seeds():
    """Issue 15's targets on seeds 5-9 (the notebook measures seeds 0-4 and asserts them in
    its Checks): FlexDA beats FixMatch and alignment to a fixed P_L by >= 3 points (paired
    mean, 95 % interval above zero), and its ECE is below FixMatch's on every seed."""
    res = flexda_arms.compare_arms(replace(_ARMS, arms=("fixmatch", "flexda",
                                                        "flexda_fixed_labeled")),
                                   seeds=range(5, 10), device="cpu", workers=2)
    paired = flexda_arms.recorded_arms_results(res)["prior_arms_paired"]
    for key in ("flexda_minus_fixmatch", "flexda_minus_fixed_labeled"):
        assert paired[key]["mean"] >= 0.03 and paired[key]["ci_low"] > 0, (key, paired[key])
    ece_flex, ece_fm = res.values("flexda", "ece"), res.values("fixmatch", "ece")
    assert all(a < b for a, b in zip(ece_flex, ece_fm)), (ece_flex, ece_fm)


def test_toy_regions_shapes_and_bayes_rule():
    from ltlab.experiments.flexda import toy_data, toy_regions

    toy = toy_regions(steps=30, grid_points=11, monitor_every=10)
    assert set(toy["regions"]) == {"bayes", "fixmatch", "flexda"}
    assert all(len(r) == 11 and len(r[0]) == 11 for r in toy["regions"].values())
    gm, _ = toy_data()
    # the Bayes regions are argmax_y p(x | y) on the grid (rows along y)
    x, y = toy["grid"][3], toy["grid"][7]
    assert toy["regions"]["bayes"][7][3] == int(gm.log_likelihood(torch.tensor([[x, y]])).argmax())
    assert toy["kl_steps"] == [10, 20, 30] and all(v >= 0 for v in toy["kl"])
    assert toy["balanced_accuracy"]["bayes"] > 0.5


def test_bayes_pass_rate_grows_with_separation_and_falls_with_the_threshold():
    s = replace(ARMS_TINY, labeled_max=60, unlabeled_max=120)
    assert flexda_arms.bayes_pass_rate(s, threshold=0.0) == 1.0
    rates = [flexda_arms.bayes_pass_rate(s, threshold=t) for t in (0.5, 0.8, 0.95)]
    assert rates == sorted(rates, reverse=True) and rates[-1] < rates[0]
    # classes further apart overlap less: the Bayes rule is confident more often
    assert flexda_arms.bayes_pass_rate(replace(s, radius=6.0)) > rates[-1]
    with pytest.raises(ValueError, match="mixture"):
        flexda_arms.bayes_pass_rate(replace(s, data="mnist1d"))
