"""Full-size runs of the notebooks, recorded in the repository (``ltlab run --full``).

`run_full` executes each notebook with ``quick=False`` on a device and writes
``OUT/NN_topic.json`` with the recorded results and their provenance: machine, device, date,
commit, seed, wall time, CPU threads per kernel (``torch_threads``; records made before
it was written lack it) and the hash of the full-size settings
(`ltlab.experiments.full_size.settings_hash`), so a test can tell a stale record from a
current one. The device and the output folder are checked before the first kernel starts
(`resolve_device`, `ltlab.run_folder`), and the folder is locked for the run. Each record is
written atomically (a temporary file, then a rename); a failing notebook, or a record that
cannot be written, is reported with its reason and the others still run. `verify_records`
reads every committed record up front, so an unreadable one is named before any notebook
runs (not at the notebook's last cell).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._records import CODEC, _jsonable
from .experiments.full_size import DRIVERS, settings_hash
from .notebook_execution import describe_error, machine_name, run_threads
from .run_folder import FolderLock, ensure_writable, write_text_atomic
from .runner import run_notebook

__all__ = ["machine_name", "current_commit", "write_record", "run_full", "resolve_device",
           "verify_records"]


def current_commit(cwd: str | os.PathLike | None = None) -> str:
    """The checkout's commit (with ``+dirty`` when files differ), or ``"unknown"``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, check=True).stdout
        return sha + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_record(out_dir: str | os.PathLike, notebook: str, results: dict[str, Any], *,
                 device: str, seed: int, wall_s: float, settings: str,
                 machine: str | None = None, commit: str | None = None,
                 torch_threads: int | None = None) -> Path:
    """Write ``out_dir/notebook.json`` atomically and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "notebook": notebook,
        "machine": machine or machine_name(),
        "device": device,
        "date": _dt.date.today().isoformat(),
        "commit": commit or current_commit(out),
        "seed": int(seed),
        "wall_s": round(float(wall_s), 1),
        "settings_hash": settings,
        "torch_threads": torch_threads,
        "codec": CODEC,
        "results": _jsonable(results),
    }
    return write_text_atomic(out / f"{notebook}.json",
                             json.dumps(record, indent=1, sort_keys=True))


def resolve_device(device: str) -> str:
    """``device`` as the notebooks will resolve it (``auto``: cuda if available, else cpu);
    a ``ValueError`` naming it when torch cannot parse it or this machine lacks it."""
    import torch

    if not isinstance(device, str) or not device:
        raise ValueError(f"--device must be cpu, cuda, cuda:N, mps or auto (got {device!r}).")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise ValueError(
            f"--device {device!r} is not a device; use cpu, cuda, cuda:N, mps or auto.") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device!r}: CUDA is not available on this machine; use "
                         "--device cpu (or auto).")
    if kind == "cuda" and torch.device(device).index is not None and (
            torch.device(device).index >= torch.cuda.device_count()):
        raise ValueError(f"--device {device!r}: this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s).")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {device!r}: MPS is not available on this machine.")
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {device!r}: the notebooks run on cpu, cuda or mps.")
    return device


def verify_records(folder: str | os.PathLike | None) -> list[Path]:
    """Read every ``NN_topic.json`` record in ``folder``; a ``ValueError`` naming the first
    file that is not a readable record (truncated, or of another shape). Returns them."""
    if folder is None or not Path(folder).is_dir():
        return []
    paths = sorted(Path(folder).glob("[0-9][0-9]_*.json"))
    for path in paths:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ValueError(
                f"full-size record {str(path)!r} is unreadable ({err}); restore it (git "
                "checkout it) or remake it with `ltlab run --full --only "
                f"{path.stem[:2]}`.") from None
        if not isinstance(record, dict) or not isinstance(record.get("results"), dict):
            raise ValueError(
                f"full-size record {str(path)!r} is not a record (no 'results' object); "
                f"restore it or remake it with `ltlab run --full --only {path.stem[:2]}`.")
    return paths


def run_full(notebooks: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
             device: str = "auto", seed: int = 0, executed_dir: str | os.PathLike | None = None,
             timeout: float | None = None,
             threads: int | None = None) -> dict[str, dict[str, Any]]:
    """Execute each notebook at full size and record it; returns ``{name: results or
    {"error": ...}}``. ``threads``: CPU threads per kernel (default `run_threads`)."""
    from tqdm.auto import tqdm

    paths = [Path(p) for p in notebooks]
    unknown = [p.stem for p in paths if p.stem not in DRIVERS]
    if unknown:
        raise ValueError(f"no full-size settings for {unknown}; known notebooks: {sorted(DRIVERS)}")
    device = resolve_device(device)  # record the device that really ran, as notebooks resolve it
    threads = run_threads() if threads is None else threads
    out = ensure_writable(out_dir)
    executed = ensure_writable(executed_dir or out / "executed", "the executed copies' folder")
    outcome: dict[str, dict[str, Any]] = {}
    with FolderLock(out):
        for path in tqdm(paths, desc="full-size notebooks", unit="nb"):
            start = time.perf_counter()
            try:
                results = run_notebook(path, {"quick": False, "device": device, "seed": seed},
                                       executed / path.name, timeout=timeout, threads=threads)
            except Exception as err:  # one failed notebook must not lose the others' records
                outcome[path.stem] = {"error": describe_error(err)[:300]}
                tqdm.write(f"{path.name}: FAILED ({describe_error(err)[:300]})")
                continue
            wall = time.perf_counter() - start
            try:
                target = write_record(out, path.stem, results, device=device, seed=seed,
                                      wall_s=wall, settings=settings_hash(path.stem),
                                      torch_threads=threads)
            except OSError as err:  # the run is lost, say so; the other notebooks go on
                outcome[path.stem] = {"error": f"could not write its record: {err}"}
                tqdm.write(f"{path.name}: ran in {wall:.0f} s but its record could not be "
                           f"written ({err})")
                continue
            outcome[path.stem] = results
            tqdm.write(f"{path.name}: recorded in {wall:.0f} s -> {target}")
    return outcome
