"""One training loop for every method.

A *method* is any object with two functions:

* ``loss(model, batch, step) -> Tensor`` or ``(Tensor, {name: value})``: the loss of one
  `Batch` (the named terms are logged per step and per epoch);
* ``predict(model, x) -> logits [N, C]``: what the method predicts at test time.

Optional: ``setup(model, data, total_steps, device)`` is called once before training; a
method that is an ``nn.Module`` (extra heads, running estimates as buffers) is moved to the
device, its parameters are optimised with the model's, and its state is checkpointed.

`fit` keeps the data as tensors on the training device and augments whole batches there
(`ltlab.augment`), so the loop has no per-sample Python. Mixup (Zhang et al., 2018) draws
one lambda ~ Beta(alpha, alpha) per batch, pairs the batch with a random permutation of
itself and mixes the *loss* between the two labels: ``batch.mix_loss(fn)`` returns
lambda * fn(y) + (1 - lambda) * fn(y[perm]) (the BalPoE reference does exactly this).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ._deprecation import moved_names
from ._validation import as_choice, as_int, as_positive
from .data import LTData
from .metrics import accuracy, balanced_accuracy

__all__ = [
    "Batch",
    "CrossEntropy",
    "History",
    "fit",
    "predict_logits",
    "resolve_device",
    "seed_everything",
]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU. ``"cuda"`` without CUDA is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
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


@torch.no_grad()
def predict_logits(
    model: nn.Module, method: Any, x: torch.Tensor, device: str | torch.device = "auto",
    batch_size: int = 2048,
) -> torch.Tensor:
    """The method's test-time logits for ``x`` (eval mode, batched), on the CPU."""
    dev = resolve_device(device)
    was_training = model.training
    model.eval()
    if isinstance(method, nn.Module):
        method.eval()
    outs = []
    for i in range(0, x.shape[0], batch_size):
        outs.append(method.predict(model, x[i : i + batch_size].to(dev)).float().cpu())
    model.train(was_training)
    return torch.cat(outs)


def _lr_factor(
    step: int, total: int, warmup: int, schedule: str, steps_per_epoch: int,
    milestones: tuple[int, ...], gamma: float,
) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        span = max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))
    if schedule == "step":
        epoch = step // steps_per_epoch
        return gamma ** sum(epoch >= m for m in milestones)
    return 1.0


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a crash leaves the old checkpoint, never a partial one


def _to_float(v: Any) -> torch.Tensor:
    return v.detach().float() if torch.is_tensor(v) else torch.tensor(float(v))


def fit(
    model: nn.Module,
    method: Any,
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

    Give either ``epochs`` (passes over the labeled train split) or ``steps``. ``schedule``
    is ``"cosine"``, ``"step"`` (x ``gamma`` at each epoch in ``milestones``) or
    ``"constant"``, after a linear warmup of ``warmup_epochs``; the learning rate changes
    every step. ``optimizer`` is ``"sgd"`` (momentum, Nesterov) or ``"adam"``.
    ``checkpoint``: a path written atomically after every epoch; if it exists, training
    resumes from it. ``amp``: bf16 autocast on CUDA. ``compile``: ``torch.compile`` the model.
    ``decay_norm_and_bias=False`` exempts every parameter with at most one dimension
    (biases, batch-norm scales and shifts) from weight decay, as the USB / ADELLO reference
    does (``bn_wd_skip``). ``channels_last``: NHWC memory format for the model and image
    batches (None: on CUDA for 4-D inputs, where cuDNN's convolutions are faster in it;
    results agree to rounding). The same ``seed`` on the same machine gives the same numbers.
    """
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs= or steps=.")
    if epochs is not None:
        as_int(epochs, "epochs", minimum=1)
    if steps is not None:
        as_int(steps, "steps", minimum=1)
    as_int(batch_size, "batch_size", minimum=1)
    as_choice(schedule, ("cosine", "step", "constant"), "schedule")
    as_choice(optimizer, ("sgd", "adam"), "optimizer")
    as_positive(mixup_alpha, "mixup_alpha", "0 turns mixup off.", allow_zero=True)
    if unlabeled_ratio and data.x_unlabeled is None:
        raise ValueError("unlabeled_ratio > 0 needs data with an unlabeled split (`ssl_split`).")

    dev = resolve_device(device)
    torch.manual_seed(seed)
    model.to(dev)
    if isinstance(method, nn.Module):
        method.to(dev)
    x_train, y_train = data.x_train.to(dev), data.y_train.to(dev)
    if channels_last is None:
        channels_last = dev.type == "cuda" and x_train.dim() == 4
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x_train = x_train.contiguous(memory_format=torch.channels_last)
    x_unl = data.x_unlabeled.to(dev) if unlabeled_ratio else None
    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = steps if steps is not None else epochs * steps_per_epoch
    num_epochs = math.ceil(total_steps / steps_per_epoch)
    if hasattr(method, "setup"):
        method.setup(model, data, total_steps, dev)

    params = list(model.parameters())
    if isinstance(method, nn.Module):
        params += [p for p in method.parameters() if all(p is not q for q in params)]
    groups: Any = params
    if not decay_norm_and_bias:  # biases and norm parameters (1-D) without weight decay
        groups = [{"params": [p for p in params if p.dim() > 1]},
                  {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]
    if optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                              weight_decay=weight_decay)
    else:
        opt = torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    warmup = int(round(warmup_epochs * steps_per_epoch))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(s, total_steps, warmup, schedule, steps_per_epoch,
                                  tuple(milestones), gamma),
    )
    forward_model = torch.compile(model) if compile else model

    history = History(total_steps=total_steps)
    start_epoch, step = 0, 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
        if isinstance(method, nn.Module) and "method" in state:
            method.load_state_dict(state["method"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = History.from_dict(state["history"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        if "rng" in state:  # methods that draw from the global generator resume exactly too
            torch.set_rng_state(state["rng"].cpu())
            if dev.type == "cuda" and "cuda_rng" in state:
                torch.cuda.set_rng_state(state["cuda_rng"].cpu(), dev)

    use_amp = amp and dev.type == "cuda"
    bar = tqdm(total=total_steps, initial=step, disable=not progress, desc="training",
               unit="step", leave=False)
    t0 = time.perf_counter() - history.seconds
    model.train()
    for epoch in range(start_epoch, num_epochs):
        # per-epoch generators: resuming at an epoch boundary replays the same numbers
        g_cpu = torch.Generator().manual_seed(seed * 100_003 + epoch)
        g_dev = torch.Generator(device=dev).manual_seed(seed * 100_019 + epoch)
        perm = torch.randperm(n, generator=g_cpu).to(dev)
        loss_sum = torch.zeros((), device=dev)
        term_sums: dict[str, torch.Tensor] = {}
        step_terms: dict[str, list[torch.Tensor]] = {}
        n_steps = 0
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            idx = perm[b * batch_size : (b + 1) * batch_size]
            x = x_train[idx]
            if augment is not None:
                x = augment(x, g_dev)
            if channels_last:  # a no-op when the augmentation kept the format
                x = x.contiguous(memory_format=torch.channels_last)
            batch = Batch(x=x, y=y_train[idx], index=idx, generator=g_dev)
            if mixup_alpha > 0:
                lam = float(np.random.default_rng([seed, step]).beta(mixup_alpha, mixup_alpha))
                mix = torch.randperm(idx.numel(), generator=g_cpu).to(dev)
                batch.x = lam * batch.x + (1 - lam) * batch.x[mix]
                batch.y_mix, batch.lam = batch.y[mix], lam
            if x_unl is not None:
                ui = torch.randint(0, x_unl.shape[0], (unlabeled_ratio * idx.numel(),),
                                   generator=g_cpu).to(dev)
                batch.x_unlabeled, batch.index_unlabeled = x_unl[ui], ui
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                out = method.loss(forward_model, batch, step)
            loss, terms = (out if isinstance(out, tuple) else (out, {}))
            if not torch.isfinite(loss):
                bad = {k: float(_to_float(v)) for k, v in terms.items()}
                culprits = [k for k, v in bad.items() if not math.isfinite(v)]
                raise FloatingPointError(
                    f"the loss became {float(loss.detach())} at step {step} (epoch {epoch}); "
                    f"non-finite terms: {culprits or 'none logged'}; terms: {bad}. "
                    "Lower the learning rate, check the inputs for NaN, or check log(prior) "
                    "for empty classes."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach().float()
            for k, v in terms.items():
                v = _to_float(v).to(dev)
                term_sums[k] = term_sums.get(k, torch.zeros((), device=dev)) + v
                step_terms.setdefault(k, []).append(v)
            n_steps += 1
            step += 1
            bar.update(1)
        history.epoch.append(epoch)
        history.loss.append(float(loss_sum) / max(1, n_steps))
        for k, v in term_sums.items():
            history.terms.setdefault(k, []).append(float(v) / max(1, n_steps))
            history.step_terms.setdefault(k, []).extend(torch.stack(step_terms[k]).tolist())
        if (epoch + 1) % eval_every == 0 or epoch == num_epochs - 1:
            logits = predict_logits(model, method, data.x_test, dev)
            history.metrics.setdefault("epoch", []).append(epoch)
            history.metrics.setdefault("accuracy", []).append(accuracy(logits, data.y_test))
            history.metrics.setdefault("balanced_accuracy", []).append(
                balanced_accuracy(logits, data.y_test, data.num_classes))
            model.train()
            if isinstance(method, nn.Module):
                method.train()
        bar.set_postfix(epoch=epoch, loss=f"{history.loss[-1]:.3f}")
        history.seconds = time.perf_counter() - t0
        if ckpt is not None:
            state = {
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "history": history.to_dict(),
                "epoch": epoch, "step": step,
            }
            if isinstance(method, nn.Module):
                state["method"] = method.state_dict()
            state["rng"] = torch.get_rng_state()
            if dev.type == "cuda":
                state["cuda_rng"] = torch.cuda.get_rng_state(dev)
            _save_atomic(state, ckpt)
    bar.close()
    model.eval()
    return history


__getattr__ = moved_names(__name__, {"map_tasks": "ltlab.experiments.process_pool"})
