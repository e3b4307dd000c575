"""The checkers of notebooks 01 and 02 beyond the three protocol ways (tests/exercises/
test_checkers.py): the other classic mistakes get their own hint, a failing student function
is reported, and nothing raises."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ltlab.exercises.balpoe import check_ensemble_bias, check_expert_prior
from ltlab.exercises.logit_adjustment import check_balanced_rule, check_la_loss


def test_balanced_rule_feedback(capsys):
    assert not check_balanced_rule(lambda post, prior: (post * prior).argmax(1))
    assert "multiplied by the prior" in capsys.readouterr().out
    assert not check_balanced_rule(lambda post, prior: (post / prior).argmax(1)[:5])
    assert "one label per row" in capsys.readouterr().out
    assert not check_balanced_rule(lambda post, prior: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert check_balanced_rule(lambda post, prior: (post.log() - prior.log()).argmax(1).tolist())


def test_la_loss_feedback(capsys):
    def plain_ce(z, y, lp, tau):
        return F.cross_entropy(z, y)

    assert not check_la_loss(plain_ce)
    out = capsys.readouterr().out
    assert "Not quite at tau = 1.0" in out and "subtracted" not in out
    assert not check_la_loss(lambda z, y, lp, tau: torch.zeros(3))
    assert "single number" in capsys.readouterr().out
    assert not check_la_loss(42)
    assert "Expected a function" in capsys.readouterr().out


def test_balpoe_checkers_feedback(capsys):
    assert check_ensemble_bias(0.0, lambdas=(1.0, 0.0, -1.0))
    assert "balanced" in capsys.readouterr().out
    assert not check_ensemble_bias("one", lambdas=(1.0, 0.0, -1.0))
    assert "Expected a number" in capsys.readouterr().out
    assert not check_expert_prior([0.5, 0.5])
    assert "Expected 3 numbers" in capsys.readouterr().out
    assert not check_expert_prior([0.2, 0.3, 0.5])  # sums to 1, wrong values
    assert "expected pi^-1 normalised" in capsys.readouterr().out
    assert check_expert_prior([0.7, 0.2, 0.1], lam=1.0)
