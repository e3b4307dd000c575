"""One training loop for every method.

A *method* (`Method`) is any object with two functions:

* ``loss(model, batch, step) -> Tensor`` or ``(Tensor, {name: value})``: the loss of one
  `Batch` (the named terms are logged per step and per epoch);
* ``predict(model, x) -> logits [N, C]``: what the method predicts at test time;

and, optionally, ``setup`` (once, before training) and the hooks ``before_step`` /
``after_step`` (around every optimiser update; FixMatch's weight average uses the first). A
method that is an ``nn.Module`` (extra heads, projectors, running estimates as buffers)
owns those modules: `fit` moves them to the device, optimises their parameters with the
model's, switches them between training and evaluation together with the model and
checkpoints their state.

`fit` keeps the data as tensors on the training device and augments whole batches there
(`ltlab.augment`), so the loop has no per-sample Python. Mixup (Zhang et al., 2018) draws
one lambda ~ Beta(alpha, alpha) per batch, pairs the batch with a random permutation of
itself and mixes the *loss* between the two labels: ``batch.mix_loss(fn)`` returns
lambda * fn(y) + (1 - lambda) * fn(y[perm]) (the BalPoE reference does exactly this).
Its steps (options, optimiser and schedule, one update) live in ``ltlab/_fit_steps.py``,
its checkpoints (settings, resume, atomic save) in ``ltlab/_fit_checkpoint.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ._fit_checkpoint import resume, run_settings, save_checkpoint
from ._fit_steps import (
    EpochLog,
    FitConfig,
    Loop,
    _lr_factor,  # noqa: F401  (tests and recipes check the schedule through this name)
    epoch_draws,
    make_optimizer,
    parameter_groups,
    prepare,
    set_mode,
    train_step,
    validate_data,
    validate_shapes,
)
from .data import LTData
from .metrics import accuracy, balanced_accuracy

__all__ = [
    "Batch",
    "CrossEntropy",
    "History",
    "Method",
    "MethodHooks",
    "fit",
    "predict_logits",
    "resolve_device",
    "seed_everything",
]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU. ``"cuda"`` without CUDA is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N' (got {device!r}).") \
            from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device='cuda' was asked for but CUDA is not available on this machine; "
            "pass device='auto' or device='cpu'."
        )
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (call before building a model)."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass
class Batch:
    """One training batch. ``y_mix`` and ``lam`` are set when mixup is on;
    ``x_unlabeled`` when the data has an unlabeled split and ``unlabeled_ratio`` > 0."""

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    y_mix: torch.Tensor | None = None
    lam: float = 1.0
    x_unlabeled: torch.Tensor | None = None
    index_unlabeled: torch.Tensor | None = None
    generator: torch.Generator | None = None

    def mix_loss(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """fn(y), or lam * fn(y) + (1 - lam) * fn(y_mix) under mixup."""
        if self.y_mix is None:
            return fn(self.y)
        return self.lam * fn(self.y) + (1.0 - self.lam) * fn(self.y_mix)

    def soft_targets(self, num_classes: int) -> torch.Tensor:
        """lam * onehot(y) + (1 - lam) * onehot(y_mix), shape [N, C]."""
        t = F.one_hot(self.y, num_classes).float()
        if self.y_mix is None:
            return t
        return self.lam * t + (1 - self.lam) * F.one_hot(self.y_mix, num_classes).float()


class CrossEntropy:
    """Plain empirical risk minimisation: mean CE of the logits (the baseline)."""

    def loss(self, model: nn.Module, batch: Batch, step: int) -> torch.Tensor:
        logits = model(batch.x)
        return batch.mix_loss(lambda y: F.cross_entropy(logits, y))

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)


@dataclass
class History:
    """What `fit` measured: per-epoch loss, loss terms and test metrics, per-step terms."""

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    step_terms: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    total_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)

    def last(self, name: str) -> float:
        """The last recorded value of a metric or a loss term."""
        if name in self.metrics:
            return self.metrics[name][-1]
        if name in self.terms:
            return self.terms[name][-1]
        raise KeyError(f"{name!r} was not recorded; have {list(self.metrics) + list(self.terms)}")


#: What ``Method.loss`` returns: the loss, or the loss and named terms to log.
LossOutput = torch.Tensor | tuple[torch.Tensor, Mapping[str, Any]]


@runtime_checkable
class Method(Protocol):
    """What `fit` trains with: ``loss`` and ``predict`` (required; see `MethodHooks` for
    the optional ``setup``, ``before_step`` and ``after_step``). A method that is an
    ``nn.Module`` owns its submodules: they move to the device, are optimised, switch
    between train and eval mode with the model and are checkpointed with it."""

    def loss(self, model: nn.Module, batch: Batch, step: int) -> LossOutput:
        """The loss of one `Batch` at global ``step`` (0-based), with the model in train mode."""
        ...

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Test-time logits ``[N, C]`` of ``x`` (model and method in eval mode)."""
        ...


class MethodHooks(Protocol):
    """The optional members of a `Method`; `fit` calls each one the method has."""

    def setup(self, model: nn.Module, data: LTData, total_steps: int,
              device: torch.device) -> None:
        """Once, after the model is on the device and before the optimiser is built."""
        ...

    def before_step(self, model: nn.Module, step: int) -> None:
        """Before step ``step``'s loss: the weights are those the previous update left."""
        ...

    def after_step(self, model: nn.Module, step: int) -> None:
        """After step ``step``'s optimiser update and learning-rate step."""
        ...


@torch.no_grad()
def predict_logits(
    model: nn.Module, method: Method, x: torch.Tensor, device: str | torch.device = "auto",
    batch_size: int = 2048,
) -> torch.Tensor:
    """The method's test-time logits for ``x`` (eval mode, batched), on the CPU; the model
    and the method's modules go back to the model's mode afterwards."""
    dev = resolve_device(device)
    was_training = model.training
    set_mode(model, method, False)
    outs = []
    for i in range(0, x.shape[0], batch_size):
        outs.append(method.predict(model, x[i : i + batch_size].to(dev)).float().cpu())
    set_mode(model, method, was_training)
    return torch.cat(outs)


def fit(
    model: nn.Module,
    method: Method,
    data: LTData,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int = 128,
    lr: float = 0.1,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    nesterov: bool = True,
    weight_decay: float = 5e-4,
    decay_norm_and_bias: bool = True,
    schedule: str = "cosine",
    warmup_epochs: float = 0,
    milestones: tuple[int, ...] = (),
    gamma: float = 0.1,
    mixup_alpha: float = 0.0,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    unlabeled_ratio: int = 0,
    eval_every: int = 1,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    amp: bool = False,
    compile: bool = False,
    channels_last: bool | None = None,
) -> History:
    """Train ``model`` with ``method`` on ``data`` and return a `History`.

    model: the network; ``method.loss`` and ``method.predict`` call it.
    method: a `Method` (``loss``, ``predict``; optional ``setup`` and step hooks).
    data: an `LTData`; trains on its train split, evaluates on its test split.
    epochs: passes over the labeled train split (give this or ``steps``).
    steps: optimiser steps in all (give this or ``epochs``).
    batch_size: labeled samples per step.
    lr: the peak learning rate.
    optimizer: ``"sgd"`` (with ``momentum`` and ``nesterov``) or ``"adam"``.
    momentum: SGD's momentum, in [0, 1).
    nesterov: Nesterov momentum for SGD (used when ``momentum`` > 0).
    weight_decay: L2 weight decay of the optimiser.
    decay_norm_and_bias: False exempts 1-D parameters (biases, norms) from weight decay.
    schedule: ``"cosine"``, ``"step"`` or ``"constant"``; the rate changes every step.
    warmup_epochs: epochs of linear warm-up before the schedule (0: none; may be fractional).
    milestones: epochs at which the ``"step"`` schedule multiplies the rate by ``gamma``.
    gamma: the ``"step"`` schedule's factor.
    mixup_alpha: mixup's Beta(alpha, alpha) parameter (0: no mixup).
    augment: ``(x, generator) -> x`` applied to each labeled batch on the device.
    unlabeled_ratio: unlabeled samples per labeled one in each batch (``batch.x_unlabeled``).
    eval_every: evaluate on the test split every this many epochs (and after the last).
    device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
    seed: seeds the model-independent draws; same seed, same machine, same numbers.
    progress: show a progress bar.
    checkpoint: a file written atomically after every epoch; resumed from when it exists.
    amp: bf16 autocast on CUDA (ignored on the CPU).
    compile: ``torch.compile`` the model for the training forward passes.
    channels_last: NHWC memory format (None: on CUDA for 4-D inputs; same maths).
    """
    opts = FitConfig(
        epochs=epochs, steps=steps, batch_size=batch_size, lr=lr, optimizer=optimizer,
        momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
        decay_norm_and_bias=decay_norm_and_bias, schedule=schedule, warmup_epochs=warmup_epochs,
        milestones=milestones, gamma=gamma, mixup_alpha=mixup_alpha, augment=augment,
        unlabeled_ratio=unlabeled_ratio, eval_every=eval_every, device=device, seed=seed,
        progress=progress, checkpoint=checkpoint, amp=amp, compile=compile,
        channels_last=channels_last)
    validate_data(model, method, data, opts)
    dev = resolve_device(opts.device)
    torch.manual_seed(opts.seed)
    loop = prepare(model, method, data, opts, dev)  # to the device, then method.setup
    validate_shapes(model, method, loop, data.num_classes)
    opt, sched = make_optimizer(parameter_groups(model, method, opts), opts, loop)
    forward_model = torch.compile(model) if opts.compile else model
    history, start_epoch, step = History(total_steps=loop.total_steps), 0, 0
    settings = run_settings(model, method, data, opts, loop)
    if opts.checkpoint is not None and opts.checkpoint.exists():
        state = resume(opts.checkpoint, settings, model, method, opt, sched, dev)
        history = History.from_dict(state["history"])
        start_epoch, step = state["epoch"] + 1, state["step"]
    use_amp = opts.amp and dev.type == "cuda"
    bar = tqdm(total=loop.total_steps, initial=step, disable=not opts.progress,
               desc="training", unit="step", leave=False)
    t0 = time.perf_counter() - history.seconds
    set_mode(model, method, True)  # whatever mode the method's modules were left in
    for epoch in range(start_epoch, loop.num_epochs):
        g_cpu, g_dev, perm = epoch_draws(opts.seed, epoch, loop)
        log = EpochLog(dev)
        for b in range(min(loop.steps_per_epoch, loop.total_steps - step)):
            batch = _make_batch(loop, opts, perm, b, step, g_cpu, g_dev)
            log.add(*train_step(method, model, forward_model, batch, step, epoch, opt, sched,
                                dev, use_amp))
            step += 1
            bar.update(1)
        log.write(history, epoch)
        if (epoch + 1) % opts.eval_every == 0 or epoch == loop.num_epochs - 1:
            _evaluate(model, method, data, history, epoch, dev)
        bar.set_postfix(epoch=epoch, loss=f"{history.loss[-1]:.3f}")
        history.seconds = time.perf_counter() - t0
        if opts.checkpoint is not None:
            save_checkpoint(opts.checkpoint, model, method, opt, sched, history, epoch, step,
                            settings, dev)
    bar.close()
    set_mode(model, method, False)
    return history


def _make_batch(loop: Loop, opts: FitConfig, perm: torch.Tensor, b: int, step: int,
                g_cpu: torch.Generator, g_dev: torch.Generator) -> Batch:
    """The ``b``-th batch of the epoch's permutation: augmented, mixed, with its unlabeled
    draw. The draws come in a fixed order (augment, mixup, unlabeled) from the epoch's
    generators, so a resumed run replays them."""
    idx = perm[b * opts.batch_size : (b + 1) * opts.batch_size]
    x = loop.x_train[idx]
    if opts.augment is not None:
        x = opts.augment(x, g_dev)
    if loop.channels_last:  # a no-op when the augmentation kept the format
        x = x.contiguous(memory_format=torch.channels_last)
    batch = Batch(x=x, y=loop.y_train[idx], index=idx, generator=g_dev)
    if opts.mixup_alpha > 0:
        a = opts.mixup_alpha  # mixup: lam ~ Beta(a, a), x <- lam x + (1 - lam) x[mix]
        lam = float(np.random.default_rng([opts.seed, step]).beta(a, a))
        mix = torch.randperm(idx.numel(), generator=g_cpu).to(loop.device)
        batch.x = lam * batch.x + (1 - lam) * batch.x[mix]
        batch.y_mix, batch.lam = batch.y[mix], lam  # loss = lam l(y) + (1 - lam) l(y[mix])
    if loop.x_unlabeled is not None:  # mu B unlabeled samples, drawn with replacement
        ui = torch.randint(0, loop.x_unlabeled.shape[0], (opts.unlabeled_ratio * idx.numel(),),
                           generator=g_cpu).to(loop.device)
        batch.x_unlabeled, batch.index_unlabeled = loop.x_unlabeled[ui], ui
    return batch


def _evaluate(model: nn.Module, method: Method, data: LTData, history: History, epoch: int,
              dev: torch.device) -> None:
    """Test accuracy and balanced accuracy into ``history.metrics``; back to training."""
    logits = predict_logits(model, method, data.x_test, dev)
    history.metrics.setdefault("epoch", []).append(epoch)
    history.metrics.setdefault("accuracy", []).append(accuracy(logits, data.y_test))
    history.metrics.setdefault("balanced_accuracy", []).append(
        balanced_accuracy(logits, data.y_test, data.num_classes))
    set_mode(model, method, True)
