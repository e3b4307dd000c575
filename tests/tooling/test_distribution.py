"""Where the notebooks are opened: badges, the Colab install cell and ``binder/`` agree with
``pyproject.toml`` (and with each other), for every notebook present."""

from __future__ import annotations

import os
import re
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
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
BINDER = ROOT / "binder"

GITHUB = "ltlab/ltlab"  # owner/name of the public repository the badges and Colab point at
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
INSTALL_CELL = (
    "import sys\n"
    "\n"
    'if "google.colab" in sys.modules:  # Colab only; torch and numpy come with Colab\n'
    f'    %pip install -q "{PROJECT["name"]} @ git+https://github.com/{GITHUB}"'
)


def _requirements(names: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in names]
    return {canonicalize_name(r.name): r for r in reqs}


RUNTIME = _requirements(PROJECT["dependencies"])
LAB = _requirements(PROJECT["optional-dependencies"]["lab"])
nb_ids = {"ids": lambda p: p.stem}


def test_repository_urls_agree_with_pyproject():
    urls = PROJECT.get("urls", {})
    for url in urls.values():
        if "github.com/" in url:
            assert f"github.com/{GITHUB}" in url.rstrip("/") + "/", url


# ----------------------------------------------------------------------------- badges
@pytest.mark.parametrize("path", NOTEBOOKS, **nb_ids)
def test_first_cell_title_and_badges(path):
    cell = nbformat.read(str(path), as_version=4).cells[0]
    assert cell.cell_type == "markdown"
    number = path.name[:2]
    assert re.match(rf"# {number} · \S", cell.source), f"{path.name}: title must be '# {number} · ...'"
    colab = (f"https://colab.research.google.com/github/{GITHUB}/blob/main/notebooks/{path.name}")
    binder = (f"https://mybinder.org/v2/gh/{GITHUB}/HEAD?urlpath=lab/tree/notebooks/{path.name}")
    expected = f"[![Open In Colab]({COLAB_BADGE})]({colab}) [![Binder]({BINDER_BADGE})]({binder})"
    assert expected in cell.source, f"{path.name}: badges must be exactly\n{expected}"
    links = re.findall(r"\]\((https://(?:colab\.research\.google\.com|mybinder\.org)/[^)]*)\)",
                       cell.source)
    assert sorted(links) == sorted([COLAB_BADGE, colab, BINDER_BADGE, binder]), (
        f"{path.name}: a stray Colab/Binder link points elsewhere: {links}")
    assert "Time: ~" in cell.source and "quick mode" in cell.source


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


def test_install_cell_installs_only_on_colab_and_pins_nothing_colab_ships():
    assert _install_calls(colab=False) == []
    calls = _install_calls(colab=True)
    assert len(calls) == 1 and calls[0][0] == "pip"  # %pip: the kernel's own interpreter
    args = calls[0][1].split(maxsplit=2)
    assert args[:2] == ["install", "-q"]
    req = Requirement(args[2].strip('"'))
    assert req.name == PROJECT["name"] and req.url == f"git+https://github.com/{GITHUB}"
    assert not req.specifier  # no pins; ltlab's own ranges leave Colab's torch and numpy alone
    for name in ("torch", "torchvision", "numpy"):
        spec = RUNTIME[name].specifier if name in RUNTIME else SpecifierSet()
        assert not any(s.operator in ("==", "===") for s in spec), (
            f"pyproject pins {name} exactly; Colab would reinstall it")


def test_widgets_turn_on_colabs_widget_manager(monkeypatch):
    """On Colab, building a live panel enables Colab's custom widget manager (anywidget does
    it for plotly's FigureWidget), so third-party widgets can render there."""
    import anywidget._util as util
    import ipywidgets
    import plotly.graph_objects as go

    from ltlab.widgets import LivePanel

    calls = []
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls.append("enabled")
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    util.enable_custom_widget_manager_once.cache_clear()
    try:
        panel = LivePanel(lambda n: go.Figure(go.Bar(y=[n])),
                          {"n": ipywidgets.IntSlider(value=1, min=0, max=5)})
        assert calls == ["enabled"]
        panel.controls["n"].value = 4
        assert panel.figure.data[0].y == (4,)
    finally:
        util.enable_custom_widget_manager_once.cache_clear()


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
    stray = sorted(set(reqs) - set(RUNTIME) - set(LAB))
    assert not stray, f"binder/requirements.txt installs {stray}, which pyproject does not name"
    for name, dep in RUNTIME.items():
        specs = list(reqs[name].specifier)
        assert len(specs) == 1 and specs[0].operator == "==", (
            f"binder pins {name} exactly (got '{reqs[name].specifier}'): Binder reproduces CI")
        pinned = Version(specs[0].version)
        assert dep.specifier.contains(Version(pinned.public), prereleases=True), (
            f"binder pins {name}=={pinned}, outside pyproject's '{dep.specifier}'")
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
               if f"](notebooks/{p.name})" not in readme]
    assert not missing, f"README's notebook table misses {missing}"


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
                "cli": "tooling", "recipes": "tooling"}
    package = ROOT / "ltlab"
    names = {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "_deprecation")}
    names |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    expected = {f"ltlab.{n}": floor_of.get(n, "core") for n in names} | {"ltlab": "tooling"}
    missing = sorted(set(expected) - set(floors))
    assert not missing, f"README's library tables miss {missing}"
    wrong = {n: floors[n] for n in expected if floors[n] != expected[n]}
    assert not wrong, f"README lists these under the wrong floor: {wrong}"
