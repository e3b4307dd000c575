"""Full-size runs of every notebook (``quick=False``), on any device, and the committed records.

Two kinds of test share one set of bands (`FULL_SIZE_BANDS`: the paper-shaped claims each
notebook must show at full size):

- ``full`` tests execute every notebook at full size through papermill and check the bands.
  A second test runs each notebook under nbval as a student would (widgets on).
  They run where CUDA exists (``device="cuda"``) or when asked for on another device,
  and never in CI by default::

      pytest -m full tests/full                          # on a CUDA machine
      LTLAB_FULL_DEVICE=cpu pytest -m full tests/full    # on the CPU (about 2 hours)

  Executed notebooks land in ``test-output/full/``; ``LTLAB_FULL_TIMEOUT`` (seconds, default
  3600) bounds each cell.
- the record tests (in CI, cheap) read the committed ``results/full/NN_topic.json`` written by
  ``ltlab run --full --device DEVICE --out results/full`` and check that each record was made
  with today's full-size settings (the hash stored with it) and passes the same bands.
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RECORDS = ROOT / "results" / "full"
OUTPUT = ROOT / "test-output" / "full"
CELL_TIMEOUT = float(os.environ.get("LTLAB_FULL_TIMEOUT", "3600"))


def full_device() -> str | None:
    """The device the ``full`` tests run on: ``$LTLAB_FULL_DEVICE``, else CUDA if present."""
    import torch

    return os.environ.get("LTLAB_FULL_DEVICE") or ("cuda" if torch.cuda.is_available() else None)


def _finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _driver_full_bands(notebook: str):
    """The check of a driver's `FULL_BANDS` (declared once, beside its `BANDS`)."""
    from ltlab.experiments.full_size import DRIVERS
    from ltlab.experiments.protocol import failed_bands

    def check(r: dict) -> None:
        bands = importlib.import_module(DRIVERS[notebook]).FULL_BANDS
        problems = failed_bands(r, bands)
        assert not problems, "\n".join(problems)

    return check


_bands_00 = _driver_full_bands("00_tour")
_bands_01 = _driver_full_bands("01_logit_adjustment")
_bands_02 = _driver_full_bands("02_balpoe")


_bands_03 = _driver_full_bands("03_flexda_prior_estimation")


_bands_04 = _driver_full_bands("04_calibration")


_bands_05 = _driver_full_bands("05_lda")
_bands_06 = _driver_full_bands("06_geometric_harmonization")
_bands_07 = _driver_full_bands("07_flexda_on_mnist1d")
_bands_08 = _driver_full_bands("08_gh_on_mnist1d")


FULL_SIZE_BANDS = {
    "00_tour": _bands_00,
    "01_logit_adjustment": _bands_01,
    "02_balpoe": _bands_02,
    "03_flexda_prior_estimation": _bands_03,
    "04_calibration": _bands_04,
    "05_lda": _bands_05,
    "06_geometric_harmonization": _bands_06,
    "07_flexda_on_mnist1d": _bands_07,
    "08_gh_on_mnist1d": _bands_08,
}


def _params_for(path: Path, params: dict) -> dict:
    from ltlab.runner import notebook_parameters

    known = notebook_parameters(path)
    return {k: v for k, v in params.items() if k in known}


@pytest.mark.full
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_at_full_size(path: Path):
    from ltlab.runner import run_notebook

    OUTPUT.mkdir(parents=True, exist_ok=True)
    params = {"quick": False, "device": full_device(), "seed": 0}
    results = run_notebook(path, _params_for(path, params), OUTPUT / path.name,
                           timeout=CELL_TIMEOUT)
    assert results, f"{path.name} recorded nothing"
    FULL_SIZE_BANDS[path.stem](results)


@pytest.mark.full
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_at_full_size_under_nbval(path: Path):
    """nbval runs the notebook as a student would (widgets on) with the full-size
    parameters injected after its ``parameters`` cell, as papermill would inject them."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    folder = OUTPUT / "nbval"
    folder.mkdir(parents=True, exist_ok=True)
    nb = load_notebook_node(str(path))  # papermill's reader fills in the cells' tag lists
    nb = parameterize_notebook(nb, _params_for(path, {"quick": False, "device": full_device(), "seed": 0,
                                       "interactive": True}))
    copy = folder / path.name
    nbformat.write(nb, str(copy))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", f"--nbval-cell-timeout={int(CELL_TIMEOUT)}",
         "-o", "addopts=", str(copy)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


RECORDED = sorted(RECORDS.glob("[0-9][0-9]_*.json")) if RECORDS.is_dir() else []


@pytest.mark.parametrize("record", RECORDED, ids=[p.stem for p in RECORDED])
def test_committed_record_is_current_and_passes_its_bands(record: Path):
    from ltlab.experiments.full_size import read_record, settings_hash

    data = read_record(record.stem, record.parent)  # "nan" strings read back as floats
    assert data["settings_hash"] == settings_hash(record.stem), (
        f"{record.name} was made with other full-size settings: rerun "
        "`ltlab run --full --device DEVICE --out results/full` for this notebook")
    for key in ("machine", "device", "date", "commit", "seed", "wall_s"):
        assert key in data, f"{record.name} lacks {key!r}"
    FULL_SIZE_BANDS[record.stem](data["results"])


def test_every_notebook_has_bands():
    assert sorted(FULL_SIZE_BANDS) == [p.stem for p in NOTEBOOKS]


def test_every_notebook_has_a_full_size_record_and_shows_it():
    """Issue 18: each notebook has a committed record (current by the test above) and prints
    it beside its quick-mode numbers with `show_full_size`."""
    missing = [p.stem for p in NOTEBOOKS if not (RECORDS / f"{p.stem}.json").exists()]
    assert not missing, ("no full-size record for " + ", ".join(missing) + ": run `ltlab run "
                         "--full --device DEVICE --out results/full --only ...`")
    import nbformat

    for path in NOTEBOOKS:
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                         if c.cell_type == "code")
        assert f'show_full_size("{path.stem}"' in code, \
            f"{path.name} does not show its full-size record"


def test_readme_states_the_recorded_full_size_times():
    """README's table of full-size times is `records_table()` of the committed records
    (``python -m ltlab.experiments.full_size`` prints it), never typed by hand."""
    from ltlab.experiments.full_size import records_table

    assert records_table(RECORDS) in (ROOT / "README.md").read_text(), \
        "README's full-size table is stale: paste `python -m ltlab.experiments.full_size`"
