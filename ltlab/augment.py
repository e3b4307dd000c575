"""Batch augmentations as tensor operations (no per-sample Python, no PIL).

Every function takes a batch ``x`` already on the training device and a
``torch.Generator`` on that device, and returns a new batch of the same shape. They are
what `ltlab.train.fit` calls in its hot loop, on CPU and on GPU alike.

* 1-D signals ``[N, L]`` (MNIST-1D): circular shift, Gaussian noise, amplitude scaling,
  and masking of a random segment (`signal_weak`, `signal_strong`).
* Images ``[N, C, H, W]`` (CIFAR): reflect-pad-and-crop, horizontal flip and a small
  rotation (`image_weak`, `image_standard`), as in the reference CIFAR pipelines; FixMatch's
  strong view (`image_strong`).
* Contrastive views for SimCLR and GH (`contrastive_signal_view`, `contrastive_image_view`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._validation import as_fraction, as_int, as_positive
from .data import CIFAR_MEAN, CIFAR_STD

__all__ = [
    "shift_signal",
    "signal_weak",
    "signal_strong",
    "pad_crop",
    "hflip",
    "rotate",
    "image_weak",
    "image_standard",
    "image_strong",
    "contrastive_signal_view",
    "contrastive_image_view",
]


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device)


def shift_signal(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Roll each signal by its own random shift in [-max_shift, max_shift]."""
    max_shift = as_int(max_shift, "max_shift", minimum=0)
    if x.dim() != 2:
        raise ValueError(f"x must be a batch of 1-D signals [N, L] (got shape {tuple(x.shape)}).")
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
    pad = as_int(pad, "pad", minimum=0)
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images [N, C, H, W] (got shape {tuple(x.shape)}).")
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
    p = as_fraction(p, "p", "it is the probability of a flip.")
    flip = torch.rand(x.shape[0], generator=g, device=x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def rotate(x: torch.Tensor, degrees: float, g: torch.Generator) -> torch.Tensor:
    """Rotate each image by a random angle in [-degrees, degrees] (bilinear, zero fill)."""
    degrees = as_positive(degrees, "degrees", "BalPoE uses 15.", allow_zero=True)
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


def image_strong(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A tensor-only stand-in for FixMatch's RandAugment on normalised images ``[N, C, H, W]``:
    the weak view (crop, flip), then per-image brightness (+-0.5 std) and contrast (x0.5..1.5)
    jitter, and a 16x16 cutout at a random centre (FixMatch's strong view ends with Cutout)."""
    x = image_weak(x, g)
    n, _, h, w = x.shape
    dev = x.device
    bright = (torch.rand(n, 1, 1, 1, generator=g, device=dev) - 0.5)
    contrast = 0.5 + torch.rand(n, 1, 1, 1, generator=g, device=dev)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + bright
    cy = torch.randint(0, h, (n, 1, 1), generator=g, device=dev)
    cx = torch.randint(0, w, (n, 1, 1), generator=g, device=dev)
    ys = torch.arange(h, device=dev)[None, :, None]
    xs = torch.arange(w, device=dev)[None, None, :]
    hole = ((ys - cy).abs() < 8) & ((xs - cx).abs() < 8)
    return x.masked_fill(hole[:, None], 0.0)


# ----------------------------------------------------------------------------- contrastive views (SimCLR, GH)
def contrastive_signal_view(x: torch.Tensor, g: torch.Generator, max_shift: int = 20,
                            shear: float = 0.75) -> torch.Tensor:
    """A SimCLR view of MNIST-1D signals ``[N, L]``: the nuisances MNIST-1D itself draws
    (a circular shift of up to ``max_shift`` samples, a random linear trend of slope
    ``shear`` * U(-0.5, 0.5)), then `ltlab.augment.signal_strong` (small shift, amplitude
    scaling, noise, an 8-sample cutout). Contrastive learning learns invariance to exactly
    what its views vary, so the views must cover the class-preserving changes of the data."""
    n, length = x.shape
    x = shift_signal(x, max_shift, g)
    slope = shear * (torch.rand(n, 1, generator=g, device=x.device) - 0.5)
    x = x - slope * torch.linspace(-0.5, 0.5, length, device=x.device)[None, :]
    return signal_strong(x, g)


def contrastive_image_view(
    x: torch.Tensor, g: torch.Generator, mean=CIFAR_MEAN, std=CIFAR_STD
) -> torch.Tensor:
    """SimCLR's CIFAR view as batch tensor operations (reference ``cifar_strong_aug``):
    random resized crop (scale 0.1-1, aspect 3/4-4/3), horizontal flip, colour jitter
    (brightness, contrast, saturation 0.4) with p = 0.8 and grayscale with p = 0.2. The hue
    jitter (0.1) is left out. ``x`` is normalised with ``mean``/``std`` (as `cifar_lt` returns)."""
    n, c, h, w = x.shape
    dev = x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=g, device=dev)

    # crop: area fraction s and log-aspect r -> half-widths in [-1, 1] grid units
    area, log_ratio = uniform(0.1, 1.0), uniform(math.log(3 / 4), math.log(4 / 3))
    sx = (area * log_ratio.exp()).sqrt().clamp(max=1.0)
    sy = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
    tx, ty = (1 - sx) * uniform(-1.0, 1.0), (1 - sy) * uniform(-1.0, 1.0)
    zero = torch.zeros_like(sx)
    theta = torch.stack([torch.stack([sx, zero, tx], 1), torch.stack([zero, sy, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), [n, c, h, w], align_corners=False)
    x = hflip(F.grid_sample(x, grid, align_corners=False), g)
    m = torch.tensor(mean, device=dev, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=dev, dtype=x.dtype).view(1, -1, 1, 1)
    img = x * s + m
    gray = (0.299 * img[:, :1] + 0.587 * img[:, 1:2] + 0.114 * img[:, 2:3]) if c == 3 else img
    jitter = (torch.rand(n, generator=g, device=dev) < 0.8).view(n, 1, 1, 1)
    b, ct, sat = (uniform(0.6, 1.4).view(n, 1, 1, 1) for _ in range(3))
    out = img * b
    out = (out - out.mean((1, 2, 3), keepdim=True)) * ct + out.mean((1, 2, 3), keepdim=True)
    out_gray = (0.299 * out[:, :1] + 0.587 * out[:, 1:2] + 0.114 * out[:, 2:3]) if c == 3 else out
    out = (out - out_gray) * sat + out_gray
    img = torch.where(jitter, out.clamp(0, 1), img)
    to_gray = (torch.rand(n, generator=g, device=dev) < 0.2).view(n, 1, 1, 1)
    gray = (0.299 * img[:, :1] + 0.587 * img[:, 1:2] + 0.114 * img[:, 2:3]) if c == 3 else img
    img = torch.where(to_gray, gray.expand_as(img), img)
    return (img - m) / s
