"""Colours and shot-group styling, in one place for every figure builder of `ltlab.viz`.

A class's shot group (many / medium / few) is decided by its training count with the
thresholds of `ltlab.metrics.shot_groups`, so a bar's colour always agrees with the group
the metrics put the class in. The three group colours are from Okabe and Ito's colour-blind
safe palette (blue, orange, bluish green): they stay apart under deuteranopia and
protanopia, where the old orange and red merged.

Figures follow the user's plotly template (``plotly.io.templates.default``, e.g.
``plotly_dark`` in a dark JupyterLab theme): `style_figure` sets sizes, margins and the
legend's place, never the template, the background or a text colour; lines that are "not a
group" use `NEUTRAL`, a grey readable on light and dark backgrounds alike.

>>> shot_group_labels([500, 50, 5])
['many', 'medium', 'few']
>>> [GROUP_COLORS[g] for g in shot_group_labels([500, 5])]
['#0072B2', '#009E73']
"""

from __future__ import annotations

from ..metrics import shot_groups

__all__ = ["GROUP_COLORS", "NEUTRAL", "percent_axis", "shot_group_labels", "style_figure"]

#: one colour per shot group, used by every figure that colours classes by group
#: (Okabe-Ito blue, orange and bluish green: apart under colour-vision deficiencies)
GROUP_COLORS = {"many": "#0072B2", "medium": "#E69F00", "few": "#009E73"}
#: a grey for reference lines and markers (Bayes, ensemble, averages): readable on the light
#: and the dark templates, unlike black
NEUTRAL = "#8c8c8c"


def shot_group_labels(counts, many: int = 100, few: int = 20) -> list[str]:
    """The shot group of each class, in class order (``"many"``: more than ``many`` training
    images; ``"few"``: fewer than ``few``; ``"medium"`` otherwise)."""
    labels = [""] * len(counts)
    for name, classes in shot_groups(counts, many, few).items():
        for c in classes.tolist():
            labels[c] = name
    return labels


def percent_axis(axis, decimals: int = 0):
    """Label an axis whose values are fractions in percent (``0.8`` reads ``80%``), in
    place; returns it. Accuracy and calibration error are read in percent everywhere.

    >>> import plotly.graph_objects as go
    >>> percent_axis(go.Figure().layout.yaxis).tickformat
    '.0%'
    """
    axis.update(tickformat=f".{decimals}%")
    return axis


def style_figure(fig, *, height: int | None = None, log_axes_exponent: str = "power"):
    """Apply ltlab's one readable style to a plotly figure, in place, and return it.

    What a student sees in JupyterLab at a glance: the user's template (colours, background),
    margins that grow to fit
    tick labels and titles (``automargin``), subplot titles a little smaller than the figure
    title so neighbours do not overlap, a legend above the plot instead of over the data, a
    title on its own line above the legend, and on log axes exponents written as powers of
    ten (``10^-4``, never plotly's SI suffixes ``100μ``). ``log_axes_exponent="e"`` writes ``1e-4`` instead.
    A log axis is labelled at the powers of ten only (plotly would also label 2 and 5 between
    them when the axis spans few decades, which reads as a cluttered, uneven scale), with
    unlabelled minor ticks and grid lines at 2, ..., 9 times each power.

    >>> import plotly.graph_objects as go
    >>> fig = style_figure(go.Figure(go.Scatter(x=[1, 2], y=[1e-4, 1e-2])).update_yaxes(type="log"))
    >>> fig.layout.yaxis.exponentformat, fig.layout.yaxis.automargin, fig.layout.yaxis.dtick
    ('power', True, 1)
    """
    fig.update_layout(
        margin=dict(l=70, r=30, t=80, b=60),
        font=dict(size=13),
        legend=dict(orientation="h", yanchor="bottom", y=1.06, xanchor="left", x=0.0),
    )
    if fig.layout.title.text:  # the title on its own line, above the legend
        fig.update_layout(title=dict(y=0.98, yanchor="top"), margin=dict(t=120))
    if height is not None:
        fig.update_layout(height=height)
    fig.update_xaxes(automargin=True, title_standoff=8)
    fig.update_yaxes(automargin=True, title_standoff=8)
    # small values (KL in nats, probabilities) as powers of ten on every axis: plotly's
    # default writes SI suffixes ("200μ"), which read as micro-units
    fig.update_xaxes(exponentformat=log_axes_exponent)
    fig.update_yaxes(exponentformat=log_axes_exponent)
    for axis in list(fig.select_xaxes()) + list(fig.select_yaxes()):
        if axis.type == "log":  # labels at 10^k only; minor ticks (no labels) in between
            axis.update(showexponent="all", dtick=1,
                        minor=dict(dtick="D1", ticks="outside", ticklen=3, showgrid=True))
    # subplot titles are annotations: keep them smaller than the figure title
    for note in fig.layout.annotations or ():
        if note.font is None or note.font.size is None:
            note.update(font=dict(size=13))
    return fig
