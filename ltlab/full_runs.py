"""Full-size runs of the notebooks, recorded in the repository (``ltlab run --full``).

`run_full` executes each notebook with ``quick=False`` on a device and writes
``OUT/NN_topic.json`` with the recorded results and their provenance: machine, device, date,
commit, seed, wall time, and the hash of the full-size settings
(`ltlab.experiments.full_size.settings_hash`), so a test can tell a stale record from a
current one. Each record is written atomically (a temporary file, then a rename); a failing
notebook writes no record and the others still run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .experiments.full_size import DRIVERS, settings_hash
from .runner import _jsonable, run_notebook

__all__ = ["machine_name", "current_commit", "write_record", "run_full"]


def machine_name() -> str:
    """A short description of this machine: host, CPU model and core count."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()} ({cpu}, {os.cpu_count()} cores)"


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
                 machine: str | None = None, commit: str | None = None) -> Path:
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
        "results": _jsonable(results),
    }
    fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{notebook}.", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    target = out / f"{notebook}.json"
    os.replace(tmp, target)
    return target


def run_full(notebooks: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
             device: str = "auto", seed: int = 0, executed_dir: str | os.PathLike | None = None,
             timeout: float | None = None) -> dict[str, dict[str, Any]]:
    """Execute each notebook at full size and record it; returns ``{name: results or
    {"error": ...}}``."""
    from tqdm.auto import tqdm

    if device == "auto":  # record the device that really ran, as the notebooks resolve it
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    paths = [Path(p) for p in notebooks]
    unknown = [p.stem for p in paths if p.stem not in DRIVERS]
    if unknown:
        raise ValueError(f"no full-size settings for {unknown}; known notebooks: {sorted(DRIVERS)}")
    executed = Path(executed_dir or Path(out_dir) / "executed")
    executed.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, dict[str, Any]] = {}
    for path in tqdm(paths, desc="full-size notebooks", unit="nb"):
        start = time.perf_counter()
        try:
            results = run_notebook(path, {"quick": False, "device": device, "seed": seed},
                                   executed / path.name, timeout=timeout)
        except Exception as err:  # one failed notebook must not lose the others' records
            outcome[path.stem] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
            tqdm.write(f"{path.name}: FAILED ({type(err).__name__})")
            continue
        wall = time.perf_counter() - start
        write_record(out_dir, path.stem, results, device=device, seed=seed, wall_s=wall,
                     settings=settings_hash(path.stem))
        outcome[path.stem] = results
        tqdm.write(f"{path.name}: recorded in {wall:.0f} s")
    return outcome
