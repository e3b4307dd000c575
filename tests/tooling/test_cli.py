"""The ``ltlab`` command (`ltlab.cli`): its verbs and flags, the console script, and the
checks ``ltlab run`` makes before the first kernel starts (tests/tooling/test_faults.py
holds the fault scenarios)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from ltlab import cli

ROOT = Path(__file__).resolve().parents[2]

#: every verb and its flags; changing one breaks users' scripts, so it is a test failure
VERBS = {
    "run": {"--notebooks", "--out", "--full", "--seed", "--device", "--only"},
    "lab": {"--notebooks"},
    "notebooks": {"--overwrite"},  # copies the packaged notebooks out (helper H5's verb)
    "sweep": {"-p", "--parameter", "--workers", "--out", "--timeout", "--retries",
              "--retry-failed", "--no-progress"},
    "train": {"--list", "--root", "--download", "--no-verify", "--device", "--seed", "--epochs",
              "--steps", "--batch-size", "--checkpoint", "--amp", "--compile", "--json"},
    # instructors' verbs (ltlab.course; tested in test_course.py and tests/e2e/test_book.py)
    "student": {"--check", "--mark"},
    "slides": {"--out", "--execute", "--solutions", "--reveal-prefix", "--require-js"},
    "book": {"--out", "--course", "--notation", "--pyproject", "--solutions", "--docs"},
}


def _subparsers(parser):
    (action,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return action.choices


def test_verbs_and_flags_are_unchanged():
    subs = _subparsers(cli.build_parser())
    assert set(subs) == set(VERBS)
    for verb, flags in VERBS.items():
        got = {s for a in subs[verb]._actions for s in a.option_strings} - {"-h", "--help"}
        assert got == flags, verb
    args = cli.build_parser().parse_args(["run", "--full", "--seed", "3"])
    assert (args.command, args.full, args.seed, args.device) == ("run", True, 3, "auto")
    args = cli.build_parser().parse_args(["train", "x", "--batch-size", "8", "--no-verify"])
    assert (args.recipe, args.batch_size, args.no_verify) == ("x", 8, True)


def test_console_script_points_at_cli_main():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"ltlab": "ltlab.cli:main"}


def test_a_verb_is_required(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([])
    assert exit_.value.code == 2 and "required" in capsys.readouterr().err


def test_run_reports_missing_notebooks_and_runs_each_one(tmp_path, monkeypatch, capsys):
    from ltlab import runner

    assert cli.main(["run", "--notebooks", str(tmp_path)]) == 2
    assert "--notebooks DIR" in capsys.readouterr().err
    for name in ("00_a.ipynb", "01_b.ipynb"):
        (tmp_path / name).write_text("{}")
    calls = []

    def fake(path, parameters, out, threads=None):
        calls.append((Path(path).name, parameters, threads))
        if "01_b" in str(path):
            raise RuntimeError("boom")
        return {"accuracy": 0.5}

    monkeypatch.setattr(runner, "run_notebook", fake)
    monkeypatch.delenv("LTLAB_THREADS", raising=False)
    code = cli.main(["run", "--notebooks", str(tmp_path), "--out", str(tmp_path / "o"),
                     "--seed", "2"])
    assert code == 1  # one notebook failed, the other still ran
    assert calls == [("00_a.ipynb", {"quick": True, "seed": 2}, 2),
                     ("01_b.ipynb", {"quick": True, "seed": 2}, 2)]
    out = capsys.readouterr()
    assert "0.5000" in out.out and "1 notebook(s) failed: ['01_b.ipynb']" in out.err
    assert "01_b.ipynb: FAILED (RuntimeError: boom)" in out.out + out.err  # the reason
    assert not (tmp_path / "o" / ".ltlab-run.lock").exists()  # the lock goes with the run


def test_runner_loads_only_small_helpers_and_sweep_on_first_use():
    code = ("import sys, ltlab.runner as r\n"
            "before = sorted(m for m in sys.modules if m.startswith('ltlab.'))\n"
            "s = r.sweep\n"
            "import ltlab.sweep\n"
            "print(before, s is ltlab.sweep.sweep, 'torch' in sys.modules, "
            "'papermill' in sys.modules)")
    out = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    # the record codec and the notebook helpers come with the runner; no torch, no papermill
    assert out.split() == ["['ltlab._records',", "'ltlab.notebook_execution',",
                           "'ltlab.notebook_parameters',", "'ltlab.run_folder',",
                           "'ltlab.runner']", "True", "False", "False"]


@pytest.mark.parametrize("old, names", [
    ("ltlab.runner", ["main", "check_parameters"]),
    ("ltlab.sweep", ["add_sweep_command", "sweep_command"]),
    ("ltlab.recipes", ["add_train_parser", "train_command"]),
])
def test_old_paths_are_gone_before_the_first_release(old, names):
    """No forwards before 0.1.0: the names live only at their new paths (ltlab.cli,
    ltlab.runner.validate_parameters)."""
    module = importlib.import_module(old)
    for name in names:
        with pytest.raises(AttributeError):
            getattr(module, name)
    assert all(callable(getattr(cli, n)) for n in names if n != "check_parameters")


def test_contract_paths_do_not_warn():
    from ltlab import runner, sweep

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runner.sweep is sweep.sweep


def test_console_script_lists_the_recipes():
    script = Path(sys.executable).with_name("ltlab")
    if not script.exists():
        pytest.skip("the ltlab console script is not installed in this environment")
    out = subprocess.run([str(script), "train", "--list"], capture_output=True, text=True,
                         check=True).stdout
    assert "balpoe-cifar100-lt-ir100" in out and "52.0%" in out
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert all(verb in out for verb in VERBS)


def test_sweep_command_parses_values_with_the_notebooks_types(tmp_path, monkeypatch, capsys):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("a = 1\nscale = 1.0\nflag = True\nname = 'x'\n"
                                     "ratio: float = 100  # declared float: takes 12.5")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    seen = {}

    class Result(list):
        csv, figure, ran, reused, failed = "t.csv", "f.html", ["r"], [], []

    def fake_sweep(p, grid, **kwargs):
        seen.update(grid=grid, **kwargs)
        return Result([{"run": "r", "status": "ok"}])

    monkeypatch.setattr(cli, "sweep", fake_sweep)
    code = cli.main(["sweep", str(path), "-p", "a", "1", "2", "-p", "scale", "0.5",
                     "-p", "flag", "false", "-p", "name", "007", "--workers", "3"])
    assert code == 0
    assert seen["grid"] == {"a": [1, 2], "scale": [0.5], "flag": [False], "name": ["007"]}
    assert seen["workers"] == 3 and json.dumps(seen["grid"])  # JSON values papermill injects
    assert "1 runs: 1 executed now" in capsys.readouterr().out
    assert cli.main(["sweep", str(path), "-p", "a", "1", "-p", "a", "2"]) == 2
    assert "given twice" in capsys.readouterr().err
    assert cli.main(["sweep", str(path), "-p", "ratio", "12.5", "100"]) == 0
    assert seen["grid"] == {"ratio": [12.5, 100.0]}
    assert cli.main(["sweep", str(path), "-p", "a", "2.5"]) == 2
    assert "'2.5' is not an integer" in capsys.readouterr().err
