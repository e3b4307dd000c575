"""Exercises of notebook 01 (logit adjustment): the balanced-error Bayes rule and the LA loss
(the notebook's core exercise: the student's loss then trains the 2-D model)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..losses import logit_adjusted_cross_entropy
from .protocol import Exercise, StudentError, not_answered, run_student

__all__ = ["EXERCISES", "check_balanced_rule", "check_la_loss"]


def check_balanced_rule(answer: Any) -> bool:
    """``answer(posterior, prior) -> labels`` must implement the Bayes rule for the balanced
    error, argmax_y p_train(y|x) / pi_y, for posteriors [N, C] and a prior [C]. Prints
    feedback; returns True when right."""
    if not_answered(answer):
        return False
    g = torch.Generator().manual_seed(0)
    post = torch.softmax(3 * torch.randn(200, 6, generator=g), 1)
    prior = torch.softmax(2 * torch.randn(6, generator=g), 0)
    want = (post / prior).argmax(1)
    try:
        got = run_student(answer, post.clone(), prior.clone())
    except StudentError:
        return False
    try:
        got = torch.as_tensor(got).long().flatten()
    except (TypeError, ValueError, RuntimeError):
        print(f"Return the labels as a tensor or a list of ints (got {type(got).__name__}).")
        return False
    if got.shape != want.shape:
        print(f"Return one label per row: expected shape {tuple(want.shape)}, got {tuple(got.shape)}.")
        return False
    wrong = int((got != want).sum())
    if wrong == 0:
        print("Correct: dividing by the prior is the balanced-error Bayes rule.")
        return True
    if bool((got == post.argmax(1)).all()):
        print("That is argmax p_train(y|x), the rule for the *training* distribution. "
              "Divide by the prior first.")
    elif bool((got == (post * prior).argmax(1)).all()):
        print("You multiplied by the prior; the balanced rule divides by it.")
    else:
        print(f"{wrong} of {want.numel()} labels differ from argmax p(y|x) / pi_y.")
    return False


def check_la_loss(answer: Any) -> bool:
    """``answer(logits, targets, log_prior, tau) -> loss`` must equal the logit-adjusted
    cross-entropy (batch mean) on random inputs, at tau = 1, 0.5 and 2. Names the classic
    mistakes: the bias subtracted (that is post-hoc adjustment's sign), tau left out (right
    at tau = 1 only), the prior used instead of its log."""
    if not_answered(answer):
        return False
    g = torch.Generator().manual_seed(1)
    z = torch.randn(32, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (32,), generator=g)
    lp = torch.log_softmax(torch.randn(5, generator=g, dtype=torch.float64), 0)
    for tau in (1.0, 0.5, 2.0):
        want = float(logit_adjusted_cross_entropy(z, y, lp, tau))
        try:
            got = float(run_student(answer, z.clone(), y.clone(), lp.clone(), tau))
        except StudentError:
            return False
        except (TypeError, ValueError, RuntimeError):
            print("Return the loss as a single number (a 0-d tensor or a float), the batch mean.")
            return False
        if abs(got - want) > 1e-6:
            print(f"Not quite at tau = {tau}: got {got:.6f}, expected {want:.6f}."
                  f"{_la_loss_hint(got, z, y, lp, tau)}")
            return False
    print("Correct: cross-entropy of logits + tau * log_prior.")
    return True


def _la_loss_hint(got: float, z: torch.Tensor, y: torch.Tensor, lp: torch.Tensor,
                  tau: float) -> str:
    """The hint for the classic mistake ``got`` matches, or ""."""
    mistakes = (
        (lambda t: F.cross_entropy(z - t * lp, y),
         " You subtracted the bias: the loss *adds* tau * log_prior (post-hoc adjustment is "
         "the one that subtracts)."),
        (lambda t: F.cross_entropy(z + lp, y),
         " Your loss ignores tau: multiply the log prior by tau (at tau = 1 the two agree, so "
         "test another tau)."),
        (lambda t: F.cross_entropy(z + t * lp.exp(), y),
         " You added the prior itself: the loss adds tau times its *log*."),
        (lambda t: F.cross_entropy(z, y),
         " That is plain cross-entropy: add tau * log_prior to the logits first."),
    )
    for wrong, hint in mistakes:
        if abs(got - float(wrong(tau))) < 1e-6:
            return hint
    return ""


def _la_loss(logits, targets, log_prior, tau):
    return F.cross_entropy(logits + tau * log_prior, targets)


def _la_loss_subtracted(logits, targets, log_prior, tau):
    return F.cross_entropy(logits - tau * log_prior, targets)


def _la_loss_without_tau(logits, targets, log_prior, tau):
    return F.cross_entropy(logits + log_prior, targets)


EXERCISES = (
    Exercise(check_balanced_rule, reference=lambda: lambda post, prior: (post / prior).argmax(1),
             mistake=lambda: lambda post, prior: post.argmax(1),
             hint="Divide by the prior first"),
    Exercise(check_la_loss, reference=lambda: _la_loss, mistake=lambda: _la_loss_subtracted,
             hint="the loss *adds* tau * log_prior"),
    Exercise(check_la_loss, reference=lambda: _la_loss, mistake=lambda: _la_loss_without_tau,
             hint="ignores tau"),
)
