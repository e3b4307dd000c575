r"""Contrastive self-supervised learning: SimCLR and its NT-Xent loss.

Chen, Kornblith, Norouzi and Hinton, *A Simple Framework for Contrastive Learning of Visual
Representations*, ICML 2020. Settings as in the Geometric Harmonization reference code
(MediaBrain-SJTU/Geometric-Harmonization, ``utils.nt_xent`` and ``models.proj_head``), which
builds on it (`ltlab.gh`).

Two random views x^(1), x^(2) of each of the B samples of a batch go through the backbone f
and a projector P, z = P(f(x)). Over the 2B views, NT-Xent (Eq. 1 of the paper) for anchor
i with positive p(i) (the other view of the same sample) is

    l_i = -log  exp(cos(z_i, z_p(i)) / T) / sum_{j != i} exp(cos(z_i, z_j) / T),

one positive and 2B - 2 negatives, averaged over the 2B anchors (`nt_xent`). Every *sample*
is pushed away from every other: sample-level uniformity, which on long-tailed data lets the
head classes take over the feature space (what GH corrects).

**Code <-> paper.** ``temperature`` = T (0.2 in the GH reference; 0.5 in SimCLR on CIFAR);
``projector`` = P (Linear -> BN -> ReLU -> Linear without bias -> BN); ``view`` draws one
view of a batch (`ltlab.augment.contrastive_signal_view` for MNIST-1D,
`ltlab.augment.contrastive_image_view` for CIFAR).

>>> z = torch.eye(4)
>>> round(float(nt_xent(z, z, temperature=0.2)), 4)
0.0396

Taught in: notebook 06 (SimCLR is GH's baseline), driver `ltlab.experiments.gh` (the sphere
toy), and the optional notebook 08, driver `ltlab.experiments.gh_mnist1d` (MNIST-1D
pre-training); exercises `ltlab.exercises.gh`, figures `ltlab.viz.gh`, panel
`ltlab.widgets.gh`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validation import as_int, as_positive
from .analysis import extract_features
from .augment import contrastive_signal_view

if TYPE_CHECKING:
    from .data import LTData

__all__ = ["SimCLR", "nt_xent"]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    r"""SimCLR's NT-Xent (Chen et al., 2020, Eq. 1), averaged over the 2B anchors.

    Over the 2B views, the loss of anchor i with positive p(i) is
    -log exp(cos(z_i, z_p(i)) / T) / sum_{j != i} exp(cos(z_i, z_j) / T): one positive and
    2B - 2 negatives. T = 0.2 in the GH reference (``utils.nt_xent``).
    """
    as_positive(temperature, "temperature", "SimCLR on CIFAR uses 0.2 (GH) or 0.5.")
    if z1.shape != z2.shape or z1.dim() != 2 or z1.shape[0] < 2:
        raise ValueError(
            f"z1 and z2 must both be [B, d] with B >= 2 (got {tuple(z1.shape)}, {tuple(z2.shape)})."
        )
    b = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (u @ u.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=u.device), float("-inf"))
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(u.device)
    # l_i = -log exp(u_i.u_p(i) / T) / sum_{j != i} exp(u_i.u_j / T), mean over the 2B anchors
    return F.cross_entropy(sim, positives)


class SimCLR(nn.Module):
    r"""SimCLR pre-training as an `ltlab.train.fit` method (labels unused by the loss).

    Two views x1 = view(x), x2 = view(x) of each batch (``view``: `contrastive_signal_view`
    for MNIST-1D, `contrastive_image_view` for CIFAR, drawn with ``batch.generator``), the
    projector z = P(model.features(x)) (Linear -> BN -> ReLU -> Linear without bias -> BN,
    reference ``proj_head``) and the loss `nt_xent` (z1, z2) at temperature 0.2. The
    projector is this module's parameter, so `fit` optimises and checkpoints it.

    ``predict`` (what `fit` reports per epoch) is a *nearest-class-mean monitor*: cosine
    similarity of the normalised backbone features to the class means of the labeled
    train split, so ``history.metrics`` tracks how separable the features become; the
    labels serve this monitor only, never the loss. GH's evaluation is the balanced linear
    probe (`ltlab.analysis.probe_accuracy`).
    """

    def __init__(
        self, feature_dim: int, proj_dim: int = 128, hidden_dim: int | None = None,
        temperature: float = 0.2,
        view: Callable[[torch.Tensor, torch.Generator], torch.Tensor] = contrastive_signal_view,
    ) -> None:
        super().__init__()
        as_int(feature_dim, "feature_dim", minimum=1)
        as_int(proj_dim, "proj_dim", minimum=1)
        as_positive(temperature, "temperature", "SimCLR in GH uses 0.2.")
        hidden = hidden_dim or feature_dim
        self.projector = nn.Sequential(
            nn.Linear(feature_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, proj_dim, bias=False), nn.BatchNorm1d(proj_dim),
        )
        self.proj_dim, self.temperature, self.view = proj_dim, temperature, view
        self._monitor: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def setup(self, model: nn.Module, data: LTData, total_steps: int, device) -> None:
        self._monitor = (data.x_train.to(device), data.y_train.to(device), data.num_classes)

    def embed(self, model: nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Projector outputs (z1, z2) of two random views of ``batch.x``."""
        x1, x2 = self.view(batch.x, batch.generator), self.view(batch.x, batch.generator)
        z = self.projector(model.features(torch.cat([x1, x2])))
        return z.chunk(2)

    def loss(self, model: nn.Module, batch, step: int):
        z1, z2 = self.embed(model, batch)
        loss = nt_xent(z1, z2, self.temperature)
        return loss, {"nt_xent": loss.detach()}

    @torch.no_grad()
    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self._monitor is None:
            raise RuntimeError("predict needs setup(model, data, ...) first (fit calls it).")
        xs, ys, c = self._monitor
        feats = F.normalize(extract_features(model, xs), dim=1)
        means = torch.zeros(c, feats.shape[1], device=feats.device).index_add_(0, ys, feats)
        return F.normalize(model.features(x), dim=1) @ F.normalize(means, dim=1).T
