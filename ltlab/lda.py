r"""LDA: long-tailed recognition as domain adaptation (Peng et al., ACM MM 2021).

The long-tailed training set is an *unbalanced* source domain :math:`\mathcal D_u`; the
balanced test set is a *balanced* target domain :math:`\mathcal D_b` with the same
class-conditionals :math:`p(x \mid y)` and a uniform prior. The domain-adaptation bound of
Ben-David et al. (Eq. 1) with the empirical-risk bound (Eq. 2) gives the relaxed bound the
method minimises (Eq. 4),
:math:`\epsilon_b(h) \lesssim \hat\epsilon_u(h') + \hat\epsilon_b(h) + d(\mathcal D_u,
\mathcal D_b) + \text{const}`, and each term becomes one part of the loss:

* :math:`\hat\epsilon_u`: cross-entropy of an auxiliary **unbalanced** head :math:`h'`;
* :math:`\hat\epsilon_b`: the **balanced** risk of the main head :math:`h`, estimated on the
  long-tailed batch with importance weights :math:`w_y = p_b(y) / p_u(y) \propto 1 /
  (C\, n_y)` (Eq. 3, 5; `balanced_risk_weights`, `balanced_risk`);
* the two risks are traded off by the **self-adaptive balance factor** (Eq. 6)
  :math:`\alpha = \max(0,\ \overline{\mathrm{acc}}(h') - \overline{\mathrm{acc}}(h))^{\gamma}`,
  the accuracy gap of the two heads over a window of recent batches (`BalanceFactor`);
* the divergence :math:`d` is not observable (no test data); it is approximated by pulling
  features of a class together and pushing class centres apart in the space of a
  **projection head** (Eq. 7, 8; `intra_class_distance_loss`, `inter_class_distance_loss`).

Total loss (Eq. 9), in the reference code's factors; at test time only h is used::

    L = loss0_factor * CE(h'(x), y) + loss1_factor * alpha * R_bal(h) + distance_factor * (L_inter + L_intra)

**Scales: reference versus normalised.** The released code (``lib/core/combiner.py``) uses
scales that change the effective weight of the balanced risk by orders of magnitude; ltlab
defaults to them, and offers a normalised variant (`LDA.normalised`); ``gamma`` = 2 in both:

==================  ==========================================  ==============================
quantity            reference (default)                         normalised
==================  ==========================================  ==============================
batch accuracies    percent (x 100)                             fractions in [0, 1]
window mean         over all 100 slots, empty ones count as 0   over the batches seen so far
``R_bal``           sum_i w_i CE_i (= (B/N) x balanced CE)      sum_i w_i CE_i / sum_i w_i
``loss1_factor``    2                                           20
weight of R_bal     loss1_factor * alpha                        min(loss1_factor * alpha, 1)
==================  ==========================================  ==============================

In expectation the reference term equals the normalised one with ``loss1_factor = 2 *
100**gamma * B / N`` (B the batch, N the training-set size; `reference_equivalent_factor`):
about 236 on CIFAR-100-LT, 44 on ImageNet-LT and 1,300 on the 988-image MNIST-1D-LT of
notebook 05, where SGD diverges: the reference scales suit B/N around 0.01 or below. The
normalised default of 20 was chosen on MNIST-1D-LT (10 gains less, 40 is unstable).

**Why the normalised weight is capped at 1** (``max_balanced_weight``). In fractions the gap
is at most 1, so the paper's alpha lies in [0, 1]: the balanced risk never weighs more than
the unbalanced one. ``loss1_factor = 20`` lifts the small alpha of gamma = 2 (a gap of 0.1 to
0.2 gives alpha = 0.01 to 0.04, a weight of 0.2 to 0.8); but gap ** gamma tends to 1 as gamma
tends to 0, and at gamma = 0 alpha is 1 whatever the gap (0 ** 0 = 1: the adaptation is off),
so without the cap the balanced risk would weigh 20 from the first step. Its self-normalised
weights put a third or more of a batch's gradient on one or two tail samples, and SGD at the
notebook's learning rate diverges there (MNIST-1D-LT, lr 0.05: weight 2 trains, 5 and 20 end
at chance or in NaN; CE at five times the learning rate trains, the balanced risk alone does
not). The cap keeps the paper's range, ``min(loss1_factor * alpha, 1)``, so every gamma
trains; at gamma = 0 the loss is ``CE(h') + R_bal(h)``.

Code <-> reference: ``unbalanced`` = h' (head 0), ``balanced`` = h (head 1); ``gamma`` /
``window`` / ``loss0_factor`` / ``loss1_factor`` = ``AUTO_ALPHA.GAMMA`` / ``LENGTH`` /
``LOSS0_FACTOR`` / ``LOSS1_FACTOR``; ``projection`` = ``NECK.TYPE`` (``None`` when
``NECK.ENABLE`` is off, as in the CIFAR configs); ``margin`` / ``distance_factor`` /
``weighted_inter`` = ``NECK.MARGIN`` / ``LOSS_FACTOR`` / ``WEIGHT_INTER_LOSS``.

Taught in: notebook 05, driver `ltlab.experiments.lda`, exercises `ltlab.exercises.lda`,
figures `ltlab.viz.lda`, panel `ltlab.widgets.lda`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validation import as_choice, as_counts, as_int, as_logits, as_positive, as_targets

if TYPE_CHECKING:
    from .data import LTData
    from .train import Batch

__all__ = [
    "BalanceFactor", "LDA", "balance_factor", "balance_factor_trace", "balanced_risk",
    "balanced_risk_weights", "class_centres", "inter_class_distance_loss",
    "intra_class_distance_loss", "intra_class_distances", "reference_equivalent_factor",
    "tail_window", "window_means",
]

_WINDOW_HINT = ("It is the number of recent batches the balance factor averages over (the "
                "reference uses 100, or `tail_window(counts, batch_size)`).")
_ACCURACY_HINT = ("Pass batch accuracies (percent in the reference, fractions in the "
                  "normalised variant): finite and >= 0.")


def _as_gamma(gamma: float) -> float:
    return as_positive(gamma, "gamma", "alpha = max(0, accuracy gap) ** gamma; the paper uses 2.",
                       allow_zero=True)


def _as_accuracies(values: Any, name: str) -> torch.Tensor:
    """Accuracies (a number or a sequence) as float64: finite and non-negative, else a
    ``ValueError`` naming ``name`` (NaN would poison a window mean, and alpha, for good)."""
    try:
        v = torch.as_tensor(values, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be a number or a sequence of numbers (got "
                         f"{values!r}). {_ACCURACY_HINT}") from err
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} must be finite (got {v.tolist()!r}). {_ACCURACY_HINT}")
    if bool((v < 0).any()):
        raise ValueError(f"{name} must be >= 0, an accuracy, not a difference (got "
                         f"{v.tolist()!r}). {_ACCURACY_HINT}")
    return v


def _as_class_weights(class_weights: Any, num_classes: int | None,
                      name: str = "class_weights") -> torch.Tensor:
    """One finite, non-negative weight per class (``num_classes`` of them when given), not
    all zero."""
    w = torch.as_tensor(class_weights)
    hint = "build them with `balanced_risk_weights(train_counts)`."
    if w.dim() != 1 or w.numel() == 0 or (num_classes is not None and w.numel() != num_classes):
        want = "a non-empty vector" if num_classes is None else (
            f"a vector with one weight per class of the logits ({num_classes})")
        raise ValueError(f"{name} must be {want}, got shape {tuple(w.shape)}; {hint}")
    if not w.is_floating_point():
        w = w.double()
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or not bool((w > 0).any()):
        raise ValueError(f"{name} must be finite, >= 0 and not all zero (got {w.tolist()}); "
                         f"{hint}")
    return w


# ----------------------------------------------------------------------------- balanced risk
def balanced_risk_weights(train_counts) -> torch.Tensor:
    r"""Per-class importance weights of the balanced risk (Eq. 5): :math:`w_y = 1 / (C n_y)`,
    i.e. :math:`p_b(y) / p_u(y)` up to the factor :math:`1/N` (reference
    ``get_class_weight_for_lda``). An empty class (weight infinite) raises ``ValueError``.

    >>> balanced_risk_weights([3, 1]).tolist()
    [0.16666666666666666, 0.5]
    """
    c = as_counts(train_counts, "train_counts")
    return 1.0 / (c.numel() * c)  # Eq. 5: w_y = p_b(y) / p_u(y) * (1/N) = 1 / (C n_y)


def _balanced_risk(logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor,
                   reduction: str) -> torch.Tensor:
    """`balanced_risk` without the input checks (the training loop's path)."""
    w = class_weights.to(logits.device, logits.dtype)[targets]
    ce = F.cross_entropy(logits, targets, reduction="none")
    if reduction == "sum":
        return (w * ce).sum()  # Eq. 5, reference: sum_i w_{y_i} CE(h(x_i), y_i)
    return (w * ce).sum() / w.sum()  # normalised: sum_i w_{y_i} CE_i / sum_i w_{y_i}


def balanced_risk(logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor,
                  reduction: str = "sum") -> torch.Tensor:
    r"""The re-weighted empirical risk of the balanced domain (Eq. 5).

    ``"sum"`` (reference): :math:`\sum_i w_{y_i}\,\mathrm{CE}(h(x_i), y_i)`, in expectation
    over batches of B of the N training images (B/N) times the class-balanced cross-entropy
    :math:`\frac1C \sum_c \mathbb E[\mathrm{CE} \mid y=c]`. ``"mean"`` (normalised):
    :math:`\sum_i w_{y_i}\mathrm{CE}_i / \sum_i w_{y_i}`, the self-normalised estimate of it
    (what ``F.cross_entropy(logits, targets, weight=w)`` computes). ``class_weights`` holds
    one finite, non-negative weight per class of ``logits``; ``"mean"`` refuses a batch whose
    weights sum to zero (0 / 0).
    """
    as_choice(reduction, ("sum", "mean"), "reduction")
    as_logits(logits)
    targets = as_targets(targets, n=logits.shape[0], num_classes=logits.shape[1])
    w = _as_class_weights(class_weights, logits.shape[1])
    if reduction == "mean" and not bool((w[targets.to(w.device)] > 0).any()):
        raise ValueError("class_weights are zero for every target of the batch, so the "
                         "weighted mean is 0 / 0; give the batch's classes a weight > 0.")
    return _balanced_risk(logits, targets, w, reduction)


# ----------------------------------------------------------------------------- balance factor
def balance_factor(mean_unbalanced: float | torch.Tensor, mean_balanced: float | torch.Tensor,
                   gamma: float = 2.0) -> torch.Tensor:
    r"""Eq. 6 on window means: :math:`\alpha = \max(0,\ \bar a' - \bar a)^{\gamma}`, with
    :math:`\bar a', \bar a` the mean training-batch accuracies of h' and h over the window
    (percent in the reference, so alpha is of order 10^2 to 10^3 for gamma = 2). At
    ``gamma = 0`` alpha is 1 whatever the gap (0 ** 0 = 1): no adaptation. The means must
    be finite and non-negative (``ValueError`` naming the argument otherwise).

    >>> float(balance_factor(70.0, 60.0, 2.0))
    100.0
    """
    gamma = _as_gamma(gamma)
    gap = (_as_accuracies(mean_unbalanced, "mean_unbalanced")
           - _as_accuracies(mean_balanced, "mean_balanced"))
    return _alpha(gap, gamma)


def _alpha(gap: torch.Tensor, gamma: float) -> torch.Tensor:
    return gap.clamp_min(0.0) ** gamma  # Eq. 6: alpha = max(0, acc(h') - acc(h)) ** gamma


def window_means(values: Sequence[float] | torch.Tensor, window: int,
                 count_empty_slots: bool = True) -> torch.Tensor:
    """The mean of a ring buffer of length ``window`` after each push, shape [T].
    ``count_empty_slots=True`` (reference): the buffer starts at zero and the mean is over
    all ``window`` slots (while it fills: the sum of the t values / window). ``False``: the
    mean of the last min(t, window) values. ``values`` must be finite."""
    as_int(window, "window", minimum=1, hint=_WINDOW_HINT)
    try:
        v = torch.as_tensor(values, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"values must be a sequence of numbers (got {values!r}).") from err
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"values must be finite (got {v.tolist()!r}); a NaN would stay in "
                         f"the window for {window} pushes.")
    cum = torch.cat([torch.zeros(1, dtype=torch.float64), v.cumsum(0)])
    t = torch.arange(1, v.numel() + 1)
    start = (t - window).clamp_min(0)
    total = cum[t] - cum[start]  # sum of the last min(t, window) values
    denom = torch.full_like(total, float(window)) if count_empty_slots else (t - start).double()
    return total / denom


def balance_factor_trace(accuracy_unbalanced: Sequence[float] | torch.Tensor,
                         accuracy_balanced: Sequence[float] | torch.Tensor, window: int = 100,
                         gamma: float = 2.0, count_empty_slots: bool = True) -> torch.Tensor:
    """The balance factor after each batch of a sequence of batch accuracies, shape [T].
    Step t pushes the accuracies of batch t into ring buffers of length ``window`` and then
    applies Eq. 6 to their means (`window_means`). With ``count_empty_slots=True``
    (reference) the zeros of the unfilled buffers pull the gap down by (t + 1) / window.

    >>> balance_factor_trace([80.0, 90.0], [40.0, 60.0], window=4).tolist()
    [100.0, 306.25]
    """
    as_int(window, "window", minimum=1, hint=_WINDOW_HINT)
    gamma = _as_gamma(gamma)
    a0 = _as_accuracies(accuracy_unbalanced, "accuracy_unbalanced").flatten()
    a1 = _as_accuracies(accuracy_balanced, "accuracy_balanced").flatten()
    if a0.shape != a1.shape:
        raise ValueError(f"the two accuracy sequences differ in length ({a0.numel()} vs "
                         f"{a1.numel()}); give one pair per batch.")
    return _alpha(window_means(a0, window, count_empty_slots)
                  - window_means(a1, window, count_empty_slots), gamma)


def tail_window(train_counts, batch_size: int) -> int:
    """The reference's window when ``AUTO_ALPHA.LENGTH <= 0``: max(1, int(N / (n_min B))),
    about the number of batches it takes to see one image of the rarest class."""
    c = as_counts(train_counts, "train_counts")
    as_int(batch_size, "batch_size", minimum=1)
    return max(1, int(float(c.sum()) / (float(c.min()) * batch_size)))


def reference_equivalent_factor(batch_size: int, train_size: int, gamma: float = 2.0,
                                loss1_factor: float = 2.0) -> float:
    """The normalised ``loss1_factor`` with the reference scales' weight on the balanced
    risk, ``loss1_factor * 100**gamma * B / N``: percent accuracies multiply alpha by
    100**gamma and the summed risk is B/N times the balanced CE (CIFAR-100-LT IR100 below).

    >>> round(reference_equivalent_factor(128, 10847))
    236
    """
    as_int(batch_size, "batch_size", minimum=1)
    as_int(train_size, "train_size", minimum=1)
    factor = as_positive(loss1_factor, "loss1_factor", "The reference uses 2.", allow_zero=True)
    return factor * 100.0 ** _as_gamma(gamma) * batch_size / train_size


class BalanceFactor(nn.Module):
    """The self-adaptive balance factor of Eq. 6 with its two accuracy ring buffers.
    ``update(acc_unbalanced, acc_balanced)`` pushes one batch's accuracies (the current batch
    goes in *before* alpha is computed, as in the reference) and returns the new alpha. The
    buffers are registered buffers, so `ltlab.train.fit` checkpoints them with the method.
    """

    def __init__(self, window: int = 100, gamma: float = 2.0,
                 count_empty_slots: bool = True) -> None:
        super().__init__()
        self.window = as_int(window, "window", minimum=1, hint=_WINDOW_HINT)
        self.gamma = _as_gamma(gamma)
        self.count_empty_slots = bool(count_empty_slots)
        self.register_buffer("accuracy_unbalanced", torch.zeros(window, dtype=torch.float64))
        self.register_buffer("accuracy_balanced", torch.zeros(window, dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def means(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The window means of Eq. 6, (mean accuracy of h', mean accuracy of h)."""
        if self.count_empty_slots:
            return self.accuracy_unbalanced.mean(), self.accuracy_balanced.mean()
        filled = max(1, min(int(self.steps), self.window))  # before any push: the zero slot
        return (self.accuracy_unbalanced[:filled].mean(), self.accuracy_balanced[:filled].mean())

    @torch.no_grad()
    def update(self, acc_unbalanced: float | torch.Tensor, acc_balanced: float | torch.Tensor
               ) -> torch.Tensor:
        """Push one batch's accuracies (finite, >= 0) and return the new alpha."""
        u = _as_accuracies(acc_unbalanced, "acc_unbalanced")
        b = _as_accuracies(acc_balanced, "acc_balanced")
        if u.numel() != 1 or b.numel() != 1:
            raise ValueError(f"push one accuracy per head and batch (got {u.numel()} and "
                             f"{b.numel()} values).")
        return self._push(u.reshape(()), b.reshape(()))

    @torch.no_grad()
    def _push(self, acc_unbalanced: torch.Tensor, acc_balanced: torch.Tensor) -> torch.Tensor:
        """`update` without the checks (LDA's loss pushes batch means, never NaN, and a check
        would synchronise with the GPU every step)."""
        slot = int(self.steps) % self.window
        self.accuracy_unbalanced[slot] = acc_unbalanced.to(torch.float64)
        self.accuracy_balanced[slot] = acc_balanced.to(torch.float64)
        self.steps += 1
        return self.value()

    @torch.no_grad()
    def value(self) -> torch.Tensor:
        """alpha for the current buffers (a float64 scalar, not differentiated)."""
        mean_u, mean_b = self.means()  # Eq. 6's window means of the batch accuracies
        return _alpha(mean_u - mean_b, self.gamma)


# ----------------------------------------------------------------------------- distances
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
    return classes, sums / counts.unsqueeze(1).to(z.dtype), counts, inverse  # mu_l


def intra_class_distances(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Eq. 7 per class: ``(d [c], counts [c])`` with :math:`d_l` the mean cosine distance
    :math:`1 - \cos(\mu_l, f_i)` of class l's features to its centre (`class_centres`)."""
    _, centres, counts, inverse = class_centres(z, y)
    d = 1.0 - F.cosine_similarity(z, centres[inverse], dim=1)  # Eq. 7: 1 - cos(mu_l, f_i)
    per_class = z.new_zeros(counts.numel()).index_add(0, inverse, d) / counts.to(z.dtype)
    return per_class, counts  # d_l = (1 / n_l) sum_{i: y_i = l} (1 - cos(mu_l, f_i))


def intra_class_distance_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Eq. 7: the mean over classes of the mean cosine distance of their features to their
    centre, :math:`d_l = \frac1{n_l}\sum_{i: y_i = l} (1 - \cos(\mu_l, f_i))`. Only classes
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
    :math:`\max(0,\ m - D_{ab})` with :math:`D_{ab} = 1 - \cos(\mu_a, \mu_b)`, over the
    ordered pairs a != b of classes present in the batch. With the default margin m = 1 the
    hinge is :math:`\max(0, \cos(\mu_a, \mu_b))`: only centres at an acute angle are
    penalised; orthogonal or obtuse centres give 0.
    Unweighted: the sum over pairs divided by :math:`c^2 - c`. With ``class_weights`` (the
    Eq. 5 weights :math:`w`, one per class, the paper's Eq. 8): pair weights
    :math:`W_{ab} = w_a + w_b` normalised to sum to 1 over a != b. 0 when fewer than two
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
    distance = 1.0 - unit @ unit.T  # Eq. 8: D_ab = 1 - cos(mu_a, mu_b)
    hinge = (margin - distance).clamp_min(0.0)  # max(0, m - D_ab)
    off = 1.0 - torch.eye(c, device=z.device, dtype=z.dtype)
    if class_weights is None:
        return (hinge * off).sum() / (c * c - c)  # mean over the ordered pairs a != b
    w = class_weights.to(z.device, z.dtype)[classes]
    pair = (w[:, None] + w[None, :]) * off  # W_ab = w_a + w_b, a != b
    return (hinge * pair / pair.sum()).sum()  # sum_ab W_ab max(0, m - D_ab) / sum_ab W_ab


# ----------------------------------------------------------------------------- the method
class LDA(nn.Module):
    r"""Long-tailed Distribution Adaptation as an `ltlab.train.fit` method (Eq. 9).

    Two linear heads on the shared feature f = ``model.features(x)`` of any single-expert
    ltlab model (its own ``classifier`` is unused): ``unbalanced`` h' (trained with CE) and
    ``balanced`` h (the balanced risk; used at test time), built in `setup` from
    ``model.feature_dim`` and ``data.train_counts`` (or at once when both are given). Per step

    .. math::
        L = \lambda_0\,\overline{\mathrm{CE}}(h'(f), y) + \min(\lambda_1\,\alpha,\
        \bar\lambda)\, R_{bal}(h(f), y) + \lambda_d\,(L_{inter} + L_{intra})

    with :math:`\alpha` from `BalanceFactor` (Eq. 6; this batch's accuracies pushed first),
    :math:`\bar\lambda` = ``max_balanced_weight`` (None: no cap, the reference; 1 in
    `LDA.normalised`, the paper's range :math:`\alpha \le 1`, see the module docstring),
    :math:`R_{bal}` = `balanced_risk` (Eq. 5) and the distance terms (Eq. 7, 8) on a
    ``projection`` head beside the heads (the reference's neck): ``"linear"`` (a Linear to
    ``projection_dim``), ``"nonlinear"`` (Linear, ReLU, Linear) or None (no distance terms).
    ``weighted_inter=True`` weighs the inter-class pairs with the Eq. 5 weights (paper's
    Eq. 8); ``False`` is the released code's default. Defaults are the reference code's
    scales (see the module docstring and `LDA.normalised`).

    Logged per step (``History.step_terms``): ``alpha``; ``balanced_weight`` (the weight the
    balanced risk got, :math:`\min(\lambda_1\alpha, \bar\lambda)`); ``risk_unbalanced`` (mean CE of h')
    and ``risk_balanced`` (the self-normalised balanced CE of h, whatever the
    ``reduction``); ``accuracy_unbalanced`` / ``accuracy_balanced`` (batch accuracies in the
    units alpha uses) and their window means ``mean_accuracy_*`` (Eq. 6); with a projection,
    ``intra`` and ``inter``. Under mixup the CE terms are mixed and accuracies use the
    dominant label.
    """

    def __init__(
        self, *, window: int = 100, gamma: float = 2.0, loss0_factor: float = 1.0,
        loss1_factor: float = 2.0, accuracy_in_percent: bool = True, reduction: str = "sum",
        count_empty_slots: bool = True, projection: str | None = None,
        projection_dim: int = 128, projection_hidden: int = 512, distance_factor: float = 1.0,
        margin: float = 1.0, weighted_inter: bool = True, train_counts=None,
        feature_dim: int | None = None, max_balanced_weight: float | None = None,
    ) -> None:
        super().__init__()
        as_choice(projection, (None, "linear", "nonlinear"), "projection")
        for name, v in (("loss0_factor", loss0_factor), ("loss1_factor", loss1_factor),
                        ("distance_factor", distance_factor), ("margin", margin)):
            as_positive(v, name, allow_zero=True)
        as_int(projection_dim, "projection_dim", minimum=1)
        as_int(projection_hidden, "projection_hidden", minimum=1)
        self.max_balanced_weight = None if max_balanced_weight is None else as_positive(
            max_balanced_weight, "max_balanced_weight",
            "It caps loss1_factor * alpha; use None for no cap (the reference) or 1 (the "
            "paper's alpha <= 1, `LDA.normalised`).")
        self.balance = BalanceFactor(window, gamma, count_empty_slots)
        self.loss0_factor, self.loss1_factor = float(loss0_factor), float(loss1_factor)
        self.accuracy_in_percent = bool(accuracy_in_percent)
        self.reduction = as_choice(reduction, ("sum", "mean"), "reduction")
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
        seen, the balanced risk as a self-normalised mean (an O(1) balanced CE),
        ``loss1_factor=20`` and the balanced risk's weight capped at 1
        (``max_balanced_weight=1``: the paper's alpha <= 1; without it gamma < 1 diverges, see
        the module docstring). Other keyword arguments as in `LDA`."""
        opts = dict(accuracy_in_percent=False, reduction="mean", count_empty_slots=False,
                    loss1_factor=20.0, max_balanced_weight=1.0)
        return cls(**{**opts, **kwargs})

    # -- construction ---------------------------------------------------------------------
    def _build(self, train_counts, feature_dim: int, device: torch.device) -> None:
        as_int(feature_dim, "feature_dim", minimum=1)
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

    def setup(self, model: nn.Module, data: LTData, total_steps: int, device) -> None:
        """Build (or check) the heads for ``model.feature_dim`` and ``data.train_counts``."""
        if getattr(model, "num_experts", 1) != 1:
            raise ValueError(f"LDA puts its two heads on one shared feature; the model has "
                             f"num_experts={model.num_experts}: build it with num_experts=1.")
        counts = torch.as_tensor(data.train_counts)
        if self.balanced is None:
            self._build(counts, model.feature_dim, device)
            return
        if self.feature_dim != model.feature_dim or self.class_weights.numel() != counts.numel():
            raise ValueError(
                f"this LDA was built for feature_dim={self.feature_dim} and "
                f"{self.class_weights.numel()} "
                f"classes, but the model has feature_dim={model.feature_dim} and the data "
                f"{counts.numel()} classes; make a new LDA for this model.")
        self.to(device)

    def _require_heads(self) -> None:
        if self.balanced is None:
            raise RuntimeError("the LDA heads are not built yet: train with `ltlab.train.fit` "
                               "first, or pass train_counts= and feature_dim= to LDA(...).")

    # -- the fit protocol ----------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch, step: int) -> tuple[torch.Tensor, dict]:
        self._require_heads()
        f = model.features(batch.x)
        logits_u, logits_b = self.unbalanced(f), self.balanced(f)
        # unbalanced empirical risk of h': mean_i CE(h'(x_i), y_i)
        risk_u = batch.mix_loss(lambda y: F.cross_entropy(logits_u, y))
        # balanced empirical risk of h (Eq. 5), in the configured reduction
        risk_b = batch.mix_loss(lambda y: _balanced_risk(logits_b, y, self.class_weights,
                                                         self.reduction))
        with torch.no_grad():
            y_top = batch.y if batch.y_mix is None or batch.lam >= 0.5 else batch.y_mix
            scale = 100.0 if self.accuracy_in_percent else 1.0
            acc_u = (logits_u.argmax(1) == y_top).double().mean() * scale
            acc_b = (logits_b.argmax(1) == y_top).double().mean() * scale
            alpha = self.balance._push(acc_u, acc_b)  # Eq. 6, current batch pushed first
            mean_u, mean_b = self.balance.means()
            # lambda_1 * alpha, multiplied in the risk's dtype as before the cap existed
            weight = self.loss1_factor * alpha.to(risk_b.dtype)
            if self.max_balanced_weight is not None:
                weight = weight.clamp_max(self.max_balanced_weight)  # min(lambda_1 alpha, cap)
            risk_b_plot = risk_b if self.reduction == "mean" else batch.mix_loss(
                lambda y: _balanced_risk(logits_b, y, self.class_weights, "mean"))
        # Eq. 9: L = lambda_0 R_u(h') + min(lambda_1 alpha, cap) R_bal(h) [+ lambda_d distances]
        loss = self.loss0_factor * risk_u + weight * risk_b
        terms = {"alpha": alpha, "balanced_weight": weight, "risk_unbalanced": risk_u.detach(),
                 "risk_balanced": risk_b_plot.detach(), "accuracy_unbalanced": acc_u,
                 "accuracy_balanced": acc_b, "mean_accuracy_unbalanced": mean_u,
                 "mean_accuracy_balanced": mean_b}
        if self.projection is not None:
            z = self.projection(f)
            intra = intra_class_distance_loss(z, batch.y)
            inter = _inter_class_distance_loss(
                z, batch.y, self.class_weights if self.weighted_inter else None, self.margin)
            loss = loss + self.distance_factor * (inter + intra)  # + lambda_d (L_inter + L_intra)
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
