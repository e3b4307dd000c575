"""The checkers of notebooks 05 (LDA) and 06 (GH) beyond the three protocol ways
(tests/exercises/test_checkers.py): near misses, a student's function that fails, wrong
shapes."""

from __future__ import annotations

import torch

from ltlab.exercises.gh import check_allocation, check_simplex_inner_product
from ltlab.exercises.lda import check_balance_factor, check_balanced_weights, check_tail_weight
from ltlab.gh import sinkhorn_allocation


def test_balance_factor_checker(capsys):
    assert check_balance_factor(17.5 ** 2) is True
    # the gap of the second batch alone, (90 - 60) ** 2, is not the windowed factor
    assert check_balance_factor(30.0 ** 2) is False
    assert "empty ones count as 0" in capsys.readouterr().out
    assert check_balance_factor("three hundred") is False


def test_tail_weight_checker():
    assert check_tail_weight(1 / (3 * 2), [50, 10, 2]) is True
    assert check_tail_weight(1 / (3 * 50), [50, 10, 2]) is False  # the head's weight


def test_balanced_weights_checker_names_the_classic_mistakes(capsys):
    def weights(counts):
        counts = torch.as_tensor(counts, dtype=torch.float64)
        return 1.0 / (counts.numel() * counts)

    assert check_balanced_weights(weights) is True
    assert "Correct" in capsys.readouterr().out
    # a list of floats is a fine answer too
    assert check_balanced_weights(lambda n: [1 / (len(n) * int(v)) for v in n]) is True
    capsys.readouterr()
    mistakes = {
        "not normalised": lambda n: 1.0 / n.double(),
        "inverse of the prior": lambda n: n.double() / n.sum(),
        "drops the N": lambda n: n.sum() * weights(n),
        "sum to 1": lambda n: weights(n) / weights(n).sum(),
        "scale is off": lambda n: 3 * weights(n),
    }
    for hint, fn in mistakes.items():
        assert check_balanced_weights(fn) is False, hint
        out = capsys.readouterr().out
        assert hint in out and out.count("\n") == 1, (hint, out)
    assert check_balanced_weights(lambda n: weights(n)[:2]) is False
    assert "one weight per class" in capsys.readouterr().out
    assert check_balanced_weights(lambda n: n.foo()) is False
    assert "AttributeError" in capsys.readouterr().out


def test_simplex_inner_product_checker():
    assert check_simplex_inner_product(-1 / 4, num_prototypes=5) is True
    assert check_simplex_inner_product(-1 / 5, num_prototypes=5) is False


def test_allocation_checker_reports_a_failing_or_misshapen_answer(capsys):
    def broken(scores, prior, eps, n_iter):
        raise ZeroDivisionError("oops")

    assert check_allocation(broken) is False
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert check_allocation(lambda s, p, e, n: s[:, :2]) is False
    assert "shape" in capsys.readouterr().out
    assert check_allocation(lambda s, p, e, n: "not a tensor") is False
    # right marginals, wrong kernel: the allocation of a flatter temperature
    assert check_allocation(lambda s, p, e, n: sinkhorn_allocation(s, p, 1.0, n)) is False
    assert "kernel" in capsys.readouterr().out
    assert check_allocation(lambda s, p, e, n: sinkhorn_allocation(s, p, e, n)) is True
    # a student's float64 answer is accepted too
    assert check_allocation(lambda s, p, e, n: sinkhorn_allocation(s.double(), p, e, n)) is True


def test_prior_distance_checker_names_the_classic_mistakes(capsys):
    from ltlab.exercises.gh import check_prior_distance

    def sorted_tv(p, q):
        return 0.5 * (p.sort(descending=True).values - q.sort(descending=True).values).abs().sum()

    assert check_prior_distance(sorted_tv) is True
    # ascending order pairs the same shares: also right
    assert check_prior_distance(lambda p, q: 0.5 * (p.sort().values - q.sort().values).abs().sum())
    capsys.readouterr()
    mistakes = {
        "anchors are not classes": lambda p, q: 0.5 * (p - q).abs().sum(),
        "half the sum": lambda p, q: 2 * sorted_tv(p, q),
        "Expected": lambda p, q: ((p.sort().values - q.sort().values) ** 2).sum(),
    }
    for hint, fn in mistakes.items():
        assert check_prior_distance(fn) is False, hint
        out = capsys.readouterr().out
        assert hint in out and out.count("\n") == 1, (hint, out)
    assert check_prior_distance(lambda p, q: [1.0, 2.0]) is False
    assert "one number" in capsys.readouterr().out
