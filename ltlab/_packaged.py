"""Where the lab's files are: the student notebooks, ``NOTATION.md`` and the full-size
records, in a checkout or inside an installed wheel.

A wheel carries them as package data (``pyproject.toml`` maps ``ltlab._lab.notebooks`` to the
repository's ``notebooks/`` and ``ltlab._lab.results`` to ``results/full/``, so nothing moves in
the repository); an editable install or a checkout on ``sys.path`` reads the repository's
folders themselves. Nothing here imports the rest of ltlab.

>>> (packaged_notebooks() / "00_tour.ipynb").is_file()
True
>>> (packaged_records() / "00_tour.json").is_file()
True
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["copy_notebooks", "packaged_notebooks", "packaged_records"]

_PACKAGE = Path(__file__).resolve().parent
#: (inside a wheel, in a checkout) for each kind of file, relative to the package / checkout
_PLACES = {"notebooks": ("_lab/notebooks", "notebooks"),
           "records": ("_lab/results", "results/full")}


def _find(kind: str, marker: str) -> Path | None:
    inside, checkout = _PLACES[kind]
    for folder in (_PACKAGE / inside, _PACKAGE.parent / checkout):
        if (folder / marker).is_file():
            return folder
    return None


def packaged_notebooks() -> Path | None:
    """The folder of the student notebooks that came with this ltlab (the wheel's copy, or
    the checkout's ``notebooks/``), or None when neither is there."""
    return _find("notebooks", "00_tour.ipynb")


def packaged_records() -> Path | None:
    """The folder of the full-size records that came with this ltlab (the wheel's copy, or
    the checkout's ``results/full/``), or None when neither is there."""
    return _find("records", "00_tour.json")


def copy_notebooks(dest: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the packaged notebooks and ``NOTATION.md`` into ``dest`` (created if needed);
    return the files written. An existing file is left alone unless ``overwrite``: a
    student's edited notebook is never replaced by accident.

    Raises FileNotFoundError when this ltlab carries no notebooks, FileExistsError naming
    the files that would be replaced.
    """
    src = packaged_notebooks()
    if src is None:
        raise FileNotFoundError("this installation of ltlab carries no notebooks; reinstall "
                                "it from a wheel or a checkout (pip install ltlab)")
    files = sorted(src.glob("[0-9][0-9]_*.ipynb")) + sorted(src.glob("*.md"))
    dest = Path(dest)
    clash = [str(dest / p.name) for p in files if (dest / p.name).exists()]
    if clash and not overwrite:
        raise FileExistsError(f"{len(clash)} files already exist, e.g. {clash[0]}: give an "
                              "empty folder, or --overwrite to replace them")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        shutil.copyfile(path, dest / path.name)
        written.append(dest / path.name)
    return written
