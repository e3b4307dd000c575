"""The notebooks in a real browser: JupyterLab + Debian's Chromium, driven by Playwright.

JupyterLab serves a temporary copy of ``notebooks/`` on 127.0.0.1 (free port, random
token). For every *widget notebook* (one whose code builds an ``ltlab.widgets`` panel) the
test opens it, runs all cells with their defaults (quick mode, ``interactive=True``), then
for every live panel (an output holding a slider and a plotly graph) moves the first slider
and waits until the plotly graph's ``data`` in the page changes. Screenshots go to
``test-output/e2e/``. A small notebook built here (two `LivePanel` panels) checks the
machinery even when no widget notebook exists.

Chromium is never downloaded: Playwright drives ``/usr/bin/chromium`` (``apt-get install
chromium``) or ``$LTLAB_CHROMIUM``. Without it the tests skip, saying so.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
OUTPUT = ROOT / "test-output" / "e2e"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
# s to run all cells of one notebook (quick mode) in the browser; raise it on a loaded machine
NOTEBOOK_TIMEOUT = float(os.environ.get("LTLAB_E2E_TIMEOUT", 600))
PANEL_TIMEOUT = 180  # s for a panel to redraw after its slider moved (it may retrain)
_WIDGET_CODE = re.compile(r"ltlab\.widgets|\bLivePanel\b|\b\w+_panel\s*\(")


def widget_notebooks() -> list[Path]:
    """Notebooks whose code builds an ltlab.widgets panel (discovered, not listed)."""
    found = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        if _WIDGET_CODE.search(code):
            found.append(path)
    return found


def chromium() -> str:
    exe = os.environ.get("LTLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(exe).is_file():
        pytest.skip("Chromium not found (apt-get install -y chromium, or set LTLAB_CHROMIUM): "
                    "the real-browser tests did not run")
    return exe


# ----------------------------------------------------------------------------- JupyterLab
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lower_priority() -> None:
    """Run the server and its kernels below the browser's priority: a student's browser
    never competes with the kernel for CPU (Binder, Colab and remote labs put them on
    different machines), but on a 2-core CI runner both share the cores, and a plotly
    FigureWidget whose view is starved while the kernel computes may draw empty."""
    os.nice(10)


def _write_settings(folder: Path) -> None:
    """User settings of the test lab: every cell stays in the DOM (no virtual scrolling), no
    news or update checks (no network), no autosave over the copies."""
    settings = {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    }
    for plugin, values in settings.items():
        ext, name = plugin.rsplit("/", 1)
        target = folder / ext / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


class Lab:
    """A JupyterLab server on 127.0.0.1 serving ``root``."""

    def __init__(self, root: Path, work: Path) -> None:
        self.root = root
        self.token = secrets.token_hex(16)
        _write_settings(work / "settings")
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(work / "config"),
            "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
            "PLOTLY_RENDERER": "plotly_mimetype",  # no CDN: the lab renders the mimetype
            # the live FigureWidget path, whatever terminal started the tests (a VS Code
            # terminal sets VSCODE_PID, which would select the static panels)
            "LTLAB_PANELS": "live",
            "TQDM_DISABLE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        OUTPUT.mkdir(parents=True, exist_ok=True)
        self.log_path = OUTPUT / "jupyterlab.log"
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.log = self.log_path.open("w")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                 f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                 f"--IdentityProvider.token={self.token}", "--ServerApp.password=",
                 f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
                 f"--LabApp.user_settings_dir={work / 'settings'}",
                 f"--LabApp.workspaces_dir={work / 'workspaces'}",
                 "--ServerApp.shutdown_no_activity_timeout=0", "--allow-root"],
                stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=root,
                start_new_session=True, preexec_fn=_lower_priority,
            )
            if self._wait_ready(180):
                return
            self.stop()
        raise RuntimeError(f"JupyterLab did not start; see {self.log_path}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                self.api("GET", "/api/status")
                return True
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        return False

    def api(self, method: str, path: str):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server shuts its kernels down
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    chromium()  # skip before starting anything when there is no browser
    work = tmp_path_factory.mktemp("e2e")
    root = work / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    write_demo_notebook(root / "e2e_demo.ipynb")
    server = Lab(root, work)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data-dir
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=chromium(), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000}, service_workers="block",
        )
        context.set_default_timeout(60_000)
        yield context
        context.close()


# ----------------------------------------------------------------------------- in the page
_STATE_JS = """(path) => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.context || w.context.path !== path || !w.sessionContext) return null;
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  let pending = 0, total = 0; const errors = [];
  for (const cell of w.content.widgets) {
    if (cell.model.type !== 'code' || !cell.model.sharedModel.getSource().trim()) continue;
    total += 1;
    if (cell.model.executionCount === null) pending += 1;
    for (const o of cell.model.outputs.toJSON())
      if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
  }
  return {kernel: kernel ? kernel.status : null, pending, total, errors};
}"""

_NCELLS_JS = "() => window.jupyterapp.shell.currentWidget.content.widgets.length"

_OWNER_JS = """(el) => window.jupyterapp.shell.currentWidget.content.widgets
  .findIndex((cell) => cell.node.contains(el))"""

_RUN_CELL_JS = """(i) => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  nb.activeCellIndex = i;
  nb.deselectAll();
  window.jupyterapp.commands.execute('notebook:run-cell');
}"""

# one cell: can it run, its execution count, errors, whether its widget outputs are drawn
_CELL_JS = """(i) => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
  const outputs = cell.model.type === 'code' ? cell.model.outputs.toJSON() : [];
  const widgets = outputs.some((o) => o.data && o.data['application/vnd.jupyter.widget-view+json']);
  const plots = [...cell.node.querySelectorAll('.js-plotly-plot')];
  return {
    runnable: cell.model.type === 'code' && cell.model.sharedModel.getSource().trim() !== '',
    count: cell.model.type === 'code' ? cell.model.executionCount : null,
    errors: outputs.filter((o) => o.output_type === 'error').map((o) => o.ename + ': ' + o.evalue),
    widgets,
    drawn: !widgets || (plots.length > 0 && plots.every((gd) => gd.data && gd.data.length > 0)),
  };
}"""

# every output area holding a control (slider, checkbox, dropdown, multiple selection, toggle
# buttons) and a plotly graph is a live panel; tag them and say which control each one has
_CONTROLS = [("slider", ".widget-slider"), ("checkbox", ".widget-checkbox"),
             ("dropdown", ".widget-dropdown"), ("select", ".widget-select-multiple"),
             ("toggle", ".widget-toggle-buttons")]
_PANELS_JS = """(controls) => {
  const panels = [];
  document.querySelectorAll('.jp-OutputArea-output').forEach((el) => {
    if (!el.querySelector('.js-plotly-plot')) return;
    const kind = controls.find(([, css]) => el.querySelector(css));
    if (kind) {
      el.setAttribute('data-ltlab-panel', String(panels.length));
      panels.push(kind[0]);
    }
  });
  return panels;
}"""

# a digest of the data of the panel's plotly graphs, as plotly.js holds it (gd.data)
_DATA_JS = """(el) => {
  const plain = (k, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v);
  const text = [...el.querySelectorAll('.js-plotly-plot')]
    .map((gd) => JSON.stringify(gd.data || null, plain)).join('|');
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 16777619); }
  const traces = [...el.querySelectorAll('.js-plotly-plot')]
    .reduce((n, gd) => n + ((gd.data && gd.data.length) || 0), 0);
  return {hash: (h >>> 0).toString(16) + ':' + text.length, traces};
}"""


def _shot(page_or_locator, name: str) -> None:
    try:
        page_or_locator.screenshot(path=str(OUTPUT / f"{name}.png"))
    except Exception as err:  # a screenshot must never hide the real failure
        print(f"screenshot {name} failed: {err}")


def _wait(condition, timeout: float, what: str, page, shot: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.25)
    _shot(page, shot)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                         f"screenshot {OUTPUT / shot}.png")


def _run_cells(page, name: str, stem: str, deadline: float) -> None:
    """Run the code cells one at a time, as a student pressing Shift-Enter would, waiting
    for each to finish and for the live widgets it displays to draw before the next."""
    for i in range(page.evaluate(_NCELLS_JS)):
        if page.evaluate(_CELL_JS, i)["runnable"]:
            _run_one(page, name, stem, i, deadline)


def _run_one(page, name: str, stem: str, i: int, deadline: float) -> None:
    before = page.evaluate(_CELL_JS, i)["count"]
    page.evaluate(_RUN_CELL_JS, i)

    def done():
        c = page.evaluate(_CELL_JS, i)
        k = page.evaluate(_STATE_JS, name)
        return c if c["errors"] or (c["count"] not in (None, before) and k
                                    and k["kernel"] == "idle") else None

    cell = _wait(done, max(1.0, deadline - time.monotonic()), f"cell {i} of {name} to run",
                 page, f"{stem}-timeout")
    if cell["errors"]:
        _shot(page, f"{stem}-error")
        raise AssertionError(f"{name} raised in the browser at cell {i}: {cell['errors']}")
    if cell["widgets"]:  # let its widgets draw before the kernel computes the next cell
        until = time.monotonic() + 60
        while time.monotonic() < until and not page.evaluate(_CELL_JS, i)["drawn"]:
            time.sleep(0.25)


def _settled(panel, page, what: str, shot: str, timeout: float = 90) -> dict:
    """The panel's graph data once it has traces and stopped changing for a second."""
    seen: list[dict] = []

    def stable():
        d = panel.evaluate(_DATA_JS)
        seen.append(d)
        return d if (d["traces"] > 0 and len(seen) >= 5
                     and all(x["hash"] == d["hash"] for x in seen[-5:])) else None

    return _wait(stable, timeout, what, page, shot)


def _drawn_panel(page, name: str, stem: str, i: int, notes: list[str]) -> dict:
    """Panel ``i`` once drawn. A FigureWidget view that a starved browser rendered before
    its data arrived stays empty (plotly's view ignores later ``_widget_data`` changes), so
    such a panel's cell is run once more and the retry is reported, not hidden."""
    panel = page.locator(f"[data-ltlab-panel='{i}']")
    panel.scroll_into_view_if_needed()
    try:
        return _settled(panel, page, f"panel {i} of {name} to draw its traces",
                        f"{stem}-panel{i}-empty", timeout=60)
    except AssertionError:
        cell = panel.evaluate(_OWNER_JS)
        notes.append(f"panel {i} drew an empty figure; re-ran its cell {cell}")
        _run_one(page, name, stem, cell, time.monotonic() + 300)
        page.evaluate(_PANELS_JS, _CONTROLS)  # re-tag: the cell's new output replaced the old one
        panel = page.locator(f"[data-ltlab-panel='{i}']")
        panel.scroll_into_view_if_needed()
        return _settled(panel, page, f"panel {i} of {name} to draw its traces (after a re-run)",
                        f"{stem}-panel{i}-draw")


def _move_slider(page, slider) -> str:
    """Move a slider to its other end with the keyboard (End, or Home if already there),
    as a user would; noUiSlider commits the value as on a drag release."""
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    now = handle.get_attribute("aria-valuenow")
    top = handle.get_attribute("aria-valuemax")
    handle.focus()
    key = "Home" if now is not None and top is not None and float(now) >= float(top) else "End"
    page.keyboard.press(key)
    return key


def _operate(page, panel, kind: str) -> tuple[str, str]:
    """Change the panel's first control of ``kind`` as a user would; (its label, the action)."""
    css = dict(_CONTROLS)[kind]
    control = panel.locator(css).first
    control.scroll_into_view_if_needed()
    label = (control.locator(".widget-label").first.inner_text()
             if control.locator(".widget-label").count() else "")
    label = label.replace("\u200b", "").strip()  # ipywidgets puts a zero-width space there
    if kind == "slider":
        return label, _move_slider(page, control)
    if kind == "checkbox":
        box = control.locator("input[type=checkbox]").first
        label = label or control.inner_text().replace("\u200b", "").strip()
        box.click()
        return label, "click"
    if kind == "toggle":
        buttons = control.locator("button")
        target = next(i for i in range(buttons.count())
                      if "mod-active" not in (buttons.nth(i).get_attribute("class") or ""))
        buttons.nth(target).click()
        return label, f"button {target}"
    select = control.locator("select").first
    options = select.locator("option")
    if kind == "dropdown":
        chosen = select.evaluate("(s) => s.selectedIndex")
        target = 1 if chosen != 1 else 0
        select.select_option(index=target)
        return label, f"option {target}"
    select.select_option(index=0)  # a multiple selection: keep only the first option
    return label, f"only option 0 of {options.count()}"


def drive_notebook(context, lab: Lab, name: str) -> list[dict]:
    """Open ``name`` in the lab, run all cells, move one slider per live panel and check
    the graph's data changed in the page. Returns one dict per panel."""
    page = context.new_page()
    page.set_default_timeout(60_000)
    console_errors: list[str] = []
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    stem = Path(name).stem
    try:
        page.goto(f"{lab.url}/lab/workspaces/e2e-{stem}/tree/{name}?token={lab.token}",
                  wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        _wait(lambda: (s := page.evaluate(_STATE_JS, name)) and s["kernel"] == "idle"
                      and s, 120, "the kernel to start", page, f"{stem}-kernel")
        t0 = time.monotonic()
        _run_cells(page, name, stem, deadline=t0 + NOTEBOOK_TIMEOUT)
        run_seconds = time.monotonic() - t0

        counts = _wait(lambda: page.evaluate(_PANELS_JS, _CONTROLS), 60, f"a live panel in {name}",
                       page, f"{stem}-no-panel")
        results = []
        notes: list[str] = []
        for i in range(len(counts)):
            before = _drawn_panel(page, name, stem, i, notes)
            panel = page.locator(f"[data-ltlab-panel='{i}']")
            _shot(panel, f"{stem}-panel{i}-before")
            label, action = _operate(page, panel, counts[i])
            t1 = time.monotonic()
            after = _wait(lambda p=panel, b=before: (d := p.evaluate(_DATA_JS))["hash"]
                          != b["hash"] and d, PANEL_TIMEOUT,
                          f"panel {i} of {name} to redraw after its {counts[i]} '{label}' "
                          f"changed ({action})", page, f"{stem}-panel{i}-stuck")
            _shot(panel, f"{stem}-panel{i}-after")
            results.append({"panel": i, "control": counts[i], "slider": label, "key": action,
                            "traces": after["traces"],
                            "redraw_s": round(time.monotonic() - t1, 1)})
        _shot(page, f"{stem}-page")
        print(f"{name}: ran in {run_seconds:.0f} s; panels {results}")
        for note in notes:
            warnings.warn(f"{name}: {note} (a CPU-starved browser; see _drawn_panel)",
                          stacklevel=1)
        assert not console_errors, f"JavaScript errors in the page: {console_errors}"
        return results
    finally:
        page.close()
        lab.shutdown_kernels()


# ----------------------------------------------------------------------------- tests
def write_demo_notebook(path: Path) -> None:
    """Four LivePanels: an IntSlider with continuous updates, a FloatSlider without, a
    Checkbox (with a multiple selection beside it) and a multiple selection alone."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell("quick = True\ninteractive = True")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# e2e demo: two live panels"),
        params,
        nbformat.v4.new_code_cell(
            "import ipywidgets as w\nimport plotly.graph_objects as go\n\n"
            "from ltlab.widgets import LivePanel\n\n\n"
            "def bars(n, scale):\n    return go.Figure(go.Bar(y=[n * scale, n, 1]))\n\n\n"
            "panel = LivePanel(bars, {'n': w.IntSlider(value=3, min=0, max=10, description='n')},\n"
            "                  fixed={'scale': 2.0}, interactive=interactive)\npanel.show()"),
        nbformat.v4.new_code_cell(
            "line = LivePanel(lambda tau: go.Figure(go.Scatter(x=[0, 1, 2], y=[0, tau, 2 * tau])),\n"
            "                 {'tau': w.FloatSlider(value=0.5, min=0.0, max=2.0, step=0.1,\n"
            "                                       description='tau', continuous_update=False)},\n"
            "                 interactive=interactive)\nline.show()"),
        nbformat.v4.new_code_cell(
            "pick = LivePanel(lambda show, names: go.Figure(\n"
            "    go.Bar(x=list(names), y=[len(n) * (2 if show else 1) for n in names])),\n"
            "    {'show': w.Checkbox(value=True, description='double'),\n"
            "     'names': w.SelectMultiple(options=['a', 'bb', 'ccc'], value=('a', 'bb', 'ccc'))},\n"
            "    interactive=interactive)\npick.show()"),
        nbformat.v4.new_code_cell(
            "chosen = LivePanel(lambda names: go.Figure(go.Bar(x=list(names), y=[1] * len(names))),\n"
            "                   {'names': w.SelectMultiple(options=['x', 'y', 'z'], value=('y', 'z'),\n"
            "                                              description='names')},\n"
            "                   interactive=interactive)\nchosen.show()"),
        nbformat.v4.new_code_cell("assert panel.updates == 0 and line.updates == 0"),
    ]
    nbformat.write(nb, str(path))


def test_demo_panels_follow_their_sliders(lab, browser):
    panels = drive_notebook(browser, lab, "e2e_demo.ipynb")
    assert [p["control"] for p in panels] == ["slider", "slider", "checkbox", "select"]
    assert [p["slider"] for p in panels[:2]] == ["n", "tau"]


WIDGET_NOTEBOOKS = widget_notebooks()


@pytest.mark.parametrize(
    "path", WIDGET_NOTEBOOKS or [pytest.param(None, marks=pytest.mark.skip(
        reason="no widget notebook in notebooks/ yet"))],
    ids=lambda p: p.stem if p else "none")
def test_widget_notebook_in_jupyterlab(lab, browser, path):
    panels = drive_notebook(browser, lab, path.name)
    assert panels, f"{path.name} builds a panel but none showed up in the page"

