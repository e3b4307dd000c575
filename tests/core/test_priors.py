import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ltlab._validation import as_prior
from ltlab.priors import (
    kl_divergence,
    long_tailed_counts,
    prior_from_counts,
    shifted_prior,
    tempered,
)


def test_cifar_lt_totals_match_the_papers():
    assert int(long_tailed_counts(100, 500, 100).sum()) == 10847
    assert int(long_tailed_counts(10, 5000, 100).sum()) == 12406
    # the other ratios of the reference tables
    assert [int(long_tailed_counts(100, 500, r).sum()) for r in (10, 50)] == [19573, 12608]
    assert [int(long_tailed_counts(10, 5000, r).sum()) for r in (10, 50)] == [20431, 13996]


def test_counts_follow_the_int_expression():
    c = long_tailed_counts(10, 5000, 100)
    expected = [int(5000 * (0.01 ** (i / 9.0))) for i in range(10)]
    assert c.tolist() == expected
    assert c[0] == 5000 and c[-1] == 50


def test_step_profile():
    c = long_tailed_counts(10, 500, 10, profile="step")
    assert c.tolist() == [500] * 5 + [50] * 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_classes=10, max_count=500, imbalance_ratio=0.5), "imbalance_ratio"),
        (dict(num_classes=1, max_count=500, imbalance_ratio=10), "num_classes"),
        (dict(num_classes=10, max_count=0, imbalance_ratio=10), "max_count"),
        (dict(num_classes=10, max_count=50, imbalance_ratio=100), "zero samples"),
        (dict(num_classes=10, max_count=50, imbalance_ratio=10, profile="linear"), "profile"),
    ],
)
def test_long_tailed_counts_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        long_tailed_counts(**kwargs)


def test_prior_from_counts_and_zero_counts():
    p = prior_from_counts([30, 10])
    assert torch.allclose(p, torch.tensor([0.75, 0.25]))
    with pytest.raises(ValueError, match="empty classes \\[1\\]"):
        prior_from_counts([3, 0, 1])
    assert prior_from_counts([3, 0, 1], allow_empty=True)[1] == 0
    with pytest.raises(ValueError, match="non-negative"):
        prior_from_counts([3, -1])


def test_prior_messages_say_what_to_do():
    with pytest.raises(ValueError, match="sum to 1 \\(got 0.9.*prior_from_counts"):
        kl_divergence([0.5, 0.4], [0.5, 0.5])
    with pytest.raises(ValueError, match="negative"):
        tempered([1.2, -0.2], 0.5)
    with pytest.raises(ValueError, match="1-D"):
        tempered([[0.5, 0.5]], 0.5)
    with pytest.raises(ValueError, match="alpha"):
        tempered([0.5, 0.5], math.nan)


def test_check_prior_is_not_forwarded_before_the_release():
    import ltlab.priors as priors

    assert not hasattr(priors, "check_prior")  # it is ltlab._validation.as_prior
    assert as_prior([0.5, 0.5]).tolist() == [0.5, 0.5]


def test_tempered_survives_a_huge_alpha():
    # p^1e4 underflows float64; the log-space form still gives p^a / sum p^a
    assert tempered([0.6, 0.4], 1e4).tolist() == [1.0, 0.0]
    assert tempered([0.6, 0.4], -1e4).tolist() == [0.0, 1.0]
    got = tempered([0.5, 0.3, 0.2], 900.0)  # 0.5^900 ~ 1e-271: the plain path, still finite
    ratio = (0.3 / 0.5) ** 900  # ~ 1e-200
    assert float(got[0]) == 1.0 and float(got[1]) == pytest.approx(ratio, rel=1e-5)


def test_shifted_prior_matches_the_protocol():
    # forward-50 on a balanced test set of 100 per class keeps int(100 * 50^(-i/99)) images
    p = shifted_prior(100, 50, "forward")
    counts = [int(100 * (50 ** (-i / 99))) for i in range(100)]
    assert sum(counts) == 2486  # the test-agnostic protocol of SADE/BalPoE (forward-50)
    exact = torch.tensor([50 ** (-i / 99) for i in range(100)], dtype=torch.float64)
    assert torch.allclose(p.double(), exact / exact.sum(), atol=1e-6)
    assert p[0] / p[-1] == pytest.approx(50, rel=1e-4)
    b = shifted_prior(100, 50, "backward")
    assert torch.allclose(b, p.flip(0))
    assert torch.allclose(shifted_prior(5, 10, "uniform"), torch.full((5,), 0.2))
    with pytest.raises(ValueError, match="direction"):
        shifted_prior(10, 5, "sideways")
    with pytest.raises(ValueError, match="rho"):
        shifted_prior(10, 0.5, "forward")


def test_kl_by_hand():
    p, q = torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.1])
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert kl_divergence(p, q) == pytest.approx(expected)
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf


priors = st.lists(st.floats(0.01, 10.0), min_size=2, max_size=20).map(
    lambda xs: torch.tensor(xs, dtype=torch.float64) / sum(xs)
)


@settings(max_examples=60, deadline=None)
@given(priors, st.floats(-2.0, 3.0))
def test_tempered_is_a_prior_and_preserves_order(p, alpha):
    q = tempered(p, alpha)
    assert q.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert (q >= 0).all()
    order_p = torch.argsort(p, stable=True)
    if alpha > 0:
        assert (q[order_p].diff() >= -1e-6).all()  # same ordering
    if alpha < 0:
        assert (q[order_p].diff() <= 1e-6).all()  # reversed ordering


@settings(max_examples=60, deadline=None)
@given(priors)
def test_tempered_end_points(p):
    assert torch.allclose(tempered(p, 1.0).double(), p, atol=1e-6)
    assert torch.allclose(tempered(p, 0.0), torch.full_like(p, 1 / p.numel()).float())


@settings(max_examples=60, deadline=None)
@given(priors, priors)
def test_kl_is_non_negative_and_zero_on_itself(p, q):
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-9)
    if p.numel() == q.numel():
        assert kl_divergence(p, q) >= 0


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 200), st.integers(1, 5000), st.floats(1.0, 200.0))
def test_counts_are_monotone_with_the_ratio(num_classes, max_count, ratio):
    try:
        c = long_tailed_counts(num_classes, max_count, ratio)
    except ValueError:
        assert int(max_count / ratio) < 1  # only a tail of zero samples is refused
        return
    assert c[0] == max_count
    assert (c.diff() <= 0).all()
    assert c[-1] == int(max_count * (1 / ratio) ** ((num_classes - 1) / (num_classes - 1.0)))
