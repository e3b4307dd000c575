"""Notebook 03's view of the pseudo-labels: `PseudoLabelMonitor` follows them per true class
during training, `late_rates` averages its curves over the end of training, and `noise_view`
is the Gaussian-noise view of points (the demonstration's and the 2-D toy's weak and strong
augmentations)."""

from __future__ import annotations

import math

import torch

__all__ = ["PseudoLabelMonitor", "late_rates", "noise_view"]


def noise_view(std: float):
    """A view function ``(x, generator) -> x + std * noise`` for points (no shifts)."""

    def view(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return x + std * torch.randn(x.shape, generator=g, device=x.device)

    return view



class PseudoLabelMonitor:
    """Follows FixMatch-style pseudo-labels per *true* class (the unlabeled labels are known
    here, never to the method). Set as ``method.monitor``; every ``every`` steps it stores,
    per true class c, over the samples of c seen since the last record:

    * ``mask_rate``: the fraction that passed the threshold (got a pseudo-label);
    * ``recall``: the fraction that passed with the right label;
    * ``precision``: of the samples pseudo-labeled c, the fraction truly of class c (NaN when
      none was);
    * ``discarded_correct``: of the samples below the threshold, the fraction whose argmax is
      right (what a loss on the discarded samples, as ADELLO's distillation, can use);
    * ``confidence``: the mean confidence max_y p(y | weak(x')) of the samples of c;

    ``pass_rate``, the fraction of *all* samples seen that passed (one number per record),
    and the method's current estimate ``q_hat`` (when it has one)."""

    def __init__(self, y_unlabeled: torch.Tensor, num_classes: int, threshold: float,
                 every: int, q_hat=None) -> None:
        self.y = y_unlabeled.long().cpu()
        self.c, self.threshold, self.every = num_classes, float(threshold), max(1, int(every))
        self.q_hat = q_hat
        self.calls = 0
        self.curves: dict[str, list] = {k: [] for k in ("step", "mask_rate", "recall",
                                                        "precision", "discarded_correct",
                                                        "confidence", "pass_rate", "q_hat")}
        self._reset()

    def _reset(self) -> None:
        z = torch.zeros(self.c, dtype=torch.float64)
        self.seen, self.passed, self.right = z.clone(), z.clone(), z.clone()
        self.labeled_as, self.dropped, self.dropped_right = z.clone(), z.clone(), z.clone()
        self.conf_sum = z.clone()

    @torch.no_grad()
    def __call__(self, batch, logits_weak: torch.Tensor) -> None:
        if batch.index_unlabeled is None:
            return
        y = self.y[batch.index_unlabeled.cpu()]
        conf, yhat = torch.softmax(logits_weak.float().cpu(), 1).max(1)
        ok, hit = conf >= self.threshold, yhat == y

        def count(labels, keep):
            return torch.bincount(labels[keep], minlength=self.c).double()

        everyone = torch.ones_like(ok)
        self.seen += count(y, everyone)
        self.passed += count(y, ok)
        self.right += count(y, ok & hit)
        self.labeled_as += count(yhat, ok)
        self.dropped += count(y, ~ok)
        self.dropped_right += count(y, ~ok & hit)
        self.conf_sum += torch.bincount(y, weights=conf.double(), minlength=self.c)
        self.calls += 1
        if self.calls % self.every == 0:
            self._record()

    def _record(self) -> None:
        def ratio(a, b):
            return torch.where(b > 0, a / b.clamp_min(1), torch.full_like(a, math.nan)).tolist()

        self.curves["step"].append(self.calls)
        self.curves["mask_rate"].append(ratio(self.passed, self.seen))
        self.curves["recall"].append(ratio(self.right, self.seen))
        self.curves["precision"].append(ratio(self.right, self.labeled_as))
        self.curves["discarded_correct"].append(ratio(self.dropped_right, self.dropped))
        self.curves["confidence"].append(ratio(self.conf_sum, self.seen))
        self.curves["pass_rate"].append(float(self.passed.sum() / self.seen.sum().clamp_min(1)))
        q = self.q_hat() if callable(self.q_hat) else None
        self.curves["q_hat"].append(None if q is None else q.detach().cpu().double().tolist())
        self._reset()


def late_rates(curves: dict[str, list], key: str = "mask_rate",
               fraction: float = 0.25) -> list[float]:
    """Per class, the mean of ``curves[key]`` (a `PseudoLabelMonitor` curve, one list per
    record) over the last ``fraction`` of the records, NaN records left out (NaN when a
    class has none).

    >>> late_rates({"mask_rate": [[0.0, 1.0], [0.5, float("nan")], [1.0, 0.0]]}, fraction=0.7)
    [0.75, 0.0]
    """
    rows = curves[key]
    if not rows:
        raise ValueError(f"curves[{key!r}] is empty: train with monitor_every > 0.")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1] (got {fraction!r}).")
    last = rows[len(rows) - max(1, int(len(rows) * fraction)):]
    out = []
    for c in range(len(last[0])):
        vals = [r[c] for r in last if r[c] is not None and not math.isnan(r[c])]
        out.append(sum(vals) / len(vals) if vals else math.nan)
    return out
