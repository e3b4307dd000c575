"""Notebook 04 (calibration), executed once by papermill in quick mode; the recorded
results are checked against issue 5's targets."""

import math

from ltlab.experiments import calibration
from ltlab.experiments.calibration import SHIFT_SETTINGS
from ltlab.experiments.protocol import failed_bands

MODELS = {"ce", "ce_mixup", "la", "balpoe", "balpoe_mixup"}


def test_calibration_notebook_records_its_contract(executed):
    r = executed("04_calibration")
    ece, bal_acc = r["ece"], r["balanced_accuracy"]
    nll = r["nll_before_after_temperature"]
    assert set(ece) == set(bal_acc) == set(nll) == MODELS
    for m in MODELS:
        assert 0 <= ece[m] <= 1 and 0 < bal_acc[m] <= 1
        before, after = nll[m]
        assert math.isfinite(before) and math.isfinite(after)


def test_calibration_notebook_meets_its_targets(executed):
    """The bands of the notebook's Checks cell (`calibration.BANDS`): BalPoE + mixup halves
    CE's ECE with a higher balanced accuracy; CE is over-confident (T > 1.2); temperature
    lowers the NLL of every clearly miscalibrated model; CE's head stays over-confident
    relative to the tail after one temperature; EM lowers the NLL under strong shift."""
    r = executed("04_calibration")
    assert set(r["temperature"]) == MODELS and set(r["label_shift_nll"]) == set(SHIFT_SETTINGS)
    assert failed_bands(r, calibration.BANDS) == []
