"""`ltlab.widgets.live_panel.LivePanel`, the one mechanism of every live panel, driven from
Python: a control's change recomputes the pure figure and updates the widget in place, or,
where a FigureWidget cannot work, redraws a static figure."""

from __future__ import annotations

import warnings

import ipywidgets
import plotly.graph_objects as go
import pytest

from ltlab.widgets.live_panel import LivePanel


def _bars(n: int, k: int = 1, kind: str = "bar") -> go.Figure:
    trace = go.Bar if kind == "bar" else go.Scatter
    fig = go.Figure([trace(y=[n * (i + 1), 2 * n]) for i in range(k)])
    fig.update_layout(title=f"n = {n}")
    return fig


def test_a_change_updates_the_figure_widget_in_place():
    slider = ipywidgets.IntSlider(value=1, min=0, max=9)
    panel = LivePanel(_bars, {"n": slider}, fixed={"k": 2})
    widget = panel.figure
    assert isinstance(widget, go.FigureWidget) and not panel.static
    assert [tr.y for tr in widget.data] == [(1, 2), (2, 2)]
    slider.value = 3
    assert panel.figure is widget  # the same widget: the browser keeps its view
    assert [tr.y for tr in widget.data] == [(3, 6), (6, 6)]
    assert widget.layout.title.text == "n = 3" and panel.updates == 1
    assert panel.values() == {"k": 2, "n": 3}


def test_traces_are_replaced_when_their_number_or_type_changes():
    k = ipywidgets.IntSlider(value=1, min=1, max=3)
    kind = ipywidgets.Dropdown(options=["bar", "scatter"], value="bar")
    panel = LivePanel(_bars, {"k": k, "kind": kind}, fixed={"n": 1})
    k.value = 3
    assert len(panel.figure.data) == 3
    kind.value = "scatter"
    assert [tr.type for tr in panel.figure.data] == ["scatter"] * 3
    assert panel.updates == 2


def test_not_interactive_shows_the_static_figure_and_ignores_controls():
    slider = ipywidgets.IntSlider(value=2)
    panel = LivePanel(_bars, {"n": slider}, interactive=False)
    assert type(panel.figure) is go.Figure and panel.figure.data[0].y == (2, 4)
    slider.value = 5  # nobody listens: papermill runs build no widget
    assert panel.updates == 0 and panel.figure.data[0].y == (2, 4)
    panel.refresh()  # an explicit refresh still recomputes
    assert panel.figure.data[0].y == (5, 10) and panel.updates == 1


def _displayed_bar_heights(output) -> list:
    """The y values of the bar figures an ``ipywidgets.Output`` holds (plotly mimetype)."""
    found = []
    for item in output.outputs:
        fig = item.get("data", {}).get("application/vnd.plotly.v1+json")
        if fig is not None:
            found.append(list(fig["data"][0]["y"]))
    return found


@pytest.mark.parametrize("how", ["argument", "environment", "no-anywidget"])
def test_panel_falls_back_to_re_rendering_a_static_figure(monkeypatch, how):
    """Where plotly's FigureWidget cannot work (no anywidget, or forced off), the controls
    still drive the panel: each change redraws a static figure in an Output widget."""
    import ipywidgets
    import plotly.graph_objects as go
    import plotly.io as pio

    from ltlab.widgets import LivePanel

    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    kwargs = {}
    if how == "argument":
        kwargs["static"] = True
    elif how == "environment":
        monkeypatch.setenv("LTLAB_STATIC_PANELS", "1")
    else:
        def no_widget(*a, **k):
            raise ImportError("Please install anywidget to use the FigureWidget class")
        monkeypatch.setattr(go, "FigureWidget", no_widget)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        panel = LivePanel(lambda n: go.Figure(go.Bar(y=[n, 2 * n])),
                          {"n": ipywidgets.IntSlider(value=1, min=0, max=5)}, **kwargs)
    assert panel.static and type(panel.figure) is go.Figure
    assert any("anywidget" in str(w.message) for w in caught) == (how == "no-anywidget")
    box = panel.widget()
    output = box.children[1]
    assert isinstance(output, ipywidgets.Output)
    assert _displayed_bar_heights(output) == [[1, 2]]
    panel.controls["n"].value = 4
    assert panel.figure.data[0].y == (4, 8) and panel.updates == 1
    assert _displayed_bar_heights(output) == [[4, 8]]  # replaced, not appended
