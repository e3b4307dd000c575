"""ltlab.experiments.mnist1d_setup: the shared recipe, `train_method` and `evaluate`."""

from __future__ import annotations

import pytest
import torch

from ltlab.data import LTData
from ltlab.experiments.mnist1d_setup import (
    Trained,
    data_settings,
    evaluate,
    mnist_fit_options,
    mnist_sizes,
    recipe_layout,
    train_method,
)
from ltlab.metrics import (
    accuracy,
    balanced_accuracy,
    expected_calibration_error,
    shot_accuracy,
)


def _hand_built_evaluate(logits, data):
    """The dictionary ltlab.logit_adjustment.evaluate built by hand before 0.2."""
    y = data.y_test
    shots = shot_accuracy(logits, y, data.train_counts)
    return {
        "balanced_accuracy": balanced_accuracy(logits, y, data.num_classes),
        "accuracy": accuracy(logits, y),
        "many": shots["many"], "medium": shots["medium"], "few": shots["few"],
        "ece": expected_calibration_error(torch.softmax(logits.double(), 1), y),
    }


def _random_data(seed=0, c=6, n=300):
    """Random 40-sample signals (the length `CNN1D` takes) with long-tailed train counts."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (n,), generator=g)
    x = torch.randn(n, 40, generator=g)
    counts = torch.tensor([400, 150, 60, 25, 12, 5])[:c]
    return LTData(x, y, x, y, counts, [str(i) for i in range(c)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluate_is_the_old_dictionary(seed):
    data = _random_data(seed)
    logits = torch.randn(len(data.y_test), 6, generator=torch.Generator().manual_seed(10 + seed)) * 3
    got, want = evaluate(logits, data), _hand_built_evaluate(logits, data)
    assert list(got) == list(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12, nan_ok=True), key


def test_recipe_sizes():
    assert mnist_fit_options(True).epochs == 100 and mnist_fit_options(False).epochs == 150
    quick = mnist_fit_options(True).as_kwargs()
    assert quick["optimizer"] == "adam" and quick["schedule"] == "cosine" and quick["lr"] == 0.01
    # the flat layout of the records' settings hash, and the data part of it
    assert recipe_layout(mnist_fit_options(False)) == {
        "batch_size": 128, "lr": 0.01, "optimizer": "adam", "weight_decay": 2e-3,
        "schedule": "cosine", "epochs": 150}
    assert data_settings(False) == {"max_count": 1500, "test_per_class": 500, "num_samples": 36000}
    assert data_settings(True) == {"max_count": mnist_sizes(True).max_count,
                                   "test_per_class": 100, "num_samples": 7000}


def test_train_method_records_its_settings_and_is_reproducible():
    data = _random_data()
    options = mnist_fit_options().replace(epochs=2)
    a = train_method("la", data, options, device="cpu", tau=0.5)
    b = train_method("la", data, options, device="cpu", tau=0.5)
    assert isinstance(a, Trained) and a.settings["tau"] == 0.5 and a.settings["epochs"] == 2
    assert a.method.tau == 0.5
    assert torch.equal(a.logits(data.x_test, "cpu"), b.logits(data.x_test, "cpu"))
