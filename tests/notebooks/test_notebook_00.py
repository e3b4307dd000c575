"""The tour notebook, executed by papermill in quick mode (once at its defaults, once at the
imbalance ratio of Exercise 2), with its results checked."""

import math
from pathlib import Path

import nbformat
import torch

from ltlab.experiments import tour
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
