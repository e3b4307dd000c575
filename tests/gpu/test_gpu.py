"""The fast trainer's guarantees on CUDA: the same seed gives the same numbers in fp32, and
the fast paths (channels-last, bf16, compile) agree with fp32 within noise. The full-size
notebook runs moved to ``tests/full/`` (they run on any device).

All tests here are marked ``gpu`` and skipped without CUDA (see ``conftest.py``); CI never
needs them. On a GPU machine: ``pytest -m gpu tests/gpu``.
"""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu


# ----------------------------------------------------------------------------- trainer
def _short_cifar_like_run(**kwargs):
    """A few steps of the BalPoE recipe's model and method on CIFAR-shaped tensors."""
    from ltlab.augment import image_standard
    from ltlab.data import LTData
    from ltlab.experts import BalPoEMethod
    from ltlab.models import ResNet32
    from ltlab.train import fit, seed_everything

    g = torch.Generator().manual_seed(0)
    y = torch.arange(1024) % 10
    x = torch.randn(1024, 3, 32, 32, generator=g) + y.view(-1, 1, 1, 1) / 5
    data = LTData(x, y, x[:256], y[:256], torch.bincount(y), [str(i) for i in range(10)])
    seed_everything(0)
    model = ResNet32(10, num_experts=3, cosine=True)
    h = fit(model, BalPoEMethod(), data, epochs=3, batch_size=128, lr=0.1, mixup_alpha=0.4,
            augment=image_standard, device="cuda", progress=False, **kwargs)
    return h, [p.detach().float().cpu() for p in model.parameters()]


def test_same_seed_same_numbers_on_cuda_in_fp32():
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        h1, p1 = _short_cifar_like_run()
        h2, p2 = _short_cifar_like_run()
    finally:
        torch.backends.cudnn.deterministic = False
    assert h1.loss == h2.loss
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))


@pytest.mark.parametrize("options", [dict(channels_last=False), dict(amp=True),
                                     dict(amp=True, compile=True)],
                         ids=["nchw", "bf16", "bf16-compile"])
def test_fast_paths_agree_with_fp32_within_noise(options):
    h_ref, _ = _short_cifar_like_run()
    h, _ = _short_cifar_like_run(**options)
    assert h.loss == pytest.approx(h_ref.loss, rel=0.05), (options, h.loss, h_ref.loss)
