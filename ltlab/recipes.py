"""The papers' standard configurations ("recipes") as data, and one function to run them.

A `Recipe` names everything a paper's standard CIFAR run fixes: the data set and imbalance
ratio, the backbone, the method (by its import path in ltlab, ``"module:Class"``, plus its
keyword arguments), the `ltlab.train.fit` arguments (epochs, batch, optimizer, schedule,
mixup, augmentation) and the number the paper reports. `run_recipe` loads CIFAR with
`ltlab.data.cifar_lt`, builds the model and the method, trains with `ltlab.train.fit` and
evaluates on the balanced test set. From a shell: ``ltlab train RECIPE`` (``ltlab train
--list`` shows them all).

Each recipe lists its ``deviations``: what ltlab does differently from the reference code
(a backbone ltlab does not ship, a warmup that starts from 0 rather than from 1/3 of the
learning rate, ...). A recipe is a claim that these settings reproduce the paper's number
within its spread; the deviations say where that claim is weakest.

The recipes need the CIFAR python-version files (``download=True`` fetches them on a
machine with internet). `write_fake_cifar` writes files in exactly that format with
random pixels, so the loader, a recipe and the trainer can be run end to end without
the data, as the tests and benchmarks do.

>>> sorted(RECIPES)[:2]
['balpoe-cifar10-lt-ir100', 'balpoe-cifar100-lt-ir100']
>>> get_recipe("balpoe-cifar100-lt-ir100").train["mixup_alpha"]
0.4
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Recipe",
    "RecipeResult",
    "RECIPES",
    "get_recipe",
    "list_recipes",
    "load_recipe_data",
    "build_model",
    "build_method",
    "run_recipe",
    "write_fake_cifar",
    "add_train_parser",
    "train_command",
]


@dataclass(frozen=True)
class Recipe:
    """One paper's standard configuration, as data.

    * ``dataset``: `ltlab.data.cifar_lt` arguments (``num_classes``, ``imbalance_ratio``)
      and, for semi-supervised recipes, an ``ssl`` dict of `ltlab.data.ssl_split`
      arguments;
    * ``model``: ``{"name": <class in ltlab.models>, **kwargs}`` (``num_classes`` is added);
    * ``method``: ``"module:Class"`` inside ltlab, built with ``method_args``;
    * ``train``: keyword arguments of `ltlab.train.fit`; ``augment`` names a function of
      `ltlab.augment` (or ``"module:function"``);
    * ``reference``: the paper's number: ``metric``, ``value`` (a fraction, None when not
      known), ``std``, ``source``, ``verified`` (False: from a secondary source).
    """

    name: str
    title: str
    paper: str
    dataset: dict[str, Any]
    model: dict[str, Any]
    method: str
    method_args: dict[str, Any]
    train: dict[str, Any]
    augment: str
    reference: dict[str, Any]
    deviations: tuple[str, ...] = ()
    notes: str = ""

    def describe(self) -> str:
        """A few readable lines: what runs and what it should reach."""
        ref = self.reference
        target = ("not known" if ref.get("value") is None
                  else f"{100 * ref['value']:.1f}%" + (f" ± {100 * ref['std']:.1f}"
                                                       if ref.get("std") else ""))
        lines = [
            f"{self.name}: {self.title}",
            f"  paper: {self.paper}",
            f"  data: {self.dataset}",
            f"  model: {self.model}; method: {self.method}({self.method_args})",
            f"  train: {self.train}; augment: {self.augment}",
            f"  reference {ref.get('metric', 'accuracy')}: {target} ({ref.get('source', '')})",
        ]
        lines += [f"  deviation: {d}" for d in self.deviations]
        return "\n".join(lines)


_BALPOE_PAPER = ("Sanchez Aimar et al., Balanced Product of Calibrated Experts for "
                 "Long-Tailed Recognition, CVPR 2023")
_BALPOE_TRAIN = dict(
    epochs=200, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9, nesterov=True,
    weight_decay=5e-4, schedule="step", warmup_epochs=5, milestones=(160, 180), gamma=0.1,
)
_BALPOE_DEVIATIONS = (
    "the reference's warmup factor (1+e)/5 changes once per epoch; ltlab's rises linearly "
    "every step over the same 5 epochs",
    "the reference augments each image with PIL (RandomCrop, flip, RandomRotation(15)); "
    "ltlab does the same operations on whole batches as tensors (bilinear rotation)",
)
_LA_PAPER = "Menon et al., Long-tail learning via logit adjustment, ICLR 2021"
_LA_DEVIATIONS = (
    "backbone: the Google code's 'ResNet-32' is a bottleneck variant with projection "
    "shortcuts; ltlab uses the LDAM-DRW ResNet-32 (option-A shortcuts) of the other papers",
    "preprocessing: the Google code uses x/255 - 0.5; ltlab the per-channel CIFAR mean/std",
    "the Google code drops the last partial batch; ltlab trains on it",
)

RECIPES: dict[str, Recipe] = {}


def _add(recipe: Recipe) -> None:
    RECIPES[recipe.name] = recipe


_add(Recipe(
    name="balpoe-cifar100-lt-ir100",
    title="BalPoE standard training, CIFAR-100-LT, imbalance ratio 100 (3 experts, mixup)",
    paper=_BALPOE_PAPER,
    dataset=dict(num_classes=100, imbalance_ratio=100),
    model=dict(name="ResNet32", num_experts=3, cosine=True, scale=30.0),
    method="ltlab.experts:BalPoEMethod",
    method_args=dict(lambdas=(1.0, 0.0, -1.0)),
    train=dict(_BALPOE_TRAIN, mixup_alpha=0.4),
    augment="image_standard",
    reference=dict(metric="accuracy", value=0.520, std=0.005, ece=0.049, mce=0.113,
                   source="BalPoE CVPR'23 Table 2 (ACC 52.0 ± 0.5, ECE 4.9, MCE 11.3; "
                          "5 seeds)", verified=True),
    deviations=_BALPOE_DEVIATIONS,
    notes="reference config: configs/mixup/standard_training/config_cifar100_ir100_bs-experts"
          ".json (tau_list [0, 1, 2] = lambdas 1, 0, -1).",
))
_add(Recipe(
    name="balpoe-cifar10-lt-ir100",
    title="BalPoE standard training, CIFAR-10-LT, imbalance ratio 100 (3 experts, mixup)",
    paper=_BALPOE_PAPER,
    dataset=dict(num_classes=10, imbalance_ratio=100),
    model=dict(name="ResNet32", num_experts=3, cosine=True, scale=30.0),
    method="ltlab.experts:BalPoEMethod",
    method_args=dict(lambdas=(1.0, 0.0, -1.0)),
    train=dict(_BALPOE_TRAIN, mixup_alpha=0.8),
    augment="image_standard",
    reference=dict(metric="accuracy", value=0.868, std=None,
                   source="a third-party listing of arXiv 2206.05260 (not checked against "
                          "the paper's table)", verified=False),
    deviations=_BALPOE_DEVIATIONS,
    notes="reference config: configs/mixup/standard_training/config_cifar10_ir100_bs-experts"
          ".json (differs from CIFAR-100 only in mixup alpha 0.8).",
))
_add(Recipe(
    name="la-loss-cifar100-lt-ir100",
    title="Logit-adjusted loss (tau = 1), CIFAR-100-LT, imbalance ratio 100",
    paper=_LA_PAPER,
    dataset=dict(num_classes=100, imbalance_ratio=100),
    model=dict(name="ResNet32"),
    method="ltlab.losses:LogitAdjustedLoss",
    method_args=dict(tau=1.0),
    train=dict(epochs=1419, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9,
               nesterov=True, weight_decay=2e-4, schedule="step", warmup_epochs=22,
               milestones=(691, 1059, 1290), gamma=0.1, mixup_alpha=0.0),
    augment="image_weak",
    reference=dict(metric="accuracy", value=0.4406, std=None,
                   source="google-research logit_adjustment README (LA loss 44.06; the "
                          "paper's Table 3 gives 43.89)", verified=True),
    deviations=_LA_DEVIATIONS,
    notes="Keras L2 1e-4 on the weights is SGD weight decay 2e-4. The schedule is the "
          "Google code's, in epochs of the LT set (step decays at 691/1059/1290).",
))
_add(Recipe(
    name="la-loss-cifar10-lt-ir100",
    title="Logit-adjusted loss (tau = 1), CIFAR-10-LT, imbalance ratio 100",
    paper=_LA_PAPER,
    dataset=dict(num_classes=10, imbalance_ratio=100),
    model=dict(name="ResNet32"),
    method="ltlab.losses:LogitAdjustedLoss",
    method_args=dict(tau=1.0),
    train=dict(epochs=1241, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9,
               nesterov=True, weight_decay=2e-4, schedule="step", warmup_epochs=20,
               milestones=(604, 926, 1128), gamma=0.1, mixup_alpha=0.0),
    augment="image_weak",
    reference=dict(metric="accuracy", value=0.7789, std=None,
                   source="google-research logit_adjustment README (LA loss 77.89)",
                   verified=True),
    deviations=_LA_DEVIATIONS,
))
_add(Recipe(
    name="lda-cifar100-lt-ir50",
    title="LDA (two heads, self-adaptive balance factor), CIFAR-100-LT, imbalance ratio 50",
    paper="Peng et al., Long-tailed Distribution Adaptation, ACM MM 2021",
    dataset=dict(num_classes=100, imbalance_ratio=50),
    model=dict(name="ResNet32"),
    method="ltlab.lda:LDA",
    method_args=dict(window=100, gamma=2.0, loss0_factor=1.0, loss1_factor=2.0,
                     accuracy_in_percent=True, reduction="sum", projection=None),
    train=dict(epochs=200, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9,
               nesterov=True, weight_decay=2e-4, schedule="step", warmup_epochs=5,
               milestones=(160, 180), gamma=0.01, mixup_alpha=0.0),
    augment="image_weak",
    reference=dict(metric="accuracy", value=0.481, std=None,
                   source="LDA paper Table 2 (ResNet-32 from scratch, IR 50: 48.1; the CE "
                          "baseline 43.9)", verified=True),
    deviations=(
        "the reference's warmup starts at 1/3 of the learning rate; ltlab's starts near 0",
        "the reference reports the best epoch on the test set; ltlab reports the last epoch",
        "the released CIFAR config keeps the projection head and distance losses off; so does "
        "this recipe (the paper's text mentions them)",
    ),
    notes="reference config: configs/cifar100.yaml (LR_FACTOR 0.01 at 160 and 180).",
))
_add(Recipe(
    name="flexda-cifar100-lt-n150-m300-ir10",
    title="FlexDA / ADELLO (FixMatch), CIFAR-100-LT, 150 labeled / 300 unlabeled at the "
          "head, imbalance ratio 10, consistent unlabeled set",
    paper="Sanchez Aimar et al., Flexible Distribution Alignment: Towards Long-tailed "
          "Semi-supervised Learning with Proper Calibration, ECCV 2024",
    dataset=dict(num_classes=100, imbalance_ratio=1,
                 ssl=dict(labeled_max=150, unlabeled_max=300, imbalance_ratio=10,
                          profile="consistent", include_labeled_in_unlabeled=True)),
    model=dict(name="ResNet32"),
    method="ltlab.semi_supervised:ADELLO",
    method_args=dict(alpha_min=0.1, power=2.0, momentum=0.999, threshold=0.95, lambda_u=1.0,
                     lambda_distill=1.0, distill_start=50_000 / 262_144, temperature="released",
                     mask_labeled_copies=False),
    train=dict(steps=262_144, batch_size=64, unlabeled_ratio=2, lr=0.03, optimizer="sgd",
               momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="constant",
               warmup_epochs=0, mixup_alpha=0.0),
    augment="image_weak",
    reference=dict(metric="balanced_accuracy", value=None, std=None,
                   source="ADELLO paper Tables 1-2 (arXiv 2306.04621v3); the number was not "
                          "recovered in ltlab's sources", verified=False),
    deviations=(
        "backbone: the reference trains WRN-28-2; ltlab ships no wide ResNet and uses "
        "ResNet-32",
        "the reference evaluates an EMA (0.999) of the weights; ltlab evaluates the weights",
        "strong augmentation: the reference uses RandAugment(3, 5) then Cutout; ltlab uses "
        "ltlab.semi_supervised.image_strong (crop, flip, brightness/contrast jitter, cutout)",
    ),
    notes="reference config: config/classic_cv_imb/fixmatch_adello/"
          "fixmatch_adello_cifar100_lb150_10_ulb300_10_0.yaml (constant lr, 256 x 1024 steps; "
          "distillation from step 50,000 at T = 1, as the released configs run: their "
          "distill_T is unset, so the paper's exp(KL) temperature is never used).",
))


def list_recipes() -> list[str]:
    """The recipe names, sorted."""
    return sorted(RECIPES)


def get_recipe(name: str | Recipe) -> Recipe:
    """The recipe called ``name``; an unknown name raises a ValueError listing them all."""
    if isinstance(name, Recipe):
        return name
    if name not in RECIPES:
        raise ValueError(
            f"unknown recipe {name!r}; the recipes are: {', '.join(list_recipes())}. "
            "Run `ltlab train --list` to see what each one trains."
        )
    return RECIPES[name]


# ----------------------------------------------------------------------------- fake CIFAR
_CIFAR_LAYOUT = {
    10: dict(folder="cifar-10-batches-py", meta="batches.meta", label_key="labels",
             names_key="label_names", per_class=5000, train_files=5),
    100: dict(folder="cifar-100-python", meta="meta", label_key="fine_labels",
              names_key="fine_label_names", per_class=500, train_files=1),
}


def write_fake_cifar(
    root: str | os.PathLike,
    num_classes: int = 100,
    train_counts: int | Sequence[int] | None = None,
    test_per_class: int = 100,
    signal: float = 0.5,
    seed: int = 0,
) -> Path:
    """Write CIFAR-10 or CIFAR-100 files in the official python-pickle format, with random
    pixels, under ``root`` (the folder `ltlab.data.cifar_lt` and torchvision read).

    The layout is the archives': ``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` and
    ``batches.meta``, or ``cifar-100-python/train``, ``test`` and ``meta``; each file is a
    pickled dict with ``data`` (uint8 ``[N, 3072]``, channel-major 32x32 images), the
    labels (``labels``, or ``fine_labels`` and ``coarse_labels``), ``filenames`` and
    ``batch_label``. ``train_counts``: images per class (an int, or one count per class;
    None: the real 5,000 / 500). Pixels are uniform noise blended with a fixed random
    image per class (weight ``signal``), so a model can learn something. The MD5 sums
    differ from the real files': load them with ``cifar_lt(..., verify=False)``.
    Returns the data folder.
    """
    import numpy as np

    if num_classes not in _CIFAR_LAYOUT:
        raise ValueError(f"num_classes must be 10 or 100 (got {num_classes!r}).")
    if not 0.0 <= signal <= 1.0:
        raise ValueError(f"signal must be in [0, 1] (got {signal}).")
    if test_per_class < 0:
        raise ValueError(f"test_per_class must be >= 0 (got {test_per_class}).")
    lay = _CIFAR_LAYOUT[num_classes]
    if train_counts is None:
        train_counts = lay["per_class"]
    counts = ([int(train_counts)] * num_classes if np.ndim(train_counts) == 0
              else [int(c) for c in train_counts])
    if len(counts) != num_classes or min(counts) < 0:
        raise ValueError(
            f"train_counts must be one int or {num_classes} non-negative counts "
            f"(got {len(counts)} values, min {min(counts) if counts else None}).")
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(num_classes, 3072), dtype=np.uint8)
    w = round(256 * signal)  # blend in 8-bit fixed point: (256 - w) * noise + w * template

    def images(labels: np.ndarray) -> np.ndarray:
        out = rng.integers(0, 256, size=(labels.size, 3072), dtype=np.uint8).astype(np.uint16)
        out *= 256 - w
        out += templates[labels].astype(np.uint16) * w
        return (out >> 8).astype(np.uint8)

    def split(n_per_class: Sequence[int]) -> np.ndarray:
        y = np.repeat(np.arange(num_classes), n_per_class)
        return y[rng.permutation(y.size)]

    folder = Path(root) / lay["folder"]
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, obj: dict) -> None:
        tmp = folder / (name + ".tmp")
        with open(tmp, "wb") as f:  # the originals are Python 2 pickles; readers load both
            pickle.dump(obj, f, protocol=4)
        os.replace(tmp, folder / name)

    def batch(y: np.ndarray, label: str) -> dict:
        d = {"batch_label": label, lay["label_key"]: y.tolist(), "data": images(y),
             "filenames": [f"fake_{i:06d}.png" for i in range(y.size)]}
        if num_classes == 100:
            d["coarse_labels"] = (y // 5).tolist()
        return d

    y_train = split(counts)
    if num_classes == 10:
        for k, part in enumerate(np.array_split(y_train, lay["train_files"])):
            dump(f"data_batch_{k + 1}", batch(part, f"training batch {k + 1} of 5"))
        dump("test_batch", batch(split([test_per_class] * 10), "testing batch 1 of 1"))
        dump(lay["meta"], {"label_names": [f"fake_{c}" for c in range(10)],
                           "num_cases_per_batch": 10000, "num_vis": 3072})
    else:
        dump("train", batch(y_train, "training batch 1 of 1"))
        dump("test", batch(split([test_per_class] * 100), "testing batch 1 of 1"))
        dump(lay["meta"], {"fine_label_names": [f"fake_{c:02d}" for c in range(100)],
                           "coarse_label_names": [f"fake_super_{c:02d}" for c in range(20)]})
    return folder


# ----------------------------------------------------------------------------- building
def _import(path: str, default_module: str) -> Any:
    module, _, attr = path.rpartition(":")
    module = module or default_module
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ImportError(
            f"{path!r} names nothing importable ({err}); check the recipe's method/augment "
            "field against the ltlab version installed."
        ) from err


def load_recipe_data(recipe: str | Recipe, root: str | os.PathLike = "data", *,
                     download: bool = False, verify: bool = True, data_seed: int = 0):
    """The recipe's `LTData`: CIFAR-LT from ``root`` (and its labeled/unlabeled split)."""
    from .data import cifar_lt, ssl_split

    r = get_recipe(recipe)
    ds = dict(r.dataset)
    ssl = ds.pop("ssl", None)
    data = cifar_lt(root, ds["num_classes"], ds["imbalance_ratio"], download=download,
                    seed=data_seed, verify=verify)
    if ssl is not None:
        data = ssl_split(data, seed=data_seed, **ssl)
    return data


def build_model(recipe: str | Recipe, num_classes: int):
    """The recipe's backbone from `ltlab.models`."""
    from . import models

    spec = dict(get_recipe(recipe).model)
    cls = getattr(models, spec.pop("name"))
    return cls(num_classes=num_classes, **spec)


def build_method(recipe: str | Recipe):
    """The recipe's method, built from its ``"module:Class"`` path and ``method_args``."""
    r = get_recipe(recipe)
    return _import(r.method, "ltlab")(**r.method_args)


def _augment(recipe: Recipe):
    if not recipe.augment:
        return None
    return _import(recipe.augment if ":" in recipe.augment else f"ltlab.augment:{recipe.augment}",
                   "ltlab.augment")


@dataclass
class RecipeResult:
    """What `run_recipe` measured: test metrics next to the paper's number."""

    recipe: str
    metrics: dict[str, Any]
    reference: dict[str, Any]
    history: Any
    model: Any = field(repr=False, default=None)
    method: Any = field(repr=False, default=None)
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        m = self.metrics
        ref = self.reference.get("value")
        groups = ", ".join(f"{k} {100 * m[k]:.1f}" for k in ("many", "medium", "few")
                           if m.get(k) == m.get(k))  # skip NaN (an empty group)
        return (
            f"{self.recipe}: accuracy {100 * m['accuracy']:.2f}%, balanced accuracy "
            f"{100 * m['balanced_accuracy']:.2f}% ({groups}), ECE {100 * m['ece']:.2f} "
            f"in {self.seconds:.0f} s; paper: "
            + ("not known" if ref is None else f"{100 * ref:.1f}%")
        )

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "metrics": self.metrics, "reference": self.reference,
                "seconds": self.seconds, "settings": self.settings,
                "history": self.history.to_dict()}


def _scaled_schedule(train: dict[str, Any], epochs: int) -> dict[str, Any]:
    """Warmup and milestones scaled to a shorter (or longer) run of ``epochs``."""
    base = train.get("epochs")
    if not base:
        return train
    f = epochs / base
    out = dict(train, epochs=epochs)
    if train.get("milestones"):
        out["milestones"] = tuple(max(1, round(m * f)) for m in train["milestones"])
    if train.get("warmup_epochs"):
        out["warmup_epochs"] = train["warmup_epochs"] * f
    return out


def run_recipe(
    recipe: str | Recipe,
    root: str | os.PathLike = "data",
    *,
    download: bool = False,
    verify: bool = True,
    device: str = "auto",
    seed: int = 0,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    amp: bool = False,
    compile: bool = False,
    progress: bool = True,
    eval_every: int | None = None,
    data=None,
) -> RecipeResult:
    """Train a recipe and evaluate it on the balanced test set.

    ``epochs`` shortens (or lengthens) the run keeping the schedule's shape (warmup and
    milestones scaled by the same factor); ``steps`` stops after that many steps with the
    recipe's schedule unchanged (a smoke test). ``checkpoint``: a file written after every
    epoch; rerunning with it resumes where the run stopped. ``data``: an `LTData` to use
    instead of loading CIFAR (the recipe's settings apply unchanged). ``verify=False``
    skips the MD5 check of the CIFAR files (for `write_fake_cifar` files).
    """
    import torch

    from .metrics import (
        accuracy,
        balanced_accuracy,
        expected_calibration_error,
        maximum_calibration_error,
        shot_accuracy,
    )
    from .train import fit, predict_logits, resolve_device, seed_everything

    r = get_recipe(recipe)
    dev = resolve_device(device)  # "cuda" without CUDA fails here, before any loading
    if epochs is not None and steps is not None:
        raise ValueError("give epochs= or steps=, not both.")
    if data is None:
        data = load_recipe_data(r, root, download=download, verify=verify)
    train = dict(r.train)
    if epochs is not None:
        train = _scaled_schedule(train, epochs)
        train.pop("steps", None)
        train["epochs"] = epochs
    if steps is not None:
        train.pop("epochs", None)
        train["steps"] = steps
    if batch_size is not None:
        train["batch_size"] = batch_size
    if eval_every is None:  # evaluating every epoch costs a test pass each: 10 evals in all
        steps_per_epoch = -(-data.x_train.shape[0] // train["batch_size"])
        total_epochs = train.get("epochs") or -(-train["steps"] // steps_per_epoch)
        eval_every = max(1, total_epochs // 10)
    seed_everything(seed)
    model = build_model(r, data.num_classes)
    method = build_method(r)
    t0 = time.perf_counter()
    history = fit(model, method, data, augment=_augment(r), device=dev, seed=seed,
                  progress=progress, checkpoint=checkpoint, amp=amp, compile=compile,
                  eval_every=eval_every, **train)
    seconds = time.perf_counter() - t0
    logits = predict_logits(model, method, data.x_test, dev)
    probs = torch.softmax(logits.double(), dim=1)
    metrics = {
        "accuracy": accuracy(logits, data.y_test),
        "balanced_accuracy": balanced_accuracy(logits, data.y_test, data.num_classes),
        **shot_accuracy(logits, data.y_test, data.train_counts),
        "ece": expected_calibration_error(probs, data.y_test),
        "mce": maximum_calibration_error(probs, data.y_test),
    }
    settings = dict(train, augment=r.augment, seed=seed, device=str(dev), amp=amp,
                    compile=compile, train_size=int(data.x_train.shape[0]))
    return RecipeResult(r.name, metrics, dict(r.reference), history, model, method, seconds,
                        settings)


# ----------------------------------------------------------------------------- CLI
def add_train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``ltlab train RECIPE`` to the ``ltlab`` command's subparsers."""
    p = sub.add_parser("train", help="train one of the papers' standard configurations",
                       description="Train a paper's standard CIFAR configuration (a recipe) "
                                   "and compare the test accuracy with the paper's number.")
    p.add_argument("recipe", nargs="?", help="recipe name (see --list)")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument("--root", default="data", help="folder holding the CIFAR files")
    p.add_argument("--download", action="store_true", help="download CIFAR if missing")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the MD5 check of the CIFAR files (CIFAR-format test files)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="shorter run, same schedule shape")
    p.add_argument("--steps", type=int, help="stop after this many steps (smoke test)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--checkpoint", help="checkpoint file: resumes if it exists")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--json", help="write the metrics and history to this JSON file")
    return p


def train_command(args: argparse.Namespace) -> int:
    """Run ``ltlab train`` from parsed arguments; returns the exit status."""
    if args.list or args.recipe is None:
        for name in list_recipes():
            print(RECIPES[name].describe(), end="\n\n")
        if args.recipe is None and not args.list:
            print("give a recipe name: ltlab train RECIPE", file=sys.stderr)
            return 2
        return 0
    try:
        recipe = get_recipe(args.recipe)
    except ValueError as err:
        print(f"ltlab train: {err}", file=sys.stderr)
        return 2
    print(recipe.describe(), flush=True)
    try:
        result = run_recipe(
            recipe, args.root, download=args.download, verify=not args.no_verify,
            device=args.device, seed=args.seed, epochs=args.epochs, steps=args.steps,
            batch_size=args.batch_size, checkpoint=args.checkpoint, amp=args.amp,
            compile=args.compile, progress=True,
        )
    except (FileNotFoundError, RuntimeError, ValueError, ImportError) as err:
        print(f"ltlab train: {err}", file=sys.stderr)
        return 1
    print(result.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), default=str, indent=1))
    return 0
