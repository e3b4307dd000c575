"""The closing "paper vs this lab" table: verdicts follow from the intervals."""

import math
import random

import pytest
import torch

from ltlab.experiments.paper_vs_lab import ROW_KEYS, Claim, paper_vs_lab, verdict
from ltlab.metrics import balanced_accuracy, balanced_accuracy_difference


@pytest.mark.parametrize("low,high,direction,expected", [
    (0.01, 0.05, 1, "agrees"), (-0.05, -0.01, 1, "disagrees"), (-0.01, 0.02, 1, "within noise"),
    (-0.05, -0.01, -1, "agrees"), (0.01, 0.05, -1, "disagrees"), (math.nan, math.nan, 1,
                                                                    "no interval"),
])
def test_verdict_reads_the_interval_against_the_papers_sign(low, high, direction, expected):
    assert verdict(low, high, direction) == expected


def test_verdict_refuses_reversed_bounds():
    with pytest.raises(ValueError, match="ci_low"):
        verdict(0.2, 0.1)


def test_rows_carry_the_contract_keys_in_points_and_the_full_size_record():
    claims = [Claim("A beats B", paper="+3 points", key="diff.a_minus_b"),
              Claim("only here", paper="+1", key="single")]
    quick = {"diff": {"a_minus_b": {"mean": -0.02, "ci_low": -0.05, "ci_high": 0.01}},
             "single": 0.04}
    full = {"diff": {"a_minus_b": {"mean": 0.03, "ci_low": 0.01, "ci_high": 0.05}}}
    rows = paper_vs_lab(quick, claims, full)
    assert [r["run"] for r in rows] == ["this run", "this run", "full size"]
    assert all(set(ROW_KEYS) <= set(r) for r in rows)
    assert rows[0]["lab"] == pytest.approx(-2.0) and rows[0]["verdict"] == "within noise"
    assert rows[1]["verdict"] == "no interval"
    assert rows[2]["ci_low"] == pytest.approx(1.0) and rows[2]["verdict"] == "agrees"


def test_claims_refuse_a_sign_that_is_not_one():
    with pytest.raises(ValueError, match="direction"):
        Claim("x", paper="y", key="z", direction=0)


def test_a_missing_key_names_the_recorded_keys():
    with pytest.raises(KeyError, match="absent"):
        paper_vs_lab({"present": 1.0}, [Claim("x", paper="y", key="absent")])


def test_balanced_accuracy_difference_matches_the_metric_and_covers_at_the_nominal_rate():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat_interleave(torch.tensor([200, 100, 50, 25]))
    a = torch.where(torch.rand(len(y), generator=gen) < 0.8, y, (y + 1) % 4)
    b = torch.where(torch.rand(len(y), generator=gen) < 0.7, y, (y + 1) % 4)
    r = balanced_accuracy_difference(a, b, y)
    direct = balanced_accuracy(a, y) - balanced_accuracy(b, y)
    assert r["mean"] == pytest.approx(direct, abs=1e-9)
    # coverage: the true difference of two classifiers with known per-class accuracies
    rng, hits, trials = random.Random(1), 0, 300
    acc_a, acc_b = [0.9, 0.8, 0.6, 0.5], [0.8, 0.8, 0.5, 0.3]
    truth = sum(acc_a) / 4 - sum(acc_b) / 4
    counts = [120, 60, 30, 15]
    for _ in range(trials):
        ys, pa, pb = [], [], []
        for c, n in enumerate(counts):
            for _ in range(n):
                ys.append(c)
                pa.append(c if rng.random() < acc_a[c] else -1)
                pb.append(c if rng.random() < acc_b[c] else -1)
        r = balanced_accuracy_difference(pa, pb, ys)
        hits += r["ci_low"] <= truth <= r["ci_high"]
    assert 0.9 <= hits / trials <= 0.99  # nominal 95 %


def test_balanced_accuracy_difference_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="same, non-empty length"):
        balanced_accuracy_difference([0, 1], [0], [0, 1])


def test_a_full_size_run_ignores_the_older_record():
    claims = [Claim("A beats B", paper="+3 points", key="d")]
    now = {"d": {"mean": 0.03, "ci_low": 0.01, "ci_high": 0.05}}
    old = {"d": {"mean": -0.03, "ci_low": -0.05, "ci_high": -0.01}}
    assert [r["run"] for r in paper_vs_lab(now, claims, old)] == ["this run", "full size"]
    rows = paper_vs_lab(now, claims, old, quick=False)
    assert [r["verdict"] for r in rows] == ["agrees"]


def test_section_reads_the_record_in_quick_mode_only_and_prints_the_table(tmp_path, capsys):
    import json

    from ltlab.experiments.full_size import paper_vs_lab_section

    claims = [Claim("A beats B", paper="+3 points", key="gap")]
    (tmp_path / "00_tour.json").write_text(json.dumps(
        {"results": {"gap": {"mean": 0.03, "ci_low": 0.01, "ci_high": 0.05}}}))
    this = {"gap": {"mean": -0.02, "ci_low": -0.05, "ci_high": -0.01}}
    rows = paper_vs_lab_section("00_tour", this, claims, quick=True, folder=tmp_path)
    assert [(r["run"], r["verdict"]) for r in rows] == [("this run", "disagrees"),
                                                         ("full size", "agrees")]
    out = capsys.readouterr().out
    assert "lab (full size): +3.0 points [+1.0, +5.0]  ->  agrees" in out
    # a full-size run is the record itself: the older one is not read
    rows = paper_vs_lab_section("00_tour", this, claims, quick=False, folder=tmp_path)
    assert [r["run"] for r in rows] == ["this run"]
    # no record: this run only
    assert len(paper_vs_lab_section("01_logit_adjustment", this, claims, folder=tmp_path)) == 1
