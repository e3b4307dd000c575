"""Notebook 01 (logit adjustment), executed once by papermill in quick mode; its recorded
results are checked against the issue's targets."""

import pytest

from ltlab.experiments import logit_adjustment
from ltlab.experiments.paper_vs_lab import verdict
from ltlab.experiments.protocol import failed_bands

KEYS = ("balanced_error_bayes", "balanced_error_ce", "balanced_error_posthoc",
        "balanced_error_la", "balanced_accuracy_ce", "balanced_accuracy_la")


def test_records_fractions_under_the_contract_keys(executed):
    r = executed("01_logit_adjustment")
    for key in KEYS:
        assert 0.0 <= r[key] <= 1.0, (key, r[key])


def test_the_notebook_claims_hold(executed):
    """The bands of the notebook's Checks cell (`logit_adjustment.BANDS`): LA reaches the
    Bayes floor on the mixture, CE does not, post-hoc adjustment helps, and LA beats CE on
    MNIST-1D-LT."""
    r = executed("01_logit_adjustment")
    assert failed_bands(r, logit_adjustment.BANDS) == []


def test_the_loss_table_says_what_each_row_changes(executed):
    """The table's "differs from CE by" column is recorded from the arms' settings: it must
    be what `arm_settings` gives for each arm, and LDAM-DRW must be readable at equal head
    (the LA loss on the cosine head differs from it in the loss only)."""
    table = executed("01_logit_adjustment")["loss_table"]
    assert set(table) == set(logit_adjustment.LOSS_TABLE)
    ce = logit_adjustment.arm_settings("ce")
    for name, row in table.items():
        settings = logit_adjustment.arm_settings(name)
        assert row["settings"] == settings, name
        assert row["differs_by"] == logit_adjustment.differs_by(settings, ce), name
        assert 0.0 <= row["balanced_accuracy"] <= 1.0, name
    assert table["ldam_drw"]["settings"]["head"] == table["la_cosine"]["settings"]["head"]
    assert logit_adjustment.differs_by(table["ldam_drw"]["settings"],
                                       table["la_cosine"]["settings"]) == ["loss"]


def test_paper_vs_lab_verdicts_follow_their_intervals(executed):
    r = executed("01_logit_adjustment")
    rows = r["paper_vs_lab"]
    claims = {c.claim: c for c in logit_adjustment.CLAIMS}
    assert [row["claim"] for row in rows if row["run"] == "this run"] == list(claims)
    for row in rows:
        c = claims[row["claim"]]
        assert row["verdict"] == verdict(row["ci_low"], row["ci_high"], c.direction), row
        if row["run"] == "this run":  # the row is this run's recorded interval, in points
            assert row["lab"] == pytest.approx(100 * r[c.key]["mean"])
            assert row["ci_low"] == pytest.approx(100 * r[c.key]["ci_low"])
