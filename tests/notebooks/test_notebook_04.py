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


def test_calibration_notebook_paper_vs_lab_verdicts_follow_from_the_intervals(executed):
    """One row per claim of `calibration.CLAIMS` (the BalPoE paper's Table 2) for this run;
    each verdict is `verdict(ci_low, ci_high, direction)` of its recorded interval, and an ECE
    difference's mean is the difference of the two recorded ECEs, in points."""
    from ltlab.experiments.paper_vs_lab import ROW_KEYS, verdict

    r = executed("04_calibration")
    rows = r["paper_vs_lab"]
    mine = [row for row in rows if row["run"] == "this run"]
    assert [row["claim"] for row in mine] == [c.claim for c in calibration.CLAIMS]
    for row in rows:
        assert set(ROW_KEYS) <= set(row)
        claim = next(c for c in calibration.CLAIMS if c.claim == row["claim"])
        assert row["verdict"] == verdict(row["ci_low"], row["ci_high"], claim.direction)
        assert row["ci_low"] <= row["ci_high"]
    diffs = r["paired_differences"]
    for key, (quantity, a, b) in calibration.PAIRED_DIFFERENCES.items():
        if quantity == "ece":
            assert math.isclose(diffs[key]["mean"], r["ece"][a] - r["ece"][b], abs_tol=1e-9)
        else:
            assert math.isclose(diffs[key]["mean"], r["balanced_accuracy"][a]
                                - r["balanced_accuracy"][b], abs_tol=1e-9)
    for row, claim in zip(mine, calibration.CLAIMS):
        assert math.isclose(row["lab"], 100 * diffs[claim.key.split(".")[1]]["mean"])
