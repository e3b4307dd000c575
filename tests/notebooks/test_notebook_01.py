"""Notebook 01 (logit adjustment), executed once by papermill in quick mode; its recorded
results are checked against the issue's targets."""

from ltlab.experiments import logit_adjustment
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
