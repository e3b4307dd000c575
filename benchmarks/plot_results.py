"""Draw the benchmark figures from the JSON files the benchmark scripts write.

    python benchmarks/plot_results.py OVERHEAD.json [REFERENCE.json] --out benchmarks/figures/NAME

writes ``NAME.png`` (plotly + kaleido, which needs a Chromium) or, without kaleido,
``NAME.html``: milliseconds per step of each pipeline, with its ratio to the bare-loop
floor written on the bar.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import plotly.graph_objects as go

LABELS = {
    "floor": "bare loop (floor)",
    "fit": "ltlab fit",
    "dataloader": "DataLoader + PIL",
    "floor_bf16": "bare loop, bf16",
    "fit_bf16": "ltlab fit, bf16",
    "fit_bf16_compile": "ltlab fit, bf16 + compile",
    "reference": "reference BalPoE code",
    "ltlab": "ltlab fit (same run as reference)",
}


def figure(overhead: dict, reference: dict | None = None) -> go.Figure:
    rows = [(k, v) for k, v in overhead["results"].items() if "step_s" in v]
    if reference is not None:
        rows += [(k, v) for k, v in reference["results"].items() if "step_s" in v]
    floor = overhead["results"].get("floor", {}).get("step_s")
    names = [LABELS.get(k, k) for k, _ in rows]
    ms = [v["step_s"] * 1e3 for _, v in rows]
    text = [f"{m:.1f} ms" + (f" ({m / (floor * 1e3):.2f}x floor)" if floor else "") for m in ms]
    fig = go.Figure(go.Bar(x=ms, y=names, orientation="h", text=text, textposition="auto",
                           name="wall time"))
    cpu = [v.get("cpu_s") for _, v in rows]
    if "cuda" not in str(overhead.get("machine", "")).lower() and all(cpu):
        # on a shared CPU machine the process's CPU time is the steadier measure
        fig.add_bar(x=[c * 1e3 for c in cpu], y=names, orientation="h",
                    text=[f"{c * 1e3:.0f} ms CPU" for c in cpu], textposition="auto",
                    name="CPU time of the training process")
        fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.25))
    fig.update_layout(
        title=f"ResNet-32 x 3 experts, batch 128, CIFAR-100-LT-shaped data<br>"
              f"<sup>{overhead.get('machine', '')}, {overhead.get('date', '')}</sup>",
        xaxis_title="milliseconds per training step (lower is faster)",
        yaxis=dict(autorange="reversed"), height=160 + 70 * len(rows), width=900,
        margin=dict(l=230),
    )
    return fig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("overhead")
    p.add_argument("reference", nargs="?")
    p.add_argument("--out", required=True, help="output path without extension")
    args = p.parse_args(argv)
    overhead = json.loads(Path(args.overhead).read_text())
    reference = json.loads(Path(args.reference).read_text()) if args.reference else None
    fig = figure(overhead, reference)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.write_image(str(out.with_suffix(".png")), scale=1)
        print(out.with_suffix(".png"))
    except Exception as err:  # no kaleido / Chromium: keep an interactive file instead
        fig.write_html(str(out.with_suffix(".html")), include_plotlyjs="cdn")
        print(f"{out.with_suffix('.html')} (no PNG: {err})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
