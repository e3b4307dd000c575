"""ltlab.experiments.gh.sphere: notebook 06's sphere toy (the views, the matched oracle prior,
one seed of the three arms, the recorded keys)."""

from __future__ import annotations

import pytest
import torch

from ltlab.experiments import gh as toy
from ltlab.gh import uniform_structure
from ltlab.metrics import paired_interval


def test_gaussian_view_adds_noise_and_masks_the_asked_fraction():
    x = torch.ones(2000, 32)
    g = torch.Generator().manual_seed(0)
    v = toy.gaussian_view(x, g, noise=0.0, mask=0.2)
    assert abs(float((v == 0).float().mean()) - 0.2) < 0.01
    assert torch.equal(v[v != 0], x[v != 0])
    noisy = toy.gaussian_view(x, torch.Generator().manual_seed(1), noise=0.5, mask=0.0)
    assert abs(float((noisy - x).std()) - 0.5) < 0.01


def test_matched_class_prior_gives_each_anchor_the_share_of_the_class_it_holds():
    anchors = uniform_structure(3, 3, seed=0)
    # class c sits at anchor perm[c]
    perm = [2, 0, 1]
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    z = anchors[torch.tensor(perm)[labels]] * 2.0
    class_prior = torch.tensor([0.6, 0.3, 0.1])
    prior = toy.matched_class_prior(z, labels, anchors, class_prior)
    expected = torch.zeros(3)
    expected[torch.tensor(perm)] = class_prior
    assert torch.allclose(prior, expected)
    with pytest.raises(ValueError, match="as many classes as anchors"):
        toy.matched_class_prior(z, labels, anchors, torch.tensor([0.5, 0.5]))


def test_settings_are_the_notebooks_sizes():
    quick, full = toy.sphere_settings(quick=True), toy.sphere_settings(quick=False)
    assert quick.seeds == tuple(range(14)) and quick.imbalance_ratio == 64 and quick.std == 0.7
    assert quick.num_classes == 4 and quick.eval_per_class == 500 and quick.matched_prior
    assert quick.fit.epochs == 100 and quick.warmup_epochs == 25 and quick.batch_size is None
    assert quick.arms() == dict(matched_prior=True, uniform_prior=True, prior_floor=0.0,
                                memory_beta=0.9, longer_warmup=0)
    assert len(full.seeds) >= len(quick.seeds) and full.fit.epochs > quick.fit.epochs
    assert full.prior_floor > 0 and full.longer_warmup > 0 and full.memory_beta == 0.9


def _small(**changes):
    s = toy.sphere_settings()
    fit_changes = {k: changes.pop(k) for k in ("epochs", "weight_decay") if k in changes}
    return s.replace(fit=s.fit.replace(**fit_changes), **changes)


@pytest.fixture(scope="module")
def tiny():
    """Two seeds of the toy at a tiny size (a few seconds); seed 1 is exercise 5's value."""
    return toy.compare_sphere(_small(epochs=12, warmup_epochs=6, eval_per_class=40,
                                     max_count=64), seeds=(0, 1), workers=1)


def test_run_seed_trains_and_measures_every_arm(tiny):
    run = tiny.runs[1]
    assert run.seed == 1
    assert set(run.metrics) == set(toy.ARMS) | {"simclr_gh_lt_matched", "simclr_gh_lt_uniform",
                                                "simclr_gh_lt_fast"}
    for arm, m in run.metrics.items():
        assert set(toy.METRICS) <= set(m)
        assert 0.0 <= m["tail_accuracy"] <= 1.0
        assert -1.0 <= m["tail_nearest_cosine"] <= 1.0 + 1e-6
        assert 0.0 <= m["etf_gap"] <= 2.0 + 1e-6  # at most sqrt(C) = 2
        assert run.embeddings[arm].shape == (4 * 40, 3)
        assert torch.allclose(run.embeddings[arm].norm(dim=1), torch.ones(160), atol=1e-5)
        assert sum(map(sum, run.anchor_table[arm])) == 160
    assert run.class_prior == pytest.approx(
        (torch.tensor([64, 16, 4, 1]) / 85).tolist(), abs=1e-6)
    assert sum(run.prior_after_warmup) == pytest.approx(1.0, abs=1e-5)
    assert sorted(run.matched_prior) == pytest.approx(sorted(run.class_prior), abs=1e-6)
    assert run.anchors.shape == (4, 3) and run.train_counts == [64, 16, 4, 1]
    with pytest.raises(ValueError, match="epochs must exceed"):
        toy.run_seed(0, _small(epochs=5, warmup_epochs=5))


def test_recorded_results_are_the_means_and_the_paired_differences(tiny):
    rec = toy.recorded_sphere_results(tiny)
    assert set(rec) == {"sphere_toy", "sphere_toy_paired"}
    assert set(rec["sphere_toy"]) == set(toy.ARMS)
    for arm, metrics in rec["sphere_toy"].items():
        assert set(metrics) == set(toy.METRICS)
        for m, value in metrics.items():
            assert value == pytest.approx(sum(tiny.per_seed(arm, m)) / 2)
    for m in toy.METRICS:
        d = [g - s for g, s in zip(tiny.per_seed("simclr_gh_lt", m), tiny.per_seed("simclr_lt", m))]
        p = rec["sphere_toy_paired"][m]
        assert set(p) == {"mean", "ci_low", "ci_high"}
        assert p["mean"] == pytest.approx(sum(d) / 2)
        assert p["ci_low"] <= p["mean"] <= p["ci_high"]
        # the recorded interval is ltlab.metrics.paired_interval without the per-seed list
        full = paired_interval(tiny.per_seed("simclr_gh_lt", m), tiny.per_seed("simclr_lt", m))
        assert p == {k: full[k] for k in ("mean", "ci_low", "ci_high")}
        assert tiny.paired()[m] == full
    assert len(tiny.rows()) == 2 * len(toy.ARMS)


def test_run_seed_checks_the_toy_knobs_before_training():
    with pytest.raises(ValueError, match="temperature"):
        toy.run_seed(0, _small(epochs=4, warmup_epochs=2, temperature=0.0))
    with pytest.raises(ValueError, match="weight_decay"):
        toy.run_seed(0, _small(epochs=4, warmup_epochs=2, weight_decay=-1e-3))
    with pytest.raises(ValueError, match="mask"):
        toy.run_seed(0, _small(epochs=4, warmup_epochs=2, mask=1.5))


def test_exercise_7_faster_memory_runs_and_refreshes_the_prior():
    """Notebook 06's exercise 7 calls ``experiment.compare_sphere(replace(config.sphere,
    prior_every=5, gh_options=(("beta", 0.9),)), seeds=toy_seeds, workers=2)``: the memory
    options reach GH, and the prior it ends with is a distribution over the anchors that was
    refreshed after the warm-up."""
    s = _small(epochs=30, warmup_epochs=10, eval_per_class=40, max_count=64, imbalance_ratio=16,
               matched_prior=False, prior_every=5, gh_options=(("beta", 0.9),))
    fast = toy.compare_sphere(s, seeds=[0], workers=1).runs[0]
    final = torch.tensor(fast.prior_final)
    assert final.shape == (4,) and abs(float(final.sum()) - 1) < 1e-5 and (final >= 0).all()
    assert fast.prior_final != fast.prior_after_warmup  # refreshed every 5 steps with beta 0.9
