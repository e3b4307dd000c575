"""`ltlab.widgets.live_panel.LivePanel`, the one mechanism of every live panel, driven from
Python, on each of its three paths: live (a FigureWidget updated in place), static (a plain
figure redrawn in place through a display handle: Colab, VS Code, old plotly, forced) and
not interactive (the figure alone, no widget)."""

from __future__ import annotations

import sys
import types
import warnings

import ipywidgets
import plotly
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from ltlab.widgets import live_panel
from ltlab.widgets.live_panel import LivePanel, panel_mode

_SWITCHES = ("LTLAB_PANELS", "LTLAB_STATIC_PANELS", "COLAB_RELEASE_TAG", "VSCODE_PID")


@pytest.fixture(autouse=True)
def plain_jupyter(monkeypatch):
    """A kernel as in JupyterLab: no Colab, no VS Code, no forcing switch."""
    for name in _SWITCHES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", None)  # not importable
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")


def _bars(n: int, k: int = 1, kind: str = "bar") -> go.Figure:
    trace = go.Bar if kind == "bar" else go.Scatter
    fig = go.Figure([trace(y=[n * (i + 1), 2 * n]) for i in range(k)])
    fig.update_layout(title=f"n = {n}")
    return fig


# ----------------------------------------------------------------------------- live
def test_a_change_updates_the_figure_widget_in_place():
    slider = ipywidgets.IntSlider(value=1, min=0, max=9)
    panel = LivePanel(_bars, {"n": slider}, fixed={"k": 2})
    widget = panel.figure
    assert panel.mode == "live" and "anywidget" in panel.reason
    assert isinstance(widget, go.FigureWidget) and not panel.static
    assert [tr.y for tr in widget.data] == [(1, 2), (2, 2)]
    slider.value = 3
    assert panel.figure is widget  # the same widget: the browser keeps its view
    assert [tr.y for tr in widget.data] == [(3, 6), (6, 6)]
    assert widget.layout.title.text == "n = 3" and panel.updates == 1
    assert panel.values() == {"k": 2, "n": 3}
    box = panel.widget()
    assert box.children[1] is widget and list(box.children[0].children) == [slider]


def test_traces_are_replaced_when_their_number_or_type_changes():
    k = ipywidgets.IntSlider(value=1, min=1, max=3)
    kind = ipywidgets.Dropdown(options=["bar", "scatter"], value="bar")
    panel = LivePanel(_bars, {"k": k, "kind": kind}, fixed={"n": 1})
    k.value = 3
    assert len(panel.figure.data) == 3
    kind.value = "scatter"
    assert [tr.type for tr in panel.figure.data] == ["scatter"] * 3
    assert panel.updates == 2


# ----------------------------------------------------------------------------- not interactive
def test_not_interactive_shows_the_static_figure_and_ignores_controls(monkeypatch):
    shown = []
    monkeypatch.setattr(live_panel, "display", lambda *a, **k: shown.append((a, k)))
    slider = ipywidgets.IntSlider(value=2)
    panel = LivePanel(_bars, {"n": slider}, interactive=False)
    assert type(panel.figure) is go.Figure and panel.figure.data[0].y == (2, 4)
    slider.value = 5  # nobody listens: papermill runs build no widget
    assert panel.updates == 0 and panel.figure.data[0].y == (2, 4)
    panel.refresh()  # an explicit refresh still recomputes
    assert panel.figure.data[0].y == (5, 10) and panel.updates == 1
    panel.show()
    assert len(shown) == 1 and shown[0][0] == (panel.figure,) and panel.handle is None


# ----------------------------------------------------------------------------- static
class _Recorder:
    """Stands in for IPython's ``display``: records each call, returns a handle whose
    ``update`` is recorded too."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, obj, **kwargs):
        self.shown.append((obj, kwargs))
        if kwargs.get("display_id"):
            return types.SimpleNamespace(update=lambda o, **k: self.updates.append((o, k)))
        return None


def _heights(bundle: dict) -> list:
    return list(bundle["application/vnd.plotly.v1+json"]["data"][0]["y"])


_STATIC_CASES = {
    "colab-module": ({}, "Colab"),
    "colab-env": ({"COLAB_RELEASE_TAG": "release-colab_20260801-060000_RC00"}, "Colab"),
    "vscode": ({"VSCODE_PID": "4242"}, "VS Code"),
    "forced": ({"LTLAB_PANELS": "static"}, "LTLAB_PANELS=static"),
    "old-switch": ({"LTLAB_STATIC_PANELS": "1"}, "LTLAB_STATIC_PANELS"),
    "old-plotly": ({}, "plotly 5.24.1 < 6.1"),
    "no-anywidget": ({}, "anywidget is not installed"),
    "argument": ({}, "static= argument"),
}


@pytest.mark.parametrize("case", list(_STATIC_CASES))
def test_static_path_redraws_a_plain_figure_through_a_display_handle(monkeypatch, case):
    env, reason = _STATIC_CASES[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if case == "colab-module":
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    elif case == "old-plotly":
        monkeypatch.setattr(plotly, "__version__", "5.24.1")
    elif case == "no-anywidget":
        monkeypatch.setitem(sys.modules, "anywidget", None)
    built = []
    monkeypatch.setattr(go, "FigureWidget", lambda *a: built.append(a))  # must not be built
    record = _Recorder()
    monkeypatch.setattr(live_panel, "display", record)
    slider = ipywidgets.IntSlider(value=1, min=0, max=5)
    panel = LivePanel(lambda n: go.Figure(go.Bar(y=[n, 2 * n])), {"n": slider},
                      **({"static": True} if case == "argument" else {}))
    assert panel.mode == "static" and panel.static and reason in panel.reason
    assert type(panel.figure) is go.Figure and built == []
    panel.show()
    (controls, _), (bundle, kwargs) = record.shown
    assert isinstance(controls, ipywidgets.HBox) and list(controls.children) == [slider]
    assert kwargs["display_id"] is True and kwargs["raw"] is True
    assert kwargs["metadata"]["ltlab_panel"]["mode"] == "static"
    assert _heights(bundle) == [1, 2]
    slider.value = 4
    assert panel.figure.data[0].y == (4, 8) and panel.updates == 1
    assert len(record.shown) == 2, "a change must redraw in place, not display again"
    (new, kw), = record.updates
    assert _heights(new) == [4, 8] and kw["raw"] is True


def test_static_path_in_a_real_ipython_shell_updates_the_same_output(monkeypatch):
    """Through IPython's own display machinery: one display id, shown once, then updated."""
    from IPython.core.interactiveshell import InteractiveShell

    published = []

    class Pub:
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs):
            published.append((data, metadata, transient or {}, update))

        def clear_output(self, wait=False):
            pass

    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260801-060000_RC00")
    shell = InteractiveShell.instance()
    try:
        monkeypatch.setattr(shell, "display_pub", Pub())
        slider = ipywidgets.IntSlider(value=1, min=0, max=5)
        panel = LivePanel(lambda n: go.Figure(go.Bar(y=[n, 2 * n])), {"n": slider})
        panel.show()
        slider.value = 3
    finally:
        InteractiveShell.clear_instance()
    figures = [p for p in published if "application/vnd.plotly.v1+json" in p[0]]
    assert len(figures) == 2
    (first, meta, t1, up1), (second, _, t2, up2) = figures
    assert not up1 and up2 and t1["display_id"] == t2["display_id"]
    assert _heights(first) == [1, 2] and _heights(second) == [3, 6]
    assert meta["ltlab_panel"] == {"mode": "static", "reason": "Colab"}


def test_forced_live_wins_over_colab_and_falls_back_when_figure_widget_fails(monkeypatch):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260801-060000_RC00")
    monkeypatch.setenv("LTLAB_PANELS", "live")
    panel = LivePanel(_bars, {"n": ipywidgets.IntSlider(value=1)})
    assert panel.mode == "live" and isinstance(panel.figure, go.FigureWidget)

    def no_widget(*a, **k):
        raise ImportError("Please install anywidget to use the FigureWidget class")

    monkeypatch.setattr(go, "FigureWidget", no_widget)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        panel = LivePanel(_bars, {"n": ipywidgets.IntSlider(value=1)})
    assert panel.static and "FigureWidget failed" in panel.reason
    assert any("ltlab[live]" in str(w.message) for w in caught)


def test_panel_mode_rejects_an_unknown_switch():
    assert panel_mode({})[0] == "live"  # this test environment: plotly >= 6.1, anywidget
    assert panel_mode({"VSCODE_PID": "1", "LTLAB_PANELS": "live"}) == ("live", "LTLAB_PANELS=live")
    with pytest.raises(ValueError, match="static' or 'live"):
        panel_mode({"LTLAB_PANELS": "widgets"})
