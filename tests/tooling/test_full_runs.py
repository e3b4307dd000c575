"""Full-size records: written atomically with their provenance, stale when settings change,
and read back by the notebooks."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from ltlab import full_runs
from ltlab.experiments import full_size


def test_record_holds_provenance_and_results(tmp_path):
    path = full_runs.write_record(tmp_path, "00_tour", {"balanced_accuracy": 0.625},
                                  device="cpu", seed=3, wall_s=12.34, settings="abc")
    record = json.loads(path.read_text())
    assert record["results"] == {"balanced_accuracy": 0.625}
    assert (record["device"], record["seed"], record["wall_s"], record["settings_hash"]) == (
        "cpu", 3, 12.3, "abc")
    assert record["machine"] and record["date"] and record["commit"]
    assert [p.name for p in tmp_path.iterdir()] == ["00_tour.json"]  # no temporary left


def test_settings_hash_follows_the_full_size_settings(monkeypatch):
    from ltlab.experiments import tour

    before = full_size.settings_hash("00_tour")
    assert before == full_size.settings_hash("00_tour")
    real = tour.settings
    monkeypatch.setattr(tour, "settings", lambda quick=True: dataclasses.replace(
        real(quick), max_count=real(quick).max_count + 1))
    assert full_size.settings_hash("00_tour") != before


def test_unknown_notebook_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no full-size settings"):
        full_runs.run_full([tmp_path / "99_nothing.ipynb"], tmp_path)
    with pytest.raises(KeyError, match="unknown notebook"):
        full_size.settings_hash("99_nothing")


def test_a_failed_notebook_keeps_the_others_records(tmp_path, monkeypatch):
    def fake_run(path, parameters, output, timeout=None, threads=None):
        assert threads == 2  # fixed for every kernel, and written in the record
        assert parameters == {"quick": False, "device": "cpu", "seed": 0}
        if path.stem == "01_logit_adjustment":
            raise RuntimeError("boom")
        return {"value": 1.0}

    monkeypatch.setattr(full_runs, "run_notebook", fake_run)
    monkeypatch.delenv("LTLAB_THREADS", raising=False)
    out = full_runs.run_full([tmp_path / "00_tour.ipynb", tmp_path / "01_logit_adjustment.ipynb"],
                             tmp_path / "full", device="cpu")
    assert "error" in out["01_logit_adjustment"] and out["00_tour"] == {"value": 1.0}
    assert sorted(p.name for p in (tmp_path / "full").glob("*.json")) == ["00_tour.json"]
    assert json.loads((tmp_path / "full" / "00_tour.json").read_text())["torch_threads"] == 2
    shown = full_size.show_full_size("00_tour", ["value", "missing"], folder=tmp_path / "full")
    assert shown == {"value": 1.0}


def test_without_a_record_the_notebook_says_how_to_make_one(tmp_path, capsys):
    assert full_size.show_full_size("00_tour", ["x"], folder=tmp_path) == {}
    assert "ltlab run --full" in capsys.readouterr().out


def test_ltlab_run_full_writes_records_through_run_full(tmp_path, monkeypatch):
    from ltlab import cli

    calls = {}

    def fake_run_full(notebooks, out, *, device, seed, executed_dir, threads):
        calls.update(names=[p.stem for p in notebooks], out=str(out), device=device, seed=seed)
        return {p.stem: {"value": 1.0} for p in notebooks}

    monkeypatch.setattr(full_runs, "run_full", fake_run_full)
    for name in ("00_tour", "01_logit_adjustment", "02_balpoe"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    status = cli.main(["run", "--full", "--device", "cpu", "--notebooks", str(tmp_path),
                       "--only", "00", "02", "--out", str(tmp_path / "full")])
    assert status == 0
    assert calls == {"names": ["00_tour", "02_balpoe"], "out": str(tmp_path / "full"),
                     "device": "cpu", "seed": 0}


def test_full_size_table_sits_beside_this_runs_values(tmp_path, capsys):
    folder = tmp_path / "full"
    full_runs.write_record(folder, "03_flexda_prior_estimation",
                           {"paired": {"a": {"mean": 0.05, "ci_low": 0.01, "per_seed": [1, 2]},
                                       "b": {"mean": -0.2}}, "acc": 0.9},
                           device="cpu", seed=0, wall_s=600.0, settings="h", machine="box")
    shown = full_size.show_full_size("03_flexda_prior_estimation", ["paired.a", "acc", "nope"],
                                     quick={"paired": {"a": {"mean": 0.04, "ci_low": float("nan")}}, "acc": 0.8},
                                     folder=folder)
    assert shown == {"paired.a": {"mean": 0.05, "ci_low": 0.01, "per_seed": [1, 2]}, "acc": 0.9}
    lines = capsys.readouterr().out.splitlines()
    assert "box" in lines[0] and "10 min" in lines[0] and "seed 0" in lines[0]
    table = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    # keys `row_label` does not know print as recorded; lists (per-seed values) are left out
    assert table == {"paired.a.mean": ["0.04", "0.05"], "paired.a.ci_low": ["-", "0.01"],
                     "acc": ["0.8", "0.9"]}


def test_full_size_table_prints_rates_in_percent_and_differences_in_points(tmp_path, capsys):
    folder = tmp_path / "full"
    results = {"prior_arms_paired": {"ece_flexda_minus_fixmatch": {"mean": -0.078, "ci_low": -0.105}},
               "kl_to_true_prior": {"uniform": 0.00985}, "probe_accuracy": {"simclr": {"few": 0.6077}}}
    full_runs.write_record(folder, "06_geometric_harmonization", results, device="cpu", seed=0,
                           wall_s=60.0, settings="h", machine="box")
    shown = full_size.show_full_size(
        "06_geometric_harmonization", list(results), folder=folder,
        quick={"probe_accuracy": {"simclr": {"few": 0.5}},
               "prior_arms_paired": {"ece_flexda_minus_fixmatch": {"mean": 0.012}}})
    assert shown == results  # the record's fractions, unconverted
    rows = [re.split(r"\s{2,}", line.strip()) for line in capsys.readouterr().out.splitlines()[2:]]
    assert sorted(rows) == sorted([  # the record's key order
        ["ECE, FlexDA − FixMatch, mean (points)", "+1.2", "-7.8"],  # signed points
        ["ECE, FlexDA − FixMatch, 95 % CI low (points)", "-", "-10.5"],
        ["KL to the true prior, uniform", "-", "0.00985"],  # no unit: as recorded
        ["probe accuracy, SimCLR, tail third (%)", "50.0", "60.8"],  # 06's frequency thirds
    ])


def test_row_label_names_groups_by_notebook_and_leaves_unknown_keys_raw():
    assert full_size.row_label("shot_accuracy.few", "00_tour") == ("few-group accuracy", "%")
    assert full_size.row_label("probe_accuracy.simclr_gh.many", "06_geometric_harmonization") \
        == ("probe accuracy, SimCLR + GH, head third", "%")
    assert full_size.row_label("balanced_accuracy_la_mixup") == ("balanced accuracy, LA + mixup", "%")
    assert full_size.row_label("sphere_toy_paired.tail_accuracy.ci_high") == (
        "sphere toy, GH − SimCLR, tail accuracy, 95 % CI high", "points")
    assert full_size.row_label("weight_norm_ratio.lda") == ("weight-norm ratio, LDA", None)
    assert full_size.row_label("balanced_accuracy_unknown_arm") == ("balanced_accuracy_unknown_arm", None)


def test_settings_hash_covers_the_other_parts_a_notebook_runs(monkeypatch):
    """Notebook 03 also runs the arms experiment: its settings are hashed too (under their
    old ``module:function`` key, so the committed record stays valid)."""
    from ltlab.experiments import flexda

    assert "ltlab.experiments.flexda_arms:settings" in full_size.full_settings(
        "03_flexda_prior_estimation")
    before = full_size.settings_hash("03_flexda_prior_estimation")
    original = flexda.settings
    monkeypatch.setattr(flexda, "settings", lambda quick=True: dataclasses.replace(
        original(quick), arms=dataclasses.replace(original(quick).arms, labeled_max=299)))
    assert full_size.settings_hash("03_flexda_prior_estimation") != before
