"""Sweeps (`ltlab.sweep`, `ltlab sweep`): grid, validation, resume, failures, retries, Dask.

The mechanics run on a tiny purpose-built notebook (about a second per run), so the file
costs well under a minute of CI; a sweep of a real notebook is the same code path. Every
execution of the tiny notebook appends its parameters to a log file (the kernel inherits
``LTLAB_SWEEP_TEST_LOG``), which is how the tests count what actually ran.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ltlab import notebook_execution, runner
from ltlab.cli import main
from ltlab.sweep import (
    expand_grid,
    is_kernel_start_failure,
    parse_cli_value,
    run_name,
    sweep,
)

LOG_VAR = "LTLAB_SWEEP_TEST_LOG"


def make_notebook(folder: Path, delay: float = 0.0) -> Path:
    """A notebook with typed parameters that logs each execution and records two results;
    it raises when ``a == fail_on``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell(
        'a = 1\nb = "x"\nscale = 1.0\nquick = True\nseed = 0\ninteractive = True\nfail_on = -1')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# tiny sweep target"),
        params,
        nbformat.v4.new_code_cell(
            "import os, time\n"
            "from ltlab.runner import record\n"
            f"log = os.environ.get({LOG_VAR!r})\n"
            "if log:\n"
            "    with open(log, 'a') as f:\n"
            "        f.write(f'{a},{b},{seed}\\n')\n"
            f"time.sleep({delay})\n"
            "assert a != fail_on, f'a is {a}: failing on purpose'\n"
            "record('score', a * scale * 10 + seed)\n"
            "record('shots', {'many': a, 'few': -a})\n"
            "record('interactive', interactive)"),
    ]
    path = folder / "tiny.ipynb"
    nbformat.write(nb, str(path))
    return path


def logged(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    log = tmp_path / "executions.log"
    monkeypatch.setenv(LOG_VAR, str(log))
    return make_notebook(tmp_path), log


# ----------------------------------------------------------------------------- no kernels
def test_expand_grid_product_order_and_scalars():
    points = expand_grid({"a": [1, 2], "b": ("x", "y", "z"), "quick": True})
    assert len(points) == 6
    assert points[0] == {"a": 1, "b": "x", "quick": True}
    assert points[1] == {"a": 1, "b": "y", "quick": True}  # the first name varies slowest
    assert points[-1] == {"a": 2, "b": "z", "quick": True}
    assert expand_grid([{"a": 1}, {"a": 2, "b": "y"}]) == [{"a": 1}, {"a": 2, "b": "y"}]
    assert expand_grid({}) == [{}]  # one run with the notebook's defaults


@pytest.mark.parametrize("grid, match", [
    ({"a": []}, "'a' has no values"),
    ({"a": [1, 1]}, "repeats the value 1"),
    ([{"a": 1}, {"a": 1}], "repeats run 0"),
    ({"a": [object()]}, "JSON values"),
    ("a=1", "mapping"),
    ([], "empty"),
])
def test_expand_grid_rejects(grid, match):
    with pytest.raises(ValueError, match=match):
        expand_grid(grid)


def test_run_names_unique_and_stable():
    names = {run_name("nb", p) for p in expand_grid({"a": [1, 2, 1.0], "b": ["a/b", "a_b"]})}
    assert len(names) == 6  # 1 vs 1.0 and 'a/b' vs 'a_b' look alike but differ
    assert run_name("nb", {"a": 1, "b": 2}) == run_name("nb", {"b": 2, "a": 1})
    assert run_name("nb", {"a": 1}) != run_name("other", {"a": 1})
    assert all("/" not in n for n in names)


def test_parse_cli_value_follows_default_type():
    assert parse_cli_value("3", 1) == 3 and isinstance(parse_cli_value("3", 1.0), float)
    assert parse_cli_value("False", True) is False and parse_cli_value("1", False) is True
    assert parse_cli_value("01", "x") == "01"  # strings stay as typed
    assert parse_cli_value("[1, 2]", None) == [1, 2]
    with pytest.raises(ValueError, match="not an integer"):
        parse_cli_value("0.5", 1)
    with pytest.raises(ValueError, match="not a boolean"):
        parse_cli_value("maybe", True)


def test_kernel_start_failures_are_told_apart():
    import zmq
    from papermill.exceptions import PapermillExecutionError

    assert is_kernel_start_failure(zmq.ZMQError(98, "Address already in use"))
    assert is_kernel_start_failure(RuntimeError("Kernel didn't respond in 60 seconds"))
    assert is_kernel_start_failure(RuntimeError("Kernel died before replying to kernel_info"))
    cell = PapermillExecutionError(3, 2, "x", "RuntimeError", "Kernel didn't respond", [])
    assert not is_kernel_start_failure(cell)  # the notebook's own error: never retried
    assert not is_kernel_start_failure(ValueError("bad tau"))


@pytest.mark.parametrize("grid, error, match", [
    ({"a": [1, 2], "tua": [0.5]}, ValueError, r"unknown parameter\(s\) \['tua'\]"),
    ({"a": [1, "2"]}, TypeError, "'a' of tiny.ipynb expects int"),
    ({"scale": [1.0, True]}, TypeError, "expects float"),
    ({"quick": [1]}, TypeError, "expects bool"),
    ({"a": [1, 2.5]}, TypeError, r"'a' of tiny.ipynb expects int .*declare the parameter a float"),
])
def test_bad_parameters_rejected_before_anything_runs(tiny, tmp_path, grid, error, match):
    path, log = tiny
    out = tmp_path / "sweep"
    with pytest.raises(error, match=match):
        sweep(path, grid, out=out, progress=False)
    assert not out.exists() and not logged(log)


@pytest.mark.parametrize("kwargs, match", [
    ({"workers": 0}, "workers must be a positive integer"),
    ({"retries": -1}, "retries must be"),
    ({"executor": "threads"}, "executor must be"),
])
def test_bad_arguments(tiny, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sweep(tiny[0], {"a": [1]}, out=tmp_path / "s", progress=False, **kwargs)


def test_retry_on_kernel_start_failure_only(tiny, tmp_path, monkeypatch):
    """A kernel that will not start is retried; an error in the notebook is not."""
    import zmq

    calls: list[dict] = []

    def flaky(path, parameters, output_path=None, timeout=None, **kw):
        calls.append(dict(parameters))
        if parameters["a"] == 1 and sum(c["a"] == 1 for c in calls) == 1:
            raise zmq.ZMQError(98, "Address already in use")
        if parameters["a"] == 2:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        if parameters["a"] == 3:
            raise ValueError("the notebook's own bug")
        return {"score": parameters["a"]}

    monkeypatch.setattr(notebook_execution, "run_notebook", flaky)
    res = sweep(tiny[0], {"a": [1, 2, 3]}, out=tmp_path / "s", retries=2, retry_delay=0.01,
                progress=False)
    by_a = {r["a"]: r for r in res}
    assert by_a[1]["status"] == "ok" and by_a[1]["attempts"] == 2 and by_a[1]["score"] == 1
    assert by_a[2]["status"] == "error" and by_a[2]["attempts"] == 3
    assert "Kernel didn't respond" in by_a[2]["error"]
    assert by_a[3]["attempts"] == 1 and by_a[3]["error"] == "ValueError: the notebook's own bug"
    # next call: the kernel-start failure is tried again, the notebook error is not
    calls.clear()
    res2 = sweep(tiny[0], {"a": [1, 2, 3]}, out=tmp_path / "s", retries=0, progress=False)
    assert [c["a"] for c in calls] == [2]
    assert res2.ran == [run_name("tiny", {"a": 2})]
    calls.clear()
    sweep(tiny[0], {"a": [1, 2, 3]}, out=tmp_path / "s", retries=0, retry_failed=True,
          progress=False)
    assert sorted(c["a"] for c in calls) == [2, 3]


def test_at_most_workers_in_flight(tiny, tmp_path, monkeypatch):
    """Even with a bigger executor, no more than ``workers`` runs are in flight."""
    import threading

    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow(path, parameters, output_path=None, timeout=None, **kw):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return {"score": parameters["a"]}

    monkeypatch.setattr(notebook_execution, "run_notebook", slow)
    with cf.ThreadPoolExecutor(max_workers=8) as ex:
        res = sweep(tiny[0], {"a": list(range(10))}, workers=3, executor=ex,
                    out=tmp_path / "s", progress=False)
    assert len(res) == 10 and not res.failed
    assert state["peak"] == 3


# ----------------------------------------------------------------------------- real kernels
def test_sweep_table_figure_failures_and_resume(tiny, tmp_path):
    """2x2 grid through papermill: CSV, figure, a failed run as a row, second call runs
    nothing."""
    path, log = tiny
    out = tmp_path / "sweep"
    grid = {"a": [1, 2], "b": ["x", "y"], "fail_on": 2}
    res = sweep(path, grid, workers=2, out=out, progress=False)

    assert len(res) == 4 and len(res.ran) == 4 and not res.reused
    assert sorted(logged(log)) == ["1,x,0", "1,y,0", "2,x,0", "2,y,0"]
    assert [(r["a"], r["b"]) for r in res] == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    ok = [r for r in res if r["status"] == "ok"]
    assert [r["score"] for r in ok] == [10.0, 10.0]
    assert all(r["shots.many"] == 1 and r["shots.few"] == -1 for r in ok)
    assert all(r["interactive"] is False for r in ok)  # papermill runs are static
    bad = [r for r in res if r["status"] == "error"]
    assert len(bad) == 2 and res.failed == [r["run"] for r in bad]
    assert all("AssertionError: a is 2: failing on purpose" in r["error"] for r in bad)

    # unique executed notebooks, each with its own injected parameters and results
    notebooks = sorted((out / "runs").glob("*.ipynb"))
    assert len(notebooks) == 4
    for r in ok:
        nb = out / r["notebook"]
        assert runner.read_results(nb)["score"] == r["score"]
        assert nbformat.read(str(nb), as_version=4).metadata.papermill.parameters["b"] == r["b"]

    with open(res.csv, newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4
    assert list(table[0])[:6] == ["run", "a", "b", "fail_on", "status", "error"]
    assert {"score", "shots.many", "shots.few", "seconds", "notebook"} <= set(table[0])
    assert [t["status"] for t in table] == ["ok", "ok", "error", "error"]

    html = res.figure.read_text()
    assert "plotly.min.js" in html and (out / "plotly.min.js").exists()
    assert '"name":"b=x"' in html.replace(" ", "") and "score" in html

    res2 = sweep(path, grid, workers=2, out=out, progress=False)
    assert res2.ran == [] and len(res2.reused) == 4
    assert len(logged(log)) == 4  # nothing executed the second time
    assert [dict(r, seconds=None) for r in res2] == [dict(r, seconds=None) for r in res]

    # a bigger grid over the same folder runs only the new points
    res3 = sweep(path, {**grid, "a": [1, 2, 3]}, workers=2, out=out, progress=False)
    assert len(res3) == 6 and len(res3.ran) == 2 and len(res3.reused) == 4
    assert sorted(logged(log)[4:]) == ["3,x,0", "3,y,0"]


@pytest.mark.slow  # two `ltlab sweep` processes, eight notebook runs of a second each
def test_killed_sweep_resumes_only_missing_runs(tiny, tmp_path):
    """Kill the ``ltlab sweep`` process midway; the rerun completes only the missing runs."""
    _, log = tiny
    path = make_notebook(tmp_path, delay=1.0)
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "ltlab.cli", "sweep", str(path), "-p", "a", "1", "2",
           "-p", "b", "x", "y", "--workers", "2", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while not list((out / "runs").glob("*.json")):
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "the sweep finished no run in 180 s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group at once: nothing gets to clean up
    proc.wait()
    records = {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}
    done_before = {(r["parameters"]["a"], r["parameters"]["b"]) for r in records.values()}
    started_before = len(logged(log))
    assert 1 <= len(done_before) < 4, "kill the sweep midway"

    import tempfile

    # the runs in flight when it was killed left their folders (SIGKILL: no cleanup)
    left = list(Path(tempfile.gettempdir()).glob(f"ltlab-sweep-{proc.pid}-*"))
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not any(p.exists() for p in left)  # removed: their process is gone
    n = len(done_before)
    assert f"4 runs: {4 - n} executed now, {n} reused, 0 failed" in rerun.stdout
    second = {(int(line.split(",")[0]), line.split(",")[1])
              for line in logged(log)[started_before:]}
    assert len(logged(log)) - started_before == 4 - n  # each missing run exactly once
    assert second == {(1, "x"), (1, "y"), (2, "x"), (2, "y")} - done_before
    for name, rec in records.items():  # the finished runs were not touched
        assert json.loads((out / "runs" / f"{name}.json").read_text()) == rec
    with open(out / "sweep.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and {t["status"] for t in table} == {"ok"}


def test_cli_rejects_unknown_parameter(tiny, tmp_path, capsys):
    code = main(["sweep", str(tiny[0]), "-p", "tua", "1", "2", "--out",
                        str(tmp_path / "s")])
    assert code == 2
    assert "unknown parameter(s) ['tua']" in capsys.readouterr().err
    code = main(["sweep", str(tiny[0]), "-p", "a", "1", "x", "--out", str(tmp_path / "s")])
    assert code == 2
    assert "'x' is not an integer" in capsys.readouterr().err
    assert not (tmp_path / "s").exists() and not logged(tiny[1])


@pytest.mark.slow  # starts a local Dask cluster of two worker processes
def test_sweep_on_dask_local_cluster(tiny, tmp_path):
    """A Dask distributed client's executor spreads the runs; nothing changes in ltlab."""
    distributed = pytest.importorskip("distributed")
    path, log = tiny
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        res = sweep(path, {"a": [1, 2], "seed": [0, 1]}, workers=2,
                    executor=client.get_executor(), out=tmp_path / "dask", progress=False)
        workers = set(client.run(os.getpid).values())
    assert not res.failed
    assert sorted(r["score"] for r in res) == [10.0, 11.0, 20.0, 21.0]
    assert sorted(logged(log)) == ["1,x,0", "1,x,1", "2,x,0", "2,x,1"]
    records = [json.loads(p.read_text()) for p in (tmp_path / "dask" / "runs").glob("*.json")]
    assert len(records) == 4 and all(r["notebook"] for r in records)
    assert {r["pid"] for r in records} <= workers and os.getpid() not in workers


# ----------------------------------------------------------------------------- faults
def _fake_run(path, parameters, output_path=None, timeout=None, **kw):
    return {"score": parameters["a"] * 10}


def test_a_record_of_the_wrong_shape_is_named_and_the_others_are_kept(tiny, tmp_path,
                                                                      monkeypatch, capsys):
    """Valid JSON that is no run record: a message naming the file, that run again, the
    other runs reused and the CSV written (it used to end the sweep with a KeyError)."""
    monkeypatch.setattr(notebook_execution, "run_notebook", _fake_run)
    out = tmp_path / "s"
    first = sweep(tiny[0], {"a": [1, 2, 3]}, out=out, progress=False)
    broken = out / "runs" / f"{first[1]['run']}.json"
    broken.write_text(json.dumps(["not", "a", "record"]))
    calls = []
    monkeypatch.setattr(notebook_execution, "run_notebook",
                        lambda path, parameters, *a, **k: calls.append(parameters) or
                        _fake_run(path, parameters))
    again = sweep(tiny[0], {"a": [1, 2, 3]}, out=out, progress=False)
    err = capsys.readouterr().err
    assert str(broken) in err and "not a sweep run record" in err
    assert calls == [{"a": 2}] and len(again.reused) == 2
    assert [r["score"] for r in again] == [10, 20, 30] and again.csv.is_file()
    assert json.loads(broken.read_text())["parameters"] == {"a": 2}  # rewritten


def test_integral_float_for_an_int_parameter_is_passed_as_an_int(tiny, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(notebook_execution, "run_notebook",
                        lambda path, parameters, *a, **k: seen.append(parameters) or {})
    sweep(tiny[0], {"a": [2.0]}, out=tmp_path / "s", progress=False)
    assert seen == [{"a": 2}] and type(seen[0]["a"]) is int


def test_records_state_the_thread_count(tiny, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(notebook_execution, "run_notebook",
                        lambda path, parameters, out, timeout=None, threads=None:
                        seen.append(threads) or {})
    sweep(tiny[0], {"a": [1]}, out=tmp_path / "s", progress=False, threads=3)
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "s" / "runs").glob("*.json")]
    assert seen == [3] and record["torch_threads"] == 3
    monkeypatch.setenv("LTLAB_THREADS", "1")
    sweep(tiny[0], {"a": [2]}, out=tmp_path / "s", progress=False)
    assert seen == [3, 1]
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        sweep(tiny[0], {"a": [1]}, out=tmp_path / "s", progress=False, threads=0)


def test_run_folders_are_removed_and_stale_ones_cleaned(tiny, tmp_path, monkeypatch):
    """Each run's ``ltlab-sweep-<pid>-*`` folder goes when the run ends; one left by a
    killed sweep (its process gone) is removed at the next start; a live one is kept."""
    import tempfile

    from ltlab.sweep import execute

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f"{execute.RUN_FOLDER_PREFIX}{dead}-abc"
    live = tmp_path / f"{execute.RUN_FOLDER_PREFIX}{os.getpid()}-xyz"
    stale.mkdir()
    live.mkdir()
    (stale / "run.ipynb").write_text("{}")
    used = []

    def fake(path, parameters, output_path=None, timeout=None, **kw):
        used.append(Path(output_path).parent)
        assert Path(output_path).parent.name.startswith(f"ltlab-sweep-{os.getpid()}-")
        return {}

    monkeypatch.setattr(notebook_execution, "run_notebook", fake)
    sweep(tiny[0], {"a": [1]}, out=tmp_path / "s", progress=False)
    assert not stale.exists() and live.exists()
    assert used and not used[0].exists()
