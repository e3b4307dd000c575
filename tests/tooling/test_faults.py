"""Issue 25's tooling cases: malformed calls and faults of ``ltlab run`` / ``train`` /
``student``, the record codec, notebook parameters, output folders and their lock.

Each case asserts the error type or exit status AND that the message names the argument or
the file. No notebook is executed here except one tiny purpose-built notebook
(`test_threads_are_fixed_in_the_kernel`); the others stand in for ``run_notebook``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ltlab import cli, full_runs, notebook_execution, runner
from ltlab._records import _jsonable, _restore
from ltlab.notebook_parameters import papermill_problems, validate_parameters
from ltlab.run_folder import FolderInUseError, FolderLock, ensure_writable, write_text_atomic

ROOT = Path(__file__).resolve().parents[2]


def _notebook(path: Path, params: str = "x = 1\nratio = 100\nscale = 1.0\nquick = True",
              body: str = "pass") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def folder(tmp_path):
    """Three notebooks that a stand-in ``run_notebook`` 'runs'."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for name in ("00_tour", "01_logit_adjustment", "02_balpoe"):
        (nbs / f"{name}.ipynb").write_text("{}")
    return nbs


@pytest.fixture
def fake_run(monkeypatch):
    calls = []

    def fake(path, parameters, out=None, timeout=None, threads=None):
        calls.append(Path(path).stem)
        return {"value": 1.0}

    monkeypatch.setattr(runner, "run_notebook", fake)
    monkeypatch.setattr(full_runs, "run_notebook", fake)
    monkeypatch.setenv("LTLAB_FULL_RESULTS", str(Path(os.devnull)))  # no committed records
    return calls


# ----------------------------------------------------------------------------- ltlab run
@pytest.mark.parametrize("full", [[], ["--full", "--device", "cpu"]])
def test_run_only_with_an_unknown_prefix_lists_the_notebooks(folder, fake_run, capsys, full):
    code = cli.main(["run", "--notebooks", str(folder), "--out", str(folder.parent / "o"),
                     "--only", "99", *full])
    err = capsys.readouterr().err
    assert code == 2 and "--only 99 matches no notebook" in err
    assert "00_tour, 01_logit_adjustment, 02_balpoe" in err
    assert fake_run == []


def test_run_only_filters_in_quick_mode_too(folder, fake_run):
    assert cli.main(["run", "--notebooks", str(folder), "--out", str(folder.parent / "o"),
                     "--only", "02", "00"]) == 0
    assert fake_run == ["00_tour", "02_balpoe"]


@pytest.mark.parametrize("device, words", [
    ("nonsense", "--device 'nonsense' is not a device"),
    ("gpu", "--device 'gpu' is not a device"),
])
def test_run_full_checks_the_device_before_any_kernel(folder, fake_run, capsys, device, words):
    code = cli.main(["run", "--full", "--device", device, "--notebooks", str(folder),
                     "--out", str(folder.parent / "full")])
    assert code == 2 and words in capsys.readouterr().err
    assert fake_run == [] and not (folder.parent / "full").exists()


def test_run_full_refuses_cuda_without_cuda(folder, fake_run, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert cli.main(["run", "--full", "--device", "cuda", "--notebooks", str(folder),
                     "--out", str(folder.parent / "full")]) == 2
    assert "--device 'cuda': CUDA is not available" in capsys.readouterr().err
    assert fake_run == []


def test_quick_run_refuses_a_device_it_would_ignore(folder, fake_run, capsys):
    assert cli.main(["run", "--device", "cuda", "--notebooks", str(folder)]) == 2
    assert "--device 'cuda' applies with --full only" in capsys.readouterr().err


def test_a_failed_notebook_reports_its_own_exception(folder, monkeypatch, capsys):
    """The reason inside the executed copy (ename: evalue), not only the wrapper's name."""
    from papermill.exceptions import PapermillExecutionError

    def failing(path, parameters, out=None, timeout=None, threads=None):
        raise PapermillExecutionError(4, 3, "source", "ValueError",
                                      "device='nonsense' is not a torch device", [])

    monkeypatch.setattr(full_runs, "run_notebook", failing)
    out = full_runs.run_full([folder / "00_tour.ipynb"], folder.parent / "full", device="cpu",
                             executed_dir=folder.parent / "executed")
    text = capsys.readouterr()
    assert "FAILED (ValueError: device='nonsense' is not a torch device (cell In [3]))" in (
        text.out + text.err)
    assert out["00_tour"]["error"].startswith("ValueError: device='nonsense'")


# ----------------------------------------------------------------------------- output paths
def _unwritable(tmp_path: Path) -> Path:
    """A folder no one can write into (under a plain file: even root cannot)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "out"


@pytest.mark.parametrize("full", [[], ["--full", "--device", "cpu"]])
def test_run_checks_its_output_folder_before_any_kernel(folder, fake_run, capsys, full):
    bad = _unwritable(folder.parent)
    assert cli.main(["run", "--notebooks", str(folder), "--out", str(bad), *full]) == 2
    err = capsys.readouterr().err
    assert f"--out {str(bad)!r} is not a writable folder" in err and "Nothing was run" in err
    assert fake_run == []


def test_train_checks_its_json_path_before_training(tmp_path, monkeypatch, capsys):
    from ltlab import recipes

    monkeypatch.setattr(recipes, "run_recipe", lambda *a, **k: pytest.fail("trained"))
    for bad, words in ((tmp_path / "no-such-dir" / "r.json", "does not exist"),
                       (tmp_path, "is a folder"),
                       (_unwritable(tmp_path), "is a file, not a folder")):
        code = cli.main(["train", "la-loss-cifar10-lt-ir100", "--root", str(tmp_path),
                         "--json", str(bad)])
        err = capsys.readouterr().err
        assert code == 2 and f"--json {str(bad)!r}" in err and words in err, err


def test_a_record_that_cannot_be_written_is_reported_and_the_others_go_on(folder, fake_run,
                                                                          monkeypatch, capsys):
    real = full_runs.write_record

    def flaky(out_dir, notebook, *args, **kwargs):
        if notebook == "00_tour":
            raise OSError(28, "No space left on device")
        return real(out_dir, notebook, *args, **kwargs)

    monkeypatch.setattr(full_runs, "write_record", flaky)
    out = full_runs.run_full([folder / "00_tour.ipynb", folder / "01_logit_adjustment.ipynb"],
                             folder.parent / "full", device="cpu",
                             executed_dir=folder.parent / "executed")
    assert "No space left" in out["00_tour"]["error"] and out["01_logit_adjustment"]
    assert [p.name for p in (folder.parent / "full").glob("*.json")] == [
        "01_logit_adjustment.json"]
    text = capsys.readouterr()
    assert "00_tour.ipynb: ran in" in text.out + text.err and "could not be written" in text.out + text.err


def test_executed_notebook_is_written_beside_and_renamed_into_place(tmp_path, monkeypatch):
    """papermill writes into a temporary file; the target appears whole, also on failure."""
    import papermill

    nb = _notebook(tmp_path / "nb.ipynb")
    seen = []

    def fake_execute(src, out, **kwargs):
        seen.append(out)
        assert not (tmp_path / "out.ipynb").exists()  # nothing half-written at the target
        Path(out).write_text(Path(src).read_text())
        raise RuntimeError("cell failed")

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    with pytest.raises(RuntimeError, match="cell failed"):
        notebook_execution.run_notebook(nb, {"x": 2}, tmp_path / "out.ipynb")
    assert Path(seen[0]).name.startswith(".out.ipynb.") and not Path(seen[0]).exists()
    assert nbformat.read(str(tmp_path / "out.ipynb"), 4).cells  # the failed run's copy
    write_text_atomic(tmp_path / "t.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb", "out.ipynb", "t.json"]


# ----------------------------------------------------------------------------- the lock
def test_a_second_run_into_the_same_folder_is_refused(folder, fake_run, capsys):
    out = folder.parent / "o"
    with FolderLock(ensure_writable(out)):
        code = cli.main(["run", "--notebooks", str(folder), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and f"output folder {str(out)!r} is in use" in err
        assert f"PID {os.getpid()}" in err and fake_run == []
    assert not (out / ".ltlab-run.lock").exists()
    assert cli.main(["run", "--notebooks", str(folder), "--out", str(out)]) == 0  # free again


def test_a_stale_lock_is_taken_over(tmp_path):
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    import socket

    lock = tmp_path / ".ltlab-run.lock"
    lock.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "since": 0}))
    os.utime(lock, (0, 0))
    with FolderLock(tmp_path) as held:
        assert json.loads(lock.read_text())["pid"] == os.getpid() and held.held
        with pytest.raises(FolderInUseError, match="in use by another ltlab run"):
            FolderLock(tmp_path).__enter__()
    assert not lock.exists()


# ----------------------------------------------------------------------------- records
def test_truncated_full_size_record_is_named_before_any_kernel(folder, fake_run, monkeypatch,
                                                               capsys):
    records = folder.parent / "results" / "full"
    records.mkdir(parents=True)
    (records / "00_tour.json").write_text('{"results": {"balanced_accuracy": 0.6')
    monkeypatch.setenv("LTLAB_FULL_RESULTS", str(records))
    code = cli.main(["run", "--notebooks", str(folder), "--out", str(folder.parent / "o")])
    err = capsys.readouterr().err
    assert code == 2 and f"full-size record {str(records / '00_tour.json')!r} is unreadable" in err
    assert fake_run == []
    (records / "00_tour.json").write_text('["not a record"]')
    with pytest.raises(ValueError, match="00_tour.json.* is not a record"):
        full_runs.verify_records(records)


def test_committed_records_still_read():
    """Records written before ``torch_threads`` and the codec field are still valid."""
    folder = ROOT / "results" / "full"
    if not folder.is_dir():
        pytest.skip("no committed records")
    assert full_runs.verify_records(folder)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", float("inf"), [float("nan"), "nan"],
                                   {"a": "inf", "b": float("-inf")}, "__float__"])
def test_recorded_strings_and_non_finite_floats_round_trip(value):
    back = _restore(json.loads(json.dumps(_jsonable(value), allow_nan=False)))
    assert repr(back) == repr(value)  # "inf" stays a string, inf stays a float


def test_old_payloads_still_read_nan_strings_as_floats(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={runner.RESULT_MIME: {
        "name": "old", "value": ["nan", 0.5]}}), nbformat.v4.new_output(
        "display_data", data={runner.RESULT_MIME: {"name": "new", "value": "inf",
                                                   "codec": 2}})]
    nb.cells = [cell]
    out = runner.read_results(nb)
    assert out["old"][0] != out["old"][0] and out["old"][1] == 0.5  # NaN from the old codec
    assert out["new"] == "inf"


def test_record_refuses_other_objects_naming_the_type():
    with pytest.raises(TypeError, match="got object"):
        _jsonable(object())


# ----------------------------------------------------------------------------- parameters
def test_parameters_must_be_a_mapping(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    with pytest.raises(TypeError, match=r"parameters must be a mapping .*got list \[\('seed'"):
        runner.run_notebook(nb, [("seed", 1)])
    with pytest.raises(TypeError, match="parameters must be a mapping"):
        validate_parameters(nb, [("x", 1)])


def test_number_widening_rules(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    assert validate_parameters(nb, {"scale": 2}) == {"scale": 2}  # int -> float: fine
    assert validate_parameters(nb, {"x": 3.0}) == {"x": 3}  # integral float -> int
    assert type(validate_parameters(nb, {"x": 3.0})["x"]) is int
    with pytest.raises(TypeError, match=r"'ratio' .*expects int .*got 12.5.*`ratio: float = 100`"):
        validate_parameters(nb, {"ratio": 12.5})
    with pytest.raises(TypeError, match="'x' .*expects int"):
        validate_parameters(nb, {"x": True})
    with pytest.raises(TypeError, match="'quick' .*expects bool"):
        validate_parameters(nb, {"quick": 1})
    declared = _notebook(tmp_path / "declared.ipynb",
                         "ratio: float = 100  # rho, n_max / n_min\nother = 5  # type: float")
    assert validate_parameters(declared, {"ratio": 12.5, "other": 0.5}) == {
        "ratio": 12.5, "other": 0.5}
    assert papermill_problems(declared) == []


def test_papermill_problems_name_the_line(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb", "seed = 0\nratio = 100  # rho = n_max / n_min")
    problems = papermill_problems(nb)
    assert any("Unable to parse line 2" in p for p in problems)
    assert any("does not see parameter 'ratio'" in p for p in problems)
    with pytest.warns(UserWarning, match="does not see parameter 'ratio'"):
        notebook_execution.warn_papermill_problems(nb)


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
                         + sorted((ROOT / "instructor").glob("[0-9][0-9]_*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_papermill_reads_every_parameter_of_every_notebook(path):
    """papermill's own parser (`papermill.translators.PythonTranslator.inspect`, what
    ``papermill --help-notebook`` and its "Unable to parse line" warning use) knows every
    parameter: no line with an '=' inside its comment."""
    assert papermill_problems(path) == []


def test_threads_are_fixed_in_the_kernel(tmp_path, monkeypatch):
    """One tiny kernel: ``threads=2`` reaches torch in the kernel although the parent says 1
    (OMP_NUM_THREADS is set in the kernel before the notebook imports torch)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = _notebook(tmp_path / "nb.ipynb", "x = 1",
                   "import os, torch\nfrom ltlab import record\n"
                   "record('threads', torch.get_num_threads())\n"
                   "record('omp', os.environ.get('OMP_NUM_THREADS'))")
    assert notebook_execution.run_notebook(nb, {}, threads=2) == {"threads": 2, "omp": "2"}
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        notebook_execution.run_notebook(nb, {}, threads=0)


# ----------------------------------------------------------------------------- student
def test_student_with_a_missing_source_writes_nothing(tmp_path, capsys):
    src, dest = tmp_path / "nonexistent", tmp_path / "OUT"
    assert cli.main(["student", str(src), str(dest)]) == 2
    err = capsys.readouterr().err
    assert f"SRC_DIR {str(src)!r} is not a folder of notebooks" in err and "no such folder" in err
    assert not dest.exists()
    from ltlab.course import write_student_copies

    with pytest.raises(FileNotFoundError, match="SRC_DIR .*nonexistent.* does not exist"):
        write_student_copies(src, dest)
    assert not dest.exists()
