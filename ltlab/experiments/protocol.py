"""The experiment protocol: what every notebook's driver module provides.

One driver module (or package) per notebook, with the same three verbs and one place for its
bands, so that the notebook, its test and the full-size test read the same definitions:

``NOTEBOOK``
    the notebook's name, e.g. ``"01_logit_adjustment"``.
``settings(quick=True) -> Settings``
    a frozen, typed dataclass of every size the notebook runs at (data, training recipe as a
    nested `FitOptions`, seeds, grids). ``quick=False`` is the full-size run. Its
    `settings_dict` is what the full-size record's settings hash covers.
``compare(settings, *, seeds=None, device="auto", workers=1) -> Result``
    runs the notebook's experiment; one signature in every driver (``seeds=None`` means the
    seeds of ``settings``). The result is a small dataclass with ``.rows()`` (one dict per
    row of the notebook's table).
``recorded_results(result) -> dict``
    the notebook's contract keys (what it passes to ``ltlab.record``).
``BANDS`` / ``FULL_BANDS``
    `Band` tuples: the notebook's Checks cell, its test and the full-size test all call
    `failed_bands(recorded, BANDS)`, so a threshold is written once.

`ltlab.experiments.template` is the smallest driver that follows the protocol: copy it to
start notebook 09.

>>> b = Band("balanced_accuracy_la", low=0.5, reason="LA beats chance by a margin")
>>> failed_bands({"balanced_accuracy_la": 0.7}, [b])
[]
>>> failed_bands({"balanced_accuracy_la": 0.4}, [b])
['balanced_accuracy_la = 0.4 is below 0.5 (LA beats chance by a margin)']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Band",
    "Driver",
    "FitOptions",
    "Result",
    "assert_bands",
    "failed_bands",
    "lookup",
    "one_seed",
    "settings_dict",
]


@dataclass(frozen=True)
class FitOptions:
    """The `ltlab.train.fit` keywords a driver trains with (one declaration of each knob).

    ``as_kwargs()`` gives the keywords to pass to ``fit``; ``replace(**changes)`` a copy.
    """

    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.05
    weight_decay: float = 5e-4
    momentum: float = 0.9
    warmup_epochs: int = 0
    mixup_alpha: float = 0.0
    extra: tuple[tuple[str, Any], ...] = ()
    """Further ``fit`` keywords, as ``(name, value)`` pairs (kept hashable and frozen)."""

    def as_kwargs(self) -> dict[str, Any]:
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name != "extra"}
        kwargs.update(dict(self.extra))
        if kwargs.get("steps") is not None:  # a step budget (in ``extra``) replaces epochs
            kwargs.pop("epochs")
        return kwargs

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> FitOptions:
        """``fit`` keywords as options: the named fields, the rest into ``extra``."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in kwargs.items() if k in names},
                   extra=tuple((k, v) for k, v in kwargs.items() if k not in names))

    def replace(self, **changes: Any) -> FitOptions:
        return dataclasses.replace(self, **changes)


def settings_dict(settings: Any) -> dict[str, Any]:
    """A settings dataclass as plain, JSON-friendly data (what the settings hash covers)."""
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        return {f.name: settings_dict(getattr(settings, f.name))
                for f in dataclasses.fields(settings)}
    if isinstance(settings, Mapping):
        return {str(k): settings_dict(v) for k, v in settings.items()}
    if isinstance(settings, (list, tuple)):
        return [settings_dict(v) for v in settings]
    return settings


@runtime_checkable
class Result(Protocol):
    """What ``compare`` returns: any dataclass with a ``rows()`` table."""

    def rows(self) -> list[dict[str, Any]]: ...


class Driver(Protocol):
    """A notebook's driver module, seen as an object (``importlib.import_module(...)``)."""

    NOTEBOOK: str
    BANDS: Sequence[Band]
    FULL_BANDS: Sequence[Band]

    def settings(self, quick: bool = True) -> Any: ...

    def compare(self, settings: Any, *, seeds: Sequence[int] | None = None,
                device: str = "auto", workers: int = 1) -> Result: ...

    def recorded_results(self, result: Any) -> dict[str, Any]: ...


def lookup(results: Mapping[str, Any], key: str) -> Any:
    """``results[key]``, where a dotted key walks into nested dicts: ``"ece.la"``; the key
    ``"*"`` is the whole mapping (for a `Band` whose ``test`` relates several keys)."""
    if key == "*":
        return results
    if key in results:
        return results[key]
    value: Any = results
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"recorded results have no {key!r} (keys: {sorted(results)})")
        value = value[part]
    return value


@dataclass(frozen=True)
class Band:
    """One check on a recorded result: ``low <= value <= high`` (either side optional), or
    ``test(value)`` for a relation no interval expresses. ``reason`` says what it guards.
    With ``minus`` (another key) the value checked is ``key - minus``: a margin between two
    results, ``Band("balanced_accuracy_la", minus="balanced_accuracy_ce", low=0.02)``."""

    key: str
    low: float | None = None
    high: float | None = None
    reason: str = ""
    test: Callable[[Any], bool] | None = None
    minus: str | None = None

    def problem(self, results: Mapping[str, Any]) -> str | None:
        """None when the band holds, else one line saying what failed."""
        value, name = lookup(results, self.key), self.key
        if self.minus is not None:
            value, name = value - lookup(results, self.minus), f"{self.key} - {self.minus}"
        why = f" ({self.reason})" if self.reason else ""
        shown = "the results" if name == "*" else f"{name} = {value!r}"
        if self.test is not None:
            return None if self.test(value) else f"{shown} fails its test{why}"
        if not isinstance(value, (int, float)) or math.isnan(value):
            return f"{name} = {value!r} is not a number{why}"
        if self.low is not None and value < self.low:
            return f"{name} = {value:.4g} is below {self.low:.4g}{why}"
        if self.high is not None and value > self.high:
            return f"{name} = {value:.4g} is above {self.high:.4g}{why}"
        return None


def failed_bands(results: Mapping[str, Any], bands: Iterable[Band]) -> list[str]:
    """The bands that fail on ``results``, one line each (empty: all hold)."""
    return [p for band in bands if (p := band.problem(results)) is not None]


def assert_bands(results: Mapping[str, Any], bands: Iterable[Band]) -> None:
    """Raise AssertionError listing every band that fails (the notebook's self-test)."""
    bands = list(bands)
    problems = failed_bands(results, bands)
    if problems:
        raise AssertionError("self-test failed:\n  " + "\n  ".join(problems))
    print(f"Self-test passed: {len(bands)} checks hold.")


def one_seed(settings: Any, seeds: Sequence[int] | None) -> int:
    """The one seed a single-seed driver's ``compare`` runs: ``seeds`` (one entry), or the
    settings' own ``seeds`` when None. Several seeds raise ValueError (call ``compare`` once
    per seed, or use `ltlab.sweep`).

    >>> from types import SimpleNamespace
    >>> one_seed(SimpleNamespace(seeds=(0,)), None), one_seed(SimpleNamespace(seeds=(0,)), [3])
    (0, 3)
    """
    from .._validation import as_int

    chosen = tuple(getattr(settings, "seeds", (0,)) if seeds is None else seeds)
    if len(chosen) != 1:
        raise ValueError(f"seeds must hold exactly one seed for this driver (got {chosen!r}); "
                         "call compare once per seed, e.g. compare(s, seeds=[1]).")
    return as_int(chosen[0], "seeds[0]", minimum=0)
