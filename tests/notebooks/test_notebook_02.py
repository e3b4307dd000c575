"""Notebook 02 (BalPoE), executed once by papermill in quick mode; its recorded results are
checked against the issue's targets."""

import pytest

from ltlab.experiments import balpoe
from ltlab.experiments.balpoe import SHIFTED_MODELS, SHIFTS
from ltlab.experiments.paper_vs_lab import verdict
from ltlab.experiments.protocol import failed_bands

KEYS = ("balanced_accuracy_ce", "balanced_accuracy_la", "balanced_accuracy_balpoe",
        "balanced_accuracy_balpoe_mixup", "ece_ce", "ece_balpoe_mixup",
        "balanced_accuracy_la_mixup")


def test_records_fractions_under_the_contract_keys(executed):
    r = executed("02_balpoe")
    for key in KEYS:
        assert 0.0 <= r[key] <= 1.0, (key, r[key])
    assert set(r["shifted_accuracy"]) == set(SHIFTS)
    for name, accs in r["shifted_accuracy"].items():
        assert set(accs) == {"no_prior", "known_prior"}, name
        assert all(0.0 <= v <= 1.0 for v in accs.values()), (name, accs)


def test_the_notebook_claims_hold(executed):
    """The bands of the notebook's Checks cell (`balpoe.BANDS`): BalPoE + mixup beats LA,
    which beats CE, and is better calibrated; the known test prior helps under strong shift
    and costs little under mild shift; three experts beat one and disagree more than experts
    sharing the network; LA beats CE on the tail-heavy test set."""
    assert failed_bands(executed("02_balpoe"), balpoe.BANDS) == []


def test_known_test_prior_changes_nothing_on_the_uniform_set(executed):
    shifted = executed("02_balpoe")["shifted_accuracy"]
    # the uniform set's prior is the balanced one: the adjustment changes nothing there
    assert shifted["uniform"]["known_prior"] == shifted["uniform"]["no_prior"]


def test_experts_curve_is_recorded(executed):
    curve = executed("02_balpoe")["experts_curve"]
    assert [row["num_experts"] for row in curve] == [1, 3, 5]
    assert all(0.0 <= row["balanced_accuracy"] <= 1.0 for row in curve)


def test_label_shift_table_compares_models_as_in_table_3(executed):
    r = executed("02_balpoe")
    by_model = r["shifted_accuracy_by_model"]
    assert set(by_model) == set(SHIFTED_MODELS)
    for row, accs in by_model.items():
        assert set(accs) == set(SHIFTS) and all(0.0 <= v <= 1.0 for v in accs.values()), row
    # BalPoE + mixup's rows are the no-prior / known-prior numbers of `shifted_accuracy`
    for shift, accs in r["shifted_accuracy"].items():
        assert by_model["balpoe_mixup"][shift] == accs["no_prior"]
        assert by_model["balpoe_mixup_prior"][shift] == accs["known_prior"]


def test_the_experts_curve_reuses_table_2s_models(executed):
    r = executed("02_balpoe")
    curve = {row["num_experts"]: row["balanced_accuracy"] for row in r["experts_curve"]}
    # one expert is LA + mixup with the same head; three are Table 2's BalPoE + mixup
    assert curve[1] == r["balanced_accuracy_la_mixup"]
    assert curve[3] == r["balanced_accuracy_balpoe_mixup"]
    assert set(r["expert_disagreement"]) == {"own_layers", "shared_network"}


def test_the_decomposition_changes_one_named_setting_per_row(executed):
    """From LA to BalPoE + mixup, one change per row: each row's "differs by" names exactly
    the one setting in which its arm differs from the row above, computed from `model_arms`."""
    rows = executed("02_balpoe")["decomposition"]
    arms = balpoe.model_arms()
    assert [row["arm"] for row in rows] == list(balpoe.DECOMPOSITION)
    for before, row in zip(rows, rows[1:]):
        settings = balpoe.arm_settings(arms[row["arm"]])
        assert row["settings"] == settings and row["against"] == before["arm"]
        assert row["differs_by"] == [k for k in settings if settings[k] != before["settings"][k]]
        assert len(row["differs_by"]) == 1, row
        assert row["gain"]["mean"] == pytest.approx(
            row["balanced_accuracy"] - before["balanced_accuracy"], abs=1e-9)
    assert rows[0]["arm"] == "la" and rows[-1]["arm"] == "balpoe_mixup"
    r = executed("02_balpoe")
    assert rows[0]["balanced_accuracy"] == r["balanced_accuracy_la"]
    assert rows[-1]["balanced_accuracy"] == r["balanced_accuracy_balpoe_mixup"]


def test_paper_vs_lab_verdicts_follow_their_intervals(executed):
    r = executed("02_balpoe")
    rows = r["paper_vs_lab"]
    claims = {c.claim: c for c in balpoe.CLAIMS}
    assert [row["claim"] for row in rows if row["run"] == "this run"] == list(claims)
    for row in rows:
        c = claims[row["claim"]]
        assert row["verdict"] == verdict(row["ci_low"], row["ci_high"], c.direction), row
        if row["run"] == "this run":
            assert row["lab"] == pytest.approx(100 * r[c.key]["mean"])
            assert row["ci_high"] == pytest.approx(100 * r[c.key]["ci_high"])
