"""Peak memory of each notebook as on Binder: quick mode, the notebook's own defaults
(``interactive=True``), ``BINDER_REQUEST`` set (so `map_tasks` keeps every training in the
kernel), sampled every 0.1 s as the summed RSS of the kernel and all its descendants
(worker processes included). Summed RSS counts shared library pages once per process, so
with workers it is an upper bound; Binder's limit is 2 GB (the kernel restarts above it),
ltlab's target is 1.5 GB.

Run one notebook at a time on an otherwise quiet machine (the others' jobs do not change
memory, only time)::

    python benchmarks/binder_memory.py notebooks/03_flexda_prior_estimation.ipynb
    python benchmarks/binder_memory.py --no-binder notebooks/03_*.ipynb   # two workers

Results are merged into ``benchmarks/binder_memory.json`` (key: notebook, then
``binder`` / ``no-binder``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "binder_memory.json"
LIMIT_MB = 1536

_CHILD = """
import json, sys
import ltlab.runner as r
r.run_notebook(sys.argv[1], {"quick": True, "interactive": True}, sys.argv[2])
"""


def _tree_rss(root: psutil.Process) -> tuple[int, int]:
    """(summed RSS in bytes, number of processes) of ``root``'s kernel subtree: the
    papermill driver itself is not counted (on Binder the kernel is the server's child)."""
    total, count = 0, 0
    for proc in root.children(recursive=True):
        try:
            total += proc.memory_info().rss
            count += 1
        except psutil.Error:
            pass
    return total, count


def measure(notebook: Path, binder: bool) -> dict:
    env = dict(os.environ, TQDM_DISABLE="1")
    env.pop("LTLAB_WORKERS", None)
    if binder:
        env["BINDER_REQUEST"] = "v2/gh/owner/ltlab/HEAD"
    else:
        env.pop("BINDER_REQUEST", None)
        env.pop("BINDER_SERVICE_HOST", None)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / notebook.name
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(notebook), str(out)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        root = psutil.Process(proc.pid)
        peak, peak_procs, stop = 0, 0, threading.Event()

        def sample():
            nonlocal peak, peak_procs
            while not stop.is_set():
                rss, n = _tree_rss(root)
                if rss > peak:
                    peak, peak_procs = rss, n
                time.sleep(0.1)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        log, _ = proc.communicate()
        stop.set()
        thread.join()
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{notebook.name} failed:\n{log[-3000:]}")
    mb = peak / 2**20
    return {"peak_mb": round(mb), "processes_at_peak": peak_procs,
            "seconds": round(seconds, 1), "under_1.5GB": mb < LIMIT_MB,
            "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--no-binder", action="store_true",
                        help="measure without BINDER_REQUEST (the notebooks' own workers)")
    args = parser.parse_args(argv)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    key = "no-binder" if args.no_binder else "binder"
    worst = 0
    for nb in args.notebooks:
        res = measure(nb, binder=not args.no_binder)
        results.setdefault(nb.stem, {})[key] = res
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print(f"{nb.stem:32s} {key:9s} peak {res['peak_mb']:5d} MB "
              f"({res['processes_at_peak']} processes), {res['seconds']:.0f} s", flush=True)
        worst = max(worst, res["peak_mb"])
    return 0 if worst < LIMIT_MB or args.no_binder else 1


if __name__ == "__main__":
    sys.exit(main())
