"""Notebook 05 (LDA) executed in quick mode: the recorded results and the issue's targets."""

from __future__ import annotations


def test_notebook_05_records_its_contract(executed):
    r = executed("05_lda")
    bal = r["balanced_accuracy"]
    assert set(bal) == {"ce", "la", "lda", "lda_distance"}
    assert all(0.1 < v <= 1.0 for v in bal.values()), bal
    ratio = r["weight_norm_ratio"]
    assert set(ratio) == {"ce", "lda"}
    assert all(v >= 1.0 for v in ratio.values()), ratio


def test_notebook_05_meets_the_targets(executed):
    r = executed("05_lda")
    bal, ratio = r["balanced_accuracy"], r["weight_norm_ratio"]
    assert bal["lda"] - bal["ce"] >= 0.03, bal  # LDA's balanced head beats CE by 3 points
    assert ratio["lda"] < ratio["ce"], ratio  # flatter per-class weight norms
    shots = r["shot_accuracy"]
    assert shots["lda"]["few"] > shots["ce"]["few"], shots
