"""The rendered book (``ltlab book``) in a real browser: Debian's Chromium via Playwright.

The book is built from the notebooks the notebook tests execute (the session-wide
``executed`` fixture of tests/conftest.py: each notebook runs once per test session, shared
with tests/notebooks/, so the book adds no execution), then served on 127.0.0.1 with every
request to another host aborted (the site must work offline). ``LTLAB_BOOK_EXECUTED=DIR``
builds from a folder of notebooks executed earlier instead (e.g. ``test-output/notebooks``). The test checks that two
notebook pages draw a plotly figure (an SVG inside ``.js-plotly-plot``), that notebook
pages carry Binder and Colab launch buttons for the repository named in pyproject, and
that the API page documents ``ltlab.experts.BalPoE``, and that equations render (MathJax
from the site itself). The site and screenshots go to
``test-output/book/`` (``site/index.html`` opens in any browser).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ltlab.course.book import API_MODULES

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
OUTPUT = ROOT / "test-output" / "book"
ERRORS: list[str] = []  # JavaScript errors of the pages opened
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]


def chromium() -> str:
    exe = os.environ.get("LTLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(exe).is_file():
        pytest.skip("Chromium not found (apt-get install -y chromium, or set LTLAB_CHROMIUM): "
                    "the book's browser test did not run")
    return exe


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log on stderr
        pass


@pytest.fixture(scope="module")
def book(executed, tmp_path_factory):
    """Build the book from this session's executed notebooks (never executing one again)."""
    chromium()  # no browser: skip before executing or building anything
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401

        from ltlab.course.book import build_book
    except ImportError as err:
        pytest.fail(f"the book's builder is not installed ({err}): pip install -e '.[test]'")
    src = tmp_path_factory.mktemp("executed")
    failed = {}
    reuse = os.environ.get("LTLAB_BOOK_EXECUTED")  # a folder executed earlier (no run here)
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        if reuse:
            if (Path(reuse) / path.name).is_file():
                shutil.copyfile(Path(reuse) / path.name, src / path.name)
            continue
        try:
            executed(path.stem)  # the notebook tests' run (cached for the session)
        except Exception as err:  # noqa: BLE001 - the notebook's own test reports it
            failed[path.stem] = f"{type(err).__name__}: {err}"[:300]
            continue
        shutil.copyfile(ROOT / "test-output" / "notebooks" / path.name, src / path.name)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    site = OUTPUT / "site"
    if site.exists():
        shutil.rmtree(site)
    result = build_book(src, site, course=ROOT / "COURSE.md",
                        notation=NOTEBOOKS / "NOTATION.md", pyproject=ROOT / "pyproject.toml")
    (OUTPUT / "build.json").write_text(json.dumps(
        {"seconds": round(result.seconds, 1), "pages": result.pages, "failed": failed,
         "warnings": result.warnings, "repository": result.repository}, indent=1))
    return result


@pytest.fixture(scope="module")
def server(book):
    handler = functools.partial(_Quiet, directory=str(book.index.parent))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    profile = tmp_path_factory.mktemp("chromium-book")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=chromium(), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000}, service_workers="block")
        context.set_default_timeout(60_000)
        # offline: anything not served by the test server is aborted (CDNs, badges, fonts)
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith(server) else route.abort())
        page = context.new_page()
        page.on("pageerror", lambda err: ERRORS.append(str(err)))
        yield page
        context.close()


def test_two_notebook_pages_draw_plotly_figures(book, server, page):
    with_figures = [name for name, n in book.pages.items() if n > 0]
    assert len(with_figures) >= 2, f"fewer than two notebooks with figures: {book.pages}"
    for name in with_figures[:2]:
        ERRORS.clear()
        start = time.perf_counter()
        page.goto(f"{server}/{name}.html")
        svg = page.locator(".js-plotly-plot svg.main-svg").first
        svg.wait_for(state="attached", timeout=30_000)
        drawn = page.locator(".js-plotly-plot").count()
        assert drawn >= 1 and page.locator(".js-plotly-plot svg.main-svg").count() >= 1
        assert drawn == book.pages[name], f"{name}: {drawn} of {book.pages[name]} figures drawn"
        assert not ERRORS, f"{name}: JavaScript errors {ERRORS}"
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        _typeset(page)
        page.screenshot(path=str(OUTPUT / f"{name}.png"))
        print(f"{name}: {drawn} figures drawn in {time.perf_counter() - start:.1f} s")


def test_notebook_pages_have_binder_and_colab_buttons(book, server, page):
    if not book.repository:
        pytest.skip("pyproject.toml has no GitHub URL in [project.urls]: no launch buttons")
    name = next(iter(book.pages))
    page.goto(f"{server}/{name}.html")
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    slug = book.repository.removeprefix("https://github.com/")
    assert any(h.startswith(f"https://mybinder.org/v2/gh/{slug}/") and
               f"notebooks/{name}.ipynb" in h for h in hrefs), hrefs
    assert any(h.startswith("https://colab.research.google.com/github/" + slug) and
               h.endswith(f"notebooks/{name}.ipynb") for h in hrefs), hrefs


def _typeset(page) -> int:
    """Wait until MathJax (shipped with the site) has typeset the page's equations."""
    page.wait_for_function("() => document.querySelectorAll('span.math, div.math').length === 0"
                           " || document.querySelectorAll('.MathJax, .MathJax_Display').length"
                           " > 0", timeout=30_000)
    return page.locator(".MathJax, .MathJax_Display").count()


def test_equations_render_without_a_network(book, server, page):
    if not (book.index.parent / "_static" / "mathjax" / "MathJax.js").is_file():
        pytest.skip("the book has no local MathJax (pip install jupyter-server-mathjax): "
                    "its equations load MathJax from a CDN")
    page.goto(f"{server}/NOTATION.html")
    assert _typeset(page) >= 10
    page.screenshot(path=str(OUTPUT / "NOTATION.png"))


def test_api_page_documents_balpoe_and_the_guide_is_linked(book, server, page):
    page.goto(f"{server}/api.html")
    entry = page.locator('[id="ltlab.experts.BalPoE"]')
    assert entry.count() == 1 and "BalPoE" in entry.inner_text()
    for module in API_MODULES:  # each imported and documented
        assert page.locator(f'[id="module-{module}"]').count() == 1, module
    entry.scroll_into_view_if_needed()
    page.screenshot(path=str(OUTPUT / "api.png"))
    page.goto(f"{server}/index.html")
    links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    expected = ["NOTATION.html"] + (["COURSE.html"] if (ROOT / "COURSE.md").is_file() else [])
    for target in expected + [f"{name}.html" for name in book.pages]:
        assert target in links, f"index does not link {target}"
