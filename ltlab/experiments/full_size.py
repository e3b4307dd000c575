"""Full-size records: what each notebook shows at ``quick=False``, read from the repository.

A full-size run (``ltlab run --full --device DEVICE --out results/full``) writes one JSON
file per notebook, ``results/full/NN_topic.json``, holding the notebook's recorded results
and where they come from: machine, device, date, commit, seed, wall time and a hash of the
notebook's full-size settings (`settings_hash`). A notebook calls `show_full_size` beside
its quick-mode table, so a student on a laptop sees the paper-scale numbers without
running them, and a test checks that every record matches today's full-size settings.

>>> import json, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "00_tour.json").write_text(json.dumps({"machine": "laptop",
...     "date": "2026-12-01", "device": "cpu", "results": {"balanced_accuracy": 0.5}}))
>>> show_full_size("00_tour", ["balanced_accuracy"], folder=folder)
At full size (recorded on laptop, cpu, 2026-12-01): balanced_accuracy = 0.5
{'balanced_accuracy': 0.5}
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["DRIVERS", "full_settings", "settings_hash", "find_records_folder", "read_record",
           "show_full_size"]

#: notebook name -> the experiment module whose ``settings(quick=False)`` sizes it
DRIVERS = {
    "00_tour": "ltlab.experiments.tour",
    "01_logit_adjustment": "ltlab.experiments.logit_adjustment",
    "02_balpoe": "ltlab.experiments.balpoe",
    "03_flexda_prior_estimation": "ltlab.experiments.flexda",
    "04_calibration": "ltlab.experiments.calibration",
    "05_lda": "ltlab.experiments.lda",
    "06_geometric_harmonization": "ltlab.experiments.gh",
}


def _driver(notebook: str):
    if notebook not in DRIVERS:
        raise KeyError(f"unknown notebook {notebook!r}; expected one of {sorted(DRIVERS)}")
    return importlib.import_module(DRIVERS[notebook])


def full_settings(notebook: str) -> dict[str, Any]:
    """The notebook's full-size settings: its driver's ``settings(quick=False)``."""
    return _driver(notebook).settings(quick=False)


def settings_hash(notebook: str) -> str:
    """A short hash of the full-size settings; a record made with other settings is stale."""
    text = json.dumps(full_settings(notebook), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_records_folder(start: str | os.PathLike | None = None) -> Path | None:
    """``results/full`` of the checkout: ``$LTLAB_FULL_RESULTS`` if set, else the first
    ``results/full`` found from ``start`` (default: the working directory) upwards."""
    env = os.environ.get("LTLAB_FULL_RESULTS")
    if env:
        return Path(env)
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "results" / "full"
        if candidate.is_dir():
            return candidate
    return None


def read_record(notebook: str, folder: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The full-size record of ``notebook`` (a dict), or None when there is none."""
    folder = Path(folder) if folder is not None else find_records_folder()
    if folder is None or not (folder / f"{notebook}.json").exists():
        return None
    return json.loads((folder / f"{notebook}.json").read_text())


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_format(v)}" for k, v in value.items()) + "}"
    return str(value)


def show_full_size(notebook: str, keys: Iterable[str],
                   folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """Print the full-size values of ``keys`` with where they were recorded; return them.

    Without a record (a fresh install, or a notebook whose settings changed) it says how to
    make one instead of failing.
    """
    record = read_record(notebook, folder)
    if record is None:
        print(f"No full-size record for {notebook} here yet: "
              f"`ltlab run --full --device cuda --out results/full` makes one.")
        return {}
    results = record.get("results", {})
    values = {k: results[k] for k in keys if k in results}
    where = ", ".join(str(record[k]) for k in ("machine", "device", "date") if k in record)
    body = "; ".join(f"{k} = {_format(v)}" for k, v in values.items()) or "(no such keys)"
    print(f"At full size (recorded on {where}): {body}")
    return values
