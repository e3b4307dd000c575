"""Contrastive learning (`ltlab.contrastive`): NT-Xent against a loop over anchors, the
SimCLR method under `fit`, and the contrastive views it draws."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ltlab.augment import contrastive_image_view, contrastive_signal_view
from ltlab.contrastive import SimCLR, nt_xent
from ltlab.data import LTData
from ltlab.models import MLP


def test_nt_xent_matches_a_loop():
    torch.manual_seed(2)
    z1, z2 = torch.randn(5, 3), torch.randn(5, 3)
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    total = 0.0
    for i in range(10):
        pos = (i + 5) % 10
        num = math.exp(float(u[i] @ u[pos]) / 0.2)
        den = sum(math.exp(float(u[i] @ u[j]) / 0.2) for j in range(10) if j != i)
        total += -math.log(num / den)
    assert abs(float(nt_xent(z1, z2, 0.2)) - total / 10) < 1e-5
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(z1, z2, 0.0)



def test_nt_xent_rejects_mismatched_views():
    with pytest.raises(ValueError, match="B >= 2"):
        nt_xent(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match=r"\[B, d\]"):
        nt_xent(torch.randn(4, 3), torch.randn(4, 2))


def _toy_signals(n_per_class=(40, 20, 8), length=40, seed=0) -> LTData:
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(len(n_per_class), length, generator=g)
    y = torch.repeat_interleave(torch.arange(len(n_per_class)), torch.tensor(n_per_class))
    yt = torch.arange(len(n_per_class)).repeat(10)
    x, xt = (means[t] + torch.randn(len(t), length, generator=g) for t in (y, yt))
    return LTData(x, y, xt, yt, torch.tensor(n_per_class), ["0", "1", "2"], name="toy")


def test_simclr_trains_its_projector_and_monitors_with_class_means():
    from ltlab.train import fit

    data = _toy_signals()
    model = MLP(40, 3, (32,))
    method = SimCLR(model.feature_dim, proj_dim=8)
    before = method.projector[0].weight.detach().clone()
    hist = fit(model, method, data, epochs=2, batch_size=32, lr=0.05, device="cpu",
               progress=False)
    assert not torch.equal(before, method.projector[0].weight.detach())
    assert len(hist.terms["nt_xent"]) == 2 and all(math.isfinite(v) for v in hist.terms["nt_xent"])
    # the monitor: cosine similarity to the class means of the normalised train features
    model.eval()
    with torch.no_grad():
        f = F.normalize(model.features(data.x_train), dim=1)
        means = torch.stack([f[data.y_train == c].sum(0) for c in range(3)])
        want = F.normalize(model.features(data.x_test), dim=1) @ F.normalize(means, dim=1).T
    assert torch.allclose(method.predict(model, data.x_test), want, atol=1e-5)


def test_simclr_rejects_bad_sizes():
    with pytest.raises(ValueError, match="proj_dim"):
        SimCLR(8, proj_dim=0)
    with pytest.raises(ValueError, match="temperature"):
        SimCLR(8, temperature=-0.1)
    with pytest.raises(RuntimeError, match="setup"):
        SimCLR(8).predict(MLP(40, 3, (8,)), torch.randn(2, 40))


def test_contrastive_views_keep_shapes_and_follow_the_generator():
    x = torch.randn(16, 40)
    a = contrastive_signal_view(x, torch.Generator().manual_seed(0))
    b = contrastive_signal_view(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    img = torch.randn(4, 3, 32, 32)
    v = contrastive_image_view(img, torch.Generator().manual_seed(0))
    assert v.shape == img.shape and torch.isfinite(v).all()

