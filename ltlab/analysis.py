r"""What a trained representation looks like: features, the linear probe and the geometry of
classes and classifiers.

These measure a model after training; none of them trains one. Three groups:

* **features and the probe** (GH's evaluation, Zhou et al., NeurIPS 2023): `extract_features`
  (backbone features ``model.features(x)``), `linear_probe` (a linear classifier on frozen,
  standardised features), `probe_accuracy` (probe trained on a balanced labeled set, tested
  on a balanced test set), reported per *third by training frequency* (`frequency_groups`,
  `group_accuracy`: the paper's CIFAR protocol, 34 / 33 / 33 of 100 classes);
* **geometry of the features**: `class_mean_cosines` (cosines of the class means; category-
  level uniformity gives -1/(C-1) off the diagonal), `nearest_class_cosine` (each class's
  cosine to its nearest other class), `simplex_etf_gap` (how far the class-mean Gram matrix
  is from the simplex ETF), `pca_2d` (a 2-D picture) and `distance_ratio` (LDA's Figure 4c: mean intra-class over mean inter-class cosine distance,
  the distances of LDA's Eq. 7 and 8);
* **the classifier**: `classifier_weight_norms` (LDA's Figure 4a: a CE classifier gives head
  classes longer weight vectors) and `weight_norm_ratio` (max / min, 1 is flat).

>>> weight_norm_ratio(torch.tensor([2.0, 1.0, 0.5]))
4.0
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validation import as_counts, as_int, as_logits, as_targets
from .lda import class_centres, intra_class_distances
from .metrics import per_class_accuracy
from .models import LTModel

__all__ = [
    "LinearProbe",
    "class_mean_cosines",
    "classifier_weight_norms",
    "distance_ratio",
    "extract_features",
    "frequency_groups",
    "group_accuracy",
    "linear_probe",
    "nearest_class_cosine",
    "pca_2d",
    "probe_accuracy",
    "simplex_etf_gap",
    "weight_norm_ratio",
]


# ----------------------------------------------------------------------------- groups
def frequency_groups(train_counts) -> dict[str, torch.Tensor]:
    """Class indices of the many / medium / few groups as *thirds by training frequency*
    (the paper's CIFAR protocol: 34 / 33 / 33 of 100 classes; 4 / 3 / 3 of 10). Classes are
    sorted by count (most frequent first, ties by index); a remainder goes to the first
    groups.

    >>> {k: v.tolist() for k, v in frequency_groups([5, 50, 500, 1]).items()}
    {'many': [1, 2], 'medium': [0], 'few': [3]}
    """
    counts = as_counts(train_counts, "train_counts", allow_zero=True)
    if counts.numel() < 3:
        raise ValueError(
            f"train_counts must have at least 3 classes (got {counts.numel()}); thirds need "
            "three groups."
        )
    order = sorted(range(counts.numel()), key=lambda c: (-float(counts[c]), c))
    base, extra = divmod(counts.numel(), 3)
    sizes = [base + (i < extra) for i in range(3)]
    out, start = {}, 0
    for name, size in zip(("many", "medium", "few"), sizes):
        out[name] = torch.tensor(sorted(order[start : start + size]), dtype=torch.long)
        start += size
    return out


def group_accuracy(logits: torch.Tensor, targets: torch.Tensor, train_counts) -> dict[str, float]:
    """Mean per-class accuracy of each third (`frequency_groups`) and of all classes."""
    counts = as_counts(train_counts, "train_counts", allow_zero=True)
    z = torch.as_tensor(logits)
    if z.dim() == 2 and z.shape[1] != counts.numel():
        raise ValueError(f"train_counts has {counts.numel()} entries but the logits have "
                         f"{z.shape[1]} classes; pass one training count per class (expected "
                         f"length {z.shape[1]}).")
    acc = per_class_accuracy(logits, targets, counts.numel())
    out = {name: float(torch.nanmean(acc[idx])) for name, idx in frequency_groups(counts).items()}
    out["all"] = float(torch.nanmean(acc))
    return out


# ----------------------------------------------------------------------------- the probe
@torch.no_grad()
def extract_features(model: nn.Module, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Backbone features ``model.features(x)`` in eval mode (batched, on the model's device)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = torch.cat([model.features(x[i : i + batch_size].to(dev))
                     for i in range(0, x.shape[0], batch_size)])
    model.train(was_training)
    return out


class LinearProbe(nn.Module):
    """logits = W standardize(f) + b, with the mean and std of the probe's training features."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(mean.numel(), num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.std)


def linear_probe(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, epochs: int = 300,
    lr: float = 1e-2, final_lr: float = 1e-6, weight_decay: float = 5e-6, seed: int = 0,
) -> LinearProbe:
    """Train a linear classifier on frozen features: full-batch Adam, lr decaying
    exponentially from ``lr`` to ``final_lr``, weight decay 5e-6 (GH reference ``eval``,
    which runs 500 epochs in batches of 1000). Features are standardised first."""
    as_int(epochs, "epochs", minimum=1)
    features = features.detach().float()
    mean, std = features.mean(0), features.std(0).clamp_min(1e-6)
    torch.manual_seed(seed)
    probe = LinearProbe(mean, std, num_classes).to(features.device)
    opt = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    decay = (final_lr / lr) ** (1.0 / epochs)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, decay)
    labels = labels.to(features.device)
    with torch.enable_grad():
        for _ in range(epochs):
            loss = F.cross_entropy(probe(features), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return probe.eval()


def probe_accuracy(
    model: nn.Module, probe_x: torch.Tensor, probe_y: torch.Tensor, test_x: torch.Tensor,
    test_y: torch.Tensor, train_counts, epochs: int = 300, seed: int = 0,
) -> dict[str, float]:
    """GH's evaluation: a linear probe on the frozen backbone features of a balanced labeled
    set (``probe_x``, ``probe_y``), tested on a balanced test set; accuracy of the many /
    medium / few thirds of the *pre-training* ``train_counts`` and of all classes."""
    counts = torch.as_tensor(train_counts)
    probe = linear_probe(extract_features(model, probe_x), probe_y, counts.numel(), epochs,
                         seed=seed)
    with torch.no_grad():
        logits = probe(extract_features(model, test_x)).cpu()
    return group_accuracy(logits, test_y.cpu(), counts)


# ----------------------------------------------------------------------------- geometry
def class_mean_cosines(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                       centre: bool = True) -> torch.Tensor:
    """Cosine similarities ``[C, C]`` between class means of the normalised, then centred
    features (centring removes the direction all samples share, e.g. of non-negative ReLU
    features). Category-level uniformity on a balanced set gives -1/(C-1) off the diagonal.
    ``centre=False`` keeps the features on the unit sphere (the geometry GH's anchors live
    in: there, classes crowded into one hemisphere show up as large cosines)."""
    num_classes = as_int(num_classes, "num_classes", minimum=2)
    if features.dim() != 2:
        raise ValueError(f"features must be [N, d] (got shape {tuple(features.shape)}).")
    labels = as_targets(labels, features.shape[0], num_classes, name="labels").to(features.device)
    f = F.normalize(features.detach().float(), dim=1)
    if centre:
        f = f - f.mean(0, keepdim=True)
    means = torch.zeros(num_classes, f.shape[1], device=f.device).index_add_(0, labels, f)
    means = F.normalize(means, dim=1)
    return means @ means.T


def nearest_class_cosine(cosines: torch.Tensor) -> torch.Tensor:
    """Each class's largest cosine to *another* class ``[C]``, from a class-mean cosine matrix
    (`class_mean_cosines`): near 1 means the class sits on top of a neighbour; -1/(C-1) is
    the most any class can keep from its nearest neighbour when all are equally far apart.

    >>> nearest_class_cosine(torch.tensor([[1.0, 0.2, -0.5], [0.2, 1.0, 0.9], [-0.5, 0.9, 1.0]]))
    tensor([0.2000, 0.9000, 0.9000])
    """
    c = as_logits(cosines, "cosines")
    if c.shape[0] != c.shape[1] or c.shape[0] < 2:
        raise ValueError(f"cosines must be a square [C, C] matrix with C >= 2 (got {tuple(c.shape)}).")
    eye = torch.eye(c.shape[0], dtype=torch.bool, device=c.device)
    return c.masked_fill(eye, float("-inf")).max(1).values


def simplex_etf_gap(cosines: torch.Tensor) -> float:
    r"""Relative distance of a class-mean Gram (cosine) matrix G from the simplex ETF's,

    :math:`\lVert G - G^\star\rVert_F / \lVert G^\star\rVert_F` with
    :math:`G^\star = \frac{C}{C-1}(I - \frac1C \mathbf 1\mathbf 1^\top)` (1 on the diagonal,
    -1/(C-1) elsewhere: GH's geometric uniform structure). 0 is category-level uniformity;
    all classes on one point gives sqrt(C) (2 for C = 4).

    >>> round(simplex_etf_gap(torch.ones(4, 4)), 3)
    2.0
    """
    c = as_logits(cosines, "cosines").double()
    k = c.shape[0]
    if c.shape[1] != k or k < 2:
        raise ValueError(f"cosines must be a square [C, C] matrix with C >= 2 (got {tuple(c.shape)}).")
    target = k / (k - 1) * (torch.eye(k, dtype=c.dtype, device=c.device) - 1.0 / k)
    return float((c - target).norm() / target.norm())


def pca_2d(features: torch.Tensor) -> torch.Tensor:
    """The first two principal components of the L2-normalised features ``[N, 2]``."""
    f = F.normalize(features.detach().double(), dim=1)
    f = f - f.mean(0, keepdim=True)
    _, _, vh = torch.linalg.svd(f, full_matrices=False)
    sign = torch.sign(vh[:2].sum(1, keepdim=True)).clamp_min(0) * 2 - 1  # deterministic signs
    return (f @ (vh[:2] * sign).T).float()


def distance_ratio(features: torch.Tensor, targets: torch.Tensor) -> float:
    r"""LDA's Figure 4c: mean intra-class distance over mean inter-class distance,

    :math:`\frac{\frac1C \sum_l d_l}{\frac1{C^2 - C}\sum_{a \ne b} D_{ab}}` with the cosine
    distances of LDA's Eq. 7 and 8 (`ltlab.lda.intra_class_distances`), computed over a whole
    (test) set. Smaller is better: compact classes, far-apart centres.
    """
    z = torch.as_tensor(features).double()
    y = torch.as_tensor(targets).long()
    per_class, _ = intra_class_distances(z, y)
    _, centres, _, _ = class_centres(z, y)
    c = centres.shape[0]
    if c < 2:
        raise ValueError("distance_ratio needs features of at least 2 classes.")
    unit = F.normalize(centres, dim=1)
    inter = ((1.0 - unit @ unit.T) * (1.0 - torch.eye(c, dtype=z.dtype))).sum() / (c * c - c)
    return float(per_class.mean() / inter)


# ----------------------------------------------------------------------------- classifier
def classifier_weight_norms(head: nn.Module) -> torch.Tensor:
    """L2 norm of each class's weight vector, shape [C] (LDA's Figure 4a).

    ``head`` is an ``nn.Linear``, an `ltlab.models.ExpertHeads` with one expert, or a
    model (its ``classifier``)."""
    if isinstance(head, LTModel):
        head = head.classifier
    w = head.weights()[0] if hasattr(head, "weights") else head.weight
    return w.detach().float().norm(dim=1).cpu()


def weight_norm_ratio(norms: torch.Tensor) -> float:
    """Largest over smallest per-class weight norm: 1 is perfectly flat."""
    norms = torch.as_tensor(norms, dtype=torch.float64)
    return float(norms.max() / norms.min())
