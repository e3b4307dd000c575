"""The sphere toy's GH marginals (`ltlab.experiments.gh.marginals`): matched class prior, GH's
own pi_hat and a uniform marginal, each paired with the SimCLR continuation of the same
warm-up, and the label-free attempts to improve pi_hat (count floor, faster memory, longer
warm-up)."""

from __future__ import annotations

import math

import pytest
import torch

import ltlab.gh as gh_module
from ltlab.experiments.gh import marginals as mg
from ltlab.experiments.gh import sphere as toy
from ltlab.metrics import paired_interval


def _tiny(**changes):
    s = toy.sphere_settings()
    return s.replace(fit=s.fit.replace(epochs=12), warmup_epochs=6, eval_per_class=40,
                     max_count=64, **changes)


@pytest.fixture(scope="module")
def marginals():
    return mg.compare_marginals(_tiny(), seeds=(0, 1), prior_floor=0.05)


def _same_run(a: toy.SphereRun, b: toy.SphereRun, arms=None) -> None:
    arms = arms or list(a.metrics)
    for arm in arms:
        assert a.metrics[arm] == b.metrics[arm], arm
        assert a.class_accuracy[arm] == b.class_accuracy[arm], arm
        assert torch.equal(a.embeddings[arm], b.embeddings[arm]), arm
        assert a.anchor_table[arm] == b.anchor_table[arm], arm
    assert a.prior_after_warmup == b.prior_after_warmup and a.prior_final == b.prior_final


def test_every_marginal_is_paired_with_simclr(marginals):
    assert set(marginals["marginals"]) == {*mg.MARGINALS, "floored"}
    assert marginals["seeds"] == [0, 1] and len(marginals["seconds"]) == 2
    runs = marginals["runs"]
    base = [r.metrics["simclr_lt"]["tail_accuracy"] for r in runs]
    arms = dict(mg.MARGINAL_ARMS, floored="simclr_gh_lt_floored")
    for m, arm in arms.items():
        got = marginals["marginals"][m]
        assert set(got) == {"mean", "ci_low", "ci_high", "per_seed"} and len(got["per_seed"]) == 2
        want = [r.metrics[arm]["tail_accuracy"] - b for r, b in zip(runs, base)]
        assert got["per_seed"] == pytest.approx(want)
        assert got["mean"] == pytest.approx(sum(want) / 2)
        assert got == paired_interval([r.metrics[arm]["tail_accuracy"] for r in runs], base)
    for when in ("after_warmup", "final"):
        errors = marginals["prior_error"][when]
        assert len(errors) == 2
        for r, e in zip(runs, errors):
            pi = r.prior_after_warmup if when == "after_warmup" else r.prior_final
            tv = 0.5 * sum(abs(p - q) for p, q in zip(pi, r.matched_prior))
            assert e["total_variation"] == pytest.approx(tv)
            assert e["largest_share"] == pytest.approx(max(pi))


def test_prior_errors_against_hand_values():
    e = mg.prior_errors([0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1])
    assert e["total_variation"] == pytest.approx(0.6)
    assert e["sorted_total_variation"] == pytest.approx(0.0)
    assert e["largest_share"] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="same length"):
        mg.prior_errors([0.5, 0.5], [1 / 3] * 3)


def test_matched_and_uniform_arms_hand_their_marginal_to_sinkhorn(monkeypatch):
    seen: list[torch.Tensor] = []
    real = gh_module.sinkhorn_allocation

    def spy(scores, prior=None, *args, **kwargs):
        seen.append(torch.as_tensor(prior).detach().clone().float())
        return real(scores, prior, *args, **kwargs)

    monkeypatch.setattr(gh_module, "sinkhorn_allocation", spy)
    run = toy.run_seed(0, _tiny(), matched_prior=True, uniform_prior=True)
    assert "simclr_gh_lt_uniform" in run.metrics and "simclr_gh_lt_matched" in run.metrics
    matched = torch.tensor(run.matched_prior)
    # the matched marginal is the class prior, permuted onto the anchors
    assert sorted(run.matched_prior) == pytest.approx(sorted(run.class_prior))
    assert sorted(run.class_prior) != pytest.approx([0.25] * 4)
    assert any(torch.allclose(p, matched) for p in seen)
    assert any(torch.allclose(p, torch.full((4,), 0.25)) for p in seen)


def test_defaults_are_unchanged_and_extra_arms_do_not_disturb_the_others():
    s = _tiny()
    default = toy.run_seed(0, s)
    explicit = toy.run_seed(0, s, matched_prior=False, uniform_prior=False, prior_floor=0.0)
    assert set(default.metrics) == set(toy.ARMS)
    _same_run(default, explicit)
    extra = toy.run_seed(0, s, uniform_prior=True, prior_floor=0.05)
    assert set(extra.metrics) == {*toy.ARMS, "simclr_gh_lt_uniform", "simclr_gh_lt_floored"}
    _same_run(default, extra, arms=toy.ARMS)


def test_cluster_std_is_the_settings_std():
    assert toy.sphere_settings().std == 0.7 and toy.sphere_settings(quick=False).std == 0.7
    a = toy.run_seed(0, _tiny(std=1.0))
    b = toy.run_seed(0, _tiny())
    assert a.metrics["simclr_lt"] != b.metrics["simclr_lt"]


@pytest.mark.parametrize("floor", [-0.1, 0.25, math.nan])
def test_prior_floor_is_checked(floor):
    with pytest.raises(ValueError, match="prior_floor"):
        toy.run_seed(0, _tiny(), prior_floor=floor)


def test_compare_marginals_checks_its_arguments():
    with pytest.raises(ValueError, match="at least one seed"):
        mg.compare_marginals(_tiny(), seeds=())
    with pytest.raises(ValueError, match="metric"):
        mg.compare_marginals(_tiny(), seeds=(0,), metric="accuracy")


def test_improvement_arms_continue_the_same_warmup_without_disturbing_the_others():
    s = _tiny()
    plain = toy.run_seed(0, s, matched_prior=True)
    more = toy.run_seed(0, s, matched_prior=True, memory_beta=0.9, longer_warmup=3)
    assert set(more.metrics) == {*plain.metrics, "simclr_gh_lt_fast", "simclr_gh_lt_longer"}
    _same_run(plain, more, arms=list(plain.metrics))
    # the faster memory follows the current geometry: its final pi_hat differs from GH's
    assert more.arm_priors["simclr_gh_lt_fast"] != more.arm_priors["simclr_gh_lt"]
    assert more.arm_priors["simclr_gh_lt"] == more.prior_final
    for arm, prior in more.arm_priors.items():
        assert sum(prior) == pytest.approx(1.0, abs=1e-5) and min(prior) >= 0, arm
    with pytest.raises(ValueError, match="memory_beta"):
        toy.run_seed(0, s, memory_beta=1.5)
    with pytest.raises(ValueError, match="longer_warmup"):
        toy.run_seed(0, s, longer_warmup=s.fit.epochs)


def test_longer_warmup_keeps_gh_off_until_its_own_warmup_ends(monkeypatch):
    """The longer arm trains NT-Xent only (GH weight 0) for ``longer_warmup`` more epochs."""
    s = _tiny()
    weights: dict[int, list[float]] = {}
    real = gh_module.SimCLRGH.gh_weight

    def spy(self, epoch):
        w = real(self, epoch)
        weights.setdefault(self.warmup_epochs, []).append((epoch, w))
        return w

    monkeypatch.setattr(gh_module.SimCLRGH, "gh_weight", spy)
    toy.run_seed(0, s, longer_warmup=3)
    longer = weights[s.warmup_epochs + 3]
    assert all(w == 0 for e, w in longer if e < s.warmup_epochs + 3)
    assert any(w > 0 for e, w in longer)


def test_intervals_and_recorded_keys_against_an_independent_computation(marginals):
    runs = marginals["runs"]
    fast = toy.compare_sphere(_tiny(prior_floor=0.05), seeds=(0, 1), workers=1).runs
    rec = mg.recorded_marginal_results(fast)
    assert set(rec) == {"sphere_toy_marginals", "sphere_toy_improvements", "sphere_toy_prior_error"}
    assert set(rec["sphere_toy_marginals"]) == set(mg.MARGINALS)
    assert set(rec["sphere_toy_improvements"]) == {"count_floor", "faster_memory"}
    for name, arm in (("count_floor", "simclr_gh_lt_floored"), ("faster_memory", "simclr_gh_lt_fast")):
        got = rec["sphere_toy_improvements"][name]
        d_est = [r.metrics[arm]["tail_accuracy"] - r.metrics["simclr_gh_lt"]["tail_accuracy"]
                 for r in fast]
        d_base = [r.metrics[arm]["tail_accuracy"] - r.metrics["simclr_lt"]["tail_accuracy"]
                  for r in fast]
        assert got["vs_estimated"]["per_seed"] == pytest.approx(d_est)
        assert got["vs_simclr"]["mean"] == pytest.approx(sum(d_base) / 2)
        # two seeds: mean +- t(0.975, 1) * sd / sqrt(2), t = 12.706
        sd = abs(d_base[0] - d_base[1]) / math.sqrt(2)
        half = 12.7062047 * sd / math.sqrt(2)
        assert got["vs_simclr"]["ci_high"] - got["vs_simclr"]["mean"] == pytest.approx(half, rel=1e-5)
    errors = rec["sphere_toy_prior_error"]
    for i, r in enumerate(fast):
        tv = 0.5 * sum(abs(p - q) for p, q in zip(r.prior_after_warmup, r.matched_prior))
        assert errors["total_variation"][i] == pytest.approx(tv)
        assert errors["largest_share"][i] == pytest.approx(max(r.prior_after_warmup))
    assert mg.marginal_intervals(runs) == {m: marginals["marginals"][m] for m in mg.MARGINALS}
    with pytest.raises(ValueError, match="simclr_gh_lt_uniform"):
        mg.marginal_intervals(toy.compare_sphere(_tiny(uniform_prior=False, memory_beta=None),
                                                 seeds=(0,), workers=1).runs)
