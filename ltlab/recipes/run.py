"""Run a recipe: load its CIFAR-LT data, build its model and method, train with
`ltlab.train.fit` and evaluate on the balanced test set (`run_recipe`)."""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

from .catalogue import Recipe, get_recipe

__all__ = ["RecipeResult", "load_recipe_data", "build_model", "build_method", "run_recipe"]


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
    from ..data import cifar_lt, ssl_split

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
    from .. import models

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

    from ..metrics import (
        accuracy,
        balanced_accuracy,
        expected_calibration_error,
        maximum_calibration_error,
        shot_accuracy,
    )
    from ..train import fit, predict_logits, resolve_device, seed_everything

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
