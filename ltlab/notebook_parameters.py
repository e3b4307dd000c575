"""A notebook's ``parameters`` cell: its names, defaults and declared types, and the check
of the values a run gives them, before any kernel starts.

`ltlab.runner.run_notebook` and `ltlab.sweep.sweep` both validate through this module (it
imports no other ltlab module, and neither torch nor papermill at import time).

Rules of `validate_parameters`: names must be in the cell (papermill would silently ignore
a typo); a value must have its default's type, with two widenings: an ``int`` is a valid
``float``, and a ``float`` is a valid ``int`` parameter when it is integral (``2.0`` is
passed as ``2``) or when the cell declares the parameter ``float`` (``ratio: float = 100``,
or ``ratio = 100  # type: float``, both papermill's own notations). ``bool`` is never a
number here. `papermill_problems` lists the lines papermill's own parser cannot read (it
then does not know that parameter: e.g. a comment holding ``=``).

>>> import nbformat
>>> cell = nbformat.v4.new_code_cell("seed = 0\\nratio: float = 100  # rho, n_max / n_min")
>>> cell_parameters(cell)
{'seed': 0, 'ratio': 100}
>>> cell_types(cell)
{'ratio': 'float'}
"""

from __future__ import annotations

import ast
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import nbformat

__all__ = [
    "parameters_cell",
    "cell_parameters",
    "cell_types",
    "notebook_parameters",
    "notebook_parameter_types",
    "papermill_problems",
    "validate_parameters",
]


def parameters_cell(path: str | os.PathLike) -> nbformat.NotebookNode:
    """The first code cell tagged ``parameters`` of the notebook at ``path``."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    raise ValueError(f"{path} has no cell tagged 'parameters'; papermill cannot drive it.")


def _assignments(source: str):
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            yield node.targets[0].id, node.value, None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            yield node.target.id, node.value, node.annotation


def cell_parameters(cell: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: default}`` of a parameters cell (None where the default is not a literal)."""
    params = {}
    for name, value, _ in _assignments(cell["source"]):
        try:
            params[name] = ast.literal_eval(value)
        except ValueError:
            params[name] = None
    return params


def cell_types(cell: Mapping[str, Any]) -> dict[str, str]:
    """``{name: type}`` declared in a parameters cell, by annotation or ``# type:`` comment."""
    types: dict[str, str] = {}
    lines = cell["source"].splitlines()
    for node in ast.parse(cell["source"]).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if not isinstance(target, ast.Name):
            continue
        if isinstance(node, ast.AnnAssign):
            types[target.id] = ast.unparse(node.annotation).strip("'\"")
            continue
        line = lines[node.end_lineno - 1]
        if "# type:" in line:
            types[target.id] = line.split("# type:", 1)[1].split()[0]
    return types


def notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """The names and default values of a notebook's ``parameters`` cell."""
    return cell_parameters(parameters_cell(path))


def notebook_parameter_types(path: str | os.PathLike) -> dict[str, str]:
    """The types a notebook's ``parameters`` cell declares (annotations, ``# type:``)."""
    return cell_types(parameters_cell(path))


def papermill_problems(path: str | os.PathLike) -> list[str]:
    """Lines of the ``parameters`` cell that papermill's own parser cannot read, and the
    parameters it therefore does not know (empty when papermill reads every one)."""
    from papermill.translators import PythonTranslator

    cell = parameters_cell(path)
    logger = logging.getLogger("papermill.translators")
    messages: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler, propagate = _Keep(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # the caller reports them, with what to do
    try:
        seen = {p.name for p in PythonTranslator.inspect(cell)}
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    problems = [f"{Path(path).name}, parameters cell: papermill says {m!r}" for m in messages]
    for name in cell_parameters(cell):
        if name not in seen:
            problems.append(
                f"{Path(path).name}: papermill does not see parameter {name!r}; keep its "
                "line to `name = value  # comment` with no '=' inside the comment.")
    return problems


def _type_error(name: str, path: Path, default: Any, value: Any, hint: str = "") -> TypeError:
    return TypeError(
        f"parameter {name!r} of {path.name} expects {type(default).__name__} "
        f"(default {default!r}) but got {value!r} ({type(value).__name__}).{hint}")


def validate_parameters(path: str | os.PathLike, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Reject unknown names and values of the wrong type (a ``ValueError`` / ``TypeError``
    that names the parameter, the value and what to do); returns the values as papermill
    should inject them (an integral float for an ``int`` parameter becomes an int)."""
    path = Path(path)
    if not isinstance(parameters, Mapping):
        raise TypeError(
            f"parameters must be a mapping {{name: value}}, e.g. {{'seed': 1}} "
            f"(got {type(parameters).__name__} {parameters!r}).")
    cell = parameters_cell(path)
    known, declared = cell_parameters(cell), cell_types(cell)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for {path.name}; it accepts "
            f"{sorted(known)}. Check the spelling (papermill would silently ignore them)."
        )
    out = dict(parameters)
    for name, value in parameters.items():
        default = known[name]
        if default is None or value is None:
            continue
        if isinstance(default, bool) or isinstance(value, bool):
            if type(value) is not type(default):
                raise _type_error(name, path, default, value)
            continue
        if isinstance(default, float) and isinstance(value, int):
            continue  # int -> float widening
        if isinstance(default, int) and isinstance(value, float):
            if declared.get(name) == "float":
                continue
            if math.isfinite(value) and value.is_integer():
                out[name] = int(value)
                continue
            raise _type_error(
                name, path, default, value,
                f" Give a whole number, or declare the parameter a float in the notebook's "
                f"parameters cell (`{name}: float = {default!r}`).")
        if not isinstance(value, type(default)):
            raise _type_error(name, path, default, value)
    return out
