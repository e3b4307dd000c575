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
