"""LDA's surrogate of the domain divergence: intra- and inter-class distances (Eq. 7, 8).

See `ltlab.lda` for the method in the paper's notation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .._validation import as_positive, as_targets

if TYPE_CHECKING:
    pass

from .risk import _as_class_weights


def class_centres(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                              torch.Tensor, torch.Tensor]:
    """Centres of the classes present in a batch: ``(classes [c], centres [c, D],
    counts [c], inverse [N])`` with ``centres[k]`` the mean of the (unnormalised) features of
    class ``classes[k]`` and ``inverse[i]`` the row of sample i's class."""
    if not torch.is_tensor(z) or z.dim() != 2:
        raise ValueError(f"features z must be a tensor of shape [N, D] (got "
                         f"{tuple(z.shape) if torch.is_tensor(z) else type(z).__name__}).")
    if not z.is_floating_point():
        raise ValueError(f"features z must be a float tensor (got {z.dtype}).")
    y = as_targets(y, n=z.shape[0], name="y")
    classes, inverse, counts = torch.unique(y, return_inverse=True, return_counts=True)
    sums = z.new_zeros(classes.numel(), z.shape[1]).index_add(0, inverse, z)
    return classes, sums / counts.unsqueeze(1).to(z.dtype), counts, inverse  # bar g_l


def intra_class_distances(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Eq. 7 per class: ``(d [c], counts [c])`` with :math:`d_l` the mean cosine distance
    :math:`1 - \cos(\bar g_l, g_i)` of class l's projected features :math:`g_i` (rows of ``z``)
    to their centre :math:`\bar g_l` (`class_centres`)."""
    _, centres, counts, inverse = class_centres(z, y)
    d = 1.0 - F.cosine_similarity(z, centres[inverse], dim=1)  # Eq. 7: 1 - cos(bar g_l, g_i)
    per_class = z.new_zeros(counts.numel()).index_add(0, inverse, d) / counts.to(z.dtype)
    return per_class, counts  # d_l = (1 / n_l) sum_{i: y_i = l} (1 - cos(bar g_l, g_i))


def intra_class_distance_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Eq. 7: the mean over classes of the mean cosine distance of their features to their
    centre, :math:`d_l = \frac1{n_l}\sum_{i: y_i = l} (1 - \cos(\bar g_l, g_i))`. Only classes
    with at least 2 samples in the batch count (a single sample is its own centre); 0 when
    there are none. Zero exactly when every class's features point in one direction.
    """
    per_class, counts = intra_class_distances(z, y)
    keep = counts > 1
    if not keep.any():
        return z.sum() * 0.0  # keeps the graph, as the reference does
    return per_class[keep].mean()  # L_intra = mean_l d_l over classes with n_l >= 2


def inter_class_distance_loss(z: torch.Tensor, y: torch.Tensor,
                              class_weights: torch.Tensor | None = None,
                              margin: float = 1.0) -> torch.Tensor:
    r"""Eq. 8: a hinge on the cosine distance of class centres,
    :math:`\max(0,\ m - D_{ab})` with :math:`D_{ab} = 1 - \cos(\bar g_a, \bar g_b)`, over the
    ordered pairs a != b of classes present in the batch. With the default margin m = 1 the
    hinge is :math:`\max(0, \cos(\bar g_a, \bar g_b))`: only centres at an acute angle are
    penalised; orthogonal or obtuse centres give 0.
    Unweighted: the sum over pairs divided by :math:`c^2 - c`. With ``class_weights`` (the
    Eq. 5 weights :math:`w_i`, one per class, the paper's Eq. 8): pair weights
    :math:`w_{ab} = w_a + w_b` normalised to sum to 1 over a != b. 0 when fewer than two
    classes are present.
    """
    margin = as_positive(margin, "margin", "The paper uses 1.", allow_zero=True)
    class_centres(z, y)  # checks z and y
    if class_weights is not None:
        class_weights = _as_class_weights(class_weights, None)
        if int(y.max()) >= class_weights.numel():
            raise ValueError(f"class_weights has {class_weights.numel()} entries but y holds "
                             f"class {int(y.max())}; give one weight per class.")
    return _inter_class_distance_loss(z, y, class_weights, margin)


def _inter_class_distance_loss(z: torch.Tensor, y: torch.Tensor,
                               class_weights: torch.Tensor | None, margin: float
                               ) -> torch.Tensor:
    """`inter_class_distance_loss` without the input checks (the training loop's path)."""
    classes, centres, _, _ = class_centres(z, y)
    c = classes.numel()
    if c < 2:
        return z.sum() * 0.0
    unit = F.normalize(centres, dim=1)
    distance = 1.0 - unit @ unit.T  # Eq. 8: D_ab = 1 - cos(bar g_a, bar g_b)
    hinge = (margin - distance).clamp_min(0.0)  # max(0, m - D_ab)
    off = 1.0 - torch.eye(c, device=z.device, dtype=z.dtype)
    if class_weights is None:
        return (hinge * off).sum() / (c * c - c)  # mean over the ordered pairs a != b
    w = class_weights.to(z.device, z.dtype)[classes]
    pair = (w[:, None] + w[None, :]) * off  # w_ab = w_a + w_b, a != b
    return (hinge * pair / pair.sum()).sum()  # sum_ab w_ab max(0, m - D_ab) / sum_ab w_ab
