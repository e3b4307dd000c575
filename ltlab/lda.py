r"""LDA: long-tailed recognition as domain adaptation (Peng et al., ACM MM 2021).

The long-tailed training set is an *unbalanced* source domain :math:`\mathcal D_u`; the
balanced test set is a *balanced* target domain :math:`\mathcal D_b` with the same
class-conditionals :math:`p(x \mid y)` and a uniform prior. The domain-adaptation bound of
Ben-David et al. (Eq. 1 of the paper), combined with the usual empirical-risk bound (Eq. 2),
gives the relaxed bound the method minimises (Eq. 4):

.. math::
    \epsilon_b(h) \;\lesssim\; \hat\epsilon_u(h') + \hat\epsilon_b(h)
    + d(\mathcal D_u, \mathcal D_b) + \text{const},

and each term becomes one part of the loss:

* :math:`\hat\epsilon_u`: plain cross-entropy of an auxiliary **unbalanced** head
  :math:`h'` (``unbalanced``);
* :math:`\hat\epsilon_b`: the **balanced** risk of the main head :math:`h` (``balanced``),
  estimated on the long-tailed batch by importance weights (Eq. 3, 5)
  :math:`w_y = p_b(y) / p_u(y) \propto 1 / (C\, n_y)`: ``balanced_risk_weights``;
* the two risks are traded off by the **self-adaptive balance factor** (Eq. 6)
  :math:`\alpha = \max(0,\ \overline{\mathrm{acc}}(h') - \overline{\mathrm{acc}}(h))^{\gamma}`,
  the accuracy gap of the two heads over a window of recent batches: ``BalanceFactor``;
* the divergence :math:`d` is not observable (no test data), so it is approximated by
  pulling features of a class together and pushing class centres apart in the space of a
  **projection head** (Eq. 7, 8): ``intra_class_distance_loss``,
  ``inter_class_distance_loss``.

Total loss (Eq. 9), in the reference code's factors::

    L = loss0_factor * CE(h'(x), y) + loss1_factor * alpha * R_bal(h) + distance_factor * (L_inter + L_intra)

At test time only the balanced head :math:`h` is used (`LDA.predict`).

**Scales: reference versus normalised.** The released code (``lib/core/combiner.py``) uses
scales that change the effective weight of the balanced risk by orders of magnitude; ltlab
defaults to them, and offers a normalised variant (`LDA.normalised`):

=====================  ====================================  ===============================
quantity               reference (default)                   normalised
=====================  ====================================  ===============================
batch accuracies       percent (x 100)                       fractions in [0, 1]
window mean            over all ``window`` slots, empty      over the batches seen so far
                       slots count as 0 (ring of zeros)
``window``             100 batches                           100 batches
``gamma``              2                                     2
``R_bal`` reduction    sum_i w_i CE_i  (= (B/N) x balanced   sum_i w_i CE_i / sum_i w_i
                       CE in expectation)                    (a balanced CE, O(1))
``loss1_factor``       2                                     20
=====================  ====================================  ===============================

With ``B`` the batch size, ``N`` the training-set size: the reference term
``2 (100 Delta)^gamma sum_i w_i CE_i`` equals the normalised term with
``loss1_factor = 2 * 100**gamma * B / N`` (`reference_equivalent_factor`, in expectation
over batches): about 236 on CIFAR-100-LT (B = 128), 44 on ImageNet-LT (B = 256), and 1,300
on the 988-image MNIST-1D-LT of notebook 05 with B = 64, where SGD diverges. The reference
scales therefore only suit large training sets (B/N around 0.01 or below). The normalised
variant's default of 20 was chosen on MNIST-1D-LT (10 gains less, 40 is unstable there) and
does not depend on B or N.

Mapping to the code: ``h'`` = ``unbalanced`` (index 0 of the reference's two heads), ``h`` =
``balanced`` (index 1), ``gamma`` = ``AUTO_ALPHA.GAMMA``, ``window`` =
``AUTO_ALPHA.LENGTH``, ``loss0_factor`` / ``loss1_factor`` = ``AUTO_ALPHA.LOSS0_FACTOR`` /
``LOSS1_FACTOR``, ``projection`` = ``NECK.TYPE`` (``None`` when ``NECK.ENABLE`` is off, as
in the CIFAR configs), ``margin`` = ``NECK.MARGIN``, ``distance_factor`` =
``NECK.LOSS_FACTOR``, ``weighted_inter`` = ``NECK.WEIGHT_INTER_LOSS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import LTData
from .losses import LogitAdjustedLoss
from .metrics import balanced_accuracy, per_class_accuracy, shot_accuracy
from .models import CNN1D, MLP, LTModel, ResNet32
from .train import Batch, CrossEntropy, History, fit, predict_logits, seed_everything

__all__ = [
    "BalanceFactor",
    "LDA",
    "LDAComparison",
    "balance_factor",
    "balance_factor_trace",
    "balanced_risk",
    "balanced_risk_weights",
    "check_balance_factor",
    "check_tail_weight",
    "class_centres",
    "classifier_weight_norms",
    "compare",
    "default_model",
    "distance_ratio",
    "inter_class_distance_loss",
    "intra_class_distance_loss",
    "reference_equivalent_factor",
    "tail_window",
    "window_means",
    "weight_norm_ratio",
]


# ----------------------------------------------------------------------------- validation
def _check_counts(counts, name: str = "train_counts") -> torch.Tensor:
    c = torch.as_tensor(counts)
    if c.dim() != 1 or c.numel() < 2:
        raise ValueError(f"{name} must be a 1-D vector of >= 2 class counts "
                         f"(got shape {tuple(c.shape)}).")
    if c.is_floating_point() and not torch.isfinite(c).all():
        raise ValueError(f"{name} has non-finite entries (got {c.tolist()}).")
    if (c <= 0).any():
        empty = torch.nonzero(c <= 0).flatten().tolist()
        raise ValueError(
            f"{name} must be positive for every class (got {c.tolist()}; classes {empty} are "
            "empty). The balanced risk weighs class y by 1 / (C n_y), which is infinite for an "
            "empty class: drop the empty classes from the data or pass counts >= 1."
        )
    return c.double()


def _check_window(window: int) -> int:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(
            f"window must be an integer >= 1 (got {window!r}); it is the number of recent "
            "batches the balance factor averages over (the reference uses 100, or "
            "`tail_window(counts, batch_size)`)."
        )
    return window


def _check_gamma(gamma: float) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(
            gamma) or gamma < 0:
        raise ValueError(
            f"gamma must be a finite number >= 0 (got {gamma!r}); the balance factor is "
            "max(0, accuracy gap) ** gamma and the paper uses gamma = 2."
        )
    return float(gamma)


def _check_reduction(reduction: str) -> str:
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' (reference) or 'mean' (normalised) "
                         f"(got {reduction!r}).")
    return reduction


def _check_features(z: torch.Tensor, y: torch.Tensor) -> None:
    if z.dim() != 2:
        raise ValueError(f"features must have shape [N, D] (got {tuple(z.shape)}).")
    if y.dim() != 1 or y.shape[0] != z.shape[0]:
        raise ValueError(f"targets must have shape [{z.shape[0]}] (got {tuple(y.shape)}).")


# ----------------------------------------------------------------------------- balanced risk
def balanced_risk_weights(train_counts) -> torch.Tensor:
    r"""Per-class importance weights of the balanced risk (Eq. 5): :math:`w_y = 1 / (C n_y)`.

    :math:`w_y = p_b(y) / p_u(y)` up to the factor :math:`1/N` (:math:`p_b = 1/C`,
    :math:`p_u = n_y / N`), as in the reference's ``get_class_weight_for_lda``. Counts with
    a zero (an empty class) raise ``ValueError``.

    >>> balanced_risk_weights([3, 1]).tolist()
    [0.16666666666666666, 0.5]
    """
    c = _check_counts(train_counts)
    return 1.0 / (c.numel() * c)


def balanced_risk(
    logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor,
    reduction: str = "sum",
) -> torch.Tensor:
    r"""The re-weighted empirical risk of the balanced domain (Eq. 5).

    ``"sum"`` (reference): :math:`\sum_i w_{y_i}\,\mathrm{CE}(h(x_i), y_i)`; over a random
    batch of size B from N training images its expectation is (B/N) times the class-balanced
    cross-entropy :math:`\frac1C \sum_c \mathbb E[\mathrm{CE} \mid y=c]`.
    ``"mean"`` (normalised): :math:`\sum_i w_{y_i}\mathrm{CE}_i / \sum_i w_{y_i}`, the
    self-normalised estimate of the class-balanced cross-entropy (what
    ``F.cross_entropy(logits, targets, weight=w)`` computes).
    """
    _check_reduction(reduction)
    w = class_weights.to(logits.device, logits.dtype)[targets]
    ce = F.cross_entropy(logits, targets, reduction="none")
    if reduction == "sum":
        return (w * ce).sum()
    return (w * ce).sum() / w.sum()


# ----------------------------------------------------------------------------- balance factor
def balance_factor(mean_unbalanced: float | torch.Tensor, mean_balanced: float | torch.Tensor,
                   gamma: float = 2.0) -> torch.Tensor:
    r"""Eq. 6 on window means: :math:`\alpha = \max(0,\ \bar a' - \bar a)^{\gamma}`.

    :math:`\bar a'` and :math:`\bar a` are the mean training-batch accuracies of the
    unbalanced head h' and the balanced head h over the window (percent in the reference, so
    alpha is of order 10^2 to 10^3 for gamma = 2).

    >>> float(balance_factor(70.0, 60.0, 2.0))
    100.0
    """
    gamma = _check_gamma(gamma)
    gap = torch.as_tensor(mean_unbalanced, dtype=torch.float64) - torch.as_tensor(
        mean_balanced, dtype=torch.float64)
    return gap.clamp_min(0.0) ** gamma


def window_means(values: Sequence[float] | torch.Tensor, window: int,
                 count_empty_slots: bool = True) -> torch.Tensor:
    """The mean of a ring buffer of length ``window`` after each push, shape [T].

    ``count_empty_slots=True`` (reference): the buffer starts at zero and the mean is over
    all ``window`` slots, so while it fills the mean after t pushes is (sum of the t values)
    / window. ``False``: the mean of the last min(t, window) values.
    """
    _check_window(window)
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    cum = torch.cat([torch.zeros(1, dtype=torch.float64), v.cumsum(0)])
    t = torch.arange(1, v.numel() + 1)
    start = (t - window).clamp_min(0)
    total = cum[t] - cum[start]
    denom = torch.full_like(total, float(window)) if count_empty_slots else (t - start).double()
    return total / denom


def balance_factor_trace(
    accuracy_unbalanced: Sequence[float] | torch.Tensor,
    accuracy_balanced: Sequence[float] | torch.Tensor,
    window: int = 100, gamma: float = 2.0, count_empty_slots: bool = True,
) -> torch.Tensor:
    """The balance factor after each batch of a sequence of batch accuracies, shape [T].

    Step t pushes the accuracies of batch t into ring buffers of length ``window`` and then
    applies Eq. 6 to their means (`window_means`). With ``count_empty_slots=True``
    (reference) the zeros of the unfilled buffers pull the gap down by (t + 1) / window.

    >>> balance_factor_trace([80.0, 90.0], [40.0, 60.0], window=4).tolist()
    [100.0, 306.25]
    """
    _check_gamma(gamma)
    a0 = torch.as_tensor(accuracy_unbalanced, dtype=torch.float64).flatten()
    a1 = torch.as_tensor(accuracy_balanced, dtype=torch.float64).flatten()
    if a0.shape != a1.shape:
        raise ValueError(f"the two accuracy sequences differ in length ({a0.numel()} vs "
                         f"{a1.numel()}); give one pair per batch.")
    return balance_factor(window_means(a0, window, count_empty_slots),
                          window_means(a1, window, count_empty_slots), gamma)


def tail_window(train_counts, batch_size: int) -> int:
    """The reference's window when ``AUTO_ALPHA.LENGTH <= 0``: max(1, int(N / (n_min B))),
    about the number of batches it takes to see one image of the rarest class."""
    c = _check_counts(train_counts)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size}).")
    return max(1, int(float(c.sum()) / (float(c.min()) * batch_size)))


def reference_equivalent_factor(batch_size: int, train_size: int, gamma: float = 2.0,
                                loss1_factor: float = 2.0) -> float:
    """The normalised ``loss1_factor`` that gives the reference scales' weight on the
    balanced risk: ``loss1_factor * 100**gamma * batch_size / train_size``.

    Percent accuracies multiply alpha by 100**gamma, and the summed risk is B/N times the
    balanced CE in expectation. CIFAR-100-LT IR100 (N = 10,847, B = 128) gives about 236;
    a 988-image MNIST-1D-LT with B = 64 gives about 1,300, which makes SGD diverge.

    >>> round(reference_equivalent_factor(128, 10847))
    236
    """
    if batch_size < 1 or train_size < 1:
        raise ValueError(f"batch_size and train_size must be >= 1 (got {batch_size}, "
                         f"{train_size}).")
    return float(loss1_factor) * 100.0 ** _check_gamma(gamma) * batch_size / train_size


class BalanceFactor(nn.Module):
    """The self-adaptive balance factor of Eq. 6 with its two accuracy ring buffers.

    ``update(acc_unbalanced, acc_balanced)`` pushes one batch's accuracies (the current batch
    goes in *before* alpha is computed, as in the reference) and returns the new alpha. The
    buffers are registered buffers, so `ltlab.train.fit` checkpoints them with the method.
    """

    def __init__(self, window: int = 100, gamma: float = 2.0,
                 count_empty_slots: bool = True) -> None:
        super().__init__()
        self.window = _check_window(window)
        self.gamma = _check_gamma(gamma)
        self.count_empty_slots = bool(count_empty_slots)
        self.register_buffer("accuracy_unbalanced", torch.zeros(window, dtype=torch.float64))
        self.register_buffer("accuracy_balanced", torch.zeros(window, dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def _means(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.count_empty_slots:
            return self.accuracy_unbalanced.mean(), self.accuracy_balanced.mean()
        filled = int(min(int(self.steps), self.window))
        if filled == 0:
            zero = self.accuracy_unbalanced.new_zeros(())
            return zero, zero
        return (self.accuracy_unbalanced[:filled].mean(), self.accuracy_balanced[:filled].mean())

    @torch.no_grad()
    def update(self, acc_unbalanced: float | torch.Tensor,
               acc_balanced: float | torch.Tensor) -> torch.Tensor:
        slot = int(self.steps) % self.window
        self.accuracy_unbalanced[slot] = torch.as_tensor(acc_unbalanced, dtype=torch.float64)
        self.accuracy_balanced[slot] = torch.as_tensor(acc_balanced, dtype=torch.float64)
        self.steps += 1
        return self.value()

    @torch.no_grad()
    def value(self) -> torch.Tensor:
        """alpha for the current buffers (a float64 scalar, not differentiated)."""
        m0, m1 = self._means()
        return (m0 - m1).clamp_min(0.0) ** self.gamma

    def extra_repr(self) -> str:
        return (f"window={self.window}, gamma={self.gamma}, "
                f"count_empty_slots={self.count_empty_slots}")


# ----------------------------------------------------------------------------- distances
def class_centres(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                              torch.Tensor, torch.Tensor]:
    """Centres of the classes present in a batch: ``(classes [c], centres [c, D],
    counts [c], inverse [N])`` with ``centres[k]`` the mean of the (unnormalised) features of
    class ``classes[k]`` and ``inverse[i]`` the row of sample i's class."""
    _check_features(z, y)
    classes, inverse, counts = torch.unique(y, return_inverse=True, return_counts=True)
    sums = z.new_zeros(classes.numel(), z.shape[1]).index_add(0, inverse, z)
    return classes, sums / counts.unsqueeze(1).to(z.dtype), counts, inverse


def _intra_distances(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    _, centres, counts, inverse = class_centres(z, y)
    d = 1.0 - F.cosine_similarity(z, centres[inverse], dim=1)  # 1 - cos(mu_l, f_i)
    per_class = z.new_zeros(counts.numel()).index_add(0, inverse, d) / counts.to(z.dtype)
    return per_class, counts


def intra_class_distance_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Eq. 7: the mean over classes of the mean cosine distance of their features to their
    centre, :math:`d_l = \frac1{n_l}\sum_{i: y_i = l} (1 - \cos(\mu_l, f_i))`.

    Only classes with at least 2 samples in the batch count (a single sample is its own
    centre); 0 when there are none. Zero exactly when every class's features point in one
    direction.
    """
    per_class, counts = _intra_distances(z, y)
    keep = counts > 1
    if not keep.any():
        return z.sum() * 0.0  # keeps the graph, as the reference does
    return per_class[keep].mean()


def inter_class_distance_loss(
    z: torch.Tensor, y: torch.Tensor, class_weights: torch.Tensor | None = None,
    margin: float = 1.0,
) -> torch.Tensor:
    r"""Eq. 8: a hinge on the cosine distance of class centres,
    :math:`\max(0,\ m - D_{ab})` with :math:`D_{ab} = 1 - \cos(\mu_a, \mu_b)`, over the
    ordered pairs a != b of classes present in the batch.

    With the default margin m = 1 the hinge is :math:`\max(0, \cos(\mu_a, \mu_b))`: only
    centres at an acute angle are penalised; orthogonal or obtuse centres give 0.
    Unweighted: the sum over pairs divided by :math:`c^2 - c`. With ``class_weights`` (the
    Eq. 5 weights :math:`w`, the paper's Eq. 8): pair weights :math:`W_{ab} = w_a + w_b`
    normalised to sum to 1 over a != b. 0 when fewer than two classes are present.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0 (got {margin}); the paper uses 1.")
    classes, centres, _, _ = class_centres(z, y)
    c = classes.numel()
    if c < 2:
        return z.sum() * 0.0
    unit = F.normalize(centres, dim=1)
    distance = 1.0 - unit @ unit.T
    hinge = (margin - distance).clamp_min(0.0)
    off = 1.0 - torch.eye(c, device=z.device, dtype=z.dtype)
    if class_weights is None:
        return (hinge * off).sum() / (c * c - c)
    w = class_weights.to(z.device, z.dtype)[classes]
    pair = (w[:, None] + w[None, :]) * off
    return (hinge * pair / pair.sum()).sum()


def distance_ratio(features: torch.Tensor, targets: torch.Tensor) -> float:
    r"""Figure 4c of the paper: mean intra-class distance over mean inter-class distance,

    :math:`\frac{\frac1C \sum_l d_l}{\frac1{C^2 - C}\sum_{a \ne b} D_{ab}}` with the cosine
    distances of Eq. 7 and 8, computed over a whole (test) set. Smaller is better: compact
    classes, far-apart centres.
    """
    z = torch.as_tensor(features).double()
    y = torch.as_tensor(targets).long()
    per_class, _ = _intra_distances(z, y)
    _, centres, _, _ = class_centres(z, y)
    c = centres.shape[0]
    if c < 2:
        raise ValueError("distance_ratio needs features of at least 2 classes.")
    unit = F.normalize(centres, dim=1)
    inter = ((1.0 - unit @ unit.T) * (1.0 - torch.eye(c, dtype=z.dtype))).sum() / (c * c - c)
    return float(per_class.mean() / inter)


# ----------------------------------------------------------------------------- the method
class LDA(nn.Module):
    r"""Long-tailed Distribution Adaptation as an `ltlab.train.fit` method (Eq. 9).

    Two linear heads on the shared feature ``model.features(x)``: ``unbalanced`` (h',
    trained with CE) and ``balanced`` (h, trained with the re-weighted balanced risk and
    used at test time); optionally a ``projection`` head for the distance losses. The
    model's own ``classifier`` is not used. The heads are built in `setup` from
    ``model.feature_dim`` and ``data.train_counts`` (or at once, if ``train_counts`` and
    ``feature_dim`` are given), so LDA works with every single-expert ltlab model.

    Per step:

    .. math::
        L = \lambda_0\,\overline{\mathrm{CE}}(h'(f), y) + \lambda_1\,\alpha\,
        R_{bal}(h(f), y) + \lambda_d\,(L_{inter} + L_{intra})

    with :math:`\alpha` from `BalanceFactor` (Eq. 6) updated with the batch accuracies of
    both heads before it is used, :math:`R_{bal}` from `balanced_risk` (Eq. 5) and the
    distance terms (Eq. 7, 8) on the projected features, present only when ``projection``
    is ``"linear"`` (one Linear to ``projection_dim``, the reference's neck) or
    ``"nonlinear"`` (Linear, ReLU, Linear with ``projection_hidden`` units); it sits beside
    the heads on the same feature, as the reference's neck does. ``weighted_inter=True``
    weighs the inter-class pairs with the Eq. 5 weights as the paper's Eq. 8 does; the
    released code defaults to the unweighted mean (``WEIGHT_INTER_LOSS=False``), which
    ``weighted_inter=False`` reproduces. Defaults are the reference code's scales; see the
    module docstring and `LDA.normalised`.

    The terms logged per step (``History.step_terms``): ``alpha``, ``risk_unbalanced``
    (mean CE of h'), ``risk_balanced`` (the self-normalised balanced CE of h, comparable to
    it whatever the ``reduction``), ``accuracy_unbalanced`` / ``accuracy_balanced`` (batch
    accuracies in the units alpha uses) and, with a projection, ``intra`` and ``inter``.
    Under mixup the CE terms are mixed and accuracies use the dominant label.
    """

    def __init__(
        self,
        *,
        window: int = 100,
        gamma: float = 2.0,
        loss0_factor: float = 1.0,
        loss1_factor: float = 2.0,
        accuracy_in_percent: bool = True,
        reduction: str = "sum",
        count_empty_slots: bool = True,
        projection: str | None = None,
        projection_dim: int = 128,
        projection_hidden: int = 512,
        distance_factor: float = 1.0,
        margin: float = 1.0,
        weighted_inter: bool = True,
        train_counts=None,
        feature_dim: int | None = None,
    ) -> None:
        super().__init__()
        if projection not in (None, "linear", "nonlinear"):
            raise ValueError(f"projection must be None, 'linear' or 'nonlinear' "
                             f"(got {projection!r}).")
        for name, v in (("loss0_factor", loss0_factor), ("loss1_factor", loss1_factor),
                        ("distance_factor", distance_factor), ("margin", margin)):
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0 (got {v!r}).")
        if projection_dim < 1 or projection_hidden < 1:
            raise ValueError(f"projection_dim and projection_hidden must be >= 1 (got "
                             f"{projection_dim}, {projection_hidden}).")
        self.balance = BalanceFactor(window, gamma, count_empty_slots)
        self.loss0_factor, self.loss1_factor = float(loss0_factor), float(loss1_factor)
        self.accuracy_in_percent = bool(accuracy_in_percent)
        self.reduction = _check_reduction(reduction)
        self.projection_kind = projection
        self.projection_dim, self.projection_hidden = projection_dim, projection_hidden
        self.distance_factor, self.margin = float(distance_factor), float(margin)
        self.weighted_inter = bool(weighted_inter)
        self.unbalanced: nn.Linear | None = None
        self.balanced: nn.Linear | None = None
        self.projection: nn.Module | None = None
        self.register_buffer("class_weights", torch.empty(0, dtype=torch.float64))
        if train_counts is not None and feature_dim is not None:
            self._build(train_counts, feature_dim, torch.device("cpu"))
        elif (train_counts is None) != (feature_dim is None):
            raise ValueError("give both train_counts and feature_dim (to build the heads now) "
                             "or neither (they are built by `setup` inside `fit`).")

    @classmethod
    def normalised(cls, **kwargs: Any) -> LDA:
        """The normalised variant: accuracies as fractions, window means over the batches
        seen, the balanced risk as a self-normalised mean (an O(1) balanced CE) and
        ``loss1_factor=20`` (see the module docstring). Other keyword arguments as in `LDA`."""
        opts = dict(accuracy_in_percent=False, reduction="mean", count_empty_slots=False,
                    loss1_factor=20.0)
        return cls(**{**opts, **kwargs})

    # -- construction ---------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return int(self.class_weights.numel())

    def _build(self, train_counts, feature_dim: int, device: torch.device) -> None:
        if int(feature_dim) < 1:
            raise ValueError(f"feature_dim must be >= 1 (got {feature_dim}).")
        w = balanced_risk_weights(train_counts)
        c = w.numel()
        self.class_weights = w.to(device)
        self.unbalanced = nn.Linear(feature_dim, c).to(device)
        self.balanced = nn.Linear(feature_dim, c).to(device)
        if self.projection_kind == "linear":
            self.projection = nn.Linear(feature_dim, self.projection_dim).to(device)
        elif self.projection_kind == "nonlinear":
            self.projection = nn.Sequential(
                nn.Linear(feature_dim, self.projection_hidden), nn.ReLU(),
                nn.Linear(self.projection_hidden, self.projection_dim)).to(device)
        self.feature_dim = int(feature_dim)

    def setup(self, model: nn.Module, data: LTData, total_steps: int,
              device: torch.device) -> None:
        """Build (or check) the heads for ``model.feature_dim`` and ``data.train_counts``."""
        if getattr(model, "num_experts", 1) != 1:
            raise ValueError(
                f"LDA puts its two heads on one shared feature; the model has num_experts="
                f"{model.num_experts}. Build the model with num_experts=1.")
        if not hasattr(model, "features") or not hasattr(model, "feature_dim"):
            raise ValueError("LDA needs a model with .features(x) and .feature_dim "
                             "(every ltlab model has them).")
        counts = torch.as_tensor(data.train_counts)
        if self.balanced is None:
            self._build(counts, model.feature_dim, device)
            return
        if self.feature_dim != model.feature_dim or self.num_classes != counts.numel():
            raise ValueError(
                f"this LDA was built for feature_dim={self.feature_dim} and "
                f"{self.num_classes} classes, but the model has feature_dim="
                f"{model.feature_dim} and the data {counts.numel()} classes; "
                "make a new LDA for this model.")
        self.to(device)

    def _require_heads(self) -> None:
        if self.balanced is None:
            raise RuntimeError("the LDA heads are not built yet: train with "
                               "`ltlab.train.fit(model, lda, data, ...)` first, or pass "
                               "train_counts= and feature_dim= to LDA(...).")

    # -- the fit protocol ----------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch, step: int
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self._require_heads()
        f = model.features(batch.x)
        logits_u, logits_b = self.unbalanced(f), self.balanced(f)
        # unbalanced empirical risk: mean CE of h'
        risk_u = batch.mix_loss(lambda y: F.cross_entropy(logits_u, y))
        # balanced empirical risk (Eq. 5), in the configured reduction
        risk_b = batch.mix_loss(lambda y: balanced_risk(logits_b, y, self.class_weights,
                                                        self.reduction))
        with torch.no_grad():
            y_top = batch.y if batch.y_mix is None or batch.lam >= 0.5 else batch.y_mix
            scale = 100.0 if self.accuracy_in_percent else 1.0
            acc_u = (logits_u.argmax(1) == y_top).double().mean() * scale
            acc_b = (logits_b.argmax(1) == y_top).double().mean() * scale
            alpha = self.balance.update(acc_u, acc_b)  # Eq. 6, current batch pushed first
            risk_b_plot = risk_b if self.reduction == "mean" else batch.mix_loss(
                lambda y: balanced_risk(logits_b, y, self.class_weights, "mean"))
        loss = self.loss0_factor * risk_u + self.loss1_factor * alpha.to(risk_b.dtype) * risk_b
        terms = {"alpha": alpha, "risk_unbalanced": risk_u.detach(),
                 "risk_balanced": risk_b_plot.detach(), "accuracy_unbalanced": acc_u,
                 "accuracy_balanced": acc_b}
        if self.projection is not None:
            z = self.projection(f)
            intra = intra_class_distance_loss(z, batch.y)
            inter = inter_class_distance_loss(
                z, batch.y, self.class_weights if self.weighted_inter else None, self.margin)
            loss = loss + self.distance_factor * (inter + intra)
            terms.update(intra=intra.detach(), inter=inter.detach())
        return loss, terms

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Test-time logits: the balanced head h."""
        self._require_heads()
        return self.balanced(model.features(x))

    def predict_unbalanced(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits of the auxiliary unbalanced head h' (for comparison only)."""
        self._require_heads()
        return self.unbalanced(model.features(x))


# ----------------------------------------------------------------------------- analysis
def classifier_weight_norms(head: nn.Module) -> torch.Tensor:
    """L2 norm of each class's weight vector, shape [C] (Figure 4a of the paper).

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


def default_model(data: LTData) -> LTModel:
    """The model `compare` trains when none is given: `CNN1D` for 1-D signals (MNIST-1D),
    `ResNet32` for images, an `MLP` for short feature vectors (the Gaussian mixtures)."""
    x = data.x_train
    c = data.num_classes
    if x.dim() == 4:
        return ResNet32(num_classes=c, in_channels=x.shape[1])
    if x.dim() == 2 and x.shape[1] >= 16:
        return CNN1D(num_classes=c, length=x.shape[1])
    return MLP(int(x[0].numel()), c)


@dataclass
class LDAComparison:
    """What `compare` measured, one entry per method name (``ce``, ``la``, ``lda``,
    ``lda_distance``; ``lda_unbalanced`` is the auxiliary head h' of the ``lda`` run)."""

    balanced_accuracy: dict[str, float] = field(default_factory=dict)
    shot_accuracy: dict[str, dict[str, float]] = field(default_factory=dict)
    per_class_accuracy: dict[str, torch.Tensor] = field(default_factory=dict)
    weight_norms: dict[str, torch.Tensor] = field(default_factory=dict)
    weight_norm_ratio: dict[str, float] = field(default_factory=dict)
    distance_ratio: dict[str, float] = field(default_factory=dict)
    histories: dict[str, History] = field(default_factory=dict)
    models: dict[str, nn.Module] = field(default_factory=dict)
    methods: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """One row per method: balanced accuracy and many / medium / few."""
        return [{"method": k, "balanced": v, **self.shot_accuracy.get(k, {})}
                for k, v in self.balanced_accuracy.items()]

    def __str__(self) -> str:
        lines = [f"{'method':<16}{'balanced':>10}{'many':>8}{'medium':>8}{'few':>8}"]
        for r in self.rows():
            lines.append(f"{r['method']:<16}{r['balanced']:>10.3f}{r.get('many', math.nan):>8.3f}"
                         f"{r.get('medium', math.nan):>8.3f}{r.get('few', math.nan):>8.3f}")
        return "\n".join(lines)


METHOD_NAMES = ("ce", "la", "lda", "lda_distance")


def compare(
    data: LTData,
    methods: Sequence[str] = METHOD_NAMES,
    *,
    model_fn: Callable[[], LTModel] | None = None,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 0.05,
    seed: int = 0,
    device: str = "auto",
    variant: str = "reference",
    lda_kwargs: dict[str, Any] | None = None,
    distance_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
    **fit_kwargs: Any,
) -> LDAComparison:
    """Train CE, logit adjustment, LDA and LDA with the distance terms on ``data`` with the
    same model, seed and schedule, and measure them on the balanced test set.

    ``methods``: any of ``"ce"``, ``"la"``, ``"lda"`` (LDA without projection, the CIFAR
    configuration), ``"lda_distance"`` (with a linear projection head and the distance
    losses). ``variant``: ``"reference"`` (`LDA`, the reference code's scales) or
    ``"normalised"`` (`LDA.normalised`). ``lda_kwargs`` go to every `LDA`; ``distance_kwargs`` only to ``lda_distance``
    (default ``projection="linear"``). Reports balanced and many/medium/few accuracy, the
    per-class weight norms of the test-time classifier and its max/min ratio, and the
    intra/inter distance ratio of the backbone features on the test set.
    """
    if variant not in ("reference", "normalised"):
        raise ValueError(f"variant must be 'reference' or 'normalised' (got {variant!r}).")
    make_lda = LDA if variant == "reference" else LDA.normalised
    unknown = sorted(set(methods) - set(METHOD_NAMES))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHOD_NAMES)}.")
    model_fn = model_fn or (lambda: default_model(data))
    out = LDAComparison()
    for name in methods:
        seed_everything(seed)
        model = model_fn()
        if name == "ce":
            method: Any = CrossEntropy()
        elif name == "la":
            method = LogitAdjustedLoss(tau=1.0)
        elif name == "lda":
            method = make_lda(**(lda_kwargs or {}))
        else:
            method = make_lda(**{"projection": "linear", **(lda_kwargs or {}),
                            **(distance_kwargs or {})})
        hist = fit(model, method, data, epochs=epochs, batch_size=batch_size, lr=lr,
                   seed=seed, device=device, progress=progress, **fit_kwargs)
        logits = predict_logits(model, method, data.x_test, device)
        out.balanced_accuracy[name] = balanced_accuracy(logits, data.y_test, data.num_classes)
        out.shot_accuracy[name] = shot_accuracy(logits, data.y_test, data.train_counts)
        out.per_class_accuracy[name] = per_class_accuracy(logits, data.y_test, data.num_classes)
        head = method.balanced if isinstance(method, LDA) else model.classifier
        out.weight_norms[name] = classifier_weight_norms(head)
        out.weight_norm_ratio[name] = weight_norm_ratio(out.weight_norms[name])
        out.distance_ratio[name] = distance_ratio(_test_features(model, data, device),
                                                  data.y_test)
        out.histories[name], out.models[name], out.methods[name] = hist, model, method
        out.seconds[name] = hist.seconds
        if name == "lda":
            aux = _predict_with(model, method.predict_unbalanced, data.x_test, device)
            out.balanced_accuracy["lda_unbalanced"] = balanced_accuracy(
                aux, data.y_test, data.num_classes)
            out.shot_accuracy["lda_unbalanced"] = shot_accuracy(aux, data.y_test,
                                                                data.train_counts)
            out.weight_norms["lda_unbalanced"] = classifier_weight_norms(method.unbalanced)
    # h' is a side result: list it after the four methods
    for d in (out.balanced_accuracy, out.shot_accuracy):
        if "lda_unbalanced" in d:
            d["lda_unbalanced"] = d.pop("lda_unbalanced")
    return out


class _FeatureMethod:
    def __init__(self, fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> None:
        self.fn = fn

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return self.fn(model, x)


def _predict_with(model: nn.Module, fn, x: torch.Tensor, device: str) -> torch.Tensor:
    return predict_logits(model, _FeatureMethod(fn), x, device)


def _test_features(model: nn.Module, data: LTData, device: str) -> torch.Tensor:
    return _predict_with(model, lambda m, x: m.features(x), data.x_test, device)


# ----------------------------------------------------------------------------- exercises
def check_balance_factor(answer: Any) -> bool:
    """Exercise: window 4 (zeros in empty slots), gamma 2, after two batches with accuracies
    h' = 80 %, 90 % and h = 40 %, 60 %: what is alpha?"""
    from .exercises import check_value

    expected = float(balance_factor_trace([80.0, 90.0], [40.0, 60.0], window=4, gamma=2.0)[-1])
    return check_value(answer, expected, tol=1e-6, hint=(
        "Each window mean divides by all 4 slots, empty ones count as 0: "
        "mean(h') = (80 + 90 + 0 + 0) / 4. Then alpha = max(0, mean(h') - mean(h)) ** 2."))


def check_tail_weight(answer: Any, train_counts) -> bool:
    """Exercise: the balanced-risk weight (Eq. 5) of one image of the rarest class."""
    from .exercises import check_value

    expected = float(balanced_risk_weights(train_counts).max())
    return check_value(answer, expected, tol=1e-9, hint=(
        "w_y = 1 / (C * n_y): use the number of classes and the smallest count."))
