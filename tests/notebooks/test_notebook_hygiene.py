"""Every notebook: stripped of outputs, driven by a parameters cell, lint-clean."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ltlab.runner import notebook_parameters

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_has_the_contract_knobs(path):
    params = notebook_parameters(path)
    assert params["quick"] is True and params["interactive"] is True
    assert params["seed"] == 0 and params["device"] == "auto"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"
    assert "widgets" not in nb.metadata
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_nbstripout_verify():
    exe = shutil.which("nbstripout") or str(Path(sys.executable).parent / "nbstripout")
    res = subprocess.run([exe, "--verify", *map(str, NOTEBOOKS)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_is_clean_on_library_tests_and_notebooks():
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(exe).exists() and not shutil.which("ruff"):
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    res = subprocess.run([exe, "check", "ltlab", "tests", "notebooks", "benchmarks"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
