"""The "Checks" section of a notebook: CI's bands hold at the default parameters only.

A student who changes a parameter, as the exercises ask, must never meet a failing
``assert``. The final "Checks" cell of every notebook therefore starts with::

    if at_defaults(dict(seed=seed, quick=quick, imbalance_ratio=imbalance_ratio),
                   dict(seed=0, quick=True, imbalance_ratio=100)):
        assert ...

>>> at_defaults({"seed": 0, "quick": True}, {"seed": 0, "quick": True})
True
>>> at_defaults({"seed": 3, "quick": True}, {"seed": 0, "quick": True})
Checks skipped: seed = 3 (default 0). The bands below are measured at the defaults only.
False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["at_defaults"]


def at_defaults(current: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool:
    """True when every parameter in ``defaults`` has its default value in ``current``.

    Otherwise print which parameters differ and return False, so the notebook skips its
    bands instead of failing. A parameter missing from ``current`` is a bug in the notebook
    and raises ``KeyError`` naming it.
    """
    missing = [name for name in defaults if name not in current]
    if missing:
        raise KeyError(f"at_defaults: pass the current value of {missing} (the notebook's parameters)")
    changed = [f"{name} = {current[name]!r} (default {default!r})"
               for name, default in defaults.items() if current[name] != default]
    if changed:
        print("Checks skipped: " + ", ".join(changed)
              + ". The bands below are measured at the defaults only.")
        return False
    return True
