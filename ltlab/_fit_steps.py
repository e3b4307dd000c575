"""The named steps of `ltlab.train.fit` (private: import `fit` from `ltlab.train`).

`fit` reads as a short loop over these: `FitConfig` (the checked keywords),
`prepare` (device, data, step counts, the method's setup), `validate_shapes` (one dry
prediction), `parameter_groups` and `make_optimizer` (optimiser and learning-rate
schedule), `epoch_draws`, `train_step` (loss, hooks, update) and `EpochLog` (what an
epoch adds to the history). Checkpoints are in ``ltlab/_fit_checkpoint.py``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from ._validation import as_choice, as_fraction, as_int, as_positive

if TYPE_CHECKING:
    from .data import LTData

# ----------------------------------------------------------------------------- options
def _integer(value: Any) -> Any:
    """NumPy integers as Python ints (``as_int`` then checks the rest)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


@dataclass(frozen=True)
class FitConfig:
    """`fit`'s keywords after their checks (see `ltlab.train.fit` for each one's meaning).

    Internal to the loop; drivers declare their fit options with
    `ltlab.experiments.protocol.FitOptions`."""

    epochs: int | None = None
    steps: int | None = None
    batch_size: int = 128
    lr: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    decay_norm_and_bias: bool = True
    schedule: str = "cosine"
    warmup_epochs: float = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    mixup_alpha: float = 0.0
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    unlabeled_ratio: int = 0
    eval_every: int = 1
    device: str | torch.device = "auto"
    seed: int = 0
    progress: bool = True
    checkpoint: Path | None = None
    amp: bool = False
    compile: bool = False
    channels_last: bool | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        if (self.epochs is None) == (self.steps is None):
            raise ValueError(f"give exactly one of epochs= or steps= (got epochs={self.epochs!r}, "
                             f"steps={self.steps!r}).")
        for name, low in (("epochs", 1), ("steps", 1), ("batch_size", 1), ("eval_every", 1),
                          ("unlabeled_ratio", 0), ("seed", 0)):
            if getattr(self, name) is not None:
                set_(self, name, as_int(_integer(getattr(self, name)), name, minimum=low))
        as_choice(self.schedule, ("cosine", "step", "constant"), "schedule")
        as_choice(self.optimizer, ("sgd", "adam"), "optimizer")
        as_positive(self.lr, "lr", "The learning rate; fit's default is 0.1.")
        as_fraction(self.momentum, "momentum", "SGD's momentum, e.g. 0.9.", high_open=True)
        as_positive(self.weight_decay, "weight_decay", "0 turns it off.", allow_zero=True)
        as_positive(self.warmup_epochs, "warmup_epochs", "0 turns the warm-up off.",
                    allow_zero=True)
        as_positive(self.gamma, "gamma", "The step schedule's factor, e.g. 0.1.")
        as_positive(self.mixup_alpha, "mixup_alpha", "0 turns mixup off.", allow_zero=True)
        set_(self, "milestones", tuple(as_int(_integer(m), "milestones", minimum=0,
                                              hint="Epochs at which the step schedule decays.")
                                       for m in self.milestones))
        if self.augment is not None and not callable(self.augment):
            raise ValueError(f"augment must be a function (x, generator) -> x or None "
                             f"(got {self.augment!r}).")
        if self.channels_last not in (None, True, False):
            raise ValueError(f"channels_last must be True, False or None (got "
                             f"{self.channels_last!r}).")
        if self.checkpoint is not None:
            set_(self, "checkpoint", _checkpoint_path(self.checkpoint))


def _checkpoint_path(checkpoint: Any) -> Path:
    """Checked before any training: a crash at the first save would lose an epoch."""
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise ValueError(f"checkpoint must be a file path or None (got {checkpoint!r}).")
    path = Path(checkpoint)
    if path.is_dir():
        raise ValueError(f"checkpoint={str(path)!r} is a folder; pass a file path, e.g. "
                         f"{str(path / 'run.pt')!r}.")
    if not path.parent.is_dir():
        raise ValueError(f"checkpoint={str(path)!r}: its folder {str(path.parent)!r} does not "
                         "exist; create it first or pass another path.")
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"checkpoint={str(path)!r}: its folder is not writable; pass another "
                         "path.")
    return path


# ----------------------------------------------------------------------------- preparation
@dataclass
class Loop:
    """The tensors and counts of one `fit` run, on the training device."""

    device: torch.device
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_unlabeled: torch.Tensor | None
    channels_last: bool
    steps_per_epoch: int
    total_steps: int
    num_epochs: int


def validate_data(model: Any, method: Any, data: LTData, opts: FitConfig) -> None:
    """Refuse what would fail deep inside the loop (or divide by zero) before any work."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (got {type(model).__name__}).")
    for hook in ("loss", "predict"):
        if not callable(getattr(method, hook, None)):
            raise TypeError(f"method must have loss(model, batch, step) and predict(model, x) "
                            f"(see ltlab.train.Method); {type(method).__name__} has no {hook}.")
    n = data.x_train.shape[0]
    if n == 0:
        raise ValueError(f"data {getattr(data, 'name', '')!r} has no training samples "
                         "(data.x_train is empty); check the split that built it.")
    if data.y_train.shape[0] != n:
        raise ValueError(f"data has {n} training inputs but {data.y_train.shape[0]} labels.")
    if data.x_test.shape[0] == 0:
        raise ValueError("data has no test samples (data.x_test is empty); fit evaluates on "
                         "them at the end: give the split test_per_class >= 1.")
    if opts.unlabeled_ratio and (data.x_unlabeled is None or data.x_unlabeled.shape[0] == 0):
        raise ValueError(f"unlabeled_ratio={opts.unlabeled_ratio} > 0 needs data with a "
                         "non-empty unlabeled split (`ssl_split`); or pass unlabeled_ratio=0.")


def prepare(model: nn.Module, method: Any, data: LTData, opts: FitConfig,
            dev: torch.device) -> Loop:
    """Model, method and data on the device; step counts; then the method's ``setup``."""
    model.to(dev)
    if isinstance(method, nn.Module):
        method.to(dev)
    x_train, y_train = data.x_train.to(dev), data.y_train.to(dev)
    channels_last = opts.channels_last
    if channels_last is None:  # cuDNN's convolutions are faster in NHWC
        channels_last = dev.type == "cuda" and x_train.dim() == 4
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x_train = x_train.contiguous(memory_format=torch.channels_last)
    x_unl = data.x_unlabeled.to(dev) if opts.unlabeled_ratio else None
    steps_per_epoch = math.ceil(x_train.shape[0] / opts.batch_size)
    total = opts.steps if opts.steps is not None else opts.epochs * steps_per_epoch
    if hasattr(method, "setup"):
        method.setup(model, data, total, dev)
    return Loop(dev, x_train, y_train, x_unl, bool(channels_last), steps_per_epoch, total,
                math.ceil(total / steps_per_epoch))


def epoch_draws(seed: int, epoch: int, loop: Loop):
    """The epoch's generators (CPU: order, mixup pairs, unlabeled draw; device: augmentation)
    and its order of the train split. Seeded per epoch, so a run resumed at an epoch boundary
    replays the same numbers."""
    g_cpu = torch.Generator().manual_seed(seed * 100_003 + epoch)
    g_dev = torch.Generator(device=loop.device).manual_seed(seed * 100_019 + epoch)
    return g_cpu, g_dev, torch.randperm(loop.x_train.shape[0], generator=g_cpu).to(loop.device)


def set_mode(model: nn.Module, method: Any, training: bool) -> None:
    """The model and every module the method owns train (or evaluate) together."""
    model.train(training)
    if isinstance(method, nn.Module):
        method.train(training)


@torch.no_grad()
def validate_shapes(model: nn.Module, method: Any, loop: Loop, num_classes: int) -> None:
    """One dry prediction on one training sample (eval mode: no statistic moves, no random
    draw), so a model built for other inputs or another number of classes fails here, with
    the shapes, instead of deep inside the first step."""
    x = loop.x_train[:1]
    set_mode(model, method, False)
    try:
        out = method.predict(model, x)
    except (RuntimeError, IndexError) as err:
        raise ValueError(
            f"{type(model).__name__} cannot take the data's inputs: one training sample of "
            f"shape {tuple(x.shape)} failed in {type(method).__name__}.predict ({err}). Build "
            "the model for inputs of that shape.") from err
    finally:
        set_mode(model, method, True)
    if not torch.is_tensor(out) or out.dim() != 2 or out.shape[-1] != num_classes:
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise ValueError(
            f"{type(method).__name__}.predict with {type(model).__name__} gives outputs of "
            f"shape {shape} for one sample, but the data has {num_classes} classes (logits "
            f"[1, {num_classes}] expected); build the model with num_classes={num_classes}.")


# ----------------------------------------------------------------------------- optimiser
def parameter_groups(model: nn.Module, method: Any, opts: FitConfig) -> list[Any]:
    """The model's parameters, then the method's own (heads, projectors), each once."""
    params = list(model.parameters())
    if isinstance(method, nn.Module):
        params += [p for p in method.parameters() if all(p is not q for q in params)]
    if opts.decay_norm_and_bias:
        return params
    # USB / ADELLO's bn_wd_skip: biases and norm scales (1-D) without weight decay
    return [{"params": [p for p in params if p.dim() > 1]},
            {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]


def _lr_factor(step: int, total: int, warmup: int, schedule: str, steps_per_epoch: int,
               milestones: tuple[int, ...], gamma: float) -> float:
    """The learning rate at ``step`` as a fraction of ``lr``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup  # linear warm-up: (s + 1) / W
    if schedule == "cosine":
        span = max(1, total - warmup)
        # cosine decay: (1 + cos(pi t)) / 2, t = (s - W) / (T - W) in [0, 1]
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))
    if schedule == "step":
        epoch = step // steps_per_epoch
        return gamma ** sum(epoch >= m for m in milestones)  # gamma^(milestones passed)
    return 1.0


def make_optimizer(groups: list[Any], opts: FitConfig, loop: Loop):
    """SGD (momentum, Nesterov) or Adam, and a LambdaLR that sets the rate every step."""
    if opts.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            groups, lr=opts.lr, momentum=opts.momentum,
            nesterov=opts.nesterov and opts.momentum > 0, weight_decay=opts.weight_decay)
    else:
        opt = torch.optim.Adam(groups, lr=opts.lr, weight_decay=opts.weight_decay)
    warmup = int(round(opts.warmup_epochs * loop.steps_per_epoch))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(s, loop.total_steps, warmup, opts.schedule,
                                  loop.steps_per_epoch, opts.milestones, opts.gamma))
    return opt, sched


# ----------------------------------------------------------------------------- one step
def _to_float(v: Any) -> torch.Tensor:
    return v.detach().float() if torch.is_tensor(v) else torch.tensor(float(v))


def train_step(method: Any, model: nn.Module, forward_model: nn.Module, batch: Any, step: int,
               epoch: int, opt: torch.optim.Optimizer, sched: Any, dev: torch.device,
               use_amp: bool) -> tuple[torch.Tensor, Mapping[str, Any]]:
    """The method's hooks around one update: before_step, loss, backward, optimiser and
    schedule, after_step. A non-finite loss stops with the step and the culprit terms."""
    if hasattr(method, "before_step"):
        method.before_step(model, step)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):  # bf16 AMP on CUDA
        out = method.loss(forward_model, batch, step)
    loss, terms = out if isinstance(out, tuple) else (out, {})
    if not torch.isfinite(loss):
        bad = {k: float(_to_float(v)) for k, v in terms.items()}
        culprits = [k for k, v in bad.items() if not math.isfinite(v)]
        raise FloatingPointError(
            f"the loss became {float(loss.detach())} at step {step} (epoch {epoch}); "
            f"non-finite terms: {culprits or 'none logged'}; terms: {bad}. Lower the learning "
            "rate, check the inputs for NaN, or check log(prior) for empty classes.")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    if hasattr(method, "after_step"):
        method.after_step(model, step)
    return loss, terms


class EpochLog:
    """Sums of the loss and of each named term over an epoch's steps (kept on the device:
    one synchronisation per epoch, not per step)."""

    def __init__(self, dev: torch.device) -> None:
        self.dev, self.steps = dev, 0
        self.loss = torch.zeros((), device=dev)
        self.sums: dict[str, torch.Tensor] = {}
        self.per_step: dict[str, list[torch.Tensor]] = {}

    def add(self, loss: torch.Tensor, terms: Mapping[str, Any]) -> None:
        self.loss += loss.detach().float()
        for k, v in terms.items():
            v = _to_float(v).to(self.dev)
            self.sums[k] = self.sums.get(k, torch.zeros((), device=self.dev)) + v
            self.per_step.setdefault(k, []).append(v)
        self.steps += 1

    def write(self, history: Any, epoch: int) -> None:
        """Append the epoch's means (and every step's terms) to ``history``."""
        history.epoch.append(epoch)
        history.loss.append(float(self.loss) / max(1, self.steps))
        for k, v in self.sums.items():
            history.terms.setdefault(k, []).append(float(v) / max(1, self.steps))
            history.step_terms.setdefault(k, []).extend(torch.stack(self.per_step[k]).tolist())
