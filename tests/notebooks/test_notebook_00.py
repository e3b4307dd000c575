"""The tour notebook, executed once by papermill (quick mode), with its results checked."""

import torch

from ltlab.priors import long_tailed_counts


def test_tour_records_the_head_tail_gap(executed):
    r = executed("00_tour")
    assert r["train_counts"] == long_tailed_counts(10, 400, 100).tolist()
    assert 0.25 < r["balanced_accuracy"] < 0.8
    shots = r["shot_accuracy"]
    assert shots["many"] > shots["medium"] > shots["few"] - 0.05
    assert shots["many"] - shots["few"] > 0.3
    per_class = torch.tensor(r["per_class_accuracy"])
    assert abs(per_class.mean().item() - r["balanced_accuracy"]) < 1e-6
