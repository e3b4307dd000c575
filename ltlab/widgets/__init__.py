"""ipywidgets panels: controls wired to pure figure builders of `ltlab.viz`.

`LivePanel` is the one mechanism every panel uses: a pure ``figure_for(**values) ->
go.Figure`` and a dict of ipywidgets controls. Interactively it shows a plotly
``FigureWidget`` (needs ``anywidget``) and, whenever a control changes, recomputes the
figure and copies its traces and layout into the widget inside ``batch_update()``, so the
browser gets one message. Because FigureWidget keeps its state in Python, tests drive a
panel without a browser: set ``panel.controls["tau"].value = 0.5`` and read
``panel.figure.data``. With ``interactive=False`` (papermill, CI) `show` displays the static
figure and no widget is built.

Topic panels live in submodules (``ltlab.widgets.<topic>``) and are re-exported here.
"""

from __future__ import annotations

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
    ) -> None:
        self.figure_for = figure_for
        self.controls = dict(controls)
        self.fixed = dict(fixed or {})
        self.interactive = interactive
        first = figure_for(**self.values())
        if interactive:
            self.figure: go.Figure = go.FigureWidget(first)
            for w in self.controls.values():
                w.observe(self._on_change, names="value")
        else:
            self.figure = first
        self.updates = 0

    def values(self) -> dict[str, Any]:
        return {**self.fixed, **{k: w.value for k, w in self.controls.items()}}

    def _on_change(self, _change=None) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Recompute the figure from the controls' current values."""
        new = self.figure_for(**self.values())
        fig = self.figure
        if isinstance(fig, go.FigureWidget):
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
        self.updates += 1

    def widget(self):
        """The ipywidgets box (controls above the figure)."""
        import ipywidgets as widgets

        return widgets.VBox([widgets.HBox(list(self.controls.values())), self.figure])

    def show(self) -> None:
        """Display the live panel, or the static figure when not interactive."""
        from IPython.display import display

        display(self.widget() if self.interactive else self.figure)

    def _ipython_display_(self) -> None:
        self.show()
from .calibration import *  # noqa: F401,F403
from .lda import *  # noqa: F401,F403
from .logit_adjustment import *  # noqa: F401,F403
from .balpoe import *  # noqa: F401,F403
from .gh import *  # noqa: F401,F403
from .flexda import *  # noqa: F401,F403
