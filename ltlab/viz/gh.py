"""Figures for Geometric Harmonization (notebook 06): pure builders, data in, go.Figure out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .style import GROUP_COLORS, NEUTRAL, style_figure

__all__ = [
    "structure_figure",
    "allocation_figure",
    "probe_accuracy_figure",
    "feature_projection_figure",
    "class_similarity_figure",
    "sphere_figure",
    "paired_gain_figure",
    "gain_vs_prior_error_figure",
]

_METHOD_NAMES = {"simclr": "SimCLR", "simclr_gh": "SimCLR + GH",
                 "simclr_balanced": "SimCLR, balanced", "simclr_lt": "SimCLR, ratio 64",
                 "simclr_gh_lt": "SimCLR + GH, ratio 64"}
#: one colour per class of the sphere toy, head first; the last (the tail) is red
_CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_METHOD_COLORS = {"simclr": "#7f7f7f", "simclr_gh": "#2ca02c"}
#: What a reader sees for the frequency thirds of notebook 06 (the keys stay many / medium /
#: few, as in the GH paper's tables; here they are thirds of the classes, not shot groups).
THIRD_NAMES = {"many": "head third", "medium": "middle third", "few": "tail third",
               "all": "all classes"}


def _label(name: str) -> str:
    return _METHOD_NAMES.get(name, name)


def structure_figure(structure, title: str | None = None) -> go.Figure:
    """The anchors of a geometric uniform structure ``[K, d]`` as arrows from the origin,
    drawn in their first two principal directions (exact for K = 3, d = 2), beside the Gram
    matrix M M^T (1 on the diagonal, -1/(K-1) elsewhere)."""
    m = torch.as_tensor(structure).double()
    k = m.shape[0]
    _, _, vh = torch.linalg.svd(m, full_matrices=False)
    xy = (m @ vh[:2].T).tolist() if m.shape[1] >= 2 else [[r[0], 0.0] for r in m.tolist()]
    gram = (m @ m.T).tolist()
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55],
                        subplot_titles=("anchors (first two principal directions)", "M M^T"))
    for i, (x, y) in enumerate(xy):
        fig.add_scatter(x=[0, x], y=[0, y], mode="lines+markers+text", text=["", f"M{i + 1}"],
                        textposition="top center", showlegend=False, line=dict(width=2),
                        row=1, col=1)
    fig.add_heatmap(z=gram, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                    x=[f"M{i + 1}" for i in range(k)], y=[f"M{i + 1}" for i in range(k)],
                    row=1, col=2)
    fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig.update_layout(title=title or f"Simplex ETF with K = {k}: every pair at inner product "
                      f"-1/(K-1) = {-1 / (k - 1):.3f}", height=380)
    return fig


def allocation_figure(
    scores, allocation, labels, prior, title: str = "Surrogate label allocation"
) -> go.Figure:
    """Left: the allocation Q_hat ``[N, K]`` as a heatmap (samples grouped by their true
    cluster). Right: per anchor, the mass the allocation gives (column means), the target
    marginal ``prior`` and the share each anchor would get from argmax of the raw scores."""
    s = torch.as_tensor(scores).float()
    q = torch.as_tensor(allocation).float()
    y = torch.as_tensor(labels).long()
    p = torch.as_tensor(prior).float()
    n, k = q.shape
    order = torch.argsort(y, stable=True)
    anchors = [f"anchor {i}" for i in range(k)]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5], horizontal_spacing=0.2,
                        subplot_titles=("allocation A (rows: samples by cluster)",
                                        "share of the batch per anchor"))
    fig.add_heatmap(z=q[order].tolist(), x=anchors, y=[f"{int(y[i])}·{j}" for j, i in
                                                       enumerate(order.tolist())],
                    zmin=0, zmax=1, colorscale="Viridis", colorbar=dict(x=0.42, len=0.9, thickness=14),
                    row=1, col=1)
    argmax_share = torch.bincount(s.argmax(1), minlength=k).float() / n
    fig.add_bar(x=anchors, y=argmax_share.tolist(), name="argmax of scores (no constraint)",
                marker_color="#c7c7c7", row=1, col=2)
    fig.add_bar(x=anchors, y=q.mean(0).tolist(), name="allocation: column means",
                marker_color="#2ca02c", row=1, col=2)
    fig.add_scatter(x=anchors, y=p.tolist(), mode="markers", name="target marginal π",
                    marker=dict(symbol="line-ew-open", size=28, line=dict(width=3),
                                color="#d62728"), row=1, col=2)
    col_err = float((q.double().mean(0) - p.double()).abs().max())
    row_err = float((q.double().sum(1) - 1).abs().max())
    fig.update_yaxes(showticklabels=False, autorange="reversed", row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    # the title's two lines sit above the subplot titles: a top margin that holds all three
    fig.update_layout(
        title=dict(text=f"{title}<br><sup>max |row sum − 1| = {row_err:.1e}, "
                        f"max |column mean − π| = {col_err:.1e}</sup>", y=0.97, yanchor="top"),
        barmode="group", height=460, margin=dict(t=120),
        legend=dict(orientation="h", y=-0.15))
    return fig


def probe_accuracy_figure(
    probe_accuracy: Mapping[str, Mapping[str, float]],
    title: str = "Balanced linear probe: accuracy per frequency third",
) -> go.Figure:
    """Grouped bars in percent: the head, middle and tail thirds (keys many / medium / few)
    and all classes, one series per pre-training method."""
    groups = ["many", "medium", "few", "all"]
    fig = go.Figure()
    for name, acc in probe_accuracy.items():
        vals = [100 * float(acc[g]) for g in groups]
        fig.add_bar(x=[THIRD_NAMES[g] for g in groups], y=vals, name=_label(name),
                    text=[f"{v:.1f}" for v in vals], textposition="outside",
                    marker_color=_METHOD_COLORS.get(name))
    fig.update_layout(title=title, barmode="group", yaxis_title="accuracy (%)",
                      yaxis_range=[0, 100], height=380,
                      xaxis_title="classes (thirds by training frequency)")
    return fig


def feature_projection_figure(
    coords: Mapping[str, torch.Tensor], labels, groups: Mapping[str, Sequence[int]],
    title: str = "Backbone features of the test set (PCA of the normalised features)",
) -> go.Figure:
    """One scatter per method of 2-D coordinates ``[N, 2]``, coloured by frequency group
    (many / medium / few); hovering shows the class."""
    y = torch.as_tensor(labels).long()
    group_of = {int(c): g for g, idx in groups.items() for c in torch.as_tensor(idx).tolist()}
    names = list(coords)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[_label(n) for n in names])
    for col, name in enumerate(names, start=1):
        xy = torch.as_tensor(coords[name]).float()
        for g in ("many", "medium", "few"):
            mask = torch.tensor([group_of.get(int(c)) == g for c in y.tolist()])
            if not mask.any():
                continue
            fig.add_scatter(
                x=xy[mask, 0].tolist(), y=xy[mask, 1].tolist(), mode="markers",
                name=THIRD_NAMES[g],
                legendgroup=g, showlegend=col == 1, marker=dict(size=4, opacity=0.6,
                                                                color=GROUP_COLORS[g]),
                text=[f"class {int(c)}" for c in y[mask].tolist()], hoverinfo="text",
                row=1, col=col)
    fig.update_layout(title=title, height=420)
    return fig


def class_similarity_figure(
    cosines: Mapping[str, torch.Tensor], tail_classes: Sequence[int] | None = None,
    title: str = "Cosine similarity between class means (classes head → tail)",
) -> go.Figure:
    """Heatmaps of class-mean cosine similarities (`ltlab.analysis.class_mean_cosines`), one per
    method; each subtitle gives the mean off-diagonal value (-1/(C-1) for perfectly uniform
    classes) and, for ``tail_classes`` (default: the last third of the indices), the mean
    similarity to the nearest other class (high: the tail classes sit on top of others)."""
    names = list(cosines)
    subtitles = []
    for n in names:
        c = torch.as_tensor(cosines[n]).float()
        mask = torch.eye(c.shape[0], dtype=torch.bool)
        off = c[~mask]
        rows = (list(tail_classes) if tail_classes is not None
                else list(range(c.shape[0] - max(1, c.shape[0] // 3), c.shape[0])))
        tail = c.masked_fill(mask, -2.0)[rows].max(1).values
        subtitles.append(f"{_label(n)}: mean {float(off.mean()):.2f}, "
                         f"tail → nearest {float(tail.mean()):.2f}")
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=subtitles)
    for col, n in enumerate(names, start=1):
        c = torch.as_tensor(cosines[n]).float()
        fig.add_heatmap(z=c.tolist(), zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                        showscale=col == len(names), row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.update_layout(title=title, height=380)
    return fig


def _sphere_mesh(n: int = 24) -> dict[str, list[list[float]]]:
    theta = torch.linspace(0, torch.pi, n)[:, None]
    phi = torch.linspace(0, 2 * torch.pi, 2 * n)[None, :]
    return {"x": (theta.sin() * phi.cos()).tolist(), "y": (theta.sin() * phi.sin()).tolist(),
            "z": (theta.cos() * torch.ones_like(phi)).tolist()}


def sphere_figure(
    embeddings: Mapping[str, torch.Tensor], labels, anchors=None,
    subtitles: Mapping[str, str] | None = None, class_names: Sequence[str] | None = None,
    points_per_class: int = 250,
    title: str = "Test points on the sphere S²: one colour per class (the tail in red)",
) -> go.Figure:
    """One 3-D panel per arm: points ``[N, 3]`` (normalised to the unit sphere) coloured by
    class, a faint unit sphere, and the anchors ``[K, 3]`` of GH's uniform structure as black
    diamonds. At most ``points_per_class`` points of each class are drawn (the first ones);
    ``subtitles`` (per arm) go under the panel names."""
    y = torch.as_tensor(labels).long()
    names = list(embeddings)
    classes = sorted(set(y.tolist()))
    cls_names = list(class_names) if class_names is not None else [f"class {c}" for c in classes]
    fig = make_subplots(
        rows=1, cols=len(names), specs=[[{"type": "scene"}] * len(names)],
        horizontal_spacing=0.02,
        subplot_titles=[_label(n) + (f"<br><sup>{subtitles[n]}</sup>" if subtitles and n in
                                     subtitles else "") for n in names])
    mesh = _sphere_mesh()
    for col, name in enumerate(names, start=1):
        u = torch.nn.functional.normalize(torch.as_tensor(embeddings[name]).float(), dim=1)
        if u.shape[1] != 3:
            raise ValueError(f"embeddings[{name!r}] must be [N, 3] (got {tuple(u.shape)}).")
        fig.add_surface(**mesh, opacity=0.12, showscale=False, hoverinfo="skip",
                        colorscale=[[0, "#bbbbbb"], [1, "#bbbbbb"]], row=1, col=col)
        for i, c in enumerate(classes):
            pts = u[y == c][:points_per_class]
            fig.add_scatter3d(
                x=pts[:, 0].tolist(), y=pts[:, 1].tolist(), z=pts[:, 2].tolist(),
                mode="markers", name=cls_names[i], legendgroup=cls_names[i],
                showlegend=col == 1, marker=dict(size=2.5, opacity=0.7,
                                                 color=_CLASS_COLORS[i % len(_CLASS_COLORS)]),
                row=1, col=col)
        if anchors is not None:
            m = torch.nn.functional.normalize(torch.as_tensor(anchors).float(), dim=1)
            fig.add_scatter3d(x=m[:, 0].tolist(), y=m[:, 1].tolist(), z=m[:, 2].tolist(),
                              mode="markers", name="anchors M_k", legendgroup="anchors",
                              showlegend=col == 1,
                              marker=dict(size=5, symbol="diamond", color=NEUTRAL),
                              row=1, col=col)
    axis = dict(range=[-1.05, 1.05], showticklabels=False, title="")
    fig.update_scenes(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube")
    fig.update_layout(title=title, height=500)
    style_figure(fig)
    # two-line panel titles fill the space above the scenes: the legend goes below them
    fig.update_layout(margin=dict(t=120, b=40, l=10, r=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.02, x=0.0))
    return fig


def _points(values: Sequence[float]) -> list[float]:
    return [100 * float(v) for v in values]


def paired_gain_figure(
    intervals: Mapping[str, Mapping[str, object]], names: Mapping[str, str] | None = None,
    title: str = "GH − SimCLR on the tail's accuracy, paired per seed",
    yaxis_title: str = "tail accuracy, GH − SimCLR (points)",
) -> go.Figure:
    """Side by side, one column per entry of ``intervals`` (``{"mean", "ci_low", "ci_high",
    "per_seed"}`` in fractions, as `ltlab.metrics.paired_interval` gives them): each seed's
    difference as a dot, the mean as a bar and its 95 % interval as the error bar, in points;
    a line at zero. ``names`` gives the columns' readable names."""
    labels = [(names or {}).get(k, k) for k in intervals]
    fig = go.Figure()
    means = [100 * float(v["mean"]) for v in intervals.values()]
    fig.add_bar(x=labels, y=means, name="mean over the seeds", marker_color="#9ecae1",
                error_y=dict(type="data", symmetric=False,
                             array=[100 * float(v["ci_high"]) - m
                                    for v, m in zip(intervals.values(), means)],
                             arrayminus=[m - 100 * float(v["ci_low"])
                                         for v, m in zip(intervals.values(), means)],
                             thickness=2, width=10),
                text=[f"{m:+.1f}" for m in means], textposition="none")
    for i, (label, v) in enumerate(zip(labels, intervals.values())):
        fig.add_scatter(x=[label] * len(v["per_seed"]), y=_points(v["per_seed"]),
                        mode="markers", name="one seed", legendgroup="seed",
                        showlegend=i == 0, marker=dict(size=7, color=NEUTRAL, opacity=0.7))
    fig.add_hline(y=0, line=dict(color=NEUTRAL, width=1, dash="dot"))
    fig.update_layout(title=title, yaxis_title=yaxis_title, height=420,
                      legend=dict(orientation="h", y=-0.15))
    return fig


def _correlation(x: Sequence[float], y: Sequence[float]) -> float:
    a, b = torch.tensor(list(x), dtype=torch.float64), torch.tensor(list(y), dtype=torch.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = float(a.norm() * b.norm())
    return float(a @ b) / denominator if denominator > 0 else float("nan")


def gain_vs_prior_error_figure(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    seeds: Sequence[int] | None = None,
    xaxis_title: str = "π̂'s distance from the class prior (total variation)",
    title: str = "Each seed: the tail's gain against how wrong π̂ is",
) -> go.Figure:
    """One scatter per entry of ``series``: ``(errors, gains)`` per seed, the gains GH −
    SimCLR in fractions (drawn in points), the errors as given (e.g. `prior_errors`' total
    variation). Each legend entry gives the series' Pearson correlation r; hovering a dot
    shows its seed."""
    fig = go.Figure()
    colours = ("#2ca02c", "#9467bd", "#ff7f0e", "#1f77b4")
    for i, (name, (errors, gains)) in enumerate(series.items()):
        if len(errors) != len(gains):
            raise ValueError(f"series {name!r}: {len(errors)} errors but {len(gains)} gains; "
                             "give one of each per seed.")
        r = _correlation(errors, gains)
        fig.add_scatter(x=[float(e) for e in errors], y=_points(gains), mode="markers",
                        name=f"{name} (r = {r:+.2f})",
                        marker=dict(size=9, color=colours[i % len(colours)], opacity=0.8),
                        text=[f"seed {s}" for s in (seeds or range(len(gains)))],
                        hovertemplate="%{text}: error %{x:.2f}, gain %{y:+.1f} points"
                                      "<extra></extra>")
    fig.add_hline(y=0, line=dict(color=NEUTRAL, width=1, dash="dot"))
    fig.update_layout(title=title, xaxis_title=xaxis_title,
                      yaxis_title="tail accuracy, GH − SimCLR (points)", height=420,
                      legend=dict(orientation="h", y=-0.2))
    return fig
