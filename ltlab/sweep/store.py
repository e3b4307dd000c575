"""Where a sweep keeps its runs and what it reports: one JSON record per finished run
(written last and atomically, so it marks the run done), the CSV table and the summary
figure.

>>> flatten_results({"accuracy": 0.5, "shot_accuracy": {"few": 0.1}, "curve": [1, 2]})
{'accuracy': 0.5, 'shot_accuracy.few': 0.1, 'curve': '[1, 2]'}
"""

from __future__ import annotations

import csv
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RecordError", "write_atomic", "save_run", "load_run", "flatten_results", "table_row", "write_csv",
           "write_figure"]


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_run(runs_dir: Path, name: str, record: dict[str, Any]) -> dict[str, Any]:
    """Store a finished run: its notebook first, then the record that marks it done."""
    record = dict(record)
    text = record.pop("notebook_text", None)
    record["notebook"] = None
    if text is not None:
        write_atomic(runs_dir / f"{name}.ipynb", text)
        record["notebook"] = f"{runs_dir.name}/{name}.ipynb"
    record["run"] = name
    write_atomic(runs_dir / f"{name}.json", json.dumps(record, indent=1, sort_keys=True))
    return record


class RecordError(ValueError):
    """A run's record file holds JSON that is not a run record (it names the file)."""


def load_run(runs_dir: Path, name: str) -> dict[str, Any] | None:
    """The record of a finished run, or None when there is none yet (or it was cut short:
    the run is then executed again). Valid JSON of another shape is a `RecordError` naming
    the file and what is wrong."""
    path = runs_dir / f"{name}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    problem = None
    if not isinstance(record, dict):
        problem = f"a JSON {type(record).__name__}, not an object"
    elif not isinstance(record.get("parameters"), dict):
        problem = "no 'parameters' object"
    elif not isinstance(record.get("results", {}), dict):
        problem = "'results' is not an object"
    elif "error" not in record:
        problem = "no 'error' field"
    if problem:
        raise RecordError(f"{path} is not a sweep run record ({problem}); it is ignored and "
                          "the run is executed again.")
    record.setdefault("run", name)
    return record


def flatten_results(results: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted columns (``shot_accuracy.few``); lists as JSON text."""
    flat: dict[str, Any] = {}
    for k, v in results.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            flat.update(flatten_results(v, key + "."))
        elif isinstance(v, (list, tuple)):
            flat[key] = json.dumps(v)
        else:
            flat[key] = v
    return flat


def table_row(record: Mapping[str, Any]) -> dict[str, Any]:
    row = {"run": record["run"], **record["parameters"]}
    row["status"] = "error" if record.get("error") else "ok"
    row["error"] = record.get("error") or ""
    row.update(flatten_results(record.get("results") or {}))
    row["seconds"] = record.get("seconds")
    row["attempts"] = record.get("attempts")
    row["notebook"] = record.get("notebook") or ""
    return row


def write_csv(path: Path, rows: list[dict[str, Any]], parameters: list[str]) -> None:
    head = ["run", *parameters, "status", "error"]
    tail = ["seconds", "attempts", "notebook"]
    middle: list[str] = []
    for r in rows:
        middle += [k for k in r if k not in head and k not in tail and k not in middle]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*head, *middle, *tail], restval="")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    os.replace(tmp, path)


def write_figure(path: Path, rows: list[dict[str, Any]], swept: list[str], title: str) -> Path:
    from ..viz.sweep import sweep_summary_figure

    fig = sweep_summary_figure(rows, swept, title=title)
    fig.write_html(str(path), include_plotlyjs="directory", full_html=True)
    return path
