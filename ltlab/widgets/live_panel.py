"""`LivePanel`: a pure figure builder wired to ipywidgets controls.

`LivePanel` is the one mechanism every panel uses: a pure ``figure_for(**values) ->
go.Figure`` and a dict of ipywidgets controls. Whenever a control changes, the panel
recomputes the figure. How the new figure reaches the screen depends on the front end
(`panel_mode` decides; ``panel.mode`` and ``panel.reason`` say what it chose):

* ``"live"``: a plotly ``FigureWidget`` whose traces and layout are updated in place inside
  ``batch_update()`` (one message to the browser). Used where it works: plotly >= 6.1 with
  ``anywidget`` (the ``ltlab[live]`` extra), in JupyterLab or Notebook 7. FigureWidget keeps
  its state in Python, so tests drive a panel without a browser: set
  ``panel.controls["tau"].value = 0.5`` and read ``panel.figure.data``.
* ``"static"``: the controls, then a plain figure shown with a display handle
  (``display(..., display_id=True)``) and redrawn in place with ``handle.update(new)`` on
  every change. Used on Colab (``google.colab`` importable or ``COLAB_RELEASE_TAG`` set; its
  widget manager breaks FigureWidget, and plotly inside an ``Output`` widget fails there), in
  VS Code (``VSCODE_PID``; it cannot load anywidget without CDN access), and wherever plotly
  is older than 6.1 or anywidget is missing. The displayed output's metadata carries
  ``{"ltlab_panel": {"mode": "static", "reason": ...}}`` so an executed notebook shows which
  path its panels took.

``LTLAB_PANELS=static`` or ``LTLAB_PANELS=live`` forces either (the ``static=`` argument
too). With ``interactive=False`` (papermill, CI) `show` displays the figure once and no
widget is built.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import plotly
import plotly.graph_objects as go
from IPython.display import display

__all__ = ["LivePanel", "panel_mode"]

_METADATA_KEY = "ltlab_panel"


def _on_colab(environ: Mapping[str, str]) -> bool:
    if environ.get("COLAB_RELEASE_TAG") or sys.modules.get("google.colab") is not None:
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):  # no "google" package at all
        return False


def _live_supported() -> tuple[bool, str]:
    """Whether plotly's FigureWidget is the anywidget one (plotly >= 6.1, anywidget present)."""
    major, minor = (int(p) for p in plotly.__version__.split(".")[:2])
    if (major, minor) < (6, 1):
        return False, f"plotly {plotly.__version__} < 6.1 (FigureWidget needs anywidget's plotly)"
    if importlib.util.find_spec("anywidget") is None:
        return False, "anywidget is not installed (pip install 'ltlab[live]')"
    return True, f"plotly {plotly.__version__} with anywidget"


def panel_mode(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``("live" | "static", reason)``: how panels draw in this kernel (see the module doc).

    >>> panel_mode({"LTLAB_PANELS": "static"})
    ('static', 'LTLAB_PANELS=static')
    >>> panel_mode({"COLAB_RELEASE_TAG": "release-colab_20260801-060000_RC00"})[1]
    'Colab'
    """
    env = os.environ if environ is None else environ
    forced = env.get("LTLAB_PANELS", "").strip().lower()
    if forced in ("static", "live"):
        return forced, f"LTLAB_PANELS={forced}"
    if forced:
        raise ValueError(f"LTLAB_PANELS must be 'static' or 'live' (got {forced!r}).")
    if env.get("LTLAB_STATIC_PANELS", "") not in ("", "0"):  # the older switch
        return "static", "LTLAB_STATIC_PANELS"
    if _on_colab(env):
        return "static", "Colab"
    if env.get("VSCODE_PID"):
        return "static", "VS Code"
    ok, why = _live_supported()
    return ("live" if ok else "static"), why


def _bundle(fig: go.Figure) -> dict:
    """The figure's MIME bundle for the current plotly renderers (``display(fig)`` itself
    would hand over to plotly's ``_ipython_display_``, which drops the display id). Where
    no renderer is set (plain Python), plotly's own JSON MIME type."""
    bundle = fig._repr_mimebundle_()
    if not bundle:
        import plotly.io as pio

        bundle = {"application/vnd.plotly.v1+json": json.loads(pio.to_json(fig)),
                  "text/plain": f"<plotly figure: {len(fig.data)} traces>"}
    return bundle


class LivePanel:
    """A figure that follows its controls.

    ``figure_for``: ``(**values) -> go.Figure``, pure; ``controls``: name -> ipywidget whose
    ``value`` is passed under that name; ``fixed``: extra keyword arguments passed unchanged;
    ``static``: True / False forces the static or the live path (None: `panel_mode`).
    """

    def __init__(
        self,
        figure_for: Callable[..., go.Figure],
        controls: Mapping[str, Any],
        fixed: Mapping[str, Any] | None = None,
        interactive: bool = True,
        static: bool | None = None,
    ) -> None:
        self.figure_for = figure_for
        self.controls = dict(controls)
        self.fixed = dict(fixed or {})
        self.interactive = interactive
        if static is None:
            self.mode, self.reason = panel_mode()
        else:
            self.mode, self.reason = ("static" if static else "live"), "static= argument"
        first = figure_for(**self.values())
        self.figure: go.Figure = first
        self.handle = None  # the display handle of the static path, once shown
        if interactive and self.mode == "live":
            try:
                self.figure = go.FigureWidget(first)
            except (ImportError, ValueError) as err:  # no anywidget: redraw instead
                warnings.warn(f"plotly FigureWidget unavailable ({err}); the panel redraws "
                              "a static figure on every change (pip install 'ltlab[live]' "
                              "for live figures).", stacklevel=2)
                self.mode, self.reason = "static", f"FigureWidget failed: {err}"
        if interactive:
            for w in self.controls.values():
                w.observe(self._on_change, names="value")
        self.updates = 0

    @property
    def static(self) -> bool:
        """True where the panel redraws a plain figure (not a live FigureWidget)."""
        return self.mode == "static"

    def values(self) -> dict[str, Any]:
        return {**self.fixed, **{k: w.value for k, w in self.controls.items()}}

    def _on_change(self, _change=None) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Recompute the figure from the controls' current values."""
        new = self.figure_for(**self.values())
        fig = self.figure
        if self.interactive and not self.static:  # a FigureWidget: update it in place
            with fig.batch_update():
                if len(fig.data) == len(new.data) and all(
                    a.type == b.type for a, b in zip(fig.data, new.data)
                ):
                    for old, fresh in zip(fig.data, new.data):
                        old.update(fresh.to_plotly_json(), overwrite=True)
                else:
                    fig.data = []
                    fig.add_traces(list(new.data))
                fig.layout.update(new.layout.to_plotly_json(), overwrite=True)
        else:
            self.figure = new
            if self.handle is not None:
                self.handle.update(_bundle(new), raw=True, metadata=self._metadata())
        self.updates += 1

    def _metadata(self) -> dict:
        return {_METADATA_KEY: {"mode": self.mode, "reason": self.reason}}

    def widget(self):
        """The ipywidgets box: the controls (live path: with the FigureWidget below them)."""
        import ipywidgets as widgets

        row = widgets.HBox(list(self.controls.values()))
        return row if self.static else widgets.VBox([row, self.figure])

    def show(self) -> None:
        """Display the panel: live, or the controls and a figure redrawn in place, or (not
        interactive) the figure alone."""
        if not self.interactive:
            display(self.figure)
        elif not self.static:
            display(self.widget())
        else:
            display(self.widget())
            self.handle = display(_bundle(self.figure), raw=True, display_id=True,
                                  metadata=self._metadata())

    def _ipython_display_(self) -> None:
        self.show()
