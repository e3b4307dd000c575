"""Every notebook ends with "Paper vs this lab": it records ``paper_vs_lab``, a non-empty list
of rows ``{"claim", "paper", "lab", "ci_low", "ci_high", "verdict", ...}``, and every
verdict is the one its interval gives (`ltlab.experiments.paper_vs_lab.verdict`, with the
direction of the claim its driver declares in ``CLAIMS``), never a typed word.

Nothing is executed here beyond the session's one headless run of each notebook (the
``executed`` fixture, cached).
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest

from ltlab.experiments.full_size import DRIVERS
from ltlab.experiments.paper_vs_lab import ROW_KEYS, VERDICTS, verdict
from ltlab.experiments.protocol import lookup

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _declared_claims() -> dict[str, object]:
    """Claim text -> `Claim`, over the ``CLAIMS`` of every notebook's driver."""
    claims = {}
    for module in DRIVERS.values():
        for claim in getattr(importlib.import_module(module), "CLAIMS", ()):
            claims[claim.claim] = claim
    return claims


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_records_paper_vs_lab_with_computed_verdicts(executed, name):
    results = executed(name)
    assert "paper_vs_lab" in results, f"{name} records no paper_vs_lab (its closing table)"
    rows = results["paper_vs_lab"]
    assert isinstance(rows, list) and rows, f"{name}: paper_vs_lab is empty"
    claims = _declared_claims()
    for row in rows:
        assert set(ROW_KEYS) <= set(row), f"{name}: a row lacks {set(ROW_KEYS) - set(row)}"
        assert row["claim"] and row["paper"], f"{name}: a row without its claim or paper"
        assert row["claim"] in claims, (f"{name}: the claim {row['claim']!r} is not declared "
                                        "in its driver's CLAIMS")
        low, high, lab = (float(row[k]) for k in ("ci_low", "ci_high", "lab"))
        assert row["verdict"] in VERDICTS
        assert row["verdict"] == verdict(low, high, claims[row["claim"]].direction), (
            f"{name}: {row['claim']!r} says {row['verdict']!r}, its interval [{low}, {high}] "
            "gives another verdict")
        if math.isfinite(low) and math.isfinite(high):
            assert low <= lab <= high, f"{name}: {row['claim']!r}: {lab} outside its interval"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_this_runs_rows_are_the_drivers_claims_with_the_recorded_numbers(executed, name):
    """This run's rows are the notebook's driver's ``CLAIMS``, in order, and each row's
    numbers are the recorded measurement its claim points at, in the claim's unit (``scale``
    times the recorded mean and interval, or the bare number)."""
    results = executed(name)
    claims = importlib.import_module(DRIVERS[name]).CLAIMS
    this_run = [r for r in results["paper_vs_lab"] if r["run"] == "this run"]
    assert [r["claim"] for r in this_run] == [c.claim for c in claims]
    for claim, row in zip(claims, this_run):
        measured = lookup(results, claim.key)
        if not isinstance(measured, dict):
            assert row["lab"] == pytest.approx(claim.scale * measured), claim.key
            continue
        for key, field in (("mean", "lab"), ("ci_low", "ci_low"), ("ci_high", "ci_high")):
            assert row[field] == pytest.approx(claim.scale * measured.get(key, math.nan),
                                               nan_ok=True), (claim.key, key)
