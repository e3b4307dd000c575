"""The LDA method (Eq. 9): two heads, the balance factor and the distance terms, as an
`ltlab.train.fit` method. See `ltlab.lda` for the method in the paper's notation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validation import as_choice, as_int, as_positive

if TYPE_CHECKING:
    from ..data import LTData
    from ..train import Batch

from .distances import _inter_class_distance_loss, intra_class_distance_loss
from .risk import BalanceFactor, _balanced_risk, balanced_risk_weights


class LDA(nn.Module):
    r"""Long-tailed Distribution Adaptation as an `ltlab.train.fit` method (Eq. 9).

    Two linear heads on the shared feature :math:`\phi` = ``model.features(x)`` of any single-expert
    ltlab model (its own ``classifier`` is unused): ``unbalanced`` h' (trained with CE) and
    ``balanced`` h (the balanced risk; used at test time), built in `setup` from
    ``model.feature_dim`` and ``data.train_counts`` (or at once when both are given). Per step

    .. math::
        L = \zeta_{\text{unb}}\,\overline{\mathrm{CE}}(h'(\phi), y)
        + \min(\zeta_{\text{bal}}\,\omega,\ \text{cap})\, R_{bal}(h(\phi), y)
        + \zeta_{\text{dist}}\,(L_{inter} + L_{intra})

    with :math:`\zeta_{\text{unb}}`, :math:`\zeta_{\text{bal}}`, :math:`\zeta_{\text{dist}}` =
    ``loss0_factor``, ``loss1_factor``, ``distance_factor`` (the paper's :math:`\lambda`),
    :math:`\omega` the balance factor from `BalanceFactor` (Eq. 6, the paper's :math:`\alpha`;
    this batch's accuracies pushed first), cap = ``max_balanced_weight`` (None: no cap, the
    reference; 1 in `LDA.normalised`, the paper's range :math:`\omega \le 1`, see the module
    docstring),
    :math:`R_{bal}` = `balanced_risk` (Eq. 5) and the distance terms (Eq. 7, 8) on a
    ``projection`` head beside the heads (the reference's neck): ``"linear"`` (a Linear to
    ``projection_dim``), ``"nonlinear"`` (Linear, ReLU, Linear) or None (no distance terms).
    ``weighted_inter=True`` weighs the inter-class pairs with the Eq. 5 weights (paper's
    Eq. 8); ``False`` is the released code's default. Defaults are the reference code's
    scales (see the module docstring and `LDA.normalised`).

    Logged per step (``History.step_terms``): ``alpha`` (:math:`\omega`); ``balanced_weight``
    (the weight the balanced risk got, :math:`\min(\zeta_{\text{bal}}\,\omega, \text{cap})`);
    ``risk_unbalanced`` (mean CE of h')
    and ``risk_balanced`` (the self-normalised balanced CE of h, whatever the
    ``reduction``); ``accuracy_unbalanced`` / ``accuracy_balanced`` (batch accuracies in the
    units omega uses) and their window means ``mean_accuracy_*`` (Eq. 6); with a projection,
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
            "It caps loss1_factor * omega (the balance factor); use None for no cap (the "
            "reference) or 1 (the paper's range omega <= 1, `LDA.normalised`).")
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
        (``max_balanced_weight=1``: the paper's omega <= 1; without it nu < 1 diverges, see
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
            # zeta_bal * omega, multiplied in the risk's dtype (the cap leaves it unchanged)
            weight = self.loss1_factor * alpha.to(risk_b.dtype)
            if self.max_balanced_weight is not None:
                weight = weight.clamp_max(self.max_balanced_weight)  # min(zeta_bal omega, cap)
            risk_b_plot = risk_b if self.reduction == "mean" else batch.mix_loss(
                lambda y: _balanced_risk(logits_b, y, self.class_weights, "mean"))
        # Eq. 9: L = zeta_unb R_u(h') + min(zeta_bal omega, cap) R_bal(h) [+ zeta_dist distances]
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
            loss = loss + self.distance_factor * (inter + intra)  # + zeta_dist (L_inter + L_intra)
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
