"""A sweep's grid: the runs it expands to, their names, and command-line values.

>>> expand_grid({"tau": [0.0, 1.0], "quick": True})
[{'tau': 0.0, 'quick': True}, {'tau': 1.0, 'quick': True}]
>>> parse_cli_value("3", 0), parse_cli_value("false", True)
(3, False)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["expand_grid", "canonical", "run_name", "parse_cli_value"]


def expand_grid(grid: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The runs of a grid, in order.

    A mapping ``{name: [values...]}`` gives the Cartesian product (the first name varies
    slowest); a value that is not a list, tuple or range is a single value, the same for
    every run. A sequence of mappings lists the runs explicitly.
    """
    if isinstance(grid, Mapping):
        names, choices = [], []
        for name, values in grid.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"grid: parameter names must be identifiers (got {name!r}).")
            values = list(values) if isinstance(values, (list, tuple, range)) else [values]
            if not values:
                raise ValueError(f"grid: parameter {name!r} has no values; give at least one.")
            dup = [v for i, v in enumerate(values) if canonical(v) in map(canonical, values[:i])]
            if dup:
                raise ValueError(
                    f"grid: parameter {name!r} repeats the value {dup[0]!r}; each run must differ.")
            names.append(name)
            choices.append(values)
        points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        points = []
        for i, p in enumerate(grid):
            if not isinstance(p, Mapping):
                raise ValueError(f"grid: run {i} must be a mapping of parameters (got {p!r}).")
            points.append(dict(p))
        seen: dict[str, int] = {}
        for i, p in enumerate(points):
            key = canonical(p)
            if key in seen:
                raise ValueError(f"grid: run {i} repeats run {seen[key]} ({p!r}).")
            seen[key] = i
    else:
        raise ValueError(
            f"grid must be a mapping {{name: [values]}} or a list of mappings (got {grid!r}).")
    if not points:
        raise ValueError("grid is empty; give at least one run.")
    return points


def canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"grid values must be JSON values (numbers, strings, booleans, None, lists, dicts) "
            f"so papermill can inject them (got {value!r}: {err})."
        ) from None


def run_name(notebook: str, parameters: Mapping[str, Any]) -> str:
    """A file-system-safe name, unique per notebook and parameter set.

    Readable part ``<notebook>__k=v,k=v`` (names sorted) plus 8 hex digits of a hash of the exact values,
    so two runs never share an output even when their readable parts coincide.
    """
    slug = ",".join(f"{k}={parameters[k]}" for k in sorted(parameters)) or "defaults"
    slug = re.sub(r"[^A-Za-z0-9._=,+-]", "_", slug)[:80]
    digest = hashlib.sha1(
        canonical({"notebook": notebook, "parameters": dict(parameters)}).encode()
    ).hexdigest()[:8]
    return f"{notebook}__{slug}__{digest}"


def parse_cli_value(text: str, default: Any) -> Any:
    """A command-line string as a value of the type of the parameter's ``default``.

    bool: true/false/1/0/yes/no; int; float; str (kept as typed); otherwise a Python literal
    if it parses (``None``, ``[1, 2]``), else the string.
    """
    import ast

    if isinstance(default, bool):
        low = text.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise ValueError(f"{text!r} is not a boolean; use True or False.")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer (the default is {default!r}).") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number (the default is {default!r}).") from None
    if isinstance(default, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
