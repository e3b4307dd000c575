"""README's quick-mode times are generated from a measured ``ltlab run``: the run folder
records each notebook's wall seconds (`ltlab.runner.run_all`), ``tools/quick_times.py``
copies them into ``results/quick_times.json`` and README's notebook table, and README agrees
with the committed file."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ltlab.runner import RUN_TIMES, run_all

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ltlab_tools_quick_times",
                                               ROOT / "tools" / "quick_times.py")
quick_times = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = quick_times
_spec.loader.exec_module(quick_times)

NOTEBOOKS = sorted(quick_times.readme_rows((ROOT / "README.md").read_text()))


def _fake_run(folder: Path, seconds: dict[str, float], **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    times = {"machine": "box (Some CPU, 2 cores)", "cpu_count": 2, "threads": 2,
             "date": "2026-12-07", "quick": True, "seed": 0, "load_average_before": 0.1,
             "load_average_after": 1.9,
             "notebooks": {n: {"seconds": s, "status": "ok"} for n, s in seconds.items()},
             "total_seconds": round(sum(seconds.values()), 1), **extra}
    (folder / RUN_TIMES).write_text(json.dumps(times))
    return folder


def _checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copyfile(ROOT / "README.md", root / "README.md")
    return root


def test_readme_table_lists_every_notebook():
    assert NOTEBOOKS == sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_record_writes_the_runs_times_into_readme_and_the_committed_file(tmp_path):
    root = _checkout(tmp_path)
    seconds = {n: 20.0 + 7.26 * i for i, n in enumerate(NOTEBOOKS)}
    run = _fake_run(tmp_path / "runs", seconds)
    before = (root / "README.md").read_text()
    changed = quick_times.record(run, root)
    assert changed == [root / "results" / "quick_times.json", root / "README.md"]
    q = json.loads((root / "results" / "quick_times.json").read_text())
    assert q["notebooks"] == seconds and q["threads"] == 2 and q["date"] == "2026-12-07"
    assert q["total_seconds"] == pytest.approx(sum(seconds.values()), abs=0.05)
    text = (root / "README.md").read_text()
    assert quick_times.readme_rows(text) == {n: f"~{round(s)} s" for n, s in seconds.items()}
    total = round(sum(seconds.values()))
    assert f"{total // 60} min {total % 60} s for all {len(NOTEBOOKS)} notebooks" in text
    # the core notebooks' total leaves the optional ones out, and names them
    optional = quick_times.optional_notebooks(text)
    assert q["optional"] == optional and optional  # README marks some notebooks optional
    core = round(sum(s for n, s in seconds.items() if n not in optional))
    assert (f"{core // 60} min {core % 60} s for the {len(NOTEBOOKS) - len(optional)} core ones "
            f"(all but the optional {', '.join(n[:2] for n in optional)})") in text
    assert "box (Some CPU, 2 cores), 2 CPU thread(s) per kernel, 2026-12-07" in text
    # only the time column and the Times paragraph changed

    def rest(readme: str) -> list[str]:
        return [line.rsplit("|", 2)[0] if line.startswith("| 0") else line
                for line in quick_times._TIMES.sub("", readme).splitlines()]

    assert rest(text) == rest(before)
    assert quick_times.check(root) == []
    assert quick_times.record(run, root) == []  # idempotent
    # a README edited by hand is caught, by notebook
    name = NOTEBOOKS[3]
    (root / "README.md").write_text(text.replace(f"~{round(seconds[name])} s |", "~25 s |"))
    assert quick_times.check(root) == [
        f"README says '~25 s' for {name}, results/quick_times.json '~{round(seconds[name])} s'"]


def test_record_refuses_an_incomplete_or_failed_run(tmp_path, capsys):
    root = _checkout(tmp_path)
    with pytest.raises(FileNotFoundError, match="ltlab run"):
        quick_times.record(tmp_path / "nothing", root)
    seconds = {n: 30.0 for n in NOTEBOOKS}
    partial = _fake_run(tmp_path / "partial", {n: 30.0 for n in NOTEBOOKS[:-1]})
    with pytest.raises(ValueError, match=f"no time for {NOTEBOOKS[-1]}.*no --only"):
        quick_times.record(partial, root)
    failed = _fake_run(tmp_path / "failed", seconds)
    times = json.loads((failed / RUN_TIMES).read_text())
    times["notebooks"][NOTEBOOKS[2]]["status"] = "failed"
    (failed / RUN_TIMES).write_text(json.dumps(times))
    with pytest.raises(ValueError, match=f"{NOTEBOOKS[2]} failed"):
        quick_times.record(failed, root)
    full = _fake_run(tmp_path / "full", seconds, quick=False)
    with pytest.raises(ValueError, match="not a quick-mode run"):
        quick_times.record(full, root)
    assert not (root / "results").exists()  # nothing written
    busy = _fake_run(tmp_path / "busy", seconds, load_average_before=3.5)
    assert quick_times.main(["record", str(busy), "--root", str(root)]) == 0
    assert "load average was 3.5 on 2 cores" in capsys.readouterr().err
    assert quick_times.main(["check", "--root", str(root)]) == 0


def test_run_all_records_each_notebooks_wall_time(tmp_path):
    """``ltlab run``'s output folder holds run_times.json (a one-cell notebook, one kernel)."""
    nb = new_notebook(cells=[new_code_cell("quick = True\nseed = 0",
                                           metadata={"tags": ["parameters"]}),
                             new_code_cell("import time\ntime.sleep(1.0)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "09_sleep.ipynb")
    run_all(tmp_path / "nbs", tmp_path / "out", threads=1)
    times = json.loads((tmp_path / "out" / RUN_TIMES).read_text())
    assert times["quick"] is True and times["threads"] == 1 and times["seed"] == 0
    assert times["notebooks"]["09_sleep"]["status"] == "ok"
    assert times["notebooks"]["09_sleep"]["seconds"] >= 1.0  # the sleep, plus the kernel
    assert times["total_seconds"] == times["notebooks"]["09_sleep"]["seconds"]
    assert "cores" in times["machine"] and len(times["date"]) == 10
    assert quick_times.load_run(tmp_path / "out", ["09_sleep"]) == times


def test_readme_shows_the_committed_quick_times():
    """README's "quick mode" column and its "Times:" paragraph are the committed run's
    (``python tools/quick_times.py record runs`` after ``ltlab run`` on an idle machine)."""
    problems = quick_times.check(ROOT)
    assert not problems, "\n".join(problems)
