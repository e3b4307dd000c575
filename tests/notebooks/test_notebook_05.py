"""Notebook 05 (LDA) executed in quick mode: the recorded results and the issue's targets (the
bands are `ltlab.experiments.lda.BANDS`, the ones the notebook's Checks assert)."""

from __future__ import annotations

from ltlab.experiments import lda as driver
from ltlab.experiments.protocol import failed_bands


def test_notebook_05_records_its_contract(executed):
    r = executed("05_lda")
    bal = r["balanced_accuracy"]
    assert set(bal) == {"ce", "la", "lda", "lda_distance"}
    assert set(r["weight_norm_ratio"]) == {"ce", "lda"}


def test_notebook_05_meets_the_targets(executed):
    """LDA's balanced head beats CE by 3 points, with flatter per-class weight norms and a
    better few group; every arm of the ablation ran, and its LDA beats its CE."""
    assert failed_bands(executed("05_lda"), driver.BANDS) == []


def test_notebook_05_records_the_papers_ablation(executed):
    """Table 5 of the paper on MNIST-1D-LT: CE, re-weighting only, deferred re-weighting and
    the two heads of LDA, each a balanced accuracy; h is the LDA head of the main table."""
    r = executed("05_lda")
    ablation = r["ablation_balanced_accuracy"]
    assert set(ablation) == {"ce", "rw", "drw", "lda_unbalanced", "lda"}
    assert all(0.0 <= v <= 1.0 for v in ablation.values()), ablation
    assert ablation["lda"] == r["balanced_accuracy"]["lda"]
    assert ablation["ce"] == r["balanced_accuracy"]["ce"]


def test_notebook_05_records_the_balance_weight_per_fifth(executed):
    """The weight LDA's balance factor gives the balanced risk, per fifth of training: a
    weight in [0, 1] (capped), withdrawn as h catches up with h' on the training batches
    (the last fifth below half the largest), while h's training-batch accuracy rises."""
    r = executed("05_lda")
    weights = r["balance_weight_by_fifth"]
    assert len(weights) == 5 and all(0.0 <= w <= 1.0 for w in weights)
    assert weights[-1] < 0.5 * max(weights), weights
    h = r["batch_accuracy_by_fifth"]["lda"]
    assert len(h) == 5 and h[-1] > h[0] and all(0.0 <= a <= 1.0 for a in h), h


def test_notebook_05_paper_vs_lab_verdicts_follow_from_the_intervals(executed):
    """One row per claim of `driver.CLAIMS` for this run (and for the full-size record when
    it holds the differences); each verdict is `verdict(ci_low, ci_high, direction)` of its
    recorded interval, and the lab number is the recorded paired difference in points."""
    import math

    from ltlab.experiments.paper_vs_lab import ROW_KEYS, verdict

    r = executed("05_lda")
    rows = r["paper_vs_lab"]
    mine = [row for row in rows if row["run"] == "this run"]
    assert [row["claim"] for row in mine] == [c.claim for c in driver.CLAIMS]
    for row in rows:
        assert set(ROW_KEYS) <= set(row)
        claim = next(c for c in driver.CLAIMS if c.claim == row["claim"])
        assert row["verdict"] == verdict(row["ci_low"], row["ci_high"], claim.direction)
    for row, claim in zip(mine, driver.CLAIMS):
        interval = r["paired_differences"][claim.key.split(".")[1]]
        assert row["lab"] == 100 * interval["mean"]
        assert math.isclose(row["ci_low"], 100 * interval["ci_low"])
        assert row["ci_low"] < row["lab"] < row["ci_high"]
    # the paired difference LDA - CE is the difference of the recorded balanced accuracies
    bal = r["balanced_accuracy"]
    assert math.isclose(r["paired_differences"]["lda_minus_ce"]["mean"], bal["lda"] - bal["ce"],
                        abs_tol=1e-9)
