"""ltlab.experiments.flexda: notebook 03's driver (splits, one run, the three verbs).

The notebook itself runs seed 0 (tests/notebooks/test_notebook_03.py); the slow test here
repeats its quick experiment for seeds 1 and 2.
"""

from __future__ import annotations

import math

import pytest
import torch

from ltlab.data import LTData
from ltlab.experiments import flexda as driver
from ltlab.experiments.flexda import (
    HARD_TO_EASY,
    NOTEBOOK,
    SPLIT_KEYS,
    SSLComparison,
    compare,
    heldout_split,
    make_ssl_data,
    recorded_results,
    reorder_classes,
    settings,
    true_unlabeled_prior,
)

#: a split and a run small enough for the inner loop (a few seconds)
TINY = dict(labeled_max=60, unlabeled_max=120, test_per_class=40, steps=20, batch_size=32)


def _toy(num_classes=3) -> LTData:
    y = torch.arange(num_classes).repeat_interleave(torch.tensor([5, 3, 2][:num_classes]))
    x = y.float()[:, None].repeat(1, 4)
    return LTData(x, y, x.clone(), y.clone(), torch.bincount(y), [f"c{i}" for i in range(num_classes)])


def test_reorder_classes_makes_the_chosen_class_the_head():
    data = _toy()
    out = reorder_classes(data, (2, 0, 1))
    assert out.train_counts.tolist() == [2, 5, 3]
    assert out.classes == ["c2", "c0", "c1"]
    # old class 2 is new class 0: the signals keep their (old) value
    assert (out.x_train[out.y_train == 0, 0] == 2).all()
    with pytest.raises(ValueError, match="permutation"):
        reorder_classes(data, (0, 0, 1))


def test_ssl_split_profiles_and_true_prior():
    sizes = {k: TINY[k] for k in ("labeled_max", "unlabeled_max", "test_per_class")}
    consistent = make_ssl_data("consistent", imbalance_ratio=10, **sizes)
    reversed_ = make_ssl_data("reversed", imbalance_ratio=10, **sizes)
    assert consistent.train_counts[0] == 60 and consistent.train_counts[-1] == 6
    q_c, q_r = true_unlabeled_prior(consistent), true_unlabeled_prior(reversed_)
    assert math.isclose(float(q_c.sum()), 1.0, abs_tol=1e-6)
    assert q_c[0] > q_c[-1] and q_r[0] < q_r[-1]  # reversed: the labeled head is the tail
    counts = torch.bincount(reversed_.y_unlabeled, minlength=10).double()
    assert torch.allclose(q_r.double(), counts / counts.sum(), atol=1e-7)
    # the hardest digit (9) is class 0, the head
    assert consistent.classes == reversed_.classes == [str(c) for c in HARD_TO_EASY]
    with pytest.raises(ValueError, match="unlabeled"):
        true_unlabeled_prior(_toy())


def test_heldout_split_is_disjoint_balanced_and_shaped_like_q():
    data = make_ssl_data("reversed", 60, 120, 10, test_per_class=40)
    q = true_unlabeled_prior(data)
    cal, est = heldout_split(data, q, seed=0)
    assert not set(cal.tolist()) & set(est.tolist())
    assert torch.bincount(data.y_test[cal], minlength=10).tolist() == [20] * 10
    got = torch.bincount(data.y_test[est], minlength=10).double()
    assert torch.allclose(got / got.sum(), q.double(), atol=0.05)


def test_settings_quick_and_full():
    quick, full = settings(True), settings(False)
    assert NOTEBOOK == "03_flexda_prior_estimation"
    assert set(SPLIT_KEYS) <= set(quick) and set(quick) == set(full)
    assert quick["steps"] == 800 and full["steps"] == 8000
    assert quick["momentum"] == quick["ema"] == 0.99 and full["momentum"] == 0.999
    settings()["steps"] = 1  # a fresh dict each call
    assert settings()["steps"] == 800


def test_compare_rows_and_recorded_results():
    result = compare(("reversed",), ("fixmatch", "flexda"), trace_every=5, device="cpu", **TINY)
    assert isinstance(result, SSLComparison)
    fm, flex = result.results["reversed"]["fixmatch"], result.results["reversed"]["flexda"]
    # run_ssl's numbers agree with each other (an independent recomputation)
    assert flex["balanced_accuracy"] == pytest.approx(
        sum(flex["per_class_accuracy"]) / 10, abs=1e-9)
    assert flex["kl_to_true_prior"] == pytest.approx(
        float((torch.tensor(flex["q_hat"]).double() * (torch.tensor(flex["q_hat"]).double()
              / torch.tensor(flex["true_prior"]).double()).log()).sum()), rel=1e-3)
    assert flex["trace"]["step"][-1] == TINY["steps"]
    assert "kl_to_true_prior" not in fm
    rows = result.rows()
    assert [(r["profile"], r["method"]) for r in rows] == [("reversed", "fixmatch"),
                                                           ("reversed", "flexda")]
    assert rows[1]["kl_to_true_prior"] == flex["kl_to_true_prior"]
    assert math.isnan(rows[0]["kl_to_true_prior"])
    recorded = recorded_results(result)
    assert recorded == {
        "kl_to_true_prior": {"reversed": flex["kl_to_true_prior"]},
        "kl_em_to_true_prior": {"reversed": flex["kl_em_to_true_prior"]},
        "balanced_accuracy": {"reversed": {"fixmatch": fm["balanced_accuracy"],
                                           "flexda": flex["balanced_accuracy"]}},
    }
    with pytest.raises(ValueError, match="flexda"):
        recorded_results(SSLComparison({"reversed": {"fixmatch": fm}}))


def test_compare_rejects_unknown_settings():
    with pytest.raises(ValueError, match="unknown setting"):
        compare(("uniform",), ("fixmatch",), no_such_knob=1)
    with pytest.raises(ValueError, match="method must be one of"):
        driver.run_ssl(make_ssl_data("uniform", 60, 120, 10, test_per_class=40), "mixmatch",
                       steps=1)


@pytest.mark.slow
def test_quick_mode_targets_hold_for_other_seeds():
    """The notebook's quick experiment (seed 0 runs in test_notebook_03) for seeds 1 and 2:
    the issue's targets for the estimates (KL <= 0.02 online, <= 0.01 for EM on held-out
    predictions; small slack for other machines), FlexDA not worse than FixMatch."""
    for seed in (1, 2):
        res = compare(("consistent", "reversed"), ("fixmatch", "flexda"), seed=seed,
                      trace_every=0, workers=2).results
        res.update(compare(("uniform",), ("flexda",), seed=seed, trace_every=0).results)
        kl = {p: r["flexda"]["kl_to_true_prior"] for p, r in res.items()}
        kl_em = {p: r["flexda"]["kl_em_to_true_prior"] for p, r in res.items()}
        assert all(v <= 0.025 for v in kl.values()), (seed, kl)
        assert all(v <= 0.012 for v in kl_em.values()), (seed, kl_em)
        for p in ("consistent", "reversed"):
            gain = res[p]["flexda"]["balanced_accuracy"] - res[p]["fixmatch"]["balanced_accuracy"]
            assert gain >= -0.03, (seed, p, gain)
