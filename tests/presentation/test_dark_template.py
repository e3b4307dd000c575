"""Figures follow the user's plotly template and stay readable in a dark one; the shot-group
palette stays apart for colour-blind readers.

One figure per notebook's `ltlab.viz` module is built with ``plotly_dark`` as the default
template (as a dark JupyterLab theme would set it). The figure must keep that template
(`style_figure` never forces one), and every colour a builder writes itself (outside the
template) must read on the dark background: text colours at WCAG contrast 4.5, lines,
markers and bars at 3 (the WCAG threshold for graphics), opaque fills under the template's
text at 4.5 (a white table cell under light text is unreadable).
"""

from __future__ import annotations

import itertools
import math

import plotly.io as pio
import pytest
import torch

from ltlab.viz import balpoe, calibration, flexda, gh, lda, logit_adjustment, overview
from ltlab.viz.style import GROUP_COLORS, NEUTRAL, style_figure

_NAMED = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128),
          "grey": (128, 128, 128)}


def _rgba(value: str) -> tuple[float, float, float, float]:
    v = value.strip().lower().replace(" ", "")
    if v in _NAMED:
        return (*_NAMED[v], 1.0)
    if v.startswith("#"):
        h = v[1:]
        h = "".join(c * 2 for c in h) if len(h) == 3 else h
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0)
    if v.startswith(("rgb(", "rgba(")):
        parts = [float(p) for p in v[v.index("(") + 1:-1].split(",")]
        return (*parts[:3], parts[3] if len(parts) == 4 else 1.0)
    raise AssertionError(f"colour {value!r}: write colours as hex or rgb(a)")


def _luminance(value: str) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b, _ = _rgba(value)
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _explicit_colours(node, path=()):
    """(path, colour) for every colour string a builder wrote (the template left out;
    colour scales of heatmaps are ranges, not single colours, and are left out too)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("template", "colorscale"):
                continue
            yield from _explicit_colours(value, (*path, key))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _explicit_colours(item, path)
    elif isinstance(node, str) and path and "color" in path[-1].lower():
        yield path, node


def _figures():
    """One figure per notebook's viz module, from small made-up inputs."""
    g = torch.Generator().manual_seed(0)
    shots = {"CE": {"balanced_accuracy": 0.5, "many": 0.9, "medium": 0.5, "few": 0.1},
             "LA": {"balanced_accuracy": 0.6, "many": 0.8, "medium": 0.6, "few": 0.4}}
    probs = torch.softmax(3 * torch.randn(300, 5, generator=g), dim=1)
    targets = torch.randint(0, 5, (300,), generator=g)
    ssl = {"consistent": {"fixmatch": {"balanced_accuracy": 0.5, "many": 0.8, "medium": 0.5,
                                       "few": 0.2, "ece": 0.1},
                          "flexda": {"balanced_accuracy": 0.6, "many": 0.8, "medium": 0.6,
                                     "few": 0.4, "ece": 0.08}}}
    return {
        "00 overview": overview.class_count_bars([500, 120, 60, 15, 3]),
        "01 logit_adjustment": logit_adjustment.shot_bars_figure(shots),
        "02 balpoe": balpoe.experts_curve_figure(
            [{"num_experts": k, **shots["LA"]} for k in (1, 2, 3)]),
        "03 flexda": flexda.ssl_results_table(ssl),
        "03 flexda bars": flexda.prior_bars_figure([0.5, 0.3, 0.2], [0.4, 0.35, 0.25],
                                                   [0.45, 0.33, 0.22]),
        "04 calibration": calibration.calibration_overview(probs, targets,
                                                           [200, 100, 50, 10, 5]),
        "05 lda": lda.lda_comparison_table([{"method": "CE", "balanced": 0.5, "many": 0.9,
                                             "medium": 0.5, "few": 0.1}]),
        "06 gh": gh.probe_accuracy_figure({"simclr": {"many": 0.8, "medium": 0.5, "few": 0.2,
                                                      "all": 0.5},
                                           "gh": {"many": 0.8, "medium": 0.6, "few": 0.4,
                                                  "all": 0.6}}),
    }


@pytest.fixture(scope="module")
def dark_figures():
    saved = pio.templates.default
    pio.templates.default = "plotly_dark"
    try:
        yield _figures()
    finally:
        pio.templates.default = saved


DARK = pio.templates["plotly_dark"].layout
BACKGROUND = DARK.paper_bgcolor
TEXT = DARK.font.color


def test_the_dark_template_is_respected(dark_figures):
    for name, fig in dark_figures.items():
        assert fig.layout.template.layout.paper_bgcolor == BACKGROUND, (
            f"{name}: the figure replaced the user's template")
        for key in ("paper_bgcolor", "plot_bgcolor"):
            assert getattr(fig.layout, key) is None, f"{name}: sets its own {key}"


@pytest.mark.parametrize("name", list(_figures()))
def test_explicit_colours_read_on_a_dark_background(dark_figures, name):
    fig = dark_figures[name]
    found = list(_explicit_colours(fig.to_plotly_json()))
    for path, colour in found:
        where = f"{name}: {'.'.join(path)} = {colour}"
        if _rgba(colour)[3] < 0.5:  # translucent: the template shows through
            continue
        if "font" in path:
            assert _contrast(colour, BACKGROUND) >= 4.5, f"{where}: text unreadable when dark"
        elif any(k in ("fill_color", "fillcolor", "bgcolor") for k in path):
            assert _contrast(colour, TEXT) >= 4.5, (
                f"{where}: an opaque fill under the template's light text")
        else:
            assert _contrast(colour, BACKGROUND) >= 3, f"{where}: too dark on a dark background"


def test_the_checks_catch_the_old_style():
    """The checks above are not vacuous: black lines, white cells and a forced template fail."""
    import plotly.graph_objects as go

    assert _contrast("black", BACKGROUND) < 3 and _contrast("#444444", BACKGROUND) < 3
    assert _contrast("white", TEXT) < 4.5
    saved = pio.templates.default
    pio.templates.default = "plotly_dark"
    try:
        forced = go.Figure().update_layout(template="plotly_white")
        assert forced.layout.template.layout.paper_bgcolor != BACKGROUND
        styled = style_figure(go.Figure(go.Scatter(y=[1, 2])))
        assert styled.layout.template.layout.paper_bgcolor == BACKGROUND
    finally:
        pio.templates.default = saved


# ----------------------------------------------------------------------------- colour blindness
# Machado, Oliveira and Fernandes (2009), severity 1: linear-RGB simulation matrices
_SIMULATE = {
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                     (-0.011820, 0.042940, 0.968881)),
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
                   (-0.003882, -0.048116, 1.051998)),
    "normal": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
}


def _lab(colour: str, matrix) -> tuple[float, float, float]:
    def lin(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    rgb = [lin(c) for c in _rgba(colour)[:3]]
    rgb = [min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb)))) for row in matrix]
    xyz = [sum(m * c for m, c in zip(row, rgb)) / w for row, w in zip(
        ((0.4124, 0.3576, 0.1805), (0.2126, 0.7152, 0.0722), (0.0193, 0.1192, 0.9505)),
        (0.95047, 1.0, 1.08883))]
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def _delta_e(a: str, b: str, vision: str) -> float:
    return math.dist(_lab(a, _SIMULATE[vision]), _lab(b, _SIMULATE[vision]))


@pytest.mark.parametrize("vision", list(_SIMULATE))
def test_shot_group_colours_stay_apart(vision):
    """Every pair of group colours differs by CIE76 Delta-E >= 35 as seen with the
    colour-vision deficiency; the old orange and red (#ff7f0e, #d62728) were under 30 apart
    for a deuteranope. (`NEUTRAL`, a grey, is told apart by its dashes where it meets them.)"""
    colours = list(GROUP_COLORS.values())
    gaps = {(a, b): _delta_e(a, b, vision) for a, b in itertools.combinations(colours, 2)}
    assert min(gaps.values()) >= 35, gaps
    assert _delta_e("#ff7f0e", "#d62728", "deuteranopia") < 30  # the check can fail


def test_neutral_reads_on_light_and_dark_backgrounds():
    assert _contrast(NEUTRAL, "white") >= 3 and _contrast(NEUTRAL, BACKGROUND) >= 3
