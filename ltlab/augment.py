"""Batch augmentations as tensor operations (no per-sample Python, no PIL).

Every function takes a batch ``x`` already on the training device and a
``torch.Generator`` on that device, and returns a new batch of the same shape. They are
what `ltlab.train.fit` calls in its hot loop, on CPU and on GPU alike.

* 1-D signals ``[N, L]`` (MNIST-1D): circular shift, Gaussian noise, amplitude scaling,
  and masking of a random segment (`signal_weak`, `signal_strong`).
* Images ``[N, C, H, W]`` (CIFAR): reflect-pad-and-crop, horizontal flip and a small
  rotation (`image_weak`, `image_standard`), as in the reference CIFAR pipelines.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "shift_signal",
    "signal_weak",
    "signal_strong",
    "pad_crop",
    "hflip",
    "rotate",
    "image_weak",
    "image_standard",
]


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device)


def shift_signal(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Roll each signal by its own random shift in [-max_shift, max_shift]."""
    n, length = x.shape
    shift = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=g, device=x.device)
    idx = (torch.arange(length, device=x.device)[None, :] - shift) % length
    return x.gather(1, idx)


def signal_weak(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shift by up to 2 samples and add Gaussian noise of std 0.05."""
    x = shift_signal(x, 2, g)
    return x + 0.05 * torch.randn(x.shape, generator=g, device=x.device)


def signal_strong(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shift by up to 5, scale amplitude by U(0.7, 1.3), noise of std 0.2, and zero a random
    segment of 8 samples (a 1-D cutout)."""
    n, length = x.shape
    x = shift_signal(x, 5, g)
    x = x * _uniform(n, 0.7, 1.3, g, x.device)[:, None]
    x = x + 0.2 * torch.randn(x.shape, generator=g, device=x.device)
    start = torch.randint(0, length - 8 + 1, (n, 1), generator=g, device=x.device)
    pos = torch.arange(length, device=x.device)[None, :]
    mask = (pos >= start) & (pos < start + 8)
    return x.masked_fill(mask, 0.0)


def pad_crop(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Reflect-pad by ``pad`` and crop back at a random offset per image."""
    n, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    oy = torch.randint(0, 2 * pad + 1, (n, 1), generator=g, device=x.device)
    ox = torch.randint(0, 2 * pad + 1, (n, 1), generator=g, device=x.device)
    iy = oy + torch.arange(h, device=x.device)[None, :]
    ix = ox + torch.arange(w, device=x.device)[None, :]
    xp = xp.gather(2, iy[:, None, :, None].expand(n, c, h, w + 2 * pad))
    return xp.gather(3, ix[:, None, None, :].expand(n, c, h, w))


def hflip(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image left-right with probability ``p``."""
    flip = torch.rand(x.shape[0], generator=g, device=x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def rotate(x: torch.Tensor, degrees: float, g: torch.Generator) -> torch.Tensor:
    """Rotate each image by a random angle in [-degrees, degrees] (bilinear, zero fill)."""
    n = x.shape[0]
    a = _uniform(n, -degrees, degrees, g, x.device) * math.pi / 180
    cos, sin = a.cos(), a.sin()
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def image_weak(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Pad-4 random crop and horizontal flip (LDAM-DRW, LA, LDA, FixMatch weak view)."""
    return hflip(pad_crop(x, 4, g), g)


def image_standard(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """BalPoE's standard training: crop, flip and RandomRotation(15)."""
    return rotate(image_weak(x, g), 15.0, g)
