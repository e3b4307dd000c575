"""Where the notebooks are opened, installed and read: badges, book links, the Colab install
cell, README's links and pyproject's derived URLs agree with what ``tools/distribution.py``
writes from pyproject.toml's one repository setting and ``ltlab.__version__``; no file links
into the unrelated ``ltlab`` GitHub account; pyproject's dependencies leave Colab's packages
alone; ``binder/`` agrees with pyproject."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ltlab_tools_distribution",
                                               ROOT / "tools" / "distribution.py")
distribution = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = distribution  # dataclasses look their module up there
_spec.loader.exec_module(distribution)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
BINDER = ROOT / "binder"

DIST = distribution.load(ROOT)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
INSTALL_CELL = distribution.install_cell(DIST.name, DIST.version, DIST.repository)


def _requirements(names: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in names]
    return {canonicalize_name(r.name): r for r in reqs if canonicalize_name(r.name) != "ltlab"}


RUNTIME = _requirements(PROJECT["dependencies"])
LIVE = _requirements(PROJECT["optional-dependencies"]["live"])
LAB = _requirements(PROJECT["optional-dependencies"]["lab"])
nb_ids = {"ids": lambda p: p.stem}


# ----------------------------------------------------------------------------- one source
def test_version_and_repository_have_one_source_each():
    import ltlab

    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ltlab.__version__"}
    assert DIST.version == ltlab.__version__
    assert DIST.slug == distribution.slug_of(PROJECT["urls"]["Repository"])
    # the other URLs are derived from Repository (the generator writes them)
    assert PROJECT["urls"] == DIST.urls
    assert set(DIST.urls) == {"Repository", "Documentation", "Issues", "Changelog"}
    owner, name = DIST.slug.split("/")
    assert DIST.urls["Documentation"] == f"https://{owner.lower()}.github.io/{name}/"


def test_notebooks_and_readme_agree_with_the_generator():
    stale = distribution.sync(ROOT, write=False)
    assert not stale, (f"out of date with pyproject.toml / ltlab.__version__: "
                       f"{[str(p.relative_to(ROOT)) for p in stale]}; run "
                       "`python tools/distribution.py sync`")


def test_the_tool_is_repository_tooling_not_part_of_the_package():
    assert not (ROOT / "ltlab" / "distribution.py").exists()
    assert (ROOT / "tools" / "distribution.py").is_file()
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "distribution.py"), "check",
                          "--notebooks", str(ROOT / "notebooks")], capture_output=True,
                         text=True)
    assert res.returncode in (0, 1) and ("out of date" in res.stdout or "agree" in res.stdout)


def test_generator_rewrites_a_stale_copy_and_then_agrees(tmp_path):
    """The generator itself, on a copy: old badges and an old install cell are replaced,
    nothing else in the notebook changes, and a second run changes nothing."""
    src = NOTEBOOKS[0]
    nb = nbformat.read(str(src), as_version=4)
    line = distribution.badge_line(DIST.slug, src.name, DIST.tag)
    # an old-style first cell: badges opening main, no book link
    old = (f"[![Open In Colab]({distribution.COLAB_BADGE})](https://colab.research.google.com/"
           f"github/x/y/blob/main/notebooks/{src.name}) [![Binder]({distribution.BINDER_BADGE})]"
           f"(https://mybinder.org/v2/gh/x/y/HEAD?urlpath=lab/tree/notebooks/{src.name})")
    nb.cells[0].source = re.sub(r"^.*colab-badge\.svg.*$", old, nb.cells[0].source, flags=re.M)
    assert old in nb.cells[0].source
    nb.cells[1].source = 'import sys\n\nif "google.colab" in sys.modules:\n    %pip install x'
    copy = tmp_path / "notebooks" / src.name
    copy.parent.mkdir()
    nbformat.write(nb, str(copy))
    assert distribution.sync(ROOT, copy.parent, readme=False) == [copy]
    fixed = nbformat.read(str(copy), as_version=4)
    assert line in fixed.cells[0].source and fixed.cells[1].source == INSTALL_CELL
    assert "/blob/main/" not in fixed.cells[0].source and f"/blob/{DIST.tag}/" in line
    assert fixed.cells[0].source.count(line) == 1
    original = nbformat.read(str(src), as_version=4)
    assert [c.source for c in fixed.cells[2:]] == [c.source for c in original.cells[2:]]
    assert distribution.sync(ROOT, copy.parent, readme=False) == []


def _repository_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                             capture_output=True, check=True).stdout.decode()
        return [ROOT / p for p in out.split("\0") if p and (ROOT / p).is_file()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist)
        skip = {".git", ".venv", "test-output", "runs", "build", "dist", "data"}
        return [p for p in ROOT.rglob("*") if p.is_file()
                and not skip & set(p.relative_to(ROOT).parts)]


# The GitHub account "ltlab" belongs to someone else: a link into it, in any of the forms
# GitHub, Colab and Binder use, must not appear anywhere (written in pieces so that this
# file does not match itself).
_UNRELATED = re.compile(r"(github\.com|colab\.research\.google\.com/github|mybinder\.org/v2/gh"
                        r"|githubusercontent\.com)" + "/" + "ltlab/", re.I)


def test_no_file_names_the_unrelated_account_and_the_repository_only_where_generated():
    generated = {distribution.badge_line(DIST.slug, p.name, DIST.tag) for p in NOTEBOOKS}
    generated |= set(INSTALL_CELL.splitlines())
    # README, pyproject.toml and CITATION.cff are written whole by the generator (and checked
    # by test_notebooks_and_readme_agree_with_the_generator)
    written = {"README.md", "CITATION.cff"}
    files = _repository_files()
    assert any(p.name == "pyproject.toml" for p in files)
    bad, stray = [], []
    for path in files:
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        rel = path.relative_to(ROOT).as_posix()
        bad += [f"{rel}: {m.group(0)}" for m in _UNRELATED.finditer(text)]
        if rel == "pyproject.toml":
            urls = text[text.index("[project.urls]"):]
            urls = urls[:urls.index("\n[")]
            assert text.count(DIST.slug) == urls.count(DIST.slug), (
                "pyproject.toml: the repository only in [project.urls]")
            continue
        if rel in written:
            continue
        lines = ([json.loads(f"[{raw.strip().rstrip(',')}]")[0] for raw in text.splitlines()
                  if DIST.slug in raw] if path.suffix == ".ipynb" else
                 [raw for raw in text.splitlines() if DIST.slug in raw])
        stray += [f"{rel}: {line.strip()}" for line in lines if line.rstrip("\n") not in generated]
    assert not bad, f"links into the unrelated GitHub account: {bad}"
    assert not stray, ("the repository address is written by hand here; name it only in "
                       f"pyproject.toml [project.urls] and generate the rest: {stray}")


# ----------------------------------------------------------------------------- badges
@pytest.mark.parametrize("path", NOTEBOOKS, **nb_ids)
def test_first_cell_title_and_badges(path):
    cell = nbformat.read(str(path), as_version=4).cells[0]
    assert cell.cell_type == "markdown"
    number = path.name[:2]
    assert re.match(rf"# {number} · \S", cell.source), f"{path.name}: title must be '# {number} · ...'"
    colab = distribution.colab_url(DIST.slug, path.name, DIST.tag)
    binder = distribution.binder_url(DIST.slug, path.name, DIST.tag)
    assert distribution.badge_line(DIST.slug, path.name, DIST.tag) in cell.source
    # the release the notebook belongs to, and its page in the hosted book
    assert f"/blob/v{DIST.version}/" in colab and f"/v{DIST.version}?" in binder
    book = distribution.book_url(DIST.slug, path.name)
    assert f"]({book})" in cell.source and book == f"{DIST.urls['Documentation']}{path.stem}.html"
    links = re.findall(r"\]\((https://(?:colab\.research\.google\.com|mybinder\.org)/[^)]*)\)",
                       cell.source)
    assert sorted(links) == sorted([distribution.COLAB_BADGE, colab, distribution.BINDER_BADGE,
                                    binder]), f"{path.name}: a stray Colab/Binder link: {links}"


# ----------------------------------------------------------------------------- Colab
@pytest.mark.parametrize("path", NOTEBOOKS, **nb_ids)
def test_colab_install_cell(path):
    cell = nbformat.read(str(path), as_version=4).cells[1]
    assert cell.cell_type == "code"
    assert cell.source.strip() == INSTALL_CELL, (
        f"{path.name}: the second cell must be exactly\n{INSTALL_CELL}")


def _install_calls(colab: bool) -> list[tuple[str, str]]:
    """Run the install cell as IPython would, with a stand-in for %pip."""
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(INSTALL_CELL)
    calls: list[tuple[str, str]] = []
    shell = types.SimpleNamespace(run_line_magic=lambda name, line: calls.append((name, line)))
    saved = {k: sys.modules.get(k) for k in ("google.colab",)}
    try:
        if colab:
            sys.modules["google.colab"] = types.ModuleType("google.colab")
        else:
            sys.modules.pop("google.colab", None)
        exec(compile(code, "install-cell", "exec"), {"get_ipython": lambda: shell})
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return calls


def test_install_cell_installs_the_pinned_release_only_on_colab():
    import ltlab

    assert _install_calls(colab=False) == []
    calls = _install_calls(colab=True)
    assert len(calls) == 1 and calls[0][0] == "pip"  # %pip: the kernel's own interpreter
    args = calls[0][1].split(maxsplit=2)
    assert args[:2] == ["install", "-q"]
    req = Requirement(args[2].strip('"'))
    assert req.name == PROJECT["name"] and req.url is None  # the package index, no git URL
    assert str(req.specifier) == f"=={ltlab.__version__}"
    assert f"from a checkout of {DIST.repository}" in INSTALL_CELL


def test_pyproject_leaves_colabs_packages_alone():
    """Floors only, low enough for Colab's torch, numpy and widget stack (its published list,
    August 2026); live FigureWidgets (anywidget, plotly >= 6.1) are the [live] extra."""
    colab = {"torch": "2.11.0", "torchvision": "0.26.0", "numpy": "2.1.3",
             "plotly": "5.24.1", "ipywidgets": "7.7.1", "ipykernel": "6.17.1",
             "ipython": "7.34.0", "traitlets": "5.7.1", "pyzmq": "24.0.1"}
    for name, version in colab.items():
        spec = RUNTIME[name].specifier
        assert all(s.operator == ">=" for s in spec), f"{name}: floors, not caps ({spec})"
        assert spec.contains(version), f"{name} {spec} rejects Colab's {version}"
    assert "anywidget" not in RUNTIME and "anywidget" in LIVE
    assert LIVE["plotly"].specifier.contains("6.1.0")
    assert not LIVE["plotly"].specifier.contains("6.0.1")  # FigureWidget in a VBox: broken
    assert any(r.startswith("ltlab[live]") for r in PROJECT["optional-dependencies"]["lab"])


# ----------------------------------------------------------------------------- Binder
def test_binder_folder_is_the_only_config():
    assert BINDER.is_dir()
    assert not (ROOT / ".binder").exists(), "repo2docker refuses both binder/ and .binder/"
    assert not (BINDER / "environment.yml").exists(), (
        "environment.yml would make repo2docker ignore runtime.txt and requirements.txt")


def test_binder_runtime_satisfies_requires_python():
    text = (BINDER / "runtime.txt").read_text().strip()
    assert text == "python-3.12"  # repo2docker's default would be 3.10
    assert Version(text.removeprefix("python-")) in SpecifierSet(PROJECT["requires-python"])


def _binder_requirements() -> tuple[list[str], dict[str, Requirement]]:
    options, reqs = [], {}
    for raw in (BINDER / "requirements.txt").read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in reqs, f"binder/requirements.txt lists {req.name} twice"
        reqs[name] = req
    return options, reqs


def test_binder_requirements_cpu_torch_and_no_local_paths():
    options, reqs = _binder_requirements()
    assert options == [f"--extra-index-url {CPU_INDEX}"], (
        "binder/requirements.txt: only the CPU torch index as an option (no -e ., no -r); "
        "a local path disables repo2docker's cached install layer")
    for name in ("torch", "torchvision"):
        (spec,) = list(reqs[name].specifier)
        assert spec.operator == "==" and spec.version.endswith("+cpu"), (
            f"binder pins {name} as {spec}; use {name}==X.Y.Z+cpu (Binder has no GPU)")
    torch_v = Version(next(iter(reqs["torch"].specifier)).version)
    vision_v = Version(next(iter(reqs["torchvision"].specifier)).version)
    # torchvision 0.(m+15) is built for torch 2.m (0.15 <-> 2.0, ..., 0.29 <-> 2.14)
    assert torch_v.major == 2 and vision_v.minor == torch_v.minor + 15, (torch_v, vision_v)


def test_binder_requirements_agree_with_pyproject():
    _, reqs = _binder_requirements()
    missing = sorted(set(RUNTIME) - set(reqs))
    assert not missing, f"binder/requirements.txt lacks runtime dependencies {missing}"
    stray = sorted(set(reqs) - set(RUNTIME) - set(LIVE) - set(LAB))
    assert not stray, f"binder/requirements.txt installs {stray}, which pyproject does not name"
    missing = sorted(set(LIVE) - set(reqs))
    assert not missing, f"binder/requirements.txt lacks the [live] extra's {missing}"
    for name, dep in {**RUNTIME, **LIVE}.items():
        specs = list(reqs[name].specifier)
        assert len(specs) == 1 and specs[0].operator == "==", (
            f"binder pins {name} exactly (got '{reqs[name].specifier}'): Binder reproduces CI")
        pinned = Version(specs[0].version)
        for spec in (RUNTIME.get(name), LIVE.get(name)):
            assert spec is None or spec.specifier.contains(Version(pinned.public), True), (
                f"binder pins {name}=={pinned}, outside pyproject's '{spec}'")
        assert reqs[name].extras == dep.extras
    for name, dep in LAB.items():  # Binder's base image has JupyterLab; ranges are fine
        floors = [Version(s.version) for s in reqs.get(name, Requirement(name)).specifier
                  if s.operator in ("==", ">=")]
        needed = [Version(s.version) for s in dep.specifier if s.operator == ">="]
        assert all(f >= n for f in floors for n in needed), (
            f"binder's {reqs[name]} allows less than pyproject's lab extra {dep}")


def test_binder_post_build_installs_ltlab_without_dependencies():
    post = BINDER / "postBuild"
    text = post.read_text()
    assert os.access(post, os.X_OK), "binder/postBuild must be executable"
    assert text.startswith("#!/bin/bash") or text.startswith("#!/usr/bin/env bash")
    assert re.search(r"^set -e", text, re.M), "without set -e repo2docker ignores failures"
    installs = [line.strip() for line in text.splitlines()
                if re.search(r"\bpip install\b", line) and not line.lstrip().startswith("#")]
    assert len(installs) == 1, installs
    assert re.fullmatch(r"(python -m )?pip install (-q )?--no-deps -e \.", installs[0]), installs


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
               if f"]({DIST.repository}/blob/{DIST.tag}/notebooks/{p.name})" not in readme]
    assert not missing, f"README's notebook table misses {missing}"


def test_readme_has_no_relative_link_and_links_the_book():
    """README is the package index's project page too, where relative links break."""
    readme = (ROOT / "README.md").read_text()
    relative = [m.group(0) for m in distribution._RELATIVE_LINK.finditer(readme)]
    assert not relative, f"relative links in README (run tools/distribution.py sync): {relative}"
    assert DIST.urls["Documentation"] in readme


def test_absolute_links_rewrites_files_folders_and_images_only():
    text = ("[a](COURSE.md) [b](notebooks/) ![c](docs/fig.png) [d](https://x.org/y) [e](#top) "
            "[f](./tests/tooling/test_cli.py#L3) [g](mailto:a@b.c)")
    out = distribution.absolute_links(text, DIST)
    base, tag = DIST.repository, DIST.tag
    assert f"[a]({base}/blob/{tag}/COURSE.md)" in out
    assert f"[b]({base}/tree/{tag}/notebooks/)" in out
    assert f"![c](https://raw.githubusercontent.com/{DIST.slug}/{tag}/docs/fig.png)" in out
    assert "[d](https://x.org/y)" in out and "[e](#top)" in out and "[g](mailto:a@b.c)" in out
    assert f"[f]({base}/blob/{tag}/tests/tooling/test_cli.py#L3)" in out
    assert distribution.absolute_links(out, DIST) == out  # a second run changes nothing


def test_sync_writes_derived_urls_from_the_repository_setting(tmp_path):
    """Change the one Repository setting in a copy: pyproject's other URLs, CITATION.cff,
    README and the notebooks of both folders follow; nothing else in pyproject changes."""
    for name in ("pyproject.toml", "README.md", "CITATION.cff"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "ltlab").mkdir()
    (tmp_path / "ltlab" / "__init__.py").write_text('__version__ = "9.8.7"\n')
    for folder in distribution.NOTEBOOK_FOLDERS:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / NOTEBOOKS[0].name).write_text(NOTEBOOKS[0].read_text())
    for _, target in distribution._OWN_LINK.findall((ROOT / "README.md").read_text()):
        linked = tmp_path / target.split("#")[0]  # the files README links to
        linked.parent.mkdir(parents=True, exist_ok=True)
        if not linked.exists():
            linked.write_text((ROOT / target.split("#")[0]).read_text())
    py = tmp_path / "pyproject.toml"
    py.write_text(py.read_text().replace(DIST.repository, "https://github.com/Other/lab"))
    before = py.read_text()
    changed = distribution.sync(tmp_path)
    assert py in changed and tmp_path / "CITATION.cff" in changed
    urls = tomllib.loads(py.read_text())["project"]["urls"]
    assert urls == {"Repository": "https://github.com/Other/lab",
                    "Documentation": "https://other.github.io/lab/",
                    "Issues": "https://github.com/Other/lab/issues",
                    "Changelog": "https://github.com/Other/lab/blob/main/CHANGELOG.md"}
    kept = [line for line in before.splitlines() if "github" not in line]
    assert [line for line in py.read_text().splitlines() if "github" not in line] == kept
    cff = (tmp_path / "CITATION.cff").read_text()
    assert 'repository-code: "https://github.com/Other/lab"' in cff and 'version: "9.8.7"' in cff
    for folder in distribution.NOTEBOOK_FOLDERS:
        first = nbformat.read(str(tmp_path / folder / NOTEBOOKS[0].name), 4).cells[0].source
        assert "github/Other/lab/blob/v9.8.7/notebooks/" in first
        assert "https://other.github.io/lab/00_tour.html" in first
    readme = (tmp_path / "README.md").read_text()
    assert "https://github.com/Other/lab/blob/v9.8.7/COURSE.md" in readme
    assert DIST.slug not in readme
    assert distribution.sync(tmp_path) == []


def test_readme_library_table_lists_every_module_under_its_floor():
    """Each top-level module and package of ltlab sits in README's table of its floor."""
    readme = (ROOT / "README.md").read_text()
    library = readme[readme.index("## The library"):]
    library = library[:library.index("\n## ", 5)]
    floors = {}
    for section in library.split("\n### ")[1:]:
        heading = section.split(":", 1)[0].strip().lower()
        floors.update({name: heading for name in re.findall(r"`(ltlab(?:\.\w+)?)`", section)
                       if name not in floors})
    floor_of = {"experiments": "teaching", "exercises": "teaching", "viz": "presentation",
                "widgets": "presentation", "runner": "tooling", "sweep": "tooling",
                "cli": "tooling", "recipes": "tooling",
                "full_runs": "tooling", "course": "tooling", "notebook_parameters": "tooling",
                "notebook_execution": "tooling", "run_folder": "tooling"}
    package = ROOT / "ltlab"
    names = {p.stem for p in package.glob("*.py")
             if p.stem not in ("__init__", "__main__", "_deprecation")}
    names |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    expected = {f"ltlab.{n}": floor_of.get(n, "core") for n in names} | {"ltlab": "tooling"}
    missing = sorted(set(expected) - set(floors))
    assert not missing, f"README's library tables miss {missing}"
    wrong = {n: floors[n] for n in expected if floors[n] != expected[n]}
    assert not wrong, f"README lists these under the wrong floor: {wrong}"
