"""Full-size records: what each notebook shows at ``quick=False``, read from the repository.

A full-size run (``ltlab run --full --device DEVICE --out results/full``) writes one JSON
file per notebook, ``results/full/NN_topic.json``, holding the notebook's recorded results
and where they come from: machine, device, date, commit, seed, wall time and a hash of the
notebook's full-size settings (`settings_hash`). A notebook calls `show_full_size` beside
its quick-mode table, so a student on a laptop sees the paper-scale numbers without
running them, and a test checks that every record matches today's full-size settings.

>>> import json, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "00_tour.json").write_text(json.dumps({"machine": "laptop",
...     "date": "2026-12-01", "device": "cpu", "results": {"balanced_accuracy": 0.5}}))
>>> show_full_size("00_tour", ["balanced_accuracy"], quick={"balanced_accuracy": 0.25},
...                folder=folder)
At full size (recorded on laptop, cpu, 2026-12-01):
                           this run   full size
  balanced accuracy (%)        25.0        50.0
{'balanced_accuracy': 0.5}

The table prints accuracies and ECE in percent and differences of them in points, under
readable names (`row_label`); it returns the record's values unchanged, as fractions.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .paper_vs_lab import Claim, paper_vs_lab, show_paper_vs_lab
from .protocol import settings_dict

__all__ = ["DRIVERS", "full_settings", "settings_hash", "find_records_folder",
           "paper_vs_lab_section", "read_record", "records_table", "row_label", "show_full_size"]

#: notebook name -> its driver (`ltlab.experiments.protocol`), whose ``settings(quick=False)``
#: sizes every part the notebook runs
DRIVERS = {
    "00_tour": "ltlab.experiments.tour",
    "01_logit_adjustment": "ltlab.experiments.logit_adjustment",
    "02_balpoe": "ltlab.experiments.balpoe",
    "03_flexda_prior_estimation": "ltlab.experiments.flexda",
    "04_calibration": "ltlab.experiments.calibration",
    "05_lda": "ltlab.experiments.lda",
    "06_geometric_harmonization": "ltlab.experiments.gh",
    "07_flexda_on_mnist1d": "ltlab.experiments.flexda_mnist1d",
    "08_gh_on_mnist1d": "ltlab.experiments.gh_mnist1d",
}


def _driver(notebook: str):
    if notebook not in DRIVERS:
        raise KeyError(f"unknown notebook {notebook!r}; expected one of {sorted(DRIVERS)}")
    return importlib.import_module(DRIVERS[notebook])


def full_settings(notebook: str) -> dict[str, Any]:
    """The notebook's full-size settings as plain data: its driver's ``settings(quick=False)``
    (every part the notebook runs), through the driver's ``hashed_settings`` when it has one,
    else `ltlab.experiments.protocol.settings_dict`.

    ``hashed_settings`` keeps the key layout the committed record was hashed with before
    the settings became dataclasses (other parts a notebook runs appear there under their
    old ``"module:function"`` names), so those records stay valid; a driver whose full-size
    settings change may drop it and rerun its record."""
    driver = _driver(notebook)
    full = driver.settings(quick=False)
    return dict(driver.hashed_settings(full) if hasattr(driver, "hashed_settings")
                else settings_dict(full))


def settings_hash(notebook: str) -> str:
    """A short hash of the full-size settings; a record made with other settings is stale."""
    text = json.dumps(full_settings(notebook), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_records_folder(start: str | os.PathLike | None = None) -> Path | None:
    """``results/full`` of the checkout: ``$LTLAB_FULL_RESULTS`` if set, else the first
    ``results/full`` found from ``start`` (default: the working directory) upwards, else the
    records that came with ltlab (a wheel carries them: a notebook copied anywhere, or run
    on Colab, still finds them); None when there are none."""
    env = os.environ.get("LTLAB_FULL_RESULTS")
    if env:
        return Path(env)
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "results" / "full"
        if candidate.is_dir():
            return candidate
    from .._packaged import packaged_records

    return packaged_records()


def read_record(notebook: str, folder: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The full-size record of ``notebook`` (a dict), or None when there is none."""
    folder = Path(folder) if folder is not None else find_records_folder()
    if folder is None or not (folder / f"{notebook}.json").exists():
        return None
    from .._records import _restore  # "nan" / "inf" strings back to floats

    record = json.loads((folder / f"{notebook}.json").read_text())
    record["results"] = _restore(record.get("results", {}))
    return record


def _format(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return "-"  # an empty group (NaN by the metric's convention): nothing to compare
    return f"{value:.4g}"


#: readable names of the parts of recorded-result keys (`row_label`). A key with a part not
#: listed here is printed as it is recorded, its value unchanged.
PART_NAMES = {
    # quantities
    "balanced_accuracy": "balanced accuracy", "balanced_error": "balanced error", "ece": "ECE",
    "shot_accuracy": "accuracy", "probe_accuracy": "probe accuracy",
    "shifted_accuracy": "accuracy under label shift", "tail_accuracy": "tail accuracy",
    "kl_to_true_prior": "KL to the true prior", "weight_norm_ratio": "weight-norm ratio",
    "etf_gap": "ETF gap", "temperature": "fitted temperature T",
    "ablation_balanced_accuracy": "balanced accuracy", "sphere_toy": "sphere toy", "sphere_toy_paired": "sphere toy, GH − SimCLR",
    "prior_arms_paired": "", "flexda_minus_fixmatch": "balanced accuracy, FlexDA − FixMatch",
    "flexda_minus_fixed_labeled": "balanced accuracy, FlexDA − aligned to fixed P_L",
    "ece_flexda_minus_fixmatch": "ECE, FlexDA − FixMatch",
    "adello_minus_flexda": "balanced accuracy, ADELLO − FlexDA",
    "ece_adello_minus_flexda": "ECE, ADELLO − FlexDA", "consistent_arms": "consistent profile",
    # methods and arms
    "bayes": "Bayes", "ce": "CE", "la": "LA", "posthoc": "post-hoc", "la_mixup": "LA + mixup",
    "ce_mixup": "CE + mixup", "balpoe": "BalPoE", "balpoe_mixup": "BalPoE + mixup",
    "lda": "LDA", "lda_distance": "LDA + distance", "lda_unbalanced": "LDA h′",
    "rw": "RW", "drw": "DRW", "simclr": "SimCLR", "simclr_gh": "SimCLR + GH",
    "simclr_balanced": "SimCLR, balanced", "simclr_lt": "SimCLR, long-tailed",
    "simclr_gh_lt": "SimCLR + GH, long-tailed", "known_prior": "known prior",
    "no_prior": "no prior", "consistent": "consistent", "uniform": "uniform",
    "reversed": "reversed", "backward-50": "backward-50", "forward-50": "forward-50",
    "all": "all classes",
    "la_cosine": "LA, cosine head", "ce_cosine": "CE, cosine head", "ldam_drw": "LDAM-DRW",
    "la_minus_ce": "LA − CE", "la_minus_ldam_drw": "LA − LDAM-DRW",
    "la_cosine_minus_ldam_drw": "LA − LDAM-DRW, both on the cosine head",
    "la_cosine_minus_la": "LA, cosine − linear head",
    "balpoe_mixup_minus_la": "BalPoE + mixup − LA",
    "balpoe_mixup_minus_balpoe": "BalPoE + mixup − BalPoE",
    "sphere_toy_marginals": "sphere toy tail accuracy, GH − SimCLR",
    "matched": "matched class prior", "estimated": "GH's own π̂",
    "sphere_toy_improvements": "sphere toy tail accuracy", "count_floor": "count floor",
    "faster_memory": "faster memory", "longer_warmup": "longer warm-up",
    "vs_estimated": "− GH's own π̂", "vs_simclr": "− SimCLR",
    "probe_gain": "probe accuracy, GH − SimCLR",
    # summaries of a paired difference
    "mean": "mean", "ci_low": "95 % CI low", "ci_high": "95 % CI high",
}

#: the groups ``many`` / ``medium`` / ``few``: 00's shot groups by training count; in 06
#: the classes' frequency thirds (notebooks/NOTATION.md)
_GROUPS = {"many": "many-group", "medium": "medium-group", "few": "few-group"}
_THIRDS = {"many": "head-third", "medium": "middle-third", "few": "tail-third"}

#: a key names a rate (printed in %) when a part of it matches this, or is a difference
#: of balanced accuracies listed in `PART_NAMES` under ``"flexda_minus_..."`` or
#: ``"adello_minus_..."``
_RATE = re.compile(r"accuracy|error|(^|_)ece(_|$)|^(flexda|adello)_minus_|^sphere_toy_(marginals|improvements)$|^probe_gain$")
#: ... and a difference of rates (printed in points) when a part also matches this
_DIFFERENCE = re.compile(r"_minus_|_paired$|^sphere_toy_(marginals|improvements)$|^probe_gain$")


def row_label(key: str, notebook: str = "") -> tuple[str, str | None]:
    """The readable name of the dotted result ``key`` and its unit: ``"%"`` for an accuracy,
    error or ECE, ``"points"`` for a difference of them, None for anything else (a KL, a
    ratio, a cosine); ``(key, None)`` when a part of the key is not in `PART_NAMES`, so an
    unknown key prints as it is recorded.

    >>> row_label("shot_accuracy.few", "00_tour")
    ('few-group accuracy', '%')
    >>> row_label("prior_arms_paired.flexda_minus_fixmatch.mean")
    ('balanced accuracy, FlexDA − FixMatch, mean', 'points')
    >>> row_label("sphere_toy_paired.etf_gap.mean")
    ('sphere toy, GH − SimCLR, ETF gap, mean', None)
    >>> row_label("some.new_key")
    ('some.new_key', None)
    """
    parts = key.split(".")
    groups = _THIRDS if notebook.startswith(("06", "08")) else _GROUPS
    words: list[str] = []
    for part in parts:
        if part in groups:
            if words and words[-1].endswith("accuracy"):  # "few-group accuracy"
                words[-1] = f"{groups[part]} {words[-1]}"
            else:
                words.append(groups[part].replace("-", " "))  # "SimCLR, tail third"
            continue
        name = PART_NAMES.get(part)
        if name is None:  # "balanced_accuracy_la_mixup": a quantity, then a method
            quantity = next((q for q in ("balanced_accuracy", "balanced_error", "ece")
                             if part.startswith(q + "_")), None)
            method = PART_NAMES.get(part[len(quantity) + 1:]) if quantity else None
            if method is None:
                return key, None
            name = f"{PART_NAMES[quantity]}, {method}"
        if name:
            words.append(name)
    rate = any(_RATE.search(part) for part in parts)
    unit = ("points" if any(_DIFFERENCE.search(p) for p in parts) else "%") if rate else None
    return ", ".join(words), unit


def _format_in(value: Any, unit: str | None) -> str:
    """``value`` (a fraction) in ``unit``: percent, signed points, or as it is."""
    if unit is None or isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        return _format(value)
    return f"{100 * value:+.1f}" if unit == "points" else f"{100 * value:.1f}"


def _lookup(results: dict[str, Any], key: str) -> Any:
    """``results[a][b]`` for the dotted ``key`` "a.b"; None when a part is missing."""
    value: Any = results
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _leaves(key: str, value: Any) -> list[tuple[str, Any]]:
    """(dotted path, number) for every number under ``value``; lists (per-seed values,
    curves) are left out: the table shows summaries."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(f"{key}.{k}", v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [(key, value)]
    return []


def _this_run() -> dict[str, Any]:
    from .._records import recorded

    return recorded()


def show_full_size(notebook: str, keys: Iterable[str], quick: dict[str, Any] | None = None,
                   folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """Print the full-size values of ``keys`` beside this run's, with where they were
    recorded; return the full-size values.

    ``keys`` are recorded-result names, or dotted paths into them
    (``"prior_arms_paired.flexda_minus_fixmatch"``). ``quick`` holds this run's values
    (default: what the notebook has recorded so far, `ltlab.runner.recorded`). Without a
    record (a fresh install, or a notebook whose settings changed) it says how to make one
    instead of failing.

    Each row is a number under ``keys``, named by `row_label`: accuracies, errors and ECE
    print in percent, differences of them in points (signed), other numbers (a KL, a ratio)
    and keys `row_label` does not know as recorded. The returned values are the record's,
    unconverted.
    """
    record = read_record(notebook, folder)
    if record is None:
        print(f"No full-size record for {notebook} here yet: "
              f"`ltlab run --full --device cuda --out results/full` makes one.")
        return {}
    results = record.get("results", {})
    quick = _this_run() if quick is None else quick
    values = {k: _lookup(results, k) for k in keys}
    values = {k: v for k, v in values.items() if v is not None}
    where = ", ".join(str(record[k]) for k in ("machine", "device", "date") if k in record)
    extra = []
    if "wall_s" in record:
        extra.append(f"{record['wall_s'] / 60:.0f} min")
    if "seed" in record:
        extra.append(f"seed {record['seed']}")
    print(f"At full size (recorded on {where}" + "".join(f", {e}" for e in extra) + "):")
    rows = [leaf for k, v in values.items() for leaf in _leaves(k, v)]
    if not rows:
        print("  (no such keys in the record)")
        return values
    labels = {}
    for path, _ in rows:
        name, unit = row_label(path, notebook)
        labels[path] = (f"{name} ({unit})" if unit else name, unit)
    width = max(len(name) for name, _ in labels.values())
    print(f"  {'':{width}s}  {'this run':>10s}  {'full size':>10s}")
    for path, full in rows:
        name, unit = labels[path]
        mine = _lookup(quick, path) if quick else None
        mine_text = _format_in(mine, unit) if isinstance(mine, (int, float)) else "-"  # not measured
        print(f"  {name:{width}s}  {mine_text:>10s}  {_format_in(full, unit):>10s}")
    return values


def records_table(folder: str | os.PathLike | None = None) -> str:
    """A Markdown table of the committed records: notebook, device, machine, date and wall
    time (README's "Full-size runs" table is this text; a test keeps them equal).

    ``python -m ltlab.experiments.full_size`` prints it.
    """
    folder = Path(folder) if folder is not None else find_records_folder()
    lines = ["| notebook | device | machine | date | wall time |", "|---|---|---|---|---|"]
    for notebook in DRIVERS:
        record = read_record(notebook, folder) if folder is not None else None
        if record is None:
            lines.append(f"| {notebook} | - | - | - | no record |")
            continue
        lines.append(f"| {notebook} | {record['device']} | {record['machine']} | "
                     f"{record['date']} | {record['wall_s'] / 60:.1f} min |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(records_table())


def paper_vs_lab_section(notebook: str, results: Any, claims: Iterable[Claim], *,
                         quick: bool = True, folder: str | os.PathLike | None = None) -> list[dict]:
    """A notebook's closing "Paper vs this lab" table, in one call: the rows of
    `ltlab.experiments.paper_vs_lab.paper_vs_lab` for this run's ``results`` and, in quick
    mode, the committed full-size record of ``notebook`` (`read_record`, from ``folder`` or
    the records folder found), printed by ``show_paper_vs_lab``; returns the rows, which the
    notebook records as ``paper_vs_lab``."""
    record = read_record(notebook, folder) if quick else None
    rows = paper_vs_lab(results, claims, full=record["results"] if record else None,
                        quick=quick)
    show_paper_vs_lab(rows)
    return rows
