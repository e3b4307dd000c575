"""What ``pip install ltlab`` gets: every direct import declared with a floor that holds,
the notebooks, NOTATION.md and the full-size records as package data (found from a wheel or
a checkout), ``ltlab --version``, ``python -m ltlab``, ``ltlab notebooks DEST``, ``py.typed``,
the licence and citation files, and the CI that installs and checks all of it."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import ltlab
from ltlab import _packaged, cli
from ltlab.experiments import full_size

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
CORE = {canonicalize_name(Requirement(r).name): Requirement(r) for r in PROJECT["dependencies"]}
EXTRAS = {canonicalize_name(Requirement(r).name)
          for reqs in PROJECT["optional-dependencies"].values() for r in reqs}
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RECORDS = sorted((ROOT / "results" / "full").glob("[0-9][0-9]_*.json"))

#: import name -> distribution name, where they differ
DIST_OF = {"sklearn": "scikit-learn", "IPython": "ipython", "zmq": "pyzmq", "yaml": "pyyaml",
           "jupyter_server_mathjax": "jupyter-server-mathjax"}
#: declared for what they provide, not imported: the kernel that runs the notebooks
NOT_IMPORTED = {"ipykernel": "the python3 kernel that ltlab run / run_notebook start"}


# ----------------------------------------------------------------------------- dependencies
def _third_party_imports() -> dict[str, dict[str, set[str]]]:
    """{"required"|"optional": {top-level module: files}}; optional = inside a ``try`` whose
    handler catches ImportError (a fallback or an extra)."""
    found: dict[str, dict[str, set[str]]] = {"required": {}, "optional": {}}

    def visit(node, path, optional):
        if isinstance(node, ast.Try):
            catches = any(h.type is None or "ImportError" in ast.unparse(h.type)
                          or "ModuleNotFoundError" in ast.unparse(h.type) for h in node.handlers)
            for child in node.body:
                visit(child, path, optional or catches)
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child, path, optional)
            return
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != "ltlab":
                found["optional" if optional else "required"].setdefault(top, set()).add(path)
        for child in ast.iter_child_nodes(node):
            visit(child, path, optional)

    for path in sorted((ROOT / "ltlab").rglob("*.py")):
        visit(ast.parse(path.read_text()), path.relative_to(ROOT).as_posix(), False)
    return found


def test_every_direct_import_is_declared():
    found = _third_party_imports()
    undeclared = {m: sorted(f) for m, f in found["required"].items()
                  if canonicalize_name(DIST_OF.get(m, m)) not in CORE}
    assert not undeclared, f"imported by ltlab but not in [project] dependencies: {undeclared}"
    optional = {m: sorted(f) for m, f in found["optional"].items()
                if canonicalize_name(DIST_OF.get(m, m)) not in set(CORE) | EXTRAS | {"tomli", "tomllib"}}  # tomllib: stdlib from 3.11
    assert not optional, f"optional imports in no extra: {optional}"
    imported = {canonicalize_name(DIST_OF.get(m, m)) for kind in found.values() for m in kind}
    unused = sorted(set(CORE) - imported - set(NOT_IMPORTED))
    assert not unused, f"declared but never imported (say why in NOT_IMPORTED): {unused}"


def test_the_main_job_needs_no_extra():
    """ipywidgets 8 no longer brings a kernel: the runner's kernel and nbconvert are core."""
    for name in ("ipykernel", "nbconvert", "papermill", "nbformat", "scipy"):
        assert name in CORE, f"{name} must be a core dependency"
    for extra in ("lab", "live", "book", "course", "test"):
        assert extra in PROJECT["optional-dependencies"]


@pytest.mark.parametrize("name, floor, why", [
    ("torch", "2.3", "NumPy 2 support came with torch 2.3"),
    ("torchvision", "0.18", "built for torch 2.3"),
    ("scikit-learn", "1.4.2", "earlier builds fail with NumPy 2"),
    ("scipy", "1.13", "NumPy 2 support"),
])
def test_floors_that_hold(name, floor, why):
    spec = CORE[name].specifier
    floors = [Version(s.version) for s in spec if s.operator == ">="]
    assert floors and min(floors) >= Version(floor), f"{name} {spec}: {why}"
    assert all(s.operator == ">=" for s in spec), f"{name}: floors, not caps"


def test_lowest_constraints_pin_every_floor(tmp_path):
    """tools/lowest.py writes the constraints the lowest-versions CI job installs."""
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "lowest.py")],
                         capture_output=True, text=True, check=True).stdout
    pins = dict(line.split("==") for line in out.split() if "==" in line)
    assert {canonicalize_name(k) for k in pins} == set(CORE)
    for name, req in CORE.items():
        (floor,) = [s.version for s in req.specifier if s.operator == ">="]
        assert pins[name] == floor


# ----------------------------------------------------------------------------- package data
def test_packages_list_every_folder_of_ltlab_and_the_data_packages():
    folders = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "ltlab").rglob("__init__.py")}
    data = {"ltlab._lab.notebooks", "ltlab._lab.results"}
    expected = sorted(folders) + sorted(data)
    assert set(SETUPTOOLS["packages"]) == set(expected), (
        "pyproject [tool.setuptools] packages must list every package under ltlab/ (else the "
        f"wheel lacks it): packages = {json.dumps(expected)}")
    assert SETUPTOOLS["package-dir"] == {"ltlab._lab.notebooks": "notebooks",
                                         "ltlab._lab.results": "results/full"}


def test_package_data_patterns_cover_the_notebooks_and_records():
    data = SETUPTOOLS["package-data"]
    nb_patterns, rec_patterns = data["ltlab._lab.notebooks"], data["ltlab._lab.results"]
    for path in [*NOTEBOOKS, ROOT / "notebooks" / "NOTATION.md"]:
        assert any(path.match(p) for p in nb_patterns), path.name
    for path in RECORDS:
        assert any(path.match(p) for p in rec_patterns), path.name
    # every notebook has its full-size record, and the records are the notebooks' (by name)
    assert len(NOTEBOOKS) >= 9
    assert [p.stem for p in RECORDS] == [p.stem for p in NOTEBOOKS]
    assert "py.typed" in data["ltlab"] and (ROOT / "ltlab" / "py.typed").is_file()


def test_packaged_folders_in_a_checkout():
    assert _packaged.packaged_notebooks() == ROOT / "notebooks"
    assert _packaged.packaged_records() == ROOT / "results" / "full"


def test_packaged_folders_inside_an_installed_wheel_come_first(tmp_path, monkeypatch):
    package = tmp_path / "site" / "ltlab"
    (package / "_lab" / "notebooks").mkdir(parents=True)
    (package / "_lab" / "results").mkdir()
    (package / "_lab" / "notebooks" / "00_tour.ipynb").write_text("{}")
    (package / "_lab" / "results" / "00_tour.json").write_text("{}")
    monkeypatch.setattr(_packaged, "_PACKAGE", package)
    assert _packaged.packaged_notebooks() == package / "_lab" / "notebooks"
    assert _packaged.packaged_records() == package / "_lab" / "results"
    (package / "_lab" / "results" / "00_tour.json").unlink()
    assert _packaged.packaged_records() is None  # no checkout beside site/ either


def test_copy_notebooks_copies_all_and_never_overwrites_silently(tmp_path):
    written = _packaged.copy_notebooks(tmp_path / "nb")
    assert sorted(p.name for p in written) == sorted(
        [p.name for p in NOTEBOOKS] + ["NOTATION.md"])
    assert (tmp_path / "nb" / NOTEBOOKS[0].name).read_bytes() == NOTEBOOKS[0].read_bytes()
    (tmp_path / "nb" / "00_tour.ipynb").write_text("my edits")
    with pytest.raises(FileExistsError, match="--overwrite"):
        _packaged.copy_notebooks(tmp_path / "nb")
    assert (tmp_path / "nb" / "00_tour.ipynb").read_text() == "my edits"
    _packaged.copy_notebooks(tmp_path / "nb", overwrite=True)
    assert (tmp_path / "nb" / "00_tour.ipynb").read_bytes() == NOTEBOOKS[0].read_bytes()


def test_full_size_record_found_from_anywhere(tmp_path, monkeypatch):
    """A notebook run outside a checkout (a copied folder, Colab) finds the packaged record."""
    monkeypatch.delenv("LTLAB_FULL_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert full_size.find_records_folder() == _packaged.packaged_records()
    record = full_size.read_record("00_tour")
    assert record is not None
    assert record == full_size.read_record("00_tour", ROOT / "results" / "full")
    (tmp_path / "results" / "full").mkdir(parents=True)  # a checkout's own folder wins
    assert full_size.find_records_folder() == (tmp_path / "results" / "full").resolve()


# ----------------------------------------------------------------------------- the command
def test_version_flag_and_python_dash_m():
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    res = subprocess.run([sys.executable, "-m", "ltlab", "--version"], capture_output=True,
                         text=True, cwd=ROOT)
    assert res.returncode == 0 and res.stdout.strip() == f"ltlab {ltlab.__version__}"


def test_ltlab_notebooks_copies_them_out(tmp_path, capsys):
    assert cli.main(["notebooks", str(tmp_path / "nb")]) == 0
    assert len(list((tmp_path / "nb").glob("[0-9][0-9]_*.ipynb"))) == len(NOTEBOOKS)
    assert (tmp_path / "nb" / "NOTATION.md").is_file()
    assert cli.main(["notebooks", str(tmp_path / "nb")]) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_ltlab_run_without_a_notebooks_folder_uses_the_packaged_ones(tmp_path, monkeypatch,
                                                                     capsys):
    seen = []
    monkeypatch.setattr(cli, "run_all", lambda folder, *a, **k: seen.append(folder) or {})
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run"]) == 0
    assert seen == [str(_packaged.packaged_notebooks())]
    assert "came with ltlab" in capsys.readouterr().err
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00_tour.ipynb").write_text("{}")
    assert cli.main(["run"]) == 0 and seen[-1] == "notebooks"  # a folder here wins
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "00_tour.ipynb").write_text("{}")
    assert cli.main(["run", "--notebooks", "elsewhere"]) == 0 and seen[-1] == "elsewhere"


@pytest.mark.slow
@pytest.mark.network  # python -m build fetches its build backend from the index
def test_the_wheel_carries_the_lab_and_not_the_repository_tooling(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), ROOT],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("ltlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in NOTEBOOKS:
        assert f"ltlab/_lab/notebooks/{path.name}" in names
    assert "ltlab/_lab/notebooks/NOTATION.md" in names
    for path in RECORDS:
        assert f"ltlab/_lab/results/{path.name}" in names
    assert {"ltlab/py.typed", "ltlab/__main__.py", "ltlab/_packaged.py"} <= names
    assert not any("distribution.py" in n or n.startswith("tools/") for n in names)
    meta = zipfile.ZipFile(wheel).read(f"ltlab-{ltlab.__version__}.dist-info/METADATA").decode()
    assert "License-File: LICENSE" in meta and "Requires-Dist: ipykernel" in meta


# ----------------------------------------------------------------------------- metadata
def test_license_is_mit_with_a_holder():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert re.search(r"^Copyright \(c\) 2026 The ltlab authors$", text, re.M)
    assert "WITHOUT WARRANTY OF ANY KIND" in text
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]


def test_classifiers_and_urls():
    classifiers = PROJECT["classifiers"]
    versions = {c.rsplit(":: ", 1)[1] for c in classifiers
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    assert versions == {"3.10", "3.11", "3.12"}
    assert PROJECT["requires-python"] == ">=3.10"
    assert "Typing :: Typed" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # SPDX license instead
    assert set(PROJECT["urls"]) == {"Repository", "Documentation", "Issues", "Changelog"}


def test_citation_cites_the_lab_and_the_papers_it_teaches():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["license"] == "MIT" and cff["version"] == ltlab.__version__
    assert cff["repository-code"] == PROJECT["urls"]["Repository"]
    refs = {r["title"]: r for r in cff["references"]}
    expected = {"Long-tail learning via logit adjustment": ("Menon", 2021),
                "Balanced Product of Calibrated Experts for Long-Tailed Recognition":
                    ("Sanchez Aimar", 2023),
                "Flexible Distribution Alignment: Towards Long-Tailed Semi-supervised "
                "Learning with Proper Calibration": ("Sanchez Aimar", 2024),
                "Long-tailed Distribution Adaptation": ("Peng", 2021),
                "Combating Representation Learning Disparity with Geometric Harmonization":
                    ("Zhou", 2023)}
    assert set(refs) == set(expected)
    for title, (first, year) in expected.items():
        assert refs[title]["authors"][0]["family-names"] == first and refs[title]["year"] == year
        assert refs[title]["type"] == "conference-paper"


def test_issue_templates_and_contributing():
    templates = ROOT / ".github" / "ISSUE_TEMPLATE"
    forms = {p.stem: yaml.safe_load(p.read_text()) for p in templates.glob("*.yml")
             if p.name != "config.yml"}
    assert set(forms) == {"bug", "lesson_error", "feature"}
    for name, form in forms.items():
        assert form["name"] and form["description"] and form["body"], name
        ids = [item.get("id") for item in form["body"] if item["type"] != "markdown"]
        assert len(ids) == len(set(ids)) and all(ids), f"{name}: every field needs an id"
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for needle in ("ltlab student instructor notebooks", "settings(quick)", "compare(",
                   "recorded_results", "ltlab/experiments/template.py", "core", "teaching",
                   "presentation", "tooling", "ARCHITECTURE.md"):
        assert needle in contributing, needle


# ----------------------------------------------------------------------------- the repository
_OUTSIDE = re.compile(r"DESIGN\.md|methods-spec|\bshared/")


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                         capture_output=True).stdout.decode()
    return [ROOT / p for p in out.split("\0") if p and (ROOT / p).is_file()]


def test_no_reference_to_files_outside_the_repository():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    hits = []
    for path in _tracked_text_files():
        if path == Path(__file__):
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for line in text.splitlines():
            if _OUTSIDE.search(line) and " not in " not in line:  # a check of absence is fine
                hits.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not hits, f"references to files outside the repository: {hits}"


def test_architecture_document_names_only_what_exists():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for floor in ("Core", "Teaching", "Presentation", "Tooling"):
        assert f"## {floor}" in text or f"### {floor}" in text or f"| {floor.lower()}" in text
    names = set(re.findall(r"`(ltlab(?:\.[a-z_0-9]+)+)`", text))
    assert len(names) > 20
    missing = []
    data = SETUPTOOLS["package-dir"]  # the data packages: folders of the repository
    for name in sorted(names):
        if name in data:
            assert (ROOT / data[name]).is_dir(), name
            continue
        path = ROOT.joinpath(*name.split("."))
        if not (path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()):
            parent = ROOT.joinpath(*name.split(".")[:-1])  # a name inside a module
            if not (parent.with_suffix(".py").is_file() or (parent / "__init__.py").is_file()):
                missing.append(name)
    assert not missing, f"ARCHITECTURE.md names modules that do not exist: {missing}"
    for path in re.findall(r"`((?:notebooks|tests|docs|tools)/[\w./-]+)`", text):
        assert (ROOT / path).exists(), path


# ----------------------------------------------------------------------------- CI and docs
def _workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_tests_workflow_runs_on_push_and_pull_request_with_every_job():
    flow = _workflow("tests.yml")
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "push" in triggers and "pull_request" in triggers
    jobs = flow["jobs"]
    text = (ROOT / ".github" / "workflows" / "tests.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^python3 -m venv \.venv && .*-m pytest.*$", readme, re.M)
    assert command and command.group(0) in text, "tests.yml runs README's test command"
    matrix = jobs["fast"]["strategy"]["matrix"]["python-version"]
    assert set(matrix) == {"3.10", "3.12"}
    assert 'not slow and not e2e' in text
    assert "tools/lowest.py" in text and "tests/tooling/test_course.py" in text
    assert "nbgrader" in text and "mypy" in text
    assert set(jobs) >= {"suite", "fast", "lowest", "nbgrader", "types"}


def test_docs_project_and_pages_workflow():
    conf, index = ROOT / "docs" / "conf.py", ROOT / "docs" / "index.md"
    assert conf.is_file() and index.is_file()
    compile(conf.read_text(), str(conf), "exec")
    toc = index.read_text()
    assert "{toctree}" in toc and "COURSE" in toc and "NOTATION" in toc and "api" in toc
    flow = _workflow("docs.yml")
    steps = [s for job in flow["jobs"].values() for s in job.get("steps", [])]
    uses = " ".join(s.get("uses", "") for s in steps)
    assert "actions/upload-pages-artifact@" in uses and "actions/deploy-pages@" in uses
    runs = " ".join(s.get("run", "") for s in steps)
    assert "ltlab run" in runs and "ltlab book" in runs


def test_mypy_is_configured_for_the_package():
    mypy = PYPROJECT["tool"]["mypy"]
    assert mypy["files"] == ["ltlab"] and mypy["python_version"] == "3.10"


def test_build_book_uses_the_docs_project(monkeypatch, tmp_path):
    """`ltlab book` copies docs/conf.py and docs/index.md into the Sphinx source, with the
    settings it derives (repository, MathJax) beside them, instead of writing a conf."""
    from ltlab.course import book

    src = tmp_path / "src"
    src.mkdir()
    nb = json.loads(NOTEBOOKS[0].read_text())
    (src / NOTEBOOKS[0].name).write_text(json.dumps(nb))
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        html = Path(cmd[-1])
        html.mkdir(parents=True)
        (html / "index.html").write_text("<html></html>")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(book.subprocess, "run", fake_run)
    keep = tmp_path / "source"
    book.build_book(src, tmp_path / "out", course=ROOT / "COURSE.md",
                    notation=ROOT / "notebooks" / "NOTATION.md",
                    pyproject=ROOT / "pyproject.toml", keep_source=keep, docs=ROOT / "docs")
    assert (keep / "conf.py").read_text() == (ROOT / "docs" / "conf.py").read_text()
    assert (keep / "index.md").read_text() == (ROOT / "docs" / "index.md").read_text()
    settings = json.loads((keep / "_ltlab_book.json").read_text())
    assert settings["repository"] == PROJECT["urls"]["Repository"]
    assert calls and (tmp_path / "out" / "index.html").is_file()
