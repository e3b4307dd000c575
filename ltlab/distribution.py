"""Where students open and install ltlab: the Colab/Binder badges and the Colab install cell,
written from one setting.

The repository's address lives once, in ``[project.urls] Repository`` of ``pyproject.toml``;
the version once, in ``ltlab.__version__`` (pyproject reads it from there). Everything a
student clicks or runs is derived from these two: each notebook's badge line (in its first
Markdown cell), its guarded Colab install cell (its first code cell), and README's badges.
Run it in a checkout after changing either setting (``tests/tooling/test_distribution.py``
fails until you do)::

    python -m ltlab.distribution sync     # rewrite notebooks/*.ipynb and README.md
    python -m ltlab.distribution check    # list what is out of date, exit 1 if anything is

The Colab cell installs the pinned release from the package index, never a git URL: an
account the project does not control can not change what students run.

>>> slug_of("https://github.com/owner/ltlab")
'owner/ltlab'
>>> colab_url("owner/ltlab", "00_tour.ipynb")
'https://colab.research.google.com/github/owner/ltlab/blob/main/notebooks/00_tour.ipynb'
>>> print(install_cell("ltlab", "1.2.3", "https://github.com/o/ltlab").splitlines()[-1])
    %pip install -q "ltlab==1.2.3"
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Distribution", "badge_line", "binder_url", "colab_url", "install_cell", "load",
           "slug_of", "sync"]

ROOT = Path(__file__).resolve().parents[1]  # the checkout (this file is ltlab/distribution.py)
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
BRANCH = "main"  # Colab opens a branch's file; Binder builds HEAD of the default branch
_BADGE_LINE = re.compile(r"^.*(colab-badge\.svg|mybinder\.org/badge).*$", re.M)
_NOTEBOOK_IN_LINK = re.compile(r"notebooks/(\d\d_[\w-]+\.ipynb)")


def slug_of(url: str) -> str:
    """``owner/name`` of a ``https://github.com/owner/name`` address."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url.strip())
    if not m:
        raise ValueError(f"[project.urls] Repository must be https://github.com/OWNER/NAME "
                         f"(got {url!r}): Colab and Binder open GitHub repositories.")
    return f"{m.group(1)}/{m.group(2)}"


def colab_url(slug: str, notebook: str) -> str:
    return f"https://colab.research.google.com/github/{slug}/blob/{BRANCH}/notebooks/{notebook}"


def binder_url(slug: str, notebook: str) -> str:
    return f"https://mybinder.org/v2/gh/{slug}/HEAD?urlpath=lab/tree/notebooks/{notebook}"


def badge_line(slug: str, notebook: str) -> str:
    """The Markdown line with both badges for ``notebooks/<notebook>``."""
    return (f"[![Open In Colab]({COLAB_BADGE})]({colab_url(slug, notebook)}) "
            f"[![Binder]({BINDER_BADGE})]({binder_url(slug, notebook)})")


def install_cell(name: str, version: str, repository: str) -> str:
    """The first code cell: on Colab only, install the pinned release from the package index
    (torch, numpy and Colab's widget stack already satisfy ltlab's floors and stay)."""
    return (
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:  # Colab only; keeps Colab\'s torch, numpy, widgets\n'
        f"    # from a checkout of {repository} instead: %pip install -q -e <your clone>\n"
        f'    %pip install -q "{name}=={version}"'
    )


@dataclass(frozen=True)
class Distribution:
    """The two settings everything is derived from."""

    name: str
    version: str
    repository: str

    @property
    def slug(self) -> str:
        return slug_of(self.repository)


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(path.read_text())


def load(root: Path | str = ROOT) -> Distribution:
    """Read the settings of the checkout at ``root``."""
    root = Path(root)
    project = _toml(root / "pyproject.toml")["project"]
    text = (root / "ltlab" / "__init__.py").read_text()
    version = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if version is None:
        raise ValueError(f"{root}/ltlab/__init__.py sets no __version__ = \"...\"")
    repository = project.get("urls", {}).get("Repository")
    if not repository:
        raise ValueError("pyproject.toml needs [project.urls] Repository = \"https://github.com/...\"")
    slug_of(repository)
    return Distribution(project["name"], version.group(1), repository)


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _is_install_cell(cell) -> bool:
    return cell["cell_type"] == "code" and "google.colab" in _source(cell) and "%pip" in \
        _source(cell)


def notebook_text(path: Path, dist: Distribution) -> str:
    """The notebook at ``path`` as the generator writes it (badges and install cell set)."""
    text = path.read_text()
    nb = json.loads(text)
    cells = nb["cells"]
    first = cells[0]
    if first["cell_type"] != "markdown":
        raise ValueError(f"{path.name}: the first cell must be Markdown (title and badges)")
    line = badge_line(dist.slug, path.name)
    src = _source(first)
    src = _BADGE_LINE.sub(line, src, count=1) if _BADGE_LINE.search(src) else \
        src.rstrip("\n") + "\n\n" + line
    first["source"] = src
    code = install_cell(dist.name, dist.version, dist.repository)
    at = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), None)
    if at is not None and _is_install_cell(cells[at]):
        cells[at]["source"] = code
    else:
        cells.insert(1, {"cell_type": "code", "execution_count": None, "id": "colab-install",
                         "metadata": {}, "outputs": [], "source": code})
    # nbformat's own layout (one-space indent, sources as line lists), so a synced notebook
    # diffs only where it changed
    import nbformat

    node = nbformat.from_dict(nb)
    return nbformat.writes(node) + "\n"


def readme_text(path: Path, dist: Distribution) -> str:
    """README with each badge re-pointed at the repository (same notebook as before)."""

    def fix(m: re.Match) -> str:
        found = _NOTEBOOK_IN_LINK.search(m.group(0))
        notebook = found.group(1) if found else "00_tour.ipynb"
        colab, binder = badge_line(dist.slug, notebook).split(") [", 1)
        return colab + ")" if "colab-badge" in m.group(0) else "[" + binder

    return _BADGE_LINE.sub(fix, path.read_text())


def sync(root: Path | str = ROOT, notebooks: Path | str | None = None, readme: bool = True,
         write: bool = True) -> list[Path]:
    """Rewrite badges and install cells; return the files that were (or, with
    ``write=False``, would be) changed. ``notebooks``: another folder of notebooks (a copy)."""
    root = Path(root)
    dist = load(root)
    folder = Path(notebooks) if notebooks is not None else root / "notebooks"
    targets = [(p, notebook_text) for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))]
    if readme:
        targets.append((root / "README.md", readme_text))
    changed = []
    for path, render in targets:
        new = render(path, dist)
        if new != path.read_text():
            changed.append(path)
            if write:
                path.write_text(new)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltlab.distribution", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("action", choices=["sync", "check"])
    parser.add_argument("--root", default=str(ROOT), help="the checkout (default: this one)")
    parser.add_argument("--notebooks", default=None, help="a folder of notebooks to use "
                        "instead of ROOT/notebooks (README is then left alone)")
    args = parser.parse_args(argv)
    changed = sync(args.root, args.notebooks, readme=args.notebooks is None,
                   write=args.action == "sync")
    verb = "rewrote" if args.action == "sync" else "out of date"
    for path in changed:
        print(f"{verb}: {path}")
    if not changed:
        print("badges and install cells agree with pyproject.toml and ltlab.__version__")
    return 1 if changed and args.action == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
