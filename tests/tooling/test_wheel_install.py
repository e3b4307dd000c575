"""A release that students can install, in a Colab-shaped environment.

One fresh virtual environment outside the checkout, built once for this module (about
2-3 minutes on a 2-core machine, most of it installing torch from the machine's wheel cache;
marked ``network``: skipped with the reason when the package index is unreachable):

1. ``python -m build`` makes an sdist and a wheel of the checkout (``LTLAB_TEST_WHEEL=path``
   tests a wheel built before, and the sdist beside it, instead);
2. the venv gets Colab's versions of the widget stack and numpy (Colab's published package
   list, August 2026; `COLAB` below) and torch / torchvision;
3. ``pip install --dry-run --report`` of the wheel must change none of them;
4. the wheel is installed, and notebooks 00 and 01 are copied out of the checkout and
   executed in that venv's kernel with ``COLAB_RELEASE_TAG`` set, as on Colab: the wheel
   carries everything the notebooks need at run time, and the live panels take the
   display-handle path (their outputs say so in their metadata).

Where this environment differs from Colab: Python 3.11 here (Colab: 3.12), torch 2.14.1 /
torchvision 0.29.1 from this machine's disk (Colab: torch 2.11 with CUDA), and no
``google.colab`` module (so the notebooks' install cell stays idle: ltlab is not on the
package index until the first release).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
#: Colab's preinstalled versions (published list, August 2026) that installing ltlab must keep.
COLAB = {"ipywidgets": "7.7.1", "plotly": "5.24.1", "ipython": "7.34.0", "numpy": "2.1.3",
         "ipykernel": "6.17.1", "jupyter-client": "6.1.12"}
#: torch as this machine's wheel cache has it (Colab ships 2.11; any >= pyproject's floor).
TORCH = {"torch": "2.14.1", "torchvision": "0.29.1"}
NOTEBOOKS = ("00_tour.ipynb", "01_logit_adjustment.ipynb")
COLAB_TAG = "release-colab_20260801-060000_RC00"
TIMES: dict[str, float] = {}


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", **kwargs.pop("env", {}))
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,
                         **kwargs)
    assert res.returncode == 0, f"{cmd[:4]} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _timed(name, cmd, **kwargs):
    start = time.perf_counter()
    res = _run(cmd, **kwargs)
    TIMES[name] = round(time.perf_counter() - start, 1)
    return res


def _versions(python: Path) -> dict[str, str]:
    out = _run([python, "-m", "pip", "list", "--format=json"]).stdout
    return {canonicalize_name(p["name"]): p["version"] for p in json.loads(out)}


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    given = os.environ.get("LTLAB_TEST_WHEEL")  # the release workflow tests what it publishes
    if given:
        dist.mkdir()
        for path in Path(given).parent.glob("ltlab-*"):
            shutil.copy(path, dist / path.name)
    else:
        _timed("build", [sys.executable, "-m", "build", "--outdir", dist, ROOT])
    venv = tmp / "venv"
    _timed("venv", [sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    pins = [f"{n}=={v}" for n, v in {**TORCH, **COLAB}.items()]
    _timed("colab stack", [python, "-m", "pip", "install", "-q", "--no-compile", *pins])
    (wheel,) = dist.glob("ltlab-*.whl")
    report = tmp / "report.json"
    _timed("dry run", [python, "-m", "pip", "install", "-q", "--dry-run", "--report", report,
                       wheel])
    before = _versions(python)
    _timed("install wheel", [python, "-m", "pip", "install", "-q", "--no-compile", wheel])
    yield {"tmp": tmp, "dist": dist, "wheel": wheel, "python": python, "before": before,
           "after": _versions(python), "report": json.loads(report.read_text())}
    shutil.rmtree(venv, ignore_errors=True)  # 5 GB of torch; pytest keeps its last 3 tmp dirs


@pytest.mark.slow
@pytest.mark.network
def test_build_makes_an_sdist_and_a_wheel_with_every_module(colab_venv):
    dist = colab_venv["dist"]
    (sdist,) = dist.glob("ltlab-*.tar.gz")
    import ltlab

    assert colab_venv["wheel"].name == f"ltlab-{ltlab.__version__}-py3-none-any.whl"
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "ltlab").rglob("*.py")}
    in_wheel = set(zipfile.ZipFile(colab_venv["wheel"]).namelist())
    assert not modules - in_wheel, f"the wheel lacks {sorted(modules - in_wheel)}"
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md"} <= names and not modules - names


@pytest.mark.slow
@pytest.mark.network
def test_installing_the_wheel_changes_none_of_colabs_packages(colab_venv):
    before, after = colab_venv["before"], colab_venv["after"]
    for name, version in {**COLAB, **TORCH}.items():
        assert before[canonicalize_name(name)].split("+")[0] == version, (name, before)
    planned = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"]
               for i in colab_venv["report"]["install"]}
    assert "ltlab" in planned
    changed = {n: (before[n], v) for n, v in planned.items() if n in before}
    assert not changed, f"pip would replace preinstalled packages (old, new): {changed}"
    assert {n: after[n] for n in before} == before, "installing the wheel changed packages"


@pytest.mark.slow
@pytest.mark.network
def test_notebooks_run_from_the_wheel_in_a_colab_shaped_kernel(colab_venv):
    tmp, python = colab_venv["tmp"], colab_venv["python"]
    work = tmp / "student"
    work.mkdir()
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / name, work / name)
    kernels = tmp / "jupyter" / "kernels" / "colab-shaped"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-shaped", "language": "python"}))
    script = (
        "import json, sys, ltlab, plotly\n"
        "from ltlab.runner import run_notebook\n"
        "assert ltlab.__file__.startswith(sys.prefix), ltlab.__file__\n"
        "out = {'ltlab': ltlab.__file__, 'plotly': plotly.__version__}\n"
        "for name in sys.argv[1:]:\n"
        "    out[name] = run_notebook(name, {'quick': True, 'interactive': True},\n"
        "                             'executed-' + name, kernel_name='colab-shaped')\n"
        "print(json.dumps(out, default=str))\n")
    env = {"COLAB_RELEASE_TAG": COLAB_TAG, "TQDM_DISABLE": "1",
           "JUPYTER_PATH": str(tmp / "jupyter"), "LTLAB_PANELS": ""}
    res = _timed("notebooks", [python, "-c", script, *NOTEBOOKS], cwd=work, env=env)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["plotly"] == COLAB["plotly"] and str(tmp) in out["ltlab"]
    assert out["00_tour.ipynb"], "notebook 00 recorded no results"
    panels = []
    for cell in nbformat.read(str(work / "executed-01_logit_adjustment.ipynb"), 4).cells:
        for output in cell.get("outputs", []):
            panels.append(output.get("metadata", {}).get("ltlab_panel"))
    panels = [p for p in panels if p]
    assert panels, "notebook 01 showed no live panel"
    assert all(p == {"mode": "static", "reason": "Colab"} for p in panels), panels
    print(f"wheel/Colab venv timings (s): {TIMES}")


def test_offline_is_detected_quickly(monkeypatch):
    """The probe behind the ``network`` marker's skip (tests/tooling/conftest.py):
    LTLAB_OFFLINE, or an index that does not answer, says why, within seconds."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tooling_conftest",
                                                  Path(__file__).with_name("conftest.py"))
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    monkeypatch.setenv("LTLAB_OFFLINE", "1")
    assert probe.index_unreachable() == "LTLAB_OFFLINE is set"
    probe.index_unreachable.cache_clear()
    monkeypatch.delenv("LTLAB_OFFLINE")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # discard port: refused
    start = time.perf_counter()
    reason = probe.index_unreachable(timeout=1.0)
    assert reason and "127.0.0.1:9/simple is unreachable" in reason
    assert time.perf_counter() - start < 5
