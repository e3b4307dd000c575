"""The loss table of notebook 01 on the same footing: its arms, what each one changes, and
the paired differences the "Paper vs this lab" table reads.

Every model of the table is one `LossArm` of `ARMS`: the `method_registry` method it trains,
its head and its prediction rule. LDAM-DRW needs its cosine head (s = 30), so CE and the LA
loss are trained on that head too. `arm_settings` gives an arm's settings as readable values
and `differs_by` / `describe_difference` say, from two arms' settings and never typed, in what
one row differs from another (the table's "differs by" column). `loss_differences` measures the
`PAIRS` with a 95 % interval over the test samples (one seed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..data import LTData
from ..metrics import balanced_accuracy_difference
from .method_registry import METHOD_LABELS

__all__ = ["ARMS", "ARM_LABELS", "PAIRS", "LossArm", "arm_settings", "describe_difference",
           "differs_by", "loss_differences"]

@dataclass(frozen=True)
class LossArm:
    """One row of the loss table: the `method_registry` ``method`` it trains, its ``head``
    (``"linear"``, or ``"cosine"``: s cos(feature, W_i) with s = 30, LDAM-DRW's) and its
    ``prediction`` (``"raw"``: predict with z; ``"post-hoc"``: z - tau log pi_s on the model
    of ``reuses``)."""

    method: str
    head: str = "linear"
    prediction: str = "raw"
    reuses: str | None = None


#: the loss table's arms: every loss on the linear head, and CE, the LA loss and LDAM-DRW on
#: the cosine head LDAM-DRW needs, so that each pair can be read at equal head
ARMS = {
    "ce": LossArm("ce"),
    "posthoc": LossArm("ce", prediction="post-hoc", reuses="ce"),
    "la": LossArm("la"),
    "balanced_softmax": LossArm("balanced_softmax"),
    "focal": LossArm("focal"),
    "class_balanced": LossArm("class_balanced"),
    "ce_cosine": LossArm("ce", head="cosine"),
    "la_cosine": LossArm("la", head="cosine"),
    "ldam_drw": LossArm("ldam_drw", head="cosine"),
}
ARM_LABELS = {**METHOD_LABELS, "ldam_drw": "LDAM-DRW (cosine head)",
              "ce_cosine": "CE, cosine head", "la_cosine": "LA loss, cosine head"}
_LOSS_NAMES = {"ce": "CE", "la": "LA (τ = {tau:g})", "balanced_softmax": "balanced softmax",
               "focal": "focal (γ = 2)", "class_balanced": "class-balanced (β = 0.9999)",
               "ldam_drw": "LDAM margins + deferred re-weighting"}
_HEADS = {"linear": "linear", "cosine": "cosine (s = 30)"}
#: the paired differences `loss_differences` measures: key -> (arm a, arm b), a minus b
PAIRS = {
    "balanced_accuracy_la_minus_ce": ("la", "ce"),
    "balanced_accuracy_la_minus_ldam_drw": ("la", "ldam_drw"),
    "balanced_accuracy_la_cosine_minus_ldam_drw": ("la_cosine", "ldam_drw"),
    "balanced_accuracy_la_cosine_minus_la": ("la_cosine", "la"),
}


def arm_settings(name: str, tau: float = 1.0) -> dict[str, str]:
    """What arm ``name`` of `ARMS` trains and predicts with, as readable values:
    ``{"loss", "head", "prediction"}``.

    >>> arm_settings("la_cosine")
    {'loss': 'LA (τ = 1)', 'head': 'cosine (s = 30)', 'prediction': 'z'}
    """
    if name not in ARMS:
        raise ValueError(f"unknown arm {name!r}; choose from {sorted(ARMS)}.")
    arm = ARMS[name]
    return {"loss": _LOSS_NAMES[arm.method].format(tau=tau), "head": _HEADS[arm.head],
            "prediction": "z" if arm.prediction == "raw" else f"z − τ log π_s (τ = {tau:g})"}


def differs_by(a: Mapping[str, str], b: Mapping[str, str]) -> list[str]:
    """The names of the settings in which ``a`` differs from ``b`` (in ``a``'s order).

    >>> differs_by(arm_settings("ldam_drw"), arm_settings("la_cosine"))
    ['loss']
    """
    if set(a) != set(b):
        raise ValueError(f"settings to compare need the same names (got {sorted(a)} and "
                         f"{sorted(b)}).")
    return [k for k in a if a[k] != b[k]]


def describe_difference(a: Mapping[str, str], b: Mapping[str, str]) -> str:
    """``"head: linear → cosine (s = 30)"``, one clause per setting of `differs_by` (from
    ``b``'s value to ``a``'s); ``"nothing"`` when they agree."""
    keys = differs_by(a, b)
    return "; ".join(f"{k}: {b[k]} → {a[k]}" for k in keys) or "nothing"


def loss_differences(table: Mapping[str, Mapping[str, Any]], data: LTData
                     ) -> dict[str, dict[str, Any]]:
    """Balanced accuracy of arm a minus arm b for every `PAIRS` entry whose two arms are in
    ``table`` (rows of `compare_losses`, with their test ``predictions``), each with a 95 %
    interval over the test samples (`ltlab.metrics.balanced_accuracy_difference`: one
    seed, so the interval is the noise of a finite test set, not of training)."""
    return {key: balanced_accuracy_difference(table[a]["predictions"], table[b]["predictions"],
                                              data.y_test, data.num_classes)
            for key, (a, b) in PAIRS.items() if a in table and b in table}
