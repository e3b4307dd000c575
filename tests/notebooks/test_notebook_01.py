"""Notebook 01 (logit adjustment), executed once by papermill in quick mode; its recorded
results are checked against the issue's targets."""

KEYS = ("balanced_error_bayes", "balanced_error_ce", "balanced_error_posthoc",
        "balanced_error_la", "balanced_accuracy_ce", "balanced_accuracy_la")


def test_records_fractions_under_the_contract_keys(executed):
    r = executed("01_logit_adjustment")
    for key in KEYS:
        assert 0.0 <= r[key] <= 1.0, (key, r[key])


def test_la_reaches_the_bayes_floor_on_the_mixture(executed):
    r = executed("01_logit_adjustment")
    bayes = r["balanced_error_bayes"]
    assert 0.15 < bayes < 0.3, bayes  # the mixture's floor, estimated by Monte Carlo
    assert r["balanced_error_la"] - bayes <= 0.015, r
    assert r["balanced_error_ce"] - bayes >= 0.04, r
    assert r["balanced_error_posthoc"] < r["balanced_error_ce"], r


def test_la_beats_ce_on_mnist1d_lt(executed):
    r = executed("01_logit_adjustment")
    assert r["balanced_accuracy_la"] - r["balanced_accuracy_ce"] >= 0.02, r
