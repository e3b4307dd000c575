"""Where students open, install and read ltlab: every link derived from one setting.

Repository tooling (not part of the package). The repository's address lives once, in
``[project.urls] Repository`` of ``pyproject.toml``; the version once, in
``ltlab.__version__`` (pyproject reads it from there). Everything else is derived from these
two and written by this tool:

- each notebook's first Markdown cell: Colab and Binder badges that open the notebook **at
  the release tag it belongs to** (``v{version}``, so a student never runs a newer notebook
  against an older library) and a link to its page in the hosted book (GitHub Pages);
- each notebook's guarded Colab install cell (its first code cell), pinning that release;
- README's badges, its book link and every relative link made absolute (README is also the
  package index's project page, where relative links break);
- pyproject's other ``[project.urls]`` (Documentation, Issues, Changelog) and
  ``CITATION.cff``'s ``repository-code`` and ``url``.

Run it in a checkout after changing either setting (``tests/tooling/test_distribution.py``
fails until you do)::

    python tools/distribution.py sync     # rewrite notebooks/, instructor/, README, ...
    python tools/distribution.py check    # list what is out of date, exit 1 if anything is

The Colab cell installs the pinned release from the package index, never a git URL: an
account the project does not control can not change what students run.

>>> slug_of("https://github.com/owner/ltlab")
'owner/ltlab'
>>> colab_url("owner/ltlab", "00_tour.ipynb", "v1.2.3")
'https://colab.research.google.com/github/owner/ltlab/blob/v1.2.3/notebooks/00_tour.ipynb'
>>> docs_url("owner/ltlab")
'https://owner.github.io/ltlab/'
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

__all__ = ["Distribution", "absolute_links", "badge_line", "binder_url", "book_url",
           "colab_url", "docs_url", "install_cell", "load", "slug_of", "sync"]

ROOT = Path(__file__).resolve().parents[1]  # the checkout (this file is tools/distribution.py)
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
#: the notebook folders whose first cells this tool writes (student copies and their source)
NOTEBOOK_FOLDERS = ("notebooks", "instructor")
_BADGE_LINE = re.compile(r"^.*(colab-badge\.svg|mybinder\.org/badge).*$", re.M)
_NOTEBOOK_IN_LINK = re.compile(r"notebooks/(\d\d_[\w-]+\.ipynb)")
_DOCS_URL = re.compile(r"https://[\w-]+\.github\.io/[\w.-]+/")
# a Markdown link or image whose target is a path in the repository (not a URL, not an anchor)
_RELATIVE_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\((?![a-z][a-z0-9+.-]*:|#|/)([^)\s]+)\)",
                            re.I)


def slug_of(url: str) -> str:
    """``owner/name`` of a ``https://github.com/owner/name`` address."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url.strip())
    if not m:
        raise ValueError(f"[project.urls] Repository must be https://github.com/OWNER/NAME "
                         f"(got {url!r}): Colab and Binder open GitHub repositories.")
    return f"{m.group(1)}/{m.group(2)}"


def tag_of(version: str) -> str:
    """The release tag of ``version`` (the release workflow checks the two agree)."""
    return f"v{version}"


def colab_url(slug: str, notebook: str, ref: str) -> str:
    """Colab opening ``notebooks/<notebook>`` at git ``ref`` (a release tag)."""
    return f"https://colab.research.google.com/github/{slug}/blob/{ref}/notebooks/{notebook}"


def binder_url(slug: str, notebook: str, ref: str) -> str:
    """Binder building git ``ref`` and opening ``notebooks/<notebook>`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{slug}/{ref}?urlpath=lab/tree/notebooks/{notebook}"


def docs_url(slug: str) -> str:
    """The book's address on GitHub Pages (a project site: owner.github.io/name/)."""
    owner, name = slug.split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


def book_url(slug: str, notebook: str) -> str:
    """The book's page of ``notebook`` (``ltlab book`` names each page after its notebook)."""
    return docs_url(slug) + Path(notebook).stem + ".html"


def badge_line(slug: str, notebook: str, ref: str) -> str:
    """The Markdown line of a notebook's first cell: both badges for ``notebooks/<notebook>``
    at ``ref`` and the link to its page in the book."""
    return (f"[![Open In Colab]({COLAB_BADGE})]({colab_url(slug, notebook, ref)}) "
            f"[![Binder]({BINDER_BADGE})]({binder_url(slug, notebook, ref)}) "
            f"· [Read it with its outputs in the book]({book_url(slug, notebook)})")


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
    """The two settings everything is derived from, and what is derived."""

    name: str
    version: str
    repository: str

    @property
    def slug(self) -> str:
        return slug_of(self.repository)

    @property
    def tag(self) -> str:
        return tag_of(self.version)

    @property
    def urls(self) -> dict[str, str]:
        """pyproject's ``[project.urls]`` as they must read."""
        return {"Repository": self.repository, "Documentation": docs_url(self.slug),
                "Issues": f"{self.repository}/issues",
                "Changelog": f"{self.repository}/blob/main/CHANGELOG.md"}


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10 (pytest brings tomli there)
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
    """The notebook at ``path`` as the generator writes it (badges, book link, install cell)."""
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    first = cells[0]
    if first["cell_type"] != "markdown":
        raise ValueError(f"{path.name}: the first cell must be Markdown (title and badges)")
    line = badge_line(dist.slug, path.name, dist.tag)
    src = _source(first)
    src = _BADGE_LINE.sub(lambda _: line, src, count=1) if _BADGE_LINE.search(src) else \
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

    return nbformat.writes(nbformat.from_dict(nb)) + "\n"


def absolute_links(text: str, dist: Distribution) -> str:
    """Every Markdown link to a path in the repository made absolute, at the release tag:
    files and folders on GitHub, images from raw.githubusercontent.com."""

    def fix(m: re.Match) -> str:
        bang, label, target = m.groups()
        target = target.removeprefix("./")
        if bang:
            return f"![{label}](https://raw.githubusercontent.com/{dist.slug}/{dist.tag}/{target})"
        kind = "tree" if target.endswith("/") or "." not in Path(target.split("#")[0]).name \
            else "blob"
        return f"[{label}]({dist.repository}/{kind}/{dist.tag}/{target})"

    return _RELATIVE_LINK.sub(fix, text)


# a link made absolute by an earlier sync (another repository setting or release): a file at a
# release tag of some GitHub repository whose path exists in this checkout
_OWN_LINK = re.compile(r"(!?\[[^\]\n]*\])\((?:https://github\.com/[\w.-]+/[\w.-]+/(?:blob|tree)"
                       r"|https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+)/v\d[^/)\s]*/"
                       r"([^)\s]+)\)")


def _relative_again(text: str, root: Path) -> str:
    """Links an earlier sync made absolute, relative again (the paths they name exist here)."""

    def back(m: re.Match) -> str:
        label, target = m.groups()
        return f"{label}({target})" if (root / target.split("#")[0]).exists() else m.group(0)

    return _OWN_LINK.sub(back, text)


def readme_text(path: Path, dist: Distribution) -> str:
    """README with each badge re-pointed at the release (same notebook as before), the book's
    address current and no relative link left."""

    def badge(m: re.Match) -> str:
        found = _NOTEBOOK_IN_LINK.search(m.group(0))
        notebook = found.group(1) if found else "00_tour.ipynb"
        if "colab-badge" in m.group(0):
            return f"[![Open In Colab]({COLAB_BADGE})]({colab_url(dist.slug, notebook, dist.tag)})"
        return f"[![Binder]({BINDER_BADGE})]({binder_url(dist.slug, notebook, dist.tag)})"

    text = _BADGE_LINE.sub(badge, path.read_text())
    text = _DOCS_URL.sub(lambda _: docs_url(dist.slug), text)
    return absolute_links(_relative_again(text, path.parent), dist)


def pyproject_text(path: Path, dist: Distribution) -> str:
    """pyproject.toml with the URLs derived from Repository rewritten in ``[project.urls]``."""
    text = path.read_text()
    start = text.index("[project.urls]")
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    section = text[start:end]
    for key, url in dist.urls.items():
        if key == "Repository":
            continue
        line = f'{key} = "{url}"'
        pattern = re.compile(rf"^{key}\s*=.*$", re.M)
        section = pattern.sub(lambda _, line=line: line, section) if pattern.search(section) \
            else section.rstrip("\n") + "\n" + line + "\n"
    return text[:start] + section + text[end:]


def citation_text(path: Path, dist: Distribution) -> str:
    """CITATION.cff with the lab's ``repository-code``, ``url`` and ``version`` current
    (top-level keys only: the references keep their own)."""
    text = path.read_text()
    text = re.sub(r"^repository-code:.*$", f'repository-code: "{dist.repository}"', text,
                  flags=re.M)
    text = re.sub(r"^url:.*$", f'url: "{docs_url(dist.slug)}"', text, flags=re.M)
    return re.sub(r"^version:.*$", f'version: "{dist.version}"', text, flags=re.M)


def sync(root: Path | str = ROOT, notebooks: list[Path | str] | Path | str | None = None,
         readme: bool = True, write: bool = True) -> list[Path]:
    """Rewrite badges, book links, install cells and derived URLs; return the files that
    were (or, with ``write=False``, would be) changed. ``notebooks``: other folders of
    notebooks (copies) instead of the checkout's `NOTEBOOK_FOLDERS`; ``readme=False`` leaves
    README, pyproject.toml and CITATION.cff alone."""
    root = Path(root)
    dist = load(root)
    if notebooks is None:
        folders = [root / f for f in NOTEBOOK_FOLDERS]
    elif isinstance(notebooks, (str, Path)):
        folders = [Path(notebooks)]
    else:
        folders = [Path(f) for f in notebooks]
    targets = [(p, notebook_text) for folder in folders
               for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))]
    if readme:
        targets += [(root / "README.md", readme_text), (root / "pyproject.toml", pyproject_text)]
        if (root / "CITATION.cff").is_file():
            targets.append((root / "CITATION.cff", citation_text))
    changed = []
    for path, render in targets:
        new = render(path, dist)
        if new != path.read_text():
            changed.append(path)
            if write:
                path.write_text(new)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/distribution.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["sync", "check"])
    parser.add_argument("--root", default=str(ROOT), help="the checkout (default: this one)")
    parser.add_argument("--notebooks", nargs="+", default=None,
                        help="folders of notebooks to use instead of ROOT/notebooks and "
                             "ROOT/instructor (README, pyproject and CITATION are then left alone)")
    args = parser.parse_args(argv)
    changed = sync(args.root, args.notebooks, readme=args.notebooks is None,
                   write=args.action == "sync")
    verb = "rewrote" if args.action == "sync" else "out of date"
    for path in changed:
        print(f"{verb}: {path}")
    if not changed:
        print("badges, book links, install cells and URLs agree with pyproject.toml and "
              "ltlab.__version__")
    return 1 if changed and args.action == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
