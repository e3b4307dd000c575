"""Checkpoints of `ltlab.train.fit` (private): they carry the settings that made the run,
resuming is refused when the settings, the model or the method differ (naming the file and
how to restart), a damaged file is a clear error, and every write is atomic.
"""

from __future__ import annotations

import numbers
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from ._fit_steps import FitConfig, Loop

if TYPE_CHECKING:
    from .data import LTData

_RESTART = "delete {path} to start afresh, or pass another checkpoint= path"


#: The options that decide a run's numbers; a checkpoint made with others is refused.
_SETTINGS = ("epochs", "steps", "batch_size", "lr", "optimizer", "momentum", "nesterov",
             "weight_decay", "decay_norm_and_bias", "schedule", "warmup_epochs", "milestones",
             "gamma", "mixup_alpha", "augment", "unlabeled_ratio", "seed", "amp")


def _lineage(obj: Any) -> list[str]:
    """The qualified names of ``obj``'s class and its bases (most derived first)."""
    return [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__ if c is not object]


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    name = getattr(value, "__qualname__", type(value).__qualname__)
    return f"{getattr(value, '__module__', '')}.{name}"


def run_settings(model: nn.Module, method: Any, data: LTData, opts: FitConfig,
                 loop: Loop) -> dict[str, Any]:
    """What made this run: the options, the model and method classes, the data."""
    out = {name: _plain(getattr(opts, name)) for name in _SETTINGS}
    out.update(model=_lineage(model), method=_lineage(method), data=str(getattr(data, "name", "")),
               train_size=int(loop.x_train.shape[0]), num_classes=int(data.num_classes),
               total_steps=int(loop.total_steps))
    return out


def _differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    out = []
    for key, value in now.items():
        old = saved.get(key)
        if key in ("model", "method"):
            # the same class, or one derived from the other (a test's interrupting subclass)
            if old and (old[0] in value or value[0] in old):
                continue
            out.append(f"{key} {old[0] if old else None} (this call {value[0]})")
        elif old != value:
            out.append(f"{key} {old!r} (this call {value!r})")
    return out


def _read(path: Path, dev: torch.device) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=dev, weights_only=True)
    except Exception as err:  # unpickling a damaged file can raise almost anything
        raise ValueError(f"checkpoint {str(path)!r} cannot be read ({type(err).__name__}: "
                         f"{err}): it is damaged or not an ltlab checkpoint; "
                         f"{_RESTART.format(path=repr(str(path)))}.") from err
    needed = {"model", "optimizer", "scheduler", "history", "epoch", "step"}
    if not isinstance(state, dict) or not needed <= set(state):
        have = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"checkpoint {str(path)!r} is not an ltlab.train.fit checkpoint (it "
                         f"holds {have}); {_RESTART.format(path=repr(str(path)))}.")
    return state


def _check_fits(path: Path, what: str, saved: Mapping[str, Any], module: nn.Module) -> None:
    """Keys and shapes first, so a mismatch leaves ``module`` untouched."""
    now = module.state_dict()
    bad = [f"missing {k}" for k in now if k not in saved]
    bad += [f"unexpected {k}" for k in saved if k not in now]
    bad += [f"{k}: {tuple(saved[k].shape)} in the file, {tuple(now[k].shape)} here"
            for k in now if k in saved and torch.is_tensor(saved[k])
            and saved[k].shape != now[k].shape]
    if bad:
        raise ValueError(f"checkpoint {str(path)!r} holds another {what} "
                         f"({type(module).__name__}): {'; '.join(bad[:4])}"
                         f"{' ...' if len(bad) > 4 else ''}; "
                         f"{_RESTART.format(path=repr(str(path)))}.")


def resume(path: Path, settings: Mapping[str, Any], model: nn.Module, method: Any,
           opt: torch.optim.Optimizer, sched: Any, dev: torch.device) -> dict[str, Any]:
    """Load a checkpoint made with the same settings into model, method, optimiser,
    schedule and torch's generators; return it (its history, epoch and step)."""
    state = _read(path, dev)
    if "settings" not in state:
        warnings.warn(f"checkpoint {str(path)!r} was written before checkpoints carried their "
                      "settings: resuming it unchecked.", UserWarning, stacklevel=3)
    elif diff := _differences(state["settings"], settings):
        raise ValueError(
            f"checkpoint {str(path)!r} was made with other settings: {'; '.join(diff)}. "
            "Resuming it would mix two runs; to start afresh "
            f"{_RESTART.format(path=repr(str(path)))}; to resume it, call fit with the settings "
            "it was made with.")
    _check_fits(path, "model", state["model"], model)
    if isinstance(method, nn.Module) and "method" in state:
        _check_fits(path, "method", state["method"], method)
    model.load_state_dict(state["model"])
    if isinstance(method, nn.Module) and "method" in state:
        method.load_state_dict(state["method"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    if "rng" in state:  # methods that draw from the global generator resume exactly too
        torch.set_rng_state(state["rng"].cpu())
        if dev.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), dev)
    return state


def save_checkpoint(path: Path, model: nn.Module, method: Any, opt: torch.optim.Optimizer,
                    sched: Any, history: Any, epoch: int, step: int,
                    settings: Mapping[str, Any], dev: torch.device) -> None:
    """Everything a resumed run needs, written atomically (see `save_atomic`)."""
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "history": history.to_dict(),
             "epoch": epoch, "step": step, "settings": dict(settings)}
    if isinstance(method, nn.Module):
        state["method"] = method.state_dict()
    state["rng"] = torch.get_rng_state()
    if dev.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(dev)
    save_atomic(state, path)


def save_atomic(obj: dict, path: Path) -> None:
    """Write to a temporary file beside ``path``, then rename it into place: a crash leaves
    the old checkpoint (or none), never a partial one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)  # atomic on POSIX and Windows within one file system
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
