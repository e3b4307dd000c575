"""Representation analysis (`ltlab.analysis`): frequency thirds, group accuracy, the linear
probe, class-mean cosines, the PCA picture, distance ratios and classifier weight norms,
against hand computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ltlab import analysis as A
from ltlab.gh import uniform_structure
from ltlab.models import MLP


# ----------------------------------------------------------------------------- groups
def test_frequency_groups_are_thirds_by_count():
    counts = torch.tensor([400, 239, 143, 86, 51, 30, 18, 11, 6, 4])
    groups = A.frequency_groups(counts)
    assert groups["many"].tolist() == [0, 1, 2, 3]
    assert groups["medium"].tolist() == [4, 5, 6]
    assert groups["few"].tolist() == [7, 8, 9]
    shuffled = A.frequency_groups(torch.tensor([5, 50, 500]))
    assert [shuffled[g].tolist() for g in ("many", "medium", "few")] == [[2], [1], [0]]
    sizes = [len(v) for v in A.frequency_groups(torch.arange(100, 0, -1)).values()]
    assert sizes == [34, 33, 33]
    with pytest.raises(ValueError, match="train_counts"):
        A.frequency_groups(torch.tensor([3, 2]))


def test_group_accuracy_matches_manual_means():
    counts = torch.tensor([9, 8, 7, 6, 5, 4])  # thirds: {0,1}, {2,3}, {4,5}
    targets = torch.arange(6).repeat(2)
    pred = targets.clone()
    pred[[0, 6]] = 1  # class 0: 0/2 correct
    pred[3] = 0  # class 3: 1/2 correct
    acc = A.group_accuracy(F.one_hot(pred, 6).float(), targets, counts)
    assert acc == pytest.approx({"many": 0.5, "medium": 0.75, "few": 1.0, "all": 4.5 / 6})




# ----------------------------------------------------------------------------- the probe
def _separable(n_per_class: int = 30, dim: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(3, dim, generator=g)
    y = torch.arange(3).repeat_interleave(n_per_class)
    return means[y] + torch.randn(len(y), dim, generator=g), y


def test_linear_probe_separates_separable_features():
    x, y = _separable()
    xt, yt = _separable(seed=0)
    probe = A.linear_probe(x, y, 3, epochs=100)
    assert float((probe(xt).argmax(1) == yt).float().mean()) > 0.95
    # standardised with the training features' statistics
    assert torch.allclose(probe.mean, x.mean(0)) and torch.allclose(probe.std, x.std(0))
    with pytest.raises(ValueError, match="epochs"):
        A.linear_probe(x, y, 3, epochs=0)


def test_extract_features_batches_and_restores_the_mode():
    torch.manual_seed(0)
    model = MLP(40, 3, (16,)).train()
    x = torch.randn(7, 40)
    got = A.extract_features(model, x, batch_size=3)
    assert model.training
    with torch.no_grad():
        assert torch.allclose(got, model.eval().features(x), atol=1e-6)


def test_probe_accuracy_reports_the_thirds_and_all():
    torch.manual_seed(0)
    x, y = _separable(dim=8)
    model = MLP(8, 3, (16,))
    acc = A.probe_accuracy(model, x, y, x, y, train_counts=[30, 20, 10], epochs=50)
    assert set(acc) == {"many", "medium", "few", "all"}
    assert acc["all"] == pytest.approx((acc["many"] + acc["medium"] + acc["few"]) / 3)


# ----------------------------------------------------------------------------- geometry
def test_class_mean_cosines_of_a_simplex_are_minus_one_over_c_minus_one():
    etf = uniform_structure(4, 6).double()
    # every class a tight, scaled cloud around its anchor of a simplex ETF
    labels = torch.arange(4).repeat(25)
    g = torch.Generator().manual_seed(0)
    feats = 3.0 * (etf[labels] + 0.01 * torch.randn(100, 6, generator=g, dtype=torch.float64))
    cos = A.class_mean_cosines(feats, labels, 4)
    off = cos[~torch.eye(4, dtype=torch.bool)]
    assert (off + 1 / 3).abs().max() < 0.02




def test_uncentred_class_mean_cosines_see_classes_crowded_into_one_hemisphere():
    # two classes at 60 degrees on one side of the circle: un-centred their means have
    # cosine 0.5; centring moves the shared direction out and opposes them (-1)
    a = torch.tensor([1.0, 0.0])
    b = torch.tensor([0.5, 3**0.5 / 2])
    feats, labels = torch.stack([a, a, b, b]), torch.tensor([0, 0, 1, 1])
    raw = A.class_mean_cosines(feats, labels, 2, centre=False)
    assert raw[0, 1] == pytest.approx(0.5, abs=1e-6)
    assert A.class_mean_cosines(feats, labels, 2)[0, 1] == pytest.approx(-1.0, abs=1e-6)


def test_nearest_class_cosine_and_simplex_etf_gap_against_hand_values():
    cos = torch.tensor([[1.0, 0.3, -0.2], [0.3, 1.0, 0.8], [-0.2, 0.8, 1.0]])
    assert A.nearest_class_cosine(cos).tolist() == pytest.approx([0.3, 0.8, 0.8])
    # the simplex ETF's Gram matrix is the target: gap 0
    etf = uniform_structure(5, 8, dtype=torch.float64)
    assert A.simplex_etf_gap(etf @ etf.T) == pytest.approx(0.0, abs=1e-9)
    # orthonormal class means (identity Gram): off-diagonal 0 instead of -1/(C-1)
    c = 4
    target = torch.full((c, c), -1 / (c - 1)).fill_diagonal_(1.0)
    expected = float((torch.eye(c) - target).norm() / target.norm())
    assert A.simplex_etf_gap(torch.eye(c)) == pytest.approx(expected)
    assert A.simplex_etf_gap(torch.ones(c, c)) == pytest.approx(c**0.5)  # one point: sqrt(C)
    with pytest.raises(ValueError, match="square"):
        A.simplex_etf_gap(torch.ones(2, 3))
    with pytest.raises(ValueError, match="square"):
        A.nearest_class_cosine(torch.ones(1, 1))


def test_pca_2d_keeps_the_two_largest_directions():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(200, 5, generator=g) * torch.tensor([5.0, 2.0, 0.1, 0.1, 0.1]) + 10
    coords = A.pca_2d(f)
    assert coords.shape == (200, 2)
    centred = F.normalize(f.double(), dim=1)
    centred = centred - centred.mean(0)
    # the two components carry almost all the variance of the normalised, centred features
    assert float(coords.double().pow(2).sum()) == pytest.approx(
        float(centred.pow(2).sum()), rel=0.05)
    assert torch.equal(coords, A.pca_2d(f))  # deterministic signs


def test_distance_ratio_small_for_tight_far_classes():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4) * 10
    y = torch.arange(4).repeat_interleave(50)
    tight = centres[y] + 0.1 * torch.randn(200, 4, generator=g)
    loose = centres[y] + 5.0 * torch.randn(200, 4, generator=g)
    assert A.distance_ratio(tight, y) < 0.01 < A.distance_ratio(loose, y)



def test_distance_ratio_matches_a_direct_computation():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = torch.arange(3).repeat(10)
    mu = [z[y == c].mean(0) for c in range(3)]
    intra = sum(float((1 - F.cosine_similarity(z[y == c], mu[c][None], dim=1)).mean())
                for c in range(3)) / 3
    inter = sum(1 - float(F.cosine_similarity(mu[a][None], mu[b][None]))
                for a in range(3) for b in range(3) if a != b) / 6
    assert A.distance_ratio(z, y) == pytest.approx(intra / inter)
    with pytest.raises(ValueError, match="at least 2 classes"):
        A.distance_ratio(z, torch.zeros(30, dtype=torch.long))


# ----------------------------------------------------------------------------- classifier
def test_classifier_weight_norms_and_ratio():
    head = nn.Linear(4, 3)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[3.0, 4, 0, 0], [0, 0, 1, 0], [0, 2, 0, 0]]))
    norms = A.classifier_weight_norms(head)
    assert norms.tolist() == pytest.approx([5.0, 1.0, 2.0])
    assert A.weight_norm_ratio(norms) == pytest.approx(5.0)
    model = MLP(4, 3, (8,))
    assert torch.allclose(A.classifier_weight_norms(model),
                          A.classifier_weight_norms(model.classifier))
