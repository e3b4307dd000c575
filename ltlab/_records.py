"""Recorded results as JSON, and the values this kernel has recorded so far.

`ltlab.record` (in `ltlab.runner`) stores each value with `_jsonable` and `remember`s it;
`recorded` returns what this kernel recorded, read back with `_restore`. Strings round-trip
as strings; a non-finite float, which JSON cannot hold, is stored as a one-key object
``{"__float__": "nan"}`` (also ``"inf"``, ``"-inf"``), so ``record("label", "inf")`` reads
back as the string ``"inf"``. Payloads written before this codec (``CODEC`` absent) stored
non-finite floats as bare strings; ``_restore(value, legacy=True)`` reads those. This module
imports nothing from ltlab, so every floor may use it.

>>> remember("demo_value", _jsonable(float("nan")))
>>> recorded()["demo_value"]
nan
>>> _restore(_jsonable(["inf", float("inf")]))
['inf', inf]
"""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["CODEC", "recorded", "remember"]

#: Version of the encoding below; new payloads carry it (``"codec": 2``), old ones do not.
CODEC = 2
_FLOAT_TAG = "__float__"
_NON_FINITE = ("nan", "inf", "-inf")

_RECORDED: dict[str, Any] = {}


def _jsonable(value: Any) -> Any:
    """Tensors, arrays and numpy scalars as plain JSON values (NaN/inf tagged, see above)."""
    torch = sys.modules.get("torch")  # a tensor implies torch is loaded; never import it here
    if torch is not None and torch.is_tensor(value):
        value = value.detach().cpu().tolist()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return {_FLOAT_TAG: str(value)}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise TypeError(
        f"record() takes numbers, strings, lists and dicts (got {type(value).__name__}); "
        "convert the value first, e.g. with float(...) or .tolist().")


def _restore(value: Any, legacy: bool = False) -> Any:
    """The inverse of `_jsonable`; ``legacy=True`` also reads the strings ``"nan"``,
    ``"inf"`` and ``"-inf"`` as floats (payloads written before ``CODEC`` 2)."""
    if isinstance(value, dict):
        if len(value) == 1 and value.get(_FLOAT_TAG) in _NON_FINITE:
            return float(value[_FLOAT_TAG])
        return {k: _restore(v, legacy) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v, legacy) for v in value]
    if legacy and isinstance(value, str) and value in _NON_FINITE:
        return float(value)
    return value


def remember(name: str, payload: Any) -> None:
    """Keep a recorded value (already `_jsonable`) for `recorded`."""
    _RECORDED[name] = payload


def recorded() -> dict[str, Any]:
    """The values recorded in this kernel so far (``{name: value}``, the last one wins)."""
    return {k: _restore(v) for k, v in _RECORDED.items()}
