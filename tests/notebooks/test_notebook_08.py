"""Notebook 08 (GH on MNIST-1D-LT, optional) executed in quick mode: the recorded probe
accuracies and the multi-seed table (the bands are `ltlab.experiments.gh_mnist1d.BANDS`, the
ones the notebook's self-test asserts); its "Paper vs this lab" rows are checked with every
notebook's in tests/notebooks/test_paper_vs_lab_records.py."""

from __future__ import annotations

import math

import pytest

from ltlab.experiments import gh_mnist1d as driver
from ltlab.experiments.protocol import failed_bands

GROUPS = {"many", "medium", "few", "all"}


def test_notebook_08_records_its_contract(executed):
    r = executed("08_gh_on_mnist1d")
    probe = r["probe_accuracy"]
    assert set(probe) == {"simclr", "simclr_gh"}
    for name, acc in probe.items():
        assert set(acc) == GROUPS, (name, acc)
        assert all(isinstance(v, float) and math.isfinite(v) for v in acc.values()), acc
        groups = [acc["many"], acc["medium"], acc["few"]]
        # "all" is the mean over the 10 classes, i.e. (4 many + 3 medium + 3 few) / 10
        assert abs(acc["all"] - (4 * groups[0] + 3 * groups[1] + 3 * groups[2]) / 10) < 1e-9
    assert not any(key.startswith("sphere_toy") for key in r)  # notebook 06's


def test_notebook_08_bands_hold(executed):
    """The driver's bands on the executed notebook: the probe beats chance, GH costs the tail
    third a bounded amount, and over the training seeds GH's change on all classes is
    bounded (what each band pins, and why: `ltlab.experiments.gh_mnist1d.BANDS`)."""
    assert failed_bands(executed("08_gh_on_mnist1d"), driver.BANDS) == []


def test_notebook_08_records_the_seed_table_and_its_intervals(executed):
    r = executed("08_gh_on_mnist1d")
    table, gain = r["probe_seed_table"], r["probe_gain"]
    assert set(table) == set(gain) == GROUPS
    for group, row in table.items():
        assert row["difference"] == pytest.approx(row["simclr_gh"] - row["simclr"], abs=1e-9)
        assert row["ci_low"] <= row["difference"] <= row["ci_high"], (group, row)
        assert gain[group] == {"mean": row["difference"], "ci_low": row["ci_low"],
                               "ci_high": row["ci_high"]}
