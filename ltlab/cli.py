"""The ``ltlab`` command: ``run``, ``sweep``, ``lab``, ``train`` and ``notebooks``; for instructors
``student``, ``slides`` and ``book``.

Each verb parses its flags here and calls the library: ``ltlab run`` is
`ltlab.runner.run_all`, ``ltlab sweep`` is `ltlab.sweep.sweep`, ``ltlab train`` is
`ltlab.recipes.run_recipe`, ``ltlab lab`` starts JupyterLab on the notebooks;
``ltlab student`` / ``slides`` / ``book`` are `ltlab.course` (student copies without
solutions, reveal.js decks, the rendered book).

>>> build_parser().parse_args(["sweep", "nb.ipynb", "-p", "tau", "0", "1"]).parameter
[['tau', '0', '1']]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from ._packaged import copy_notebooks, packaged_notebooks
from .notebook_parameters import notebook_parameter_types, notebook_parameters
from .runner import run_all, select_notebooks
from .sweep import parse_cli_value, sweep

__all__ = [
    "main",
    "build_parser",
    "run_command",
    "add_sweep_command",
    "sweep_command",
    "add_train_parser",
    "train_command",
    "add_course_parsers",
    "course_command",
]


def main(argv: list[str] | None = None) -> int:
    """Run the ``ltlab`` command with ``argv`` (default: the process's arguments); returns
    the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train_command(args)
    if args.command == "sweep":
        return sweep_command(args)
    if args.command in ("student", "slides", "book"):
        return course_command(args)
    if args.command == "notebooks":
        return notebooks_command(args)
    if args.command == "run":
        args.notebooks = _notebooks_to_run(args.notebooks)
        return run_command(args)
    if args.command == "lab":
        os.execvp(sys.executable, [sys.executable, "-m", "jupyterlab", args.notebooks])
    return 0


def run_command(args: argparse.Namespace) -> int:
    """Run ``ltlab run``: everything given (notebooks, --only, --device, --out, the
    committed full-size records) is checked before the first kernel starts (exit 2 with
    the reason); then 1 if a notebook failed, else 0."""
    from .full_runs import resolve_device, run_full, verify_records
    from .notebook_execution import run_threads
    from .run_folder import FolderInUseError, ensure_writable

    try:
        notebooks = select_notebooks(args.notebooks, args.only)
        threads = run_threads()
        if args.full:  # full size: one record per notebook in --out (default results/full)
            device = resolve_device(args.device)
            out = ensure_writable(args.out or "results/full", "--out")
            ensure_writable(Path("runs") / "full", "runs/full (the executed copies)")
        else:
            if args.device != "auto":
                raise ValueError(f"--device {args.device!r} applies with --full only (quick "
                                 "runs pick their device themselves); drop it or add --full.")
            out = ensure_writable(args.out or "runs", "--out")
        from .experiments.full_size import find_records_folder

        verify_records(find_records_folder(Path(args.notebooks).resolve()))
        if args.full:
            results = run_full(notebooks, out, device=device, seed=args.seed,
                               executed_dir=Path("runs") / "full", threads=threads)
        else:
            results = run_all(args.notebooks, out, quick=True, seed=args.seed,
                              only=args.only, threads=threads)
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError,
            FolderInUseError) as err:
        print(f"ltlab run: error: {err}", file=sys.stderr)
        return 2
    return 1 if any("error" in r for r in results.values()) else 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb and flag."""
    parser = argparse.ArgumentParser(prog="ltlab", description="The long-tailed recognition lab.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute every notebook in quick mode into runs/")
    p_run.add_argument("--notebooks", default=None,
                       help="folder of notebooks (default: notebooks/ here, else the ones "
                            "that came with ltlab)")
    p_run.add_argument("--out", default=None,
                       help="executed notebooks (quick: runs/); with --full, the records' folder "
                            "(default results/full; executed copies go to runs/full/)")
    p_run.add_argument("--full", action="store_true",
                       help="quick=False: record each notebook in results/full/NN_topic.json")
    p_run.add_argument("--device", default="auto", help="with --full: cpu, cuda or auto")
    p_run.add_argument("--only", nargs="*", default=None,
                       help="notebook name prefixes, e.g. --only 02 04")
    p_run.add_argument("--seed", type=int, default=0)
    p_lab = sub.add_parser("lab", help="open JupyterLab on the notebooks")
    p_lab.add_argument("--notebooks", default="notebooks")
    p_nb = sub.add_parser("notebooks", help="copy the notebooks that came with ltlab into DEST",
                          description="Copy the student notebooks and NOTATION.md that came "
                                      "with this ltlab into DEST, to open, edit and run.")
    p_nb.add_argument("dest", metavar="DEST", help="folder to copy them into (created)")
    p_nb.add_argument("--overwrite", action="store_true", help="replace files already there")
    add_sweep_command(sub)
    add_train_parser(sub)
    add_course_parsers(sub)
    return parser


# ----------------------------------------------------------------------------- ltlab sweep
def add_sweep_command(subparsers) -> None:
    """The ``ltlab sweep`` sub-command."""
    p = subparsers.add_parser(
        "sweep", help="run a notebook over a grid of parameters (papermill), resumably",
        description="Run NOTEBOOK once per combination of the -p values; results go to "
                    "OUT/sweep.csv and OUT/summary.html. Runs already in OUT are not run again.")
    p.add_argument("notebook")
    p.add_argument("-p", "--parameter", nargs="+", action="append", default=[],
                   metavar=("NAME", "VALUE"), help="a parameter and its values (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="runs at a time (default 2)")
    p.add_argument("--out", default=None, help="output folder (default runs/sweeps/<notebook>)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    p.add_argument("--retries", type=int, default=2, help="retries of a kernel that won't start")
    p.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    p.add_argument("--no-progress", action="store_true")


def sweep_command(args: argparse.Namespace) -> int:
    """Execute ``ltlab sweep``: parse the -p values with the notebook's types, sweep, report."""
    path = Path(args.notebook)
    try:
        defaults = notebook_parameters(path) if path.is_file() else {}
        declared = notebook_parameter_types(path) if path.is_file() else {}
        for name, kind in declared.items():  # `ratio: float = 100` parses -p ratio 12.5
            if kind == "float" and isinstance(defaults.get(name), int) and not isinstance(
                    defaults.get(name), bool):
                defaults[name] = float(defaults[name])
        grid: dict[str, list[Any]] = {}
        for item in args.parameter:
            name, *values = item
            if not values:
                raise ValueError(f"-p {name}: give at least one value (-p {name} V1 V2 ...).")
            if name in grid:
                raise ValueError(f"-p {name} is given twice; list all its values after one -p.")
            grid[name] = [parse_cli_value(v, defaults[name]) if name in defaults else v
                          for v in values]
        result = sweep(path, grid or [{}], workers=args.workers, out=args.out,
                       timeout=args.timeout, retries=args.retries,
                       retry_failed=args.retry_failed, progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"ltlab sweep: error: {err}", file=sys.stderr)
        return 2
    print(f"{len(result)} runs: {len(result.ran)} executed now, {len(result.reused)} reused, "
          f"{len(result.failed)} failed.")
    for row in result:
        if row["status"] != "ok":
            print(f"  FAILED {row['run']}: {row['error']}")
    print(f"table:  {result.csv}\nfigure: {result.figure}")
    return 1 if result.failed else 0


# ----------------------------------------------------------------------------- ltlab train
def add_train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``ltlab train RECIPE`` to the ``ltlab`` command's subparsers."""
    p = sub.add_parser("train", help="train one of the papers' standard configurations",
                       description="Train a paper's standard CIFAR configuration (a recipe) "
                                   "and compare the test accuracy with the paper's number.")
    p.add_argument("recipe", nargs="?", help="recipe name (see --list)")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument("--root", default="data", help="folder holding the CIFAR files")
    p.add_argument("--download", action="store_true", help="download CIFAR if missing")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the MD5 check of the CIFAR files (CIFAR-format test files)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="shorter run, same schedule shape")
    p.add_argument("--steps", type=int, help="stop after this many steps (smoke test)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--checkpoint", help="checkpoint file: resumes if it exists")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--json", help="write the metrics and history to this JSON file")
    return p


def train_command(args: argparse.Namespace) -> int:
    """Run ``ltlab train`` from parsed arguments; returns the exit status."""
    from .recipes import RECIPES, get_recipe, list_recipes, run_recipe  # torch: only here

    if args.list or args.recipe is None:
        for name in list_recipes():
            print(RECIPES[name].describe(), end="\n\n")
        if args.recipe is None and not args.list:
            print("give a recipe name: ltlab train RECIPE", file=sys.stderr)
            return 2
        return 0
    try:
        recipe = get_recipe(args.recipe)
    except ValueError as err:
        print(f"ltlab train: {err}", file=sys.stderr)
        return 2
    if args.json:  # checked before an hour of training, not after
        from .run_folder import ensure_writable_file

        try:
            ensure_writable_file(args.json, "--json")
        except OSError as err:
            print(f"ltlab train: {err}", file=sys.stderr)
            return 2
    print(recipe.describe(), flush=True)
    try:
        result = run_recipe(
            recipe, args.root, download=args.download, verify=not args.no_verify,
            device=args.device, seed=args.seed, epochs=args.epochs, steps=args.steps,
            batch_size=args.batch_size, checkpoint=args.checkpoint, amp=args.amp,
            compile=args.compile, progress=True,
        )
    except (FileNotFoundError, RuntimeError, ValueError, ImportError) as err:
        print(f"ltlab train: {err}", file=sys.stderr)
        return 1
    print(result.summary())
    if args.json:
        from .run_folder import write_text_atomic

        try:
            write_text_atomic(args.json, json.dumps(result.to_dict(), default=str, indent=1))
        except OSError as err:
            print(f"ltlab train: could not write --json {args.json!r}: {err}", file=sys.stderr)
            return 1
    return 0


# ----------------------------------------------------------------------------- course verbs
def add_course_parsers(sub: argparse._SubParsersAction) -> None:
    """``ltlab student``, ``ltlab slides`` and ``ltlab book`` (see `ltlab.course`)."""
    p = sub.add_parser(
        "student", help="write student copies (solutions removed) of instructor notebooks",
        description="Write DEST_DIR/X.ipynb for every SRC_DIR/X.ipynb: solution regions "
                    "(### BEGIN SOLUTION ... ### END SOLUTION) become '# YOUR CODE HERE' "
                    "(Markdown: 'YOUR ANSWER HERE'), outputs are cleared.")
    p.add_argument("src", metavar="SRC_DIR", help="instructor notebooks (with solutions)")
    p.add_argument("dest", metavar="DEST_DIR", nargs="?", help="student notebooks")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if DEST_DIR is out of sync with SRC_DIR")
    p.add_argument("--mark", action="store_true",
                   help="first, in SRC_DIR's notebooks (in place): mark the solution cells "
                        "for nbgrader and put an autograder tests cell after every cell that "
                        "calls an exercise checker")
    p = sub.add_parser("slides", help="a reveal.js slide deck of a notebook",
                       description="Tag the cells by rule (## heading: slide, ### heading: "
                                   "sub-slide; parameters, install, import-only and Checks "
                                   "cells skipped) and write OUT/NAME.slides.html.")
    p.add_argument("notebook", nargs="+", help="notebook(s), best already executed")
    p.add_argument("--out", default="runs/slides", help="output folder (default runs/slides)")
    p.add_argument("--execute", action="store_true", help="run it in quick mode first")
    p.add_argument("--solutions", action="store_true", help="keep solution regions")
    p.add_argument("--reveal-prefix", help="URL or relative folder of reveal.js 4 (offline)")
    p.add_argument("--require-js", help="URL or relative path of require.js (offline)")
    p = sub.add_parser("book", help="build the course's static site from executed notebooks",
                       description="Sphinx + MyST-NB + sphinx-book-theme (pip install -e "
                                   "'.[book]'); notebooks are never executed: give the folder "
                                   "of executed ones (test-output/notebooks, or ltlab run's).")
    p.add_argument("src", metavar="SRC_DIR", help="folder of executed NN_topic.ipynb")
    p.add_argument("--out", default="runs/book", help="output folder (default runs/book)")
    p.add_argument("--course", default="COURSE.md")
    p.add_argument("--notation", default="notebooks/NOTATION.md")
    p.add_argument("--pyproject", default="pyproject.toml", help="[project.urls] source")
    p.add_argument("--docs", default="docs", help="the docs project (its conf.py and index.md)")
    p.add_argument("--solutions", action="store_true", help="keep solution regions")


def course_command(args: argparse.Namespace) -> int:
    """Run ``ltlab student``, ``ltlab slides`` or ``ltlab book``; returns the exit status."""
    from . import course  # nbformat, nbconvert, sphinx: only here

    try:
        if args.command == "student":
            return _student(course, args)
        if args.command == "slides":
            for path in args.notebook:
                deck = course.slides.build_slides(
                    path, args.out, execute=args.execute, solutions=args.solutions,
                    reveal_prefix=args.reveal_prefix, require_js=args.require_js)
                print(deck)
            return 0
        result = course.book.build_book(args.src, args.out, course=args.course,
                                        notation=args.notation, pyproject=args.pyproject,
                                        solutions=args.solutions, docs=args.docs)
    except (course.SolutionError, FileNotFoundError, FileExistsError, RuntimeError,
            ImportError) as err:
        print(f"ltlab {args.command}: {err}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(warning, file=sys.stderr)
    print(f"{len(result.pages)} notebook pages, {sum(result.pages.values())} plotly figures, "
          f"{result.seconds:.0f} s: {result.index}")
    return 0


def _student(course, args: argparse.Namespace) -> int:
    import nbformat

    src = Path(args.src)
    if not src.is_dir() or not any(src.glob("*.ipynb")):
        return _usage(f"SRC_DIR {args.src!r} is not a folder of notebooks "
                      f"({'no .ipynb files in it' if src.is_dir() else 'no such folder'}); "
                      "give the instructor notebooks' folder, e.g. instructor/. Nothing written.")

    if args.mark:
        for path in sorted(Path(args.src).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            marked = course.mark_nbgrader_cells(nb)
            tests = course.add_autograder_tests(nb)
            if marked or tests:
                nbformat.write(nb, path)
                print(f"marked {path} ({marked} solution or grade cells, {tests} autograder "
                      "tests cells added or updated)")
    if args.dest is None:
        return 0 if args.mark else _usage("give DEST_DIR (or --mark alone)")
    if args.check:
        problems = course.out_of_sync(args.src, args.dest)
        for problem in problems:
            print(f"out of sync: {problem}")
        if problems:
            print(f"run: ltlab student {args.src} {args.dest}")
        return 1 if problems else 0
    for path in course.write_student_copies(args.src, args.dest):
        print(f"wrote {path}")
    return 0


# ----------------------------------------------------------------------------- notebooks
def notebooks_command(args: argparse.Namespace) -> int:
    """Run ``ltlab notebooks DEST``: copy the packaged notebooks out; returns the exit status."""
    try:
        written = copy_notebooks(args.dest, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError) as err:
        print(f"ltlab notebooks: {err}", file=sys.stderr)
        return 1
    print(f"copied {len(written)} files into {args.dest}: ltlab lab --notebooks {args.dest}, "
          f"or ltlab run --notebooks {args.dest}")
    return 0


def _notebooks_to_run(given: str | None) -> str:
    """``--notebooks`` if given, else ``notebooks/`` here if it holds notebooks, else the
    notebooks that came with ltlab (said on stderr)."""
    if given is not None:
        return given
    if any(Path("notebooks").glob("[0-9][0-9]_*.ipynb")):
        return "notebooks"
    packaged = packaged_notebooks()
    if packaged is None:
        return "notebooks"
    print(f"No notebooks/ folder here: running the notebooks that came with ltlab "
          f"{__version__} ({packaged}). `ltlab notebooks DEST` copies them out to edit.",
          file=sys.stderr)
    return str(packaged)


def _usage(message: str) -> int:
    print(f"ltlab student: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
