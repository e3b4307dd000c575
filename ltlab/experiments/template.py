"""The smallest driver that follows `ltlab.experiments.protocol`: copy it to start notebook 09.

The experiment: a linear softmax model on a small long-tailed 2-D Gaussian mixture
(`ltlab.data.GaussianMixtureLT`), trained with plain cross-entropy and with the
logit-adjusted loss (Menon et al., 2021), measured by balanced accuracy on a balanced test
set. It runs in seconds on a CPU. What a driver provides, in this order:

1. ``NOTEBOOK``, the notebook's name (``NN_topic``; `ltlab.experiments.full_size.DRIVERS`
   maps it to this module);
2. a frozen settings dataclass and ``settings(quick)`` (``quick=False``: the full-size run),
   with the `fit` options nested as one `FitOptions`;
3. a result dataclass with ``rows()`` (the notebook's table);
4. ``compare(settings, *, seeds=None, device="auto", workers=1)``, the whole experiment;
5. ``recorded_results(result)``, the keys the notebook passes to ``ltlab.record``;
6. ``BANDS`` (quick mode, seed 0) and ``FULL_BANDS``: the claims the notebook's Checks cell,
   its test and the full-size test check, each written once.

The notebook then reads::

    s = dataclasses.replace(driver.settings(quick), tau=tau)   # knobs from the parameters
    result = driver.compare(s, seeds=[seed], device=device)
    recorded = driver.recorded_results(result)
    for key, value in recorded.items():
        record(key, value)
    if at_defaults(dict(seed=seed, quick=quick, tau=tau), dict(seed=0, quick=True, tau=1.0)):
        assert_bands(recorded, driver.BANDS)

>>> s = settings()
>>> result = compare(s)
>>> [row["method"] for row in result.rows()]
['ce', 'la']
>>> from ltlab.experiments.protocol import failed_bands
>>> failed_bands(recorded_results(result), BANDS)
[]
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._validation import as_int
from ..data import GaussianMixtureLT
from ..losses import LogitAdjustedLoss
from ..metrics import balanced_accuracy
from ..models import MLP
from ..train import CrossEntropy, fit, predict_logits, seed_everything
from .process_pool import map_tasks
from .protocol import Band, FitOptions

NOTEBOOK = "09_template"

__all__ = ["NOTEBOOK", "BANDS", "FULL_BANDS", "METHODS", "TemplateSettings", "TemplateResult",
           "settings", "compare", "recorded_results"]

METHODS = ("ce", "la")


@dataclass(frozen=True)
class TemplateSettings:
    """Every size the experiment runs at: the mixture (``num_classes`` on a circle,
    ``max_count`` points in the head, ``imbalance_ratio``, ``test_per_class``), the LA
    strength ``tau``, the `fit` options and the ``seeds``."""

    num_classes: int = 5
    max_count: int = 200
    imbalance_ratio: float = 50
    test_per_class: int = 400
    tau: float = 1.0
    fit: FitOptions = FitOptions(epochs=40, batch_size=64, lr=0.05, weight_decay=0.0,
                                 extra=(("optimizer", "adam"),))
    seeds: tuple[int, ...] = (0,)


def settings(quick: bool = True) -> TemplateSettings:
    """Quick: 200 points in the head, one seed. Full: ten times the data, five seeds.

    >>> settings().max_count, settings(quick=False).seeds
    (200, (0, 1, 2, 3, 4))
    """
    if quick:
        return TemplateSettings()
    return TemplateSettings(max_count=2000, seeds=(0, 1, 2, 3, 4))


@dataclass
class TemplateResult:
    """``balanced_accuracy[method]``: one value per seed of ``seeds``."""

    seeds: tuple[int, ...]
    balanced_accuracy: dict[str, list[float]]

    def rows(self) -> list[dict[str, Any]]:
        """One row per method: its mean balanced accuracy over the seeds and each seed's."""
        return [{"method": m, "balanced_accuracy": statistics.fmean(accs), "per_seed": accs}
                for m, accs in self.balanced_accuracy.items()]


def _run_seed(task: tuple[TemplateSettings, int, str]) -> dict[str, float]:
    """One seed: the data, then each method trained from the same initial weights."""
    s, seed, device = task
    mixture = GaussianMixtureLT(num_classes=s.num_classes, dim=2,
                                imbalance_ratio=s.imbalance_ratio, max_count=s.max_count,
                                seed=seed)
    data = mixture.dataset(test_per_class=s.test_per_class, seed=seed)
    out = {}
    for name in METHODS:
        seed_everything(seed)
        model = MLP(2, s.num_classes, hidden=())
        method = CrossEntropy() if name == "ce" else LogitAdjustedLoss(tau=s.tau)
        fit(model, method, data, eval_every=10**9, device=device, seed=seed, progress=False,
            **s.fit.as_kwargs())
        logits = predict_logits(model, method, data.x_test, device)
        out[name] = balanced_accuracy(logits, data.y_test, s.num_classes)
    return out


def compare(settings: TemplateSettings, *, seeds: Sequence[int] | None = None,
            device: str = "auto", workers: int = 1) -> TemplateResult:
    """Train CE and LA on every seed (``seeds``; default the settings'), in ``workers``
    processes on the CPU (`process_pool.map_tasks`)."""
    chosen = tuple(settings.seeds if seeds is None else seeds)
    if not chosen:
        raise ValueError("seeds must name at least one seed, e.g. seeds=[0].")
    chosen = tuple(as_int(seed, "seeds", minimum=0) for seed in chosen)
    workers = as_int(workers, "workers", minimum=1)
    runs = map_tasks(_run_seed, [(settings, seed, device) for seed in chosen],
                     workers if device in ("cpu", "auto") else 1)
    return TemplateResult(chosen, {m: [run[m] for run in runs] for m in METHODS})


def recorded_results(result: TemplateResult) -> dict[str, float]:
    """The contract keys: each method's mean balanced accuracy over the seeds."""
    return {f"balanced_accuracy_{m}": statistics.fmean(accs)
            for m, accs in result.balanced_accuracy.items()}


#: quick mode, seed 0 (measured: CE 92.7 %, LA 96.4 %): the notebook's Checks cell and its
#: test read these
BANDS = (
    Band("balanced_accuracy_ce", low=0.4, reason="CE learns the head classes at least"),
    Band("balanced_accuracy_la", minus="balanced_accuracy_ce", low=0.02,
         reason="the logit-adjusted loss beats CE by 2 points of balanced accuracy"),
)

#: full size, mean of seeds 0-4 (measured: CE 96.4 %, LA 98.1 %): with ten times the data CE
#: has less to lose, so the margin is 1 point
FULL_BANDS = (
    BANDS[0],
    Band("balanced_accuracy_la", minus="balanced_accuracy_ce", low=0.01,
         reason="the logit-adjusted loss beats CE by a point of balanced accuracy"),
)
