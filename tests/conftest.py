"""Shared test fixtures.

`executed` runs a notebook once per test session (quick mode, ``interactive=False``) with
papermill and hands every test the same recorded results. CI executes each notebook at most
twice per run, once here and once in the browser (tests/e2e), so this one headless run also
checks the worked solutions: when ``instructor/<name>.ipynb`` exists, the run executes it
*interleaved* with its student copy (`ltlab.course.interleave`): every cell in order, each
solution cell (tagged ``ltlab-solution``) followed by its student version (``ltlab-student``).
The kernel leaves every exercise in the student's state, so every later cell runs and
records exactly as in ``notebooks/<name>.ipynb``, and every solution and its checker run
too. The executed student copy is written to ``test-output/notebooks/<name>.ipynb`` (the
notebook tests and the book read it), the executed instructor copy to
``test-output/notebooks/instructor/<name>.ipynb`` (tests/notebooks/test_notebook_solutions.py
reads both). `cifar_root` writes CIFAR-format files with random pixels once per session
(the data and recipe tests read them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("PLOTLY_RENDERER", "plotly_mimetype+notebook_connected")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
INSTRUCTOR = ROOT / "instructor"
OUTPUT = ROOT / "test-output"

_cache: dict[tuple, dict] = {}


def run_cached(name: str, **parameters) -> dict:
    """Execute ``notebooks/<name>.ipynb`` (once per session and parameter set), interleaved
    with its solutions when ``instructor/<name>.ipynb`` exists (see the module docstring)."""
    from ltlab.course.interleave import run_interleaved
    from ltlab.runner import run_notebook

    key = (name, tuple(sorted(parameters.items())))
    if key not in _cache:
        out = OUTPUT / "notebooks"
        out.mkdir(parents=True, exist_ok=True)
        suffix = "".join(f"-{k}={v}" for k, v in sorted(parameters.items()))
        target, params = out / f"{name}{suffix}.ipynb", {"quick": True, **parameters}
        if (INSTRUCTOR / f"{name}.ipynb").is_file():
            _cache[key] = run_interleaved(INSTRUCTOR / f"{name}.ipynb", params, target,
                                          out / "instructor" / target.name, cwd=NOTEBOOKS)
        else:
            _cache[key] = run_notebook(NOTEBOOKS / f"{name}.ipynb", params, target)
    return _cache[key]


@pytest.fixture(scope="session")
def executed():
    """``executed("00_tour", seed=1)`` -> recorded results of that notebook run."""
    return run_cached


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    """One folder with CIFAR-10 and CIFAR-100 files in the official format, random pixels
    (`ltlab.data.write_fake_cifar`). CIFAR-100's train split is full size (the FlexDA recipe
    draws from all of it), CIFAR-10's holds just what CIFAR-10-LT IR100 keeps; the test
    splits are tiny (1 and 5 per class: evaluating ResNet-32 on the CPU dominates otherwise)."""
    from ltlab.data import write_fake_cifar
    from ltlab.priors import long_tailed_counts

    root = tmp_path_factory.mktemp("cifar")
    write_fake_cifar(root, 100, long_tailed_counts(100, 500, 1).tolist(), test_per_class=1,
                     seed=1)
    write_fake_cifar(root, 10, long_tailed_counts(10, 5000, 100).tolist(), test_per_class=5,
                     seed=2)
    return root


def pytest_collection_modifyitems(config, items):
    """``gpu`` tests need CUDA; ``full`` (full-size) tests run on CUDA, or on the device named
    by ``LTLAB_FULL_DEVICE`` (``LTLAB_FULL_DEVICE=cpu pytest -m full``); both skip otherwise."""
    import torch

    cuda = torch.cuda.is_available()
    full = bool(os.environ.get("LTLAB_FULL_DEVICE")) or cuda
    skip_gpu = pytest.mark.skip(reason="needs CUDA (run on a GPU machine: pytest -m gpu)")
    skip_full = pytest.mark.skip(reason="full-size run: on a GPU machine, or ask for it with "
                                        "LTLAB_FULL_DEVICE=cpu pytest -m full")
    for item in items:
        if item.get_closest_marker("gpu") and not cuda:
            item.add_marker(skip_gpu)
        if item.get_closest_marker("full") and not full:
            item.add_marker(skip_full)


@pytest.fixture(scope="session")
def fake_zoo():
    """A notebook-04 zoo of random logits (no training): head-biased and sharpened for some
    models; shared by the experiment and presentation tests."""
    import torch

    from ltlab.data import LTData
    from ltlab.experiments.calibration import MODEL_NAMES, ModelZoo, split_balanced

    g = torch.Generator().manual_seed(0)
    counts = torch.tensor([400, 200, 90, 40, 20, 10, 4])
    c = counts.numel()
    y_test = torch.arange(c).repeat_interleave(40)
    n = int(counts.sum())
    data = LTData(torch.zeros(n, 3), torch.zeros(n, dtype=torch.long),
                  torch.zeros(len(y_test), 3), y_test, counts, [str(i) for i in range(c)])
    val, test = split_balanced(y_test, 0.5, seed=0)
    logits = {}
    for k, name in enumerate(MODEL_NAMES):
        z = torch.randn(len(y_test), c, generator=g) + 3 * torch.nn.functional.one_hot(y_test, c)
        z = z + (2 - k / 2) * torch.log(counts / counts.sum())  # head bias fading along the list
        logits[name] = {"val": z[val] * (3 - k / 2), "test": z[test] * (3 - k / 2)}
    return ModelZoo(data, val, test, logits)
