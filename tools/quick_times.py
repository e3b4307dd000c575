"""README's quick-mode times, generated from a measured ``ltlab run`` (never typed).

Repository tooling (not part of the package). ``ltlab run`` writes ``runs/run_times.json``:
each notebook's wall seconds (kernel start included), the machine, the CPU threads per
kernel, the date and the load average before and after the run. This tool copies a complete,
successful quick run into ``results/quick_times.json`` (committed) and writes README's
notebook table from it: the last column ("quick mode ...") of every notebook row, and the
"Times:" paragraph under the table. Run it on an idle machine, after the whole run::

    ltlab run                                   # every notebook, quick mode, seed 0
    python tools/quick_times.py record runs     # results/quick_times.json and README
    python tools/quick_times.py check           # README agrees with the committed file

``tests/tooling/test_quick_times.py`` fails when README's column and the committed file
disagree.

>>> format_seconds(31.4), format_seconds(163.2)
('~31 s', '~163 s')
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

__all__ = ["QUICK_TIMES", "check", "format_seconds", "load_run", "optional_notebooks",
           "readme_rows", "readme_text", "record"]

ROOT = Path(__file__).resolve().parents[1]  # the checkout (this file is tools/quick_times.py)
QUICK_TIMES = Path("results") / "quick_times.json"
RUN_TIMES = "run_times.json"  # ltlab.runner.RUN_TIMES (this tool does not import ltlab)
#: a notebook row of README's table: | NN | [NN_topic](...) | idea | time |
_ROW = re.compile(r"^\|\s*(\d\d)\s*\|\s*\[(\d\d_[\w-]+)\]\([^)]*\)\s*\|.*\|\s*([^|]*?)\s*\|\s*$")
_TIMES = re.compile(r"^Times: .*?(?=\n\s*\n|\Z)", re.M | re.S)


def format_seconds(seconds: float) -> str:
    """A notebook's time as README's table shows it."""
    return f"~{round(seconds)} s"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def optional_notebooks(text: str) -> list[str]:
    """The notebooks whose row in README's table says they are optional (their idea column
    starts with "optional"): the course's core is every other notebook."""
    out = []
    for line in text.splitlines():
        m = _ROW.match(line)
        if m and line.split("|")[3].strip().lower().startswith("optional"):
            out.append(m.group(2))
    return out


def readme_rows(text: str) -> dict[str, str]:
    """Notebook -> the text of its time column, for every notebook row of README's table."""
    return {m.group(2): m.group(3) for m in map(_ROW.match, text.splitlines()) if m}


def load_run(run_dir: str | Path, notebooks: list[str] | None = None) -> dict:
    """The ``run_times.json`` of ``ltlab run``'s output folder, checked: a quick run in which
    every notebook of ``notebooks`` (default: all it lists) ran and succeeded. A
    ``ValueError`` or ``FileNotFoundError`` says what is missing and what to run."""
    path = Path(run_dir) / RUN_TIMES
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `ltlab run` (it writes it) and "
                                "give its output folder (default runs).")
    times = json.loads(path.read_text())
    if not times.get("quick", False):
        raise ValueError(f"{path} is not a quick-mode run; README's column is `ltlab run`'s "
                         "quick mode.")
    ran = times.get("notebooks", {})
    missing = [n for n in (notebooks or []) if n not in ran]
    if missing:
        raise ValueError(f"{path} has no time for {', '.join(missing)}: run all the notebooks "
                         "in one `ltlab run` (no --only).")
    failed = [n for n, t in ran.items() if t.get("status") != "ok"]
    if failed:
        raise ValueError(f"{path}: {', '.join(failed)} failed in that run; fix them and run "
                         "again.")
    return times


def _times_paragraph(q: dict) -> str:
    load = q.get("load_average_before")
    idle = f", load average {load} when it started" if load is not None else ""
    optional = [n for n in q.get("optional", []) if n in q["notebooks"]]
    core = ""
    if optional:
        seconds = sum(s for n, s in q["notebooks"].items() if n not in optional)
        numbers = ", ".join(n[:2] for n in optional)
        core = (f", {_duration(seconds)} for the {len(q['notebooks']) - len(optional)} core "
                f"ones (all but the optional {numbers})")
    return (f"Times: `ltlab run` (quick mode, seed {q.get('seed', 0)}) on {q['machine']}, "
            f"{q['threads']} CPU thread(s) per kernel, {q['date']}{idle}: "
            f"{_duration(q['total_seconds'])} for all {len(q['notebooks'])} notebooks{core}, "
            "kernel starts included. Generated from that run by `python tools/quick_times.py "
            "record runs` (`results/quick_times.json`).")


def readme_text(text: str, q: dict) -> str:
    """README with every notebook row's time column and the "Times:" paragraph written from
    the quick times ``q`` (the content of ``results/quick_times.json``)."""
    rows = readme_rows(text)
    missing = sorted(set(rows) - set(q["notebooks"]))
    if missing:
        raise ValueError(f"the quick times have no entry for {', '.join(missing)} of README's "
                         "table.")
    out = []
    for line in text.splitlines(keepends=True):
        m = _ROW.match(line.rstrip("\n"))
        if m:
            start, end = m.span(3)
            line = line[:start] + format_seconds(q["notebooks"][m.group(2)]) + line[end:]
        out.append(line)
    text = "".join(out)
    if not _TIMES.search(text):
        raise ValueError("README has no paragraph starting with 'Times: ' under its notebook "
                         "table to write the run's machine and date into.")
    return _TIMES.sub(lambda _: _times_paragraph(q), text, count=1)


def record(run_dir: str | Path, root: str | Path = ROOT) -> list[Path]:
    """Write ``results/quick_times.json`` and README from the run in ``run_dir``; return the
    files that changed."""
    root = Path(root)
    readme = root / "README.md"
    notebooks = sorted(readme_rows(readme.read_text()))
    times = load_run(run_dir, notebooks)
    q = {key: times.get(key) for key in ("machine", "cpu_count", "threads", "date", "seed",
                                         "load_average_before", "load_average_after")}
    q["notebooks"] = {n: times["notebooks"][n]["seconds"] for n in notebooks}
    q["total_seconds"] = round(sum(q["notebooks"].values()), 1)
    q["optional"] = optional_notebooks(readme.read_text())
    changed = []
    target = root / QUICK_TIMES
    text = json.dumps(q, indent=1) + "\n"
    if not target.is_file() or target.read_text() != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        changed.append(target)
    new = readme_text(readme.read_text(), q)
    if new != readme.read_text():
        readme.write_text(new)
        changed.append(readme)
    load, cores = q.get("load_average_before"), q.get("cpu_count") or 1
    if load is not None and load > 0.5 * cores:
        print(f"warning: the load average was {load} on {cores} cores when the run started: "
              "README's times are an idle machine's; rerun on an idle one.", file=sys.stderr)
    return changed


def check(root: str | Path = ROOT) -> list[str]:
    """How README's time column and "Times:" paragraph differ from the committed
    ``results/quick_times.json`` (empty: they agree)."""
    root = Path(root)
    path = root / QUICK_TIMES
    if not path.is_file():
        return [f"{QUICK_TIMES} does not exist: run `ltlab run` on an idle machine, then "
                "`python tools/quick_times.py record runs`."]
    q = json.loads(path.read_text())
    text = (root / "README.md").read_text()
    problems = [f"README says {shown!r} for {name}, {QUICK_TIMES} {format_seconds(q['notebooks'][name])!r}"
                if name in q["notebooks"] else f"{QUICK_TIMES} has no time for {name}"
                for name, shown in readme_rows(text).items()
                if name not in q["notebooks"] or shown != format_seconds(q["notebooks"][name])]
    m = _TIMES.search(text)
    if m is None or m.group(0) != _times_paragraph(q):
        problems.append("README's 'Times:' paragraph is not the one the committed run gives")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/quick_times.py",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("record", help="write results/quick_times.json and README from a run")
    p.add_argument("run_dir", nargs="?", default="runs", help="ltlab run's output folder")
    p.add_argument("--root", default=str(ROOT), help="the checkout (default: this one)")
    p = sub.add_parser("check", help="exit 1 if README and results/quick_times.json differ")
    p.add_argument("--root", default=str(ROOT), help="the checkout (default: this one)")
    args = parser.parse_args(argv)
    try:
        if args.action == "record":
            for path in record(args.run_dir, args.root):
                print(f"wrote {path}")
            return 0
    except (FileNotFoundError, ValueError) as err:
        print(f"quick_times: {err}", file=sys.stderr)
        return 1
    problems = check(args.root)
    for problem in problems:
        print(problem)
    if not problems:
        print("README's quick-mode times are the committed run's")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
