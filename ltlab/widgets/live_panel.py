"""`LivePanel`: a pure figure builder wired to ipywidgets controls.

`LivePanel` is the one mechanism every panel uses: a pure ``figure_for(**values) ->
go.Figure`` and a dict of ipywidgets controls. Interactively it shows a plotly
``FigureWidget`` (needs ``anywidget``) and, whenever a control changes, recomputes the
figure and copies its traces and layout into the widget inside ``batch_update()``, so the
browser gets one message. Because FigureWidget keeps its state in Python, tests drive a
panel without a browser: set ``panel.controls["tau"].value = 0.5`` and read
``panel.figure.data``. With ``interactive=False`` (papermill, CI) `show` displays the static
figure and no widget is built.

Where a ``FigureWidget`` cannot be built (no ``anywidget``; a front end without plotly's
widget view) or when ``static=True`` / ``LTLAB_STATIC_PANELS=1``, the panel falls back to
re-rendering: the controls still work, and each change redraws a static figure in an
``ipywidgets.Output`` below them (``panel.static`` says which mode is on).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import plotly.graph_objects as go

__all__ = ["LivePanel"]


class LivePanel:
    """A figure that follows its controls.

    ``figure_for``: ``(**values) -> go.Figure``, pure; ``controls``: name -> ipywidget whose
    ``value`` is passed under that name; ``fixed``: extra keyword arguments passed unchanged.
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
            static = os.environ.get("LTLAB_STATIC_PANELS", "") not in ("", "0")
        first = figure_for(**self.values())
        self.figure: go.Figure = first
        self.static = bool(static)
        self._output = None
        if interactive and not self.static:
            try:
                self.figure = go.FigureWidget(first)
            except (ImportError, ValueError) as err:  # no anywidget: re-render instead
                import warnings

                warnings.warn(f"plotly FigureWidget unavailable ({err}); the panel re-renders "
                              "a static figure on every change (pip install anywidget for "
                              "live figures).", stacklevel=2)
                self.static = True
        if interactive:
            for w in self.controls.values():
                w.observe(self._on_change, names="value")
        self.updates = 0

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
            if self._output is not None:
                self._render_static()
        self.updates += 1

    def _render_static(self) -> None:
        # replace the Output's content directly: works in a kernel and in plain Python (tests)
        bundle = self.figure._repr_mimebundle_()  # plotly's renderers: the notebook's mimetypes
        self._output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)

    def widget(self):
        """The ipywidgets box (controls above the figure)."""
        import ipywidgets as widgets

        if self.static:
            if self._output is None:
                self._output = widgets.Output()
                self._render_static()
            view = self._output
        else:
            view = self.figure
        return widgets.VBox([widgets.HBox(list(self.controls.values())), view])

    def show(self) -> None:
        """Display the live panel, or the static figure when not interactive."""
        from IPython.display import display

        display(self.widget() if self.interactive else self.figure)

    def _ipython_display_(self) -> None:
        self.show()
