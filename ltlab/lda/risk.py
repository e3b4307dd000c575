"""LDA's two risks and the self-adaptive balance factor that trades them off (Eq. 3, 5, 6).

See `ltlab.lda` for the method in the paper's notation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validation import as_choice, as_counts, as_int, as_logits, as_positive, as_targets

if TYPE_CHECKING:
    pass

_WINDOW_HINT = ("It is the number of recent batches the balance factor averages over (the "
                "reference uses 100, or `tail_window(counts, batch_size)`).")
_ACCURACY_HINT = ("Pass batch accuracies (percent in the reference, fractions in the "
                  "normalised variant): finite and >= 0.")


def _as_gamma(gamma: float) -> float:
    return as_positive(gamma, "gamma", "the balance factor is max(0, accuracy gap) ** gamma; the paper uses 2.",
                       allow_zero=True)


def _as_accuracies(values: Any, name: str) -> torch.Tensor:
    """Accuracies (a number or a sequence) as float64: finite and non-negative, else a
    ``ValueError`` naming ``name`` (NaN would poison a window mean, and omega, for good)."""
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
    r"""Eq. 6 on window means: the balance factor
    :math:`\omega = \max(0,\ \bar a' - \bar a)^{\nu}` (the paper's :math:`\alpha`, with
    :math:`\nu` = ``gamma``, the paper's :math:`\gamma`), with :math:`\bar a', \bar a` the mean
    training-batch accuracies of h' and h over the window (percent in the reference, so
    omega is of order 10^2 to 10^3 for nu = 2). At ``gamma = 0`` omega is 1 whatever the gap
    (0 ** 0 = 1): no adaptation. The means must
    be finite and non-negative (``ValueError`` naming the argument otherwise).

    >>> float(balance_factor(70.0, 60.0, 2.0))
    100.0
    """
    gamma = _as_gamma(gamma)
    gap = (_as_accuracies(mean_unbalanced, "mean_unbalanced")
           - _as_accuracies(mean_balanced, "mean_balanced"))
    return _alpha(gap, gamma)


def _alpha(gap: torch.Tensor, gamma: float) -> torch.Tensor:
    return gap.clamp_min(0.0) ** gamma  # Eq. 6: omega = max(0, acc(h') - acc(h)) ** nu


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
    risk, ``loss1_factor * 100**gamma * B / N``: percent accuracies multiply omega by
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
    goes in *before* omega is computed, as in the reference) and returns the new omega. The
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
        """Push one batch's accuracies (finite, >= 0) and return the new omega."""
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
        """omega for the current buffers (a float64 scalar, not differentiated)."""
        mean_u, mean_b = self.means()  # Eq. 6's window means of the batch accuracies
        return _alpha(mean_u - mean_b, self.gamma)
