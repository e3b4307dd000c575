"""The ``ltlab`` command: ``run``, ``sweep``, ``lab`` and ``train``.

Each verb parses its flags here and calls the library: ``ltlab run`` is
`ltlab.runner.run_all`, ``ltlab sweep`` is `ltlab.sweep.sweep`, ``ltlab train`` is
`ltlab.recipes.run_recipe`, ``ltlab lab`` starts JupyterLab on the notebooks.

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

from .runner import notebook_parameters, run_all
from .sweep import parse_cli_value, sweep

__all__ = [
    "main",
    "build_parser",
    "add_sweep_command",
    "sweep_command",
    "add_train_parser",
    "train_command",
]


def main(argv: list[str] | None = None) -> int:
    """Run the ``ltlab`` command with ``argv`` (default: the process's arguments); returns
    the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train_command(args)
    if args.command == "sweep":
        return sweep_command(args)
    if args.command == "run":
        results = run_all(args.notebooks, args.out, quick=not args.full, seed=args.seed)
        return 1 if any("error" in r for r in results.values()) else 0
    if args.command == "lab":
        os.execvp(sys.executable, [sys.executable, "-m", "jupyterlab", args.notebooks])
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb and flag."""
    parser = argparse.ArgumentParser(prog="ltlab", description="The long-tailed recognition lab.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute every notebook in quick mode into runs/")
    p_run.add_argument("--notebooks", default="notebooks")
    p_run.add_argument("--out", default="runs")
    p_run.add_argument("--full", action="store_true", help="quick=False (GPU-sized runs)")
    p_run.add_argument("--seed", type=int, default=0)
    p_lab = sub.add_parser("lab", help="open JupyterLab on the notebooks")
    p_lab.add_argument("--notebooks", default="notebooks")
    add_sweep_command(sub)
    add_train_parser(sub)
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
        Path(args.json).write_text(json.dumps(result.to_dict(), default=str, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
