"""Notebook 03 (FlexDA) executed in quick mode: recorded results and their bands."""

from __future__ import annotations

import math

PROFILES = {"consistent", "uniform", "reversed"}
METHODS = {"fixmatch", "flexda", "adello"}
NAME = "03_flexda_prior_estimation"


def test_recorded_keys(executed):
    res = executed(NAME)
    assert set(res["kl_to_true_prior"]) == PROFILES
    assert set(res["kl_em_to_true_prior"]) == PROFILES
    assert set(res["balanced_accuracy"]) == PROFILES
    for p in PROFILES:
        assert set(res["balanced_accuracy"][p]) == METHODS
        for acc in res["balanced_accuracy"][p].values():
            assert 0.0 <= acc <= 1.0
        for kl in (res["kl_to_true_prior"][p], res["kl_em_to_true_prior"][p]):
            assert math.isfinite(kl) and kl >= 0.0


def test_estimates_find_the_unlabeled_prior(executed):
    res = executed(NAME)
    kl, kl_em = res["kl_to_true_prior"], res["kl_em_to_true_prior"]
    # the start (uniform) is 0.36 to 0.42 nats away from Q in the long-tailed profiles
    assert kl["consistent"] <= 0.04 and kl["uniform"] <= 0.04, kl
    assert kl["reversed"] <= 0.12, kl
    assert all(v <= 0.03 for v in kl_em.values()), kl_em


def test_flexda_beats_fixmatch(executed):
    acc = executed(NAME)["balanced_accuracy"]
    gains = {p: acc[p]["flexda"] - acc[p]["fixmatch"] for p in ("consistent", "reversed")}
    assert sum(gains.values()) / 2 >= 0.02, gains
    assert min(gains.values()) >= -0.02, gains
