"""The checkers of notebooks 01 and 02 beyond the three protocol ways (tests/exercises/
test_checkers.py): the other classic mistakes get their own hint, a failing student function
is reported, and nothing raises."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ltlab.exercises.balpoe import check_ensemble_bias, check_ensemble_logits, check_expert_prior
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


def test_la_loss_names_each_classic_mistake(capsys):
    """Tau left out passes at tau = 1 and is caught at the next tau; the prior itself instead
    of its log, and plain CE, get their own hints."""
    assert not check_la_loss(lambda z, y, lp, tau: F.cross_entropy(z + lp, y))
    out = capsys.readouterr().out
    assert "Not quite at tau = 0.5" in out and "ignores tau" in out
    assert not check_la_loss(lambda z, y, lp, tau: F.cross_entropy(z + tau * lp.exp(), y))
    assert "*log*" in capsys.readouterr().out
    assert not check_la_loss(lambda z, y, lp, tau: F.cross_entropy(z, y))
    assert "plain cross-entropy" in capsys.readouterr().out
    assert check_la_loss(lambda z, y, lp, tau: F.cross_entropy(z + tau * lp, y))
    assert "Correct" in capsys.readouterr().out


def _ensemble(z, lam, lp, tlp=None):
    out = z.mean(0) - lam.mean() * lp
    return out if tlp is None else out + tlp


def test_ensemble_logits_accepts_the_reference_up_to_a_constant_per_row(capsys):
    assert check_ensemble_logits(_ensemble)
    assert "Correct" in capsys.readouterr().out
    # softmax and argmax cannot see a constant per row: a log-softmax answer is right too
    assert check_ensemble_logits(lambda *a: torch.log_softmax(_ensemble(*a), 1))
    capsys.readouterr()


def test_ensemble_logits_names_each_classic_mistake(capsys):
    def whole_prior(z, lam, lp, tlp=None):
        return z.mean(0) - lp + (0 if tlp is None else tlp)

    def prior_subtracted(z, lam, lp, tlp=None):
        return z.mean(0) - lam.mean() * lp - (0 if tlp is None else tlp)

    def prior_ignored(z, lam, lp, tlp=None):
        return z.mean(0) - lam.mean() * lp

    def bias_added(z, lam, lp, tlp=None):
        return z.mean(0) + lam.mean() * lp + (0 if tlp is None else tlp)

    for fn, hint in ((whole_prior, "removed the whole log prior"),
                     (prior_subtracted, "Sign of the test prior"),
                     (prior_ignored, "ignored the test prior"),
                     (bias_added, "*subtract* it")):
        assert not check_ensemble_logits(fn), fn.__name__
        assert hint in capsys.readouterr().out, fn.__name__
    assert not check_ensemble_logits(lambda z, lam, lp, tlp=None: z.mean(0)[:3])
    assert "expected shape (40, 5)" in capsys.readouterr().out
    assert not check_ensemble_logits(lambda z, lam, lp, tlp=None: z.sum() / 0 + None)
    assert "Your function raised TypeError" in capsys.readouterr().out
    assert not check_ensemble_logits(None)
    assert "Not answered yet" in capsys.readouterr().out
