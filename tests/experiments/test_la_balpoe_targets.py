"""The issue's targets for logit adjustment and BalPoE, checked at library level on seeds the
notebooks do not run (the notebooks themselves run seed 0: tests/notebooks/test_notebook_01.py, _02.py).

Quick recipe, CPU: about 4 s per MNIST-1D-LT model and 1 s per 2-D model on an idle laptop
(a 3-expert BalPoE about 8 s).

Issue 14's experts target, measured when it was written (quick mode, balanced accuracy of
BalPoE + mixup with 1 expert, i.e. LA + mixup with the same cosine head, and with 3 experts
that share a stem and have their own late layers): seed 0 60.3 -> 64.5 %, seed 1
57.8 -> 60.9 %, seed 2 64.9 -> 65.9 % (mean +2.8 points). With experts that share the whole
network the curve was inverted (issue 14: 61.7 -> 57.8 % on seed 0).
"""

import pytest

from ltlab.experiments.balpoe import (
    calibration_table,
    experts_curve,
    shifted_accuracy,
    train_models,
)
from ltlab.experiments.logit_adjustment import BANDS as LA_BANDS
from ltlab.experiments.logit_adjustment import mixture_errors
from ltlab.experiments.mnist1d_setup import mnist_data
from ltlab.experiments.protocol import failed_bands

SEEDS = (1, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_mixture_la_within_bayes_band(seed):
    e = mixture_errors(100, tau=1.0, seed=seed)
    # notebook 01's bands on the floor: LA within 1.5 points of it, CE at least 4 above
    bands = [b for b in LA_BANDS if b.minus == "balanced_error_bayes"]
    assert len(bands) == 2 and failed_bands(e, bands) == [], e


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_mnist1d_targets(seed):
    data = mnist_data(True, seed=seed)
    models = train_models(data, ("ce", "la", "balpoe_mixup"), seed=seed, device="cpu")
    table = calibration_table(models, data, "cpu")
    acc = {name: row["balanced_accuracy"] for name, row in table.items()}
    assert acc["la"] - acc["ce"] >= 0.02, acc
    assert acc["balpoe_mixup"] - acc["la"] >= 0.02, acc
    assert table["balpoe_mixup"]["ece"] < table["ce"]["ece"], table
    shifted = shifted_accuracy(models["balpoe_mixup"], data, "cpu")
    # the known prior helps clearly under strong shift; under mild shift (rho = 5) its
    # expected gain is small and it may lose a little (seed 2, forward-5: -1.2 points, 6
    # signals of 502, with 2 threads; -0.2 points with 1 thread)
    assert all(s["known_prior"] >= s["no_prior"] - 0.02 for s in shifted.values()), shifted
    for name in ("forward-50", "backward-50"):
        assert shifted[name]["known_prior"] > shifted[name]["no_prior"], shifted


@pytest.mark.slow
def test_three_experts_beat_one_on_seeds_0_to_2():
    """BalPoE + mixup: 3 experts beat 1 expert (LA + mixup, the same head) by >= 1 point on
    average over seeds 0, 1, 2, and on at least two of the three seeds (about 40 s)."""
    gains = []
    for seed in (0, 1, 2):
        curve = experts_curve(mnist_data(True, seed=seed), (1, 3), seed=seed, device="cpu")
        gains.append(curve[1]["balanced_accuracy"] - curve[0]["balanced_accuracy"])
    assert sum(gains) / 3 >= 0.01, gains
    assert sum(g >= 0.01 for g in gains) >= 2, gains
