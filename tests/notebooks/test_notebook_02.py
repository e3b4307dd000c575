"""Notebook 02 (BalPoE), executed once by papermill in quick mode; its recorded results are
checked against the issue's targets."""

from ltlab.experiments.balpoe import SHIFTS

KEYS = ("balanced_accuracy_ce", "balanced_accuracy_la", "balanced_accuracy_balpoe",
        "balanced_accuracy_balpoe_mixup", "ece_ce", "ece_balpoe_mixup")


def test_records_fractions_under_the_contract_keys(executed):
    r = executed("02_balpoe")
    for key in KEYS:
        assert 0.0 <= r[key] <= 1.0, (key, r[key])
    assert set(r["shifted_accuracy"]) == set(SHIFTS)
    for name, accs in r["shifted_accuracy"].items():
        assert set(accs) == {"no_prior", "known_prior"}, name
        assert all(0.0 <= v <= 1.0 for v in accs.values()), (name, accs)


def test_balpoe_with_mixup_beats_la_which_beats_ce(executed):
    r = executed("02_balpoe")
    assert r["balanced_accuracy_la"] - r["balanced_accuracy_ce"] >= 0.02, r
    assert r["balanced_accuracy_balpoe_mixup"] - r["balanced_accuracy_la"] >= 0.02, r


def test_balpoe_with_mixup_is_better_calibrated_than_ce(executed):
    r = executed("02_balpoe")
    assert r["ece_balpoe_mixup"] < r["ece_ce"], r


def test_known_test_prior_never_hurts(executed):
    shifted = executed("02_balpoe")["shifted_accuracy"]
    for name, accs in shifted.items():
        assert accs["known_prior"] >= accs["no_prior"], (name, accs)
    # the uniform set's prior is the balanced one: the adjustment changes nothing there
    assert shifted["uniform"]["known_prior"] == shifted["uniform"]["no_prior"]
    # and on strongly shifted sets it helps clearly
    assert shifted["forward-50"]["known_prior"] - shifted["forward-50"]["no_prior"] >= 0.03
    assert shifted["backward-50"]["known_prior"] - shifted["backward-50"]["no_prior"] >= 0.03


def test_experts_curve_is_recorded(executed):
    curve = executed("02_balpoe")["experts_curve"]
    assert [row["num_experts"] for row in curve] == [1, 3, 5]
    assert all(0.0 <= row["balanced_accuracy"] <= 1.0 for row in curve)
