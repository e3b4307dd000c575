"""The rename helper for *after* the first release (0.1.0): no module uses it today.

Before 0.1.0 nothing is forwarded: a name that moves is imported from its new place, and
the CHANGELOG says where it went. Once a release is out, a module whose name moves keeps
one release of grace by setting
``__getattr__ = moved_names(__name__, {"name": "ltlab.new.module"})`` (or
``"ltlab.new.module:new_name"`` for a renamed object); reading a moved name then warns with
``DeprecationWarning`` naming the new place and returns the object from there.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved_names"]


def moved_names(old_module: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` forwarding each name in ``moved`` to its new module."""

    def __getattr__(name: str) -> Any:
        target = moved.get(name)
        if target is None:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        module, _, new_name = target.partition(":")
        new_name = new_name or name
        warnings.warn(
            f"`{old_module}.{name}` moved to `{module}.{new_name}`; import it from there "
            "(the old path will be removed in the next minor release).",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), new_name)

    return __getattr__
