"""ltlab.exercises.flexda: the checkers of notebooks 03 and 07 (prior update, alpha, Q̂_alpha, EMA, EM);
the three-way run of their `EXERCISES` is in test_checkers.py."""

from __future__ import annotations

import math

import pytest
import torch

from ltlab.exercises.flexda import (
    check_alpha,
    check_ema_steps,
    check_flexda_update,
    check_smoothed_prior,
)
from ltlab.exercises.protocol import NOT_ANSWERED


def test_check_alpha(capsys):
    assert not check_alpha(None, 0.5)
    assert NOT_ANSWERED in capsys.readouterr().out
    assert check_alpha(1 - 0.9 * 0.25, 0.5)  # 0.775
    assert not check_alpha(0.5, 0.5)
    assert check_alpha(0.3, 1.0, alpha_min=0.3)
    assert not check_alpha("a lot", 0.5)


def test_check_smoothed_prior(capsys):
    q = [0.6, 0.3, 0.1]
    sq = torch.tensor(q, dtype=torch.float64).sqrt()
    assert check_smoothed_prior((sq / sq.sum()).tolist(), q, 0.5)
    assert not check_smoothed_prior(q, q, 0.5)
    assert "power alpha" in capsys.readouterr().out
    assert not check_smoothed_prior(None, q, 0.5)
    assert not check_smoothed_prior([0.5, 0.5], q, 0.5)  # wrong length
    assert "Expected 3 numbers" in capsys.readouterr().out
    assert not check_smoothed_prior("abc", q, 0.5)
    # alpha = 0 is uniform, whatever the estimate
    assert check_smoothed_prior([1 / 3] * 3, q, 0.0)


def test_check_ema_steps(capsys):
    # the smallest T with 0.999**T < 0.05 (an independent search, not the closed form)
    t = next(t for t in range(1, 10_000) if 0.999**t < 0.05)
    assert check_ema_steps(t, momentum=0.999)
    assert not check_ema_steps(1000, momentum=0.999)
    assert "solve momentum**T" in capsys.readouterr().out
    assert check_ema_steps(math.ceil(math.log(0.1) / math.log(0.9)), momentum=0.9, weight=0.1)
    with pytest.raises(ValueError, match="momentum"):
        check_ema_steps(10, momentum=1.0)  # the notebook's argument, not the student's answer


def _update(q_hat, probs, eta, alpha, *, hard=False, swap=False, sign=1.0, after=False,
            shift=0.0):
    """An independent FlexDA step (plain tensor arithmetic), with one mistake switched on."""
    mean = (torch.nn.functional.one_hot(probs.argmax(1), probs.shape[1]).double().mean(0)
            if hard else probs.mean(0))
    q_new = (1 - eta) * q_hat + eta * mean if swap else eta * q_hat + (1 - eta) * mean
    base = q_new if after else q_hat
    log_q_alpha = alpha * base.log() - (base**alpha).sum().log()
    return q_new, sign * (base.log() - log_q_alpha) + shift


@pytest.mark.parametrize("mistake, phrase", [
    (dict(hard=True), "hard pseudo-labels"),
    (dict(swap=True), "weights are swapped"),
    (dict(sign=-1.0), "wrong sign"),
    (dict(after=True), "updated estimate"),
])
def test_check_flexda_update_names_each_mistake(mistake, phrase, capsys):
    assert check_flexda_update(lambda q, p, e, a: _update(q, p, e, a))
    assert "Correct" in capsys.readouterr().out
    assert not check_flexda_update(lambda q, p, e, a: _update(q, p, e, a, **mistake))
    out = capsys.readouterr().out
    assert phrase in out and out.count("\n") == 1  # one line of feedback


def test_check_flexda_update_accepts_a_constant_shift_and_rejects_bad_returns(capsys):
    # adding a constant to every logit changes no softmax: accepted
    assert check_flexda_update(lambda q, p, e, a: _update(q, p, e, a, shift=3.0))
    capsys.readouterr()
    assert not check_flexda_update(lambda q, p, e, a: _update(q, p, e, a)[0])
    assert "two results" in capsys.readouterr().out
    assert not check_flexda_update(lambda q, p, e, a: (q[:3], q))
    assert "q_new" in capsys.readouterr().out
    assert not check_flexda_update(lambda q, p, e, a: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not check_flexda_update(None)
    # other eta / alpha reach the student's function (the checker is not tied to one value)
    seen = []
    check_flexda_update(lambda q, p, e, a: seen.append((e, a)) or _update(q, p, e, a),
                        eta=0.5, alpha=0.2)
    assert seen == [(0.5, 0.2)]


# ----------------------------------------------------------------------------- notebook 07: EM
def _em(probs, source, steps, divide=True, normalise=True):
    prior = source.clone()
    for _ in range(steps):
        w = probs * (prior / source if divide else prior)
        prior = (w / w.sum(1, keepdim=True) if normalise else w).mean(0)
    return prior


def test_check_em_prior_accepts_em_and_names_each_mistake(capsys):
    from ltlab.exercises.flexda import EM_TARGET, check_em_prior

    assert check_em_prior(lambda p, s, n: _em(p, s, n))
    out = capsys.readouterr().out
    assert out.startswith("Correct") and str(list(EM_TARGET)) in out
    for fn, phrase in ((lambda p, s, n: p.mean(0), "mean of the posteriors"),
                       (lambda p, s, n: _em(p, s, n, divide=False), "not by pi_hat(y) alone"),
                       (lambda p, s, n: _em(p, s, 3, normalise=False), "Normalise every"),
                       (lambda p, s, n: _em(p, s, 2), "Start at the source prior")):
        assert not check_em_prior(fn)
        assert phrase in capsys.readouterr().out
    assert not check_em_prior(lambda p, s, n: [0.5, 0.5])
    assert "Expected the estimated prior as 4" in capsys.readouterr().out
    assert not check_em_prior(None)


def test_check_em_prior_matches_the_library_and_the_estimate_moves_toward_the_target():
    """An independent run: the checker's posteriors, EM with the library, and the fixed point
    is closer to the prior the inputs were drawn with than the source prior is."""
    from ltlab.exercises.flexda import EM_SOURCE, EM_TARGET, _em_batch
    from ltlab.label_shift import em_prior

    probs = _em_batch(0)
    source = torch.tensor(EM_SOURCE, dtype=torch.float64)
    ours = _em(probs, source, 2000)
    assert torch.allclose(ours, em_prior(probs, source, tol=1e-12)[0].double(), atol=1e-4)
    target = torch.tensor(EM_TARGET, dtype=torch.float64)
    assert (ours - target).abs().max() < 0.5 * (source - target).abs().max()
