""""Paper vs this lab": each notebook's closing table, computed from its own numbers.

A notebook declares the paper's headline claims it tests as `Claim` objects (the claim, the
paper's number and setting, the recorded key that holds this lab's measurement of the same
effect, and the one-line reason to read when they differ). `paper_vs_lab` turns them into
rows from this run's results and, when there is one, the full-size record:

``{"claim", "paper", "lab", "ci_low", "ci_high", "verdict", "reason", "run"}``

``lab``, ``ci_low`` and ``ci_high`` are in points (differences of accuracies) or in the
claim's ``unit``; the verdict is computed from the 95 % interval, never typed:

- ``"agrees"``: the whole interval lies on the side the paper reports (``direction``);
- ``"disagrees"``: the whole interval lies on the other side;
- ``"within noise"``: the interval contains zero.

A measurement without an interval (one seed, nothing to pair) gets ``"no interval"``: run
more seeds before reading a verdict into it. The notebook records the rows
(``record("paper_vs_lab", rows)``) and prints them with `show_paper_vs_lab`.

>>> c = Claim("LA beats CE", paper="+2.9 points, CIFAR-10-LT", key="la_minus_ce")
>>> rows = paper_vs_lab({"la_minus_ce": {"mean": 0.05, "ci_low": 0.01, "ci_high": 0.09}}, [c])
>>> rows[0]["lab"], rows[0]["verdict"]
(5.0, 'agrees')
>>> verdict(-0.02, 0.01), verdict(-0.05, -0.01), verdict(-0.05, -0.01, direction=-1)
('within noise', 'disagrees', 'agrees')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import lookup

__all__ = ["ROW_KEYS", "VERDICTS", "Claim", "paper_vs_lab", "show_paper_vs_lab", "verdict"]

#: The keys of every recorded row (a contract: ``paper_vs_lab`` in each notebook's results).
ROW_KEYS = ("claim", "paper", "lab", "ci_low", "ci_high", "verdict")
VERDICTS = ("agrees", "within noise", "disagrees", "no interval")


@dataclass(frozen=True)
class Claim:
    """One headline of a paper, and where this lab measures the same effect.

    ``key`` is a recorded result (a dotted path is fine) holding ``{"mean", "ci_low",
    "ci_high"}`` (an interval over seeds or test samples, as `ltlab.metrics.paired_interval`
    returns) or a bare number (then there is no interval). ``direction`` is the sign the
    paper reports (+1: the effect is positive). ``scale`` converts the recorded value to
    ``unit`` (100: fractions to points).
    """

    claim: str
    paper: str
    key: str
    direction: int = 1
    reason: str = ""
    scale: float = 100.0
    unit: str = "points"

    def __post_init__(self) -> None:
        if self.direction not in (1, -1):
            raise ValueError(f"direction must be +1 or -1 (the sign the paper reports), got "
                             f"{self.direction!r}.")
        if not self.claim or not self.paper or not self.key:
            raise ValueError("a Claim needs its claim, the paper's number and setting, and "
                             "the recorded key of this lab's measurement.")


def verdict(ci_low: float, ci_high: float, direction: int = 1) -> str:
    """Where the interval [ci_low, ci_high] lies relative to the paper's sign."""
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return "no interval"
    if ci_low > ci_high:
        raise ValueError(f"ci_low ({ci_low}) is above ci_high ({ci_high}): pass the bounds "
                         "in order.")
    low, high = (ci_low, ci_high) if direction > 0 else (-ci_high, -ci_low)
    if low > 0:
        return "agrees"
    if high < 0:
        return "disagrees"
    return "within noise"


def _measurement(value: Any, key: str) -> tuple[float, float, float]:
    if isinstance(value, Mapping):
        if "mean" not in value:
            raise ValueError(f"recorded {key!r} has no 'mean' (keys: {sorted(value)}); point "
                             "the Claim at an interval dict or a number.")
        mean = float(value["mean"])
        return mean, float(value.get("ci_low", math.nan)), float(value.get("ci_high", math.nan))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), math.nan, math.nan
    raise ValueError(f"recorded {key!r} is {type(value).__name__}; a Claim reads a number or "
                     "an interval dict {'mean', 'ci_low', 'ci_high'}.")


def _rows(results: Mapping[str, Any], claims: Iterable[Claim], run: str) -> list[dict]:
    rows = []
    for c in claims:
        mean, low, high = _measurement(lookup(results, c.key), c.key)
        rows.append({
            "claim": c.claim, "paper": c.paper,
            "lab": c.scale * mean, "ci_low": c.scale * low, "ci_high": c.scale * high,
            "verdict": verdict(low, high, c.direction), "reason": c.reason,
            "unit": c.unit, "run": run,
        })
    return rows


def paper_vs_lab(results: Mapping[str, Any], claims: Iterable[Claim],
                 full: Mapping[str, Any] | None = None, *, run: str = "this run",
                 quick: bool = True) -> list[dict]:
    """The table's rows: one per claim from ``results`` (this run), then one per claim from
    ``full`` (the full-size record's results) where it holds the claim's key. A full-size run
    (``quick=False``) is itself the record: ``full`` (an older record) is ignored."""
    claims = list(claims)
    if not quick:
        full = None
    if not claims:
        raise ValueError("paper_vs_lab needs at least one Claim.")
    rows = _rows(results, claims, run)
    if full:
        present = []
        for c in claims:
            try:
                lookup(full, c.key)
            except KeyError:
                continue
            present.append(c)
        rows += _rows(full, present, "full size")
    return rows


def _number(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:+.1f}"


def show_paper_vs_lab(rows: Iterable[Mapping[str, Any]]) -> None:
    """Print the rows as the notebook's closing table (one block per claim)."""
    for r in rows:
        interval = ("no interval" if r["verdict"] == "no interval"
                    else f"[{_number(r['ci_low'])}, {_number(r['ci_high'])}]")
        unit = r.get("unit", "points")
        print(f"{r['claim']}\n  paper: {r['paper']}\n  lab ({r.get('run', 'this run')}): "
              f"{_number(r['lab'])} {unit} {interval}  ->  {r['verdict']}")
        if r.get("reason") and r["verdict"] != "agrees":
            print(f"  why: {r['reason']}")

