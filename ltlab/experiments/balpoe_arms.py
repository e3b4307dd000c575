r"""The models of notebook 02 on the same footing: from LA to BalPoE + mixup, one change
at a time.

Every model notebook 02 trains is one `ModelArm` (`model_arms`): its experts' λ, its head,
the layers its experts share, and mixup. `arm_settings` gives them as readable values, and
`decomposition_rows` walks `DECOMPOSITION` (LA, then the cosine head, mixup, three experts
sharing the network, per-expert late layers) with each row's ``differs_by`` computed from the
arms, never typed, and its gain over the row above with a 95 % interval over the test samples.
`paired_results` measures the differences the "Paper vs this lab" table reads; ECE differences
get a paired bootstrap interval (`ltlab.metrics.ece_difference`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..data import LTData
from ..metrics import balanced_accuracy_difference, ece_difference, summary
from .loss_arms import differs_by
from .method_registry import BALPOE_MODEL, METHOD_LABELS, BalPoEModel
from .mnist1d_setup import Trained

__all__ = ["ARM_LABELS", "DECOMPOSITION", "ModelArm", "arm_settings", "decomposition_rows",
           "ece_difference", "model_arms", "paired_results"]

#: From LA to BalPoE + mixup on one network, one change per row: the cosine head, mixup, three
#: λ-experts sharing the whole network, and per-expert late layers (`decomposition_rows`).
DECOMPOSITION = ("la", "la_cosine", "la_mixup", "balpoe_mixup_shared", "balpoe_mixup")
ARM_LABELS = {**METHOD_LABELS, "la_cosine": "LA loss, cosine head",
              "balpoe_mixup_shared": "BalPoE + mixup, shared network"}


@dataclass(frozen=True)
class ModelArm:
    """What one model of notebook 02 trains: the `method_registry` ``method``, its experts'
    ``lambdas`` (one expert: CE is λ = 1, the LA loss λ = 0), a ``cosine`` head (s = 30) or a
    linear one, how many of `CNN1D`'s three convolutions the experts share (``shared_convs``;
    3: one network, the experts differ only in their heads) and ``mixup_alpha`` (0: none)."""

    method: str
    lambdas: tuple[float, ...]
    cosine: bool
    shared_convs: int
    mixup_alpha: float


def model_arms(balpoe_model: BalPoEModel = BALPOE_MODEL, mixup_alpha: float = 0.4
               ) -> dict[str, ModelArm]:
    """Every model notebook 02 can train, by name: Table 2's (CE and LA with notebook 01's
    linear head; LA + mixup, BalPoE and BalPoE + mixup with ``balpoe_model``'s heads and
    layers) and the decomposition's ``la_cosine`` and ``balpoe_mixup_shared``."""
    m, a = balpoe_model, float(mixup_alpha)
    one = 3  # one expert: the plain network (CNN1D shares all three convolutions)
    return {
        "ce": ModelArm("ce", (1.0,), False, 3, 0.0),
        "la": ModelArm("la", (0.0,), False, 3, 0.0),
        "la_cosine": ModelArm("la", (0.0,), m.cosine, one, 0.0),
        "la_mixup": ModelArm("la_mixup", (0.0,), m.cosine, one, a),
        "balpoe": ModelArm("balpoe", tuple(m.lambdas), m.cosine, m.shared_convs, 0.0),
        "balpoe_mixup_shared": ModelArm("balpoe_mixup", tuple(m.lambdas), m.cosine, 3, a),
        "balpoe_mixup": ModelArm("balpoe_mixup", tuple(m.lambdas), m.cosine, m.shared_convs, a),
    }


def _number(v: float) -> str:
    return f"{v:g}".replace("-", "−")


def arm_settings(arm: ModelArm) -> dict[str, str]:
    """The arm's settings as readable values: ``{"experts (λ_e)", "head", "own layers per
    expert", "mixup α_mix"}`` (`differs_by` compares two of them).

    >>> arm_settings(model_arms()["balpoe_mixup"])["own layers per expert"]
    'convolution 3, linear layer, head'
    """
    own = ["convolution 3", "convolution 2", "convolution 1"][:3 - arm.shared_convs][::-1]
    return {
        "experts (λ_e)": ", ".join(_number(v) for v in arm.lambdas),
        "head": "cosine (s = 30)" if arm.cosine else "linear",
        "own layers per expert": ", ".join(own + ["linear layer", "head"]) if own else "head",
        "mixup α_mix": _number(arm.mixup_alpha) if arm.mixup_alpha else "none",
    }


def _predictions(t: Trained, data: LTData, device: str) -> torch.Tensor:
    return t.logits(data.x_test, device).argmax(1)


def decomposition_rows(models: dict[str, Trained], data: LTData, device: str = "auto",
                       arms: dict[str, ModelArm] | None = None) -> list[dict[str, Any]]:
    """One row per model of ``models`` (in order, e.g. `DECOMPOSITION`): ``arm``, ``label``,
    its ``settings`` (`arm_settings`), ``against`` (the previous row's arm), ``differs_by``
    (the settings in which it differs from that row, from the arms, never typed), its
    ``balanced_accuracy`` and ``ece`` (fractions), and ``gain``: its balanced accuracy
    minus the previous row's with a 95 % interval over the test samples
    (`ltlab.metrics.balanced_accuracy_difference`; one seed). The first row has no
    ``against``, ``differs_by`` or ``gain``."""
    arms = model_arms() if arms is None else arms
    rows: list[dict[str, Any]] = []
    previous = None
    for name, t in models.items():
        z = t.logits(data.x_test, device)
        m = summary(z, data.y_test, data.train_counts)
        row: dict[str, Any] = {"arm": name, "label": ARM_LABELS.get(name, name),
                               "settings": arm_settings(arms[name]),
                               "balanced_accuracy": m["balanced_accuracy"], "ece": m["ece"]}
        if previous is not None:
            row["against"] = previous
            row["differs_by"] = differs_by(row["settings"], arm_settings(arms[previous]))
            row["gain"] = balanced_accuracy_difference(
                z.argmax(1), _predictions(models[previous], data, device), data.y_test,
                data.num_classes)
        rows.append(row)
        previous = name
    return rows


def paired_results(models: dict[str, Trained], data: LTData, device: str = "auto"
                   ) -> dict[str, dict[str, Any]]:
    """The differences `CLAIMS` read, where their models ran:
    ``balanced_accuracy_balpoe_mixup_minus_la`` and
    ``balanced_accuracy_balpoe_mixup_minus_balpoe`` (mixup on the ensemble), with an interval
    over the test samples, and ``ece_balpoe_mixup_minus_balpoe``, the same pair's ECE
    difference with a paired bootstrap interval (`ece_difference`)."""
    out: dict[str, dict[str, Any]] = {}
    pred = {n: _predictions(t, data, device) for n, t in models.items()
            if n in ("la", "balpoe", "balpoe_mixup")}
    y, c = data.y_test, data.num_classes
    if {"la", "balpoe_mixup"} <= set(pred):
        out["balanced_accuracy_balpoe_mixup_minus_la"] = balanced_accuracy_difference(
            pred["balpoe_mixup"], pred["la"], y, c)
    if {"balpoe", "balpoe_mixup"} <= set(pred):
        out["balanced_accuracy_balpoe_mixup_minus_balpoe"] = balanced_accuracy_difference(
            pred["balpoe_mixup"], pred["balpoe"], y, c)
        probs = {n: torch.softmax(models[n].logits(data.x_test, device).double(), 1)
                 for n in ("balpoe", "balpoe_mixup")}
        out["ece_balpoe_mixup_minus_balpoe"] = ece_difference(probs["balpoe_mixup"], probs["balpoe"],
                                                             y)
    return out
