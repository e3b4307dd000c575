"""ltlab.experiments.tour (notebook 00's driver): sizes, measurements and contract keys."""

from __future__ import annotations

import pytest
import torch

from ltlab.data import mnist1d_lt
from ltlab.experiments import tour as E
from ltlab.metrics import balanced_accuracy


def test_settings():
    assert E.NOTEBOOK == "00_tour"
    assert E.settings(True) == {"max_count": 400, "epochs": 30, "batch_size": 64, "lr": 0.05}
    assert E.settings(False)["max_count"] == 4000


def test_compare_measures_the_head_tail_gap():
    data = mnist1d_lt(10, max_count=60, test_per_class=30, seed=0)
    result = E.compare(data, device="cpu")
    rec = E.recorded_results(result)
    assert set(rec) == {"train_counts", "balanced_accuracy", "shot_accuracy", "per_class_accuracy"}
    assert torch.equal(rec["train_counts"], data.train_counts)
    assert rec["balanced_accuracy"] == pytest.approx(float(result.per_class_accuracy.mean()),
                                                     abs=1e-9)
    rows = result.rows()
    assert len(rows) == 10 and rows[0]["train_count"] == 60
    assert [r["accuracy"] for r in rows] == pytest.approx(result.per_class_accuracy.tolist())
    # measure() on the same logits is the notebook's own arithmetic
    z = torch.randn(len(data.y_test), 10, generator=torch.Generator().manual_seed(0))
    m = E.measure(z, data)
    assert m.balanced_accuracy == balanced_accuracy(z, data.y_test, 10)
