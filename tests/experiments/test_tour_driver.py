"""ltlab.experiments.tour (notebook 00's driver): sizes, measurements and contract keys."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from ltlab.data import mnist1d_lt
from ltlab.experiments import tour as E
from ltlab.metrics import balanced_accuracy
from ltlab.priors import long_tailed_counts
from ltlab.train import predict_logits


def test_settings():
    assert E.NOTEBOOK == "00_tour"
    quick = E.settings(True)
    assert (quick.max_count, quick.imbalance_ratio, quick.seeds) == (400, 100, (0,))
    assert quick.fit.as_kwargs()["epochs"] == 30 and quick.fit.batch_size == 64
    assert quick.fit.lr == 0.05
    full = E.settings(False)
    tail = full.max_count / 100  # the notebook's default ratio
    assert full.max_count > 400 and tail < 20, full  # bigger, and the few group exists
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.max_count = 5  # type: ignore[misc]


def _tiny(**changes):
    s = E.settings(True)
    return dataclasses.replace(s, **{"imbalance_ratio": 10, "max_count": 60,
                                     "fit": s.fit.replace(epochs=2), **changes})


def test_compare_measures_the_head_tail_gap():
    s = _tiny()
    result = E.compare(s, device="cpu")
    data = result.data
    assert data.train_counts.tolist() == long_tailed_counts(10, 60, 10).tolist()
    rec = E.recorded_results(result)
    assert set(rec) == {"train_counts", "balanced_accuracy", "shot_accuracy", "per_class_accuracy"}
    assert torch.equal(rec["train_counts"], data.train_counts)
    assert rec["balanced_accuracy"] == pytest.approx(float(result.per_class_accuracy.mean()),
                                                     abs=1e-9)
    rows = result.rows()
    assert len(rows) == 10 and rows[0]["train_count"] == 60
    assert [r["accuracy"] for r in rows] == pytest.approx(result.per_class_accuracy.tolist())
    # the result is the model's own measurement, and the history has the settings' epochs
    z = predict_logits(result.model, result.method, data.x_test, "cpu")
    assert E.measure(z, data).balanced_accuracy == result.balanced_accuracy
    assert result.history.epoch == [0, 1] and len(result.history.loss) == 2
    # measure() on other logits is the notebook's own arithmetic
    z = torch.randn(len(data.y_test), 10, generator=torch.Generator().manual_seed(0))
    m = E.measure(z, data)
    assert m.balanced_accuracy == balanced_accuracy(z, data.y_test, 10)


def test_compare_is_reproducible_and_runs_one_seed():
    s = _tiny(max_count=40)
    a, b = E.compare(s, device="cpu"), E.compare(s, seeds=[0], device="cpu")
    assert torch.equal(a.per_class_accuracy, b.per_class_accuracy)
    with pytest.raises(ValueError, match="seeds"):
        E.compare(s, seeds=[0, 1])
    with pytest.raises(ValueError, match="workers"):
        E.compare(s, workers=0)


def test_hashed_settings_keep_the_record_layout():
    assert E.hashed_settings(E.settings(False)) == {"max_count": 1500, "epochs": 100,
                                                     "batch_size": 64, "lr": 0.05}


def test_describe_shot_groups_names_an_empty_group_instead_of_nan():
    """At imbalance ratio 10 with a head of 400 (Exercise 2 of the tour) no class has fewer
    than 20 images: the few group is empty, `shot_accuracy` gives NaN, the text says so."""
    data = mnist1d_lt(10, max_count=400, test_per_class=20, seed=0)
    z = torch.randn(len(data.y_test), 10, generator=torch.Generator().manual_seed(1))
    result = E.measure(z, data)
    assert math.isnan(result.shot_accuracy["few"])
    text = str(result)
    assert "few    (fewer than 20 training images): no class in this group" in text
    assert "nan" not in text.lower()
    gap = 100 * (result.shot_accuracy["many"] - result.shot_accuracy["medium"])
    assert f"many minus medium: {gap:+.1f} points" in text
    # with all three groups filled the gap is many minus few
    full = E.describe_shot_groups({"many": 0.9, "medium": 0.5, "few": 0.25}, [400, 50, 5])
    assert full.splitlines()[-1] == "many minus few: +65.0 points"
