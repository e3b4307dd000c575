"""Recorded results as JSON, and the values this kernel has recorded so far.

`ltlab.record` (in `ltlab.runner`) stores each value with `_jsonable` (NaN and infinities as
strings) and `remember`s it; `recorded` returns what this kernel recorded, read back with
`_restore`. This module imports nothing from ltlab, so every floor may use it.

>>> remember("demo_value", _jsonable(float("nan")))
>>> recorded()["demo_value"]
nan
"""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["recorded", "remember"]

_RECORDED: dict[str, Any] = {}


def _jsonable(value: Any) -> Any:
    """Tensors, arrays and numpy scalars as plain JSON values (NaN/inf as strings)."""
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
        return str(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise TypeError(f"record() takes numbers, strings, lists and dicts (got {type(value)}).")


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if value in ("nan", "inf", "-inf"):
        return float(value)
    return value



def remember(name: str, payload: Any) -> None:
    """Keep a recorded value (already `_jsonable`) for `recorded`."""
    _RECORDED[name] = payload


def recorded() -> dict[str, Any]:
    """The values recorded in this kernel so far (``{name: value}``, the last one wins)."""
    return {k: _restore(v) for k, v in _RECORDED.items()}
