"""The tour notebook, executed by papermill in quick mode (once at its defaults, once at the
imbalance ratio of Exercise 2), with its results checked."""

import math
from pathlib import Path

import nbformat
import pytest
import torch

from ltlab.experiments import tour
from ltlab.experiments.paper_vs_lab import verdict
from ltlab.experiments.protocol import failed_bands
from ltlab.priors import long_tailed_counts

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "notebooks"


def test_tour_records_the_head_tail_gap(executed):
    r = executed("00_tour")
    assert r["train_counts"] == long_tailed_counts(10, 400, 100).tolist()
    assert failed_bands(r, tour.BANDS) == []  # the bands of the notebook's Checks cell
    per_class = torch.tensor(r["per_class_accuracy"])
    assert abs(per_class.mean().item() - r["balanced_accuracy"]) < 1e-6


def _printed(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.get("output_type") == "stream")


def test_tour_runs_top_to_bottom_at_the_exercise_imbalance_ratio(executed):
    """Exercise 2 reruns the tour with imbalance_ratio = 10 (~12 s): with a head of 400 every
    class has at least 40 images, so the few group is empty. The notebook must say so
    instead of printing NaN, and skip its bands instead of failing."""
    r = executed("00_tour", imbalance_ratio=10)
    counts = long_tailed_counts(10, 400, 10).tolist()
    assert r["train_counts"] == counts and min(counts) >= 20
    assert math.isnan(r["shot_accuracy"]["few"])  # recorded as NaN, the metric's convention
    per_class = torch.tensor(r["per_class_accuracy"])
    assert abs(per_class.mean().item() - r["balanced_accuracy"]) < 1e-6
    printed = _printed(OUTPUT / "00_tour-imbalance_ratio=10.ipynb")
    assert "few    (fewer than 20 training images): no class in this group" in printed
    assert "many minus medium" in printed and "nan" not in printed.lower()
    assert "Checks skipped: imbalance_ratio = 10" in printed


def test_tour_shows_the_data_and_one_training_loop(executed):
    """The signals per class, the count bars, and the loop written out: one line per epoch
    whose training loss falls."""
    executed("00_tour")
    nb = nbformat.read(OUTPUT / "00_tour.ipynb", as_version=4)

    def cell(text):
        (found,) = [c for c in nb.cells if c.cell_type == "code" and text in c.source]
        return found

    loop = "".join(o.get("text", "") for o in cell("loss.backward()").outputs
                   if o.get("output_type") == "stream")
    lines = [line for line in loop.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == [f"epoch {e}" for e in range(1, 11)]
    losses = [float(line.split("training loss ")[1].split(",")[0]) for line in lines]
    assert losses[-1] < losses[0]
    for call in ("signals_figure(", "class_count_bars("):  # a figure each
        assert any("application/vnd.plotly.v1+json" in o.get("data", {})
                   for o in cell(call).outputs), call


def test_tour_compares_with_the_paper(executed):
    """"Paper vs this lab": the gap many − few with its interval over the test samples,
    recomputed here from the recorded per-class accuracies (100 test signals a class), and
    the verdict that interval gives."""
    r = executed("00_tour")
    gap = r["many_minus_few"]
    shots = r["shot_accuracy"]
    assert gap["groups"] == ["many", "few"]
    assert gap["mean"] == pytest.approx(shots["many"] - shots["few"], abs=1e-9)
    acc = torch.tensor(r["per_class_accuracy"], dtype=torch.float64)
    counts = torch.tensor(r["train_counts"])
    n = 100  # test signals per class (balanced)
    var = acc * (1 - acc) / (n - 1)  # s_c^2 / n_c with the unbiased s_c^2 of 0/1 outcomes
    many, few = counts > 100, counts < 20
    half = 1.959964 * math.sqrt(float(var[many].sum() / many.sum() ** 2
                                      + var[few].sum() / few.sum() ** 2))
    assert gap["ci_low"] == pytest.approx(gap["mean"] - half, abs=1e-9)
    assert gap["ci_high"] == pytest.approx(gap["mean"] + half, abs=1e-9)
    rows = r["paper_vs_lab"]
    claims = {c.claim: c for c in tour.CLAIMS}
    mine = [row for row in rows if row["run"] == "this run"]
    assert [row["claim"] for row in mine] == list(claims)
    assert mine[0]["lab"] == pytest.approx(100 * gap["mean"])
    assert mine[0]["ci_low"] == pytest.approx(100 * gap["ci_low"])
    for row in rows:
        assert row["verdict"] == verdict(row["ci_low"], row["ci_high"],
                                         claims[row["claim"]].direction)
    assert mine[0]["verdict"] == "agrees"  # the tail loses, as the paper reports
