r"""Notebook 06, the sphere toy: SimCLR on balanced data, SimCLR at imbalance ratio 64 and
SimCLR + GH at ratio 64, on a few Gaussian clusters embedded on the unit sphere S^2.

The data: ``num_classes`` Gaussian clusters in ``dim`` dimensions (means at norm ``radius``,
standard deviation ``std``; `ltlab.data.GaussianMixtureLT`), long-tailed with counts
n_i = max_count * rho^(-i/(C-1)) (rho = ``imbalance_ratio``; the balanced arm draws the same
total number of points, equally per class). The encoder: an MLP backbone and SimCLR's
projector to **3 dimensions**, so the normalised projection z / ||z|| (what NT-Xent's
cos(z_i, z_j) compares) lies on the sphere we can draw; GH uses
K = C anchors of a simplex ETF in those 3 dimensions (a tetrahedron for C = 4). Views add
Gaussian noise and mask a fraction of the coordinates (`gaussian_view`). Training is
Adam on batches of ``batch_size`` (None: the full batch, one step per epoch); GH's schedule
(warm-up, prior refresh, ramp) is counted in epochs.

What is measured, on fresh balanced sets of ``eval_per_class`` points per class (probe and
test), all on the sphere:

* ``tail_accuracy``: accuracy of the rarest class under a nearest-class-mean probe
  (class means of the probe set, cosine similarity), the *outcome*;
* ``tail_nearest_cosine``: the cosine between the tail's class mean and its nearest other
  class mean (`ltlab.analysis.nearest_class_cosine`, un-centred features), and
* ``etf_gap``: the relative distance of the class-mean Gram matrix from the simplex ETF
  (`ltlab.analysis.simplex_etf_gap`), the *mechanism* GH optimises.

SimCLR and SimCLR + GH at ratio 64 share their warm-up (GH is SimCLR until then) and the
data order afterwards, so their difference is paired per seed
(`ltlab.metrics.paired_interval`). `SphereSettings` (`sphere_settings`) sizes it.

>>> sphere_settings(quick=True).imbalance_ratio
64
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..._validation import as_fraction, as_int, as_positive
from ...analysis import class_mean_cosines, nearest_class_cosine, simplex_etf_gap
from ...contrastive import SimCLR
from ...data import GaussianMixtureLT, LTData
from ...gh import PrototypeMemory, SimCLRGH, geometric_logits
from ...metrics import paired_interval
from ...models import MLP
from ...train import fit, seed_everything
from ..process_pool import map_tasks
from ..protocol import FitOptions

__all__ = ["ARMS", "INTERVAL_KEYS", "METRICS", "SphereComparison", "SphereRun",
           "SphereSettings", "compare_sphere", "gaussian_view", "matched_class_prior",
           "recorded_sphere_results", "run_seed", "sphere_settings", "sphere_toy_data"]

#: The three pre-trainings, in the order of the slides' picture.
ARMS = ("simclr_balanced", "simclr_lt", "simclr_gh_lt")

#: Quick mode's epochs and seeds (`sphere_settings`).
QUICK_EPOCHS, QUICK_SEEDS = 100, 14

#: The outcome and the two mechanism metrics (see the module docstring).
METRICS = ("tail_accuracy", "tail_nearest_cosine", "etf_gap")


#: The entries of a paired interval the notebook records (`ltlab.metrics.paired_interval`
#: also gives the per-seed differences, which the recorded ``sphere_toy_paired`` leaves out).
INTERVAL_KEYS = ("mean", "ci_low", "ci_high")


@dataclass(frozen=True)
class SphereSettings:
    """Sizes of the sphere toy: the mixture (``num_classes`` clusters in ``dim`` dimensions,
    means at norm ``radius``, std ``std``, ``imbalance_ratio`` and head ``max_count``), the
    MLP backbone (``hidden``), the views (``noise``, ``mask``), ``fit``'s options (epochs in
    all, Adam at a constant learning rate, its weight decay; full batch when ``batch_size``
    is None, and ``fit.batch_size`` is then unused), GH's SimCLR-only ``warmup_epochs``,
    ``ramp_epochs``, ``prior_every`` and further `ltlab.gh.SimCLRGH` options
    (``gh_options``, ``(name, value)`` pairs, e.g. ``("beta", 0.9)``), NT-Xent's
    ``temperature``, the evaluation sets' size, the seeds (offsets from the driver's seed)
    and the extra GH arms `run_seed` continues from the shared warm-up: the matched-prior
    oracle (``matched_prior``), a uniform marginal (``uniform_prior``), and the label-free
    attempts to improve pi_hat: a count floor (``prior_floor`` > 0), a faster memory after
    the warm-up (``memory_beta``, None: off) and a longer warm-up (``longer_warmup`` > 0
    more epochs)."""

    num_classes: int = 4
    dim: int = 32
    radius: float = 3.0
    std: float = 0.7
    imbalance_ratio: float = 64
    max_count: int = 256
    hidden: int = 64
    noise: float = 0.5
    mask: float = 0.2
    fit: FitOptions = FitOptions(epochs=QUICK_EPOCHS, lr=3e-3, weight_decay=0.0, extra=(
        ("optimizer", "adam"), ("schedule", "constant")))
    batch_size: int | None = None
    warmup_epochs: int = QUICK_EPOCHS // 4
    ramp_epochs: int = 3
    prior_every: int = 5
    gh_options: tuple[tuple[str, Any], ...] = ()
    temperature: float = 0.2
    eval_per_class: int = 500
    seeds: tuple[int, ...] = tuple(range(QUICK_SEEDS))
    matched_prior: bool = True
    uniform_prior: bool = True
    prior_floor: float = 0.0
    memory_beta: float | None = 0.9
    longer_warmup: int = 0

    def replace(self, **changes: Any) -> SphereSettings:
        return dataclasses.replace(self, **changes)

    def arms(self) -> dict[str, Any]:
        """`run_seed`'s keywords for the extra arms these settings ask for."""
        return dict(matched_prior=self.matched_prior, uniform_prior=self.uniform_prior,
                    prior_floor=self.prior_floor, memory_beta=self.memory_beta,
                    longer_warmup=self.longer_warmup)

    def legacy(self) -> dict[str, Any]:
        """The flat dict the full-size settings hash covers (the layout of ltlab before the
        protocol, plus GH's schedule and the extra arms)."""
        return dict(num_classes=self.num_classes, dim=self.dim, radius=self.radius,
                    std=self.std, imbalance_ratio=self.imbalance_ratio,
                    max_count=self.max_count, hidden=self.hidden, lr=self.fit.lr,
                    noise=self.noise, mask=self.mask, eval_per_class=self.eval_per_class,
                    seeds=self.seeds, epochs=self.fit.epochs, warmup_epochs=self.warmup_epochs,
                    batch_size=self.batch_size, ramp_epochs=self.ramp_epochs,
                    prior_every=self.prior_every, gh_options=self.gh_options, **self.arms())


def sphere_settings(quick: bool = True) -> SphereSettings:
    """Quick: 14 seeds of 100 full-batch epochs (25 of warm-up), the three marginals and the
    faster memory, about a minute of one CPU core per 10 seeds; full: 16 seeds of 400 epochs
    (100 of warm-up) with every attempt to improve pi_hat (a count floor of 0.02, the faster
    memory, a warm-up twice as long)."""
    if quick:
        return SphereSettings()
    return SphereSettings(fit=SphereSettings().fit.replace(epochs=400), warmup_epochs=100,
                          ramp_epochs=10, prior_every=20, eval_per_class=1000,
                          seeds=tuple(range(16)), prior_floor=0.02, longer_warmup=100)


def gaussian_view(x: torch.Tensor, g: torch.Generator, noise: float = 0.5,
                  mask: float = 0.2) -> torch.Tensor:
    """A SimCLR view of points ``[N, D]``: add N(0, ``noise``^2) to every coordinate, then
    set a random fraction ``mask`` of the coordinates to zero."""
    x = x + noise * torch.randn(x.shape, generator=g, device=x.device)
    keep = torch.rand(x.shape, generator=g, device=x.device) >= mask
    return x * keep


def sphere_toy_data(
    imbalance_ratio: float = 64, max_count: int = 256, num_classes: int = 4, dim: int = 32,
    radius: float = 3.0, std: float = 1.0, seed: int = 0,
) -> tuple[GaussianMixtureLT, LTData]:
    """The mixture and its train split of counts ``long_tailed_counts(num_classes, max_count,
    imbalance_ratio)``. At one ``seed`` every ratio has the same class means, so a balanced
    split (ratio 1, ``max_count`` = the long-tailed total / C, as `run_seed` draws it) and
    a long-tailed one differ only in their counts."""
    mixture = GaussianMixtureLT(num_classes, dim, imbalance_ratio, max_count, radius=radius,
                                std=std, seed=seed)
    return mixture, mixture.dataset(test_per_class=1, seed=seed)


@dataclass
class SphereRun:
    """One seed of the toy: ``metrics[arm][metric]``, per-class accuracy, the test points'
    positions on the sphere ``[N, 3]`` per arm, their labels, the anchors M ``[K, 3]``, the
    cluster prior pi GH estimated (after the warm-up and at the end), the class prior, and
    ``anchor_table[arm]``: ``[C, K]`` counts of test points of class c whose geometric
    logits point at anchor k."""

    seed: int
    metrics: dict[str, dict[str, float]]
    class_accuracy: dict[str, list[float]]
    embeddings: dict[str, torch.Tensor]
    labels: torch.Tensor
    anchors: torch.Tensor
    prior_after_warmup: list[float]
    prior_final: list[float]
    class_prior: list[float]
    anchor_table: dict[str, list[list[int]]]
    matched_prior: list[float] | None = None
    train_counts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    arm_priors: dict[str, list[float]] = field(default_factory=dict)


def _positions(model, method, x: torch.Tensor) -> torch.Tensor:
    """Projector outputs z (eval mode) of ``x``."""
    model.eval()
    method.eval()
    with torch.no_grad():
        return method.projector(model.features(x))


def _measure(model, method, mixture: GaussianMixtureLT, eval_per_class: int, seed: int,
             anchors: torch.Tensor) -> tuple[dict[str, float], list[float], torch.Tensor,
                                             list[list[int]]]:
    c = mixture.num_classes
    xp, yp = mixture.sample_counts([eval_per_class] * c, seed=10_007 + seed)
    xt, yt = mixture.sample_counts([eval_per_class] * c, seed=20_011 + seed)
    zp, zt = _positions(model, method, xp), _positions(model, method, xt)
    up, ut = F.normalize(zp, dim=1), F.normalize(zt, dim=1)
    means = F.normalize(torch.stack([up[yp == k].mean(0) for k in range(c)]), dim=1)
    pred = (ut @ means.T).argmax(1)  # nearest class mean by cosine
    acc = [float((pred[yt == k] == k).float().mean()) for k in range(c)]
    cosines = class_mean_cosines(ut, yt, c, centre=False)
    tail = int(torch.argmin(mixture.train_counts)) if mixture.imbalance_ratio != 1 else c - 1
    metrics = {"tail_accuracy": acc[tail],
               "tail_nearest_cosine": float(nearest_class_cosine(cosines)[tail]),
               "etf_gap": simplex_etf_gap(cosines),
               # the same cosine after centring the points (the notebook's MNIST-1D heatmaps)
               "tail_nearest_cosine_centred": float(nearest_class_cosine(
                   class_mean_cosines(ut, yt, c, centre=True))[tail])}
    nearest_anchor = geometric_logits(zt, anchors).argmax(1)
    table = [torch.bincount(nearest_anchor[yt == k], minlength=anchors.shape[0]).tolist()
             for k in range(c)]
    return metrics, acc, ut, table


class _FlooredMemory(PrototypeMemory):
    """`PrototypeMemory` whose pi_hat gives every anchor at least ``floor`` (then renormalised)."""

    def __init__(self, num_samples: int, num_prototypes: int, floor: float) -> None:
        super().__init__(num_samples, num_prototypes)
        self.floor = floor

    def prior(self) -> torch.Tensor:
        p = super().prior().clamp_min(self.floor)
        return p / p.sum()


def run_seed(seed: int = 0, settings: SphereSettings | None = None, *,
             matched_prior: bool = False, uniform_prior: bool = False,
             prior_floor: float = 0.0, memory_beta: float | None = None,
             longer_warmup: int = 0) -> SphereRun:
    """Train the three arms at one seed and measure them (see the module docstring;
    ``settings``: default `sphere_settings`). ``matched_prior=True`` adds a fourth arm,
    ``simclr_gh_lt_matched``: GH whose marginal is the *class* prior, each anchor getting
    the share of the class it holds after the warm-up (`matched_class_prior`; an oracle that
    needs the labels, not the method). ``temperature`` is NT-Xent's T in all three arms;
    ``fit.weight_decay`` is Adam's L2 term; ``gh_options`` go to `ltlab.gh.SimCLRGH` (e.g.
    ``ramp_epochs``, ``eps``, ``beta``). ``uniform_prior=True`` adds
    ``simclr_gh_lt_uniform``: GH with a fixed uniform marginal. ``prior_floor`` > 0 adds
    ``simclr_gh_lt_floored``: GH whose estimated pi_hat gives every anchor at least
    ``prior_floor`` (a label-free count floor, then renormalised). ``memory_beta`` adds
    ``simclr_gh_lt_fast``: GH whose memory momentum after the warm-up is ``memory_beta``
    (e.g. 0.9) instead of ``beta``; ``longer_warmup`` > 0 adds ``simclr_gh_lt_longer``: GH
    that stays SimCLR (memory momentum ``beta_warmup``) for ``longer_warmup`` more epochs
    before it estimates pi_hat. The extra arms continue from the same warm-up with the
    same data order, and leave the other arms unchanged; ``arm_priors[arm]`` is each GH
    arm's final marginal."""
    s = settings or sphere_settings()
    as_positive(prior_floor, "prior_floor", "A share in [0, 1/K); 0 turns the arm off.",
                allow_zero=True)
    if memory_beta is not None:
        as_fraction(memory_beta, "memory_beta", "The memory momentum after the warm-up.")
    as_int(longer_warmup, "longer_warmup", minimum=0)
    if longer_warmup and s.warmup_epochs + longer_warmup >= s.fit.epochs:
        raise ValueError(f"longer_warmup = {longer_warmup} leaves GH no epoch: warmup_epochs "
                         f"+ longer_warmup must stay below epochs = {s.fit.epochs}.")
    if prior_floor * s.num_classes >= 1:
        raise ValueError(f"prior_floor must be below 1/K = {1 / s.num_classes:.3f} (got "
                         f"{prior_floor!r}); 0 turns the floored arm off.")
    epochs, warmup_epochs, weight_decay = s.fit.epochs, s.warmup_epochs, s.fit.weight_decay
    num_classes, dim, hidden, temperature = s.num_classes, s.dim, s.hidden, s.temperature
    noise, mask, eval_per_class = s.noise, s.mask, s.eval_per_class
    as_int(warmup_epochs, "warmup_epochs", minimum=1)
    as_positive(temperature, "temperature", "NT-Xent's temperature (GH reference: 0.2).")
    as_positive(weight_decay, "weight_decay", "0 turns it off.", allow_zero=True)
    if not isinstance(epochs, int) or epochs <= warmup_epochs:
        raise ValueError(f"epochs must exceed warmup_epochs = {warmup_epochs} (got {epochs!r}).")
    as_fraction(mask, "mask", "The fraction of coordinates a view sets to zero.")
    t0 = time.perf_counter()
    lt_mix, lt = sphere_toy_data(s.imbalance_ratio, s.max_count, num_classes, dim, s.radius,
                                 s.std, seed)
    total = int(lt.train_counts.sum())
    bal_mix, bal = sphere_toy_data(1, total // num_classes, num_classes, dim, s.radius, s.std,
                                   seed)
    batch = s.batch_size or total

    def view(x, g):
        return gaussian_view(x, g, noise, mask)

    common = {**s.fit.as_kwargs(), "batch_size": batch, "progress": False, "device": "cpu"}
    common.pop("epochs")
    options = dict(dict(ramp_epochs=s.ramp_epochs, prior_every=s.prior_every), **dict(s.gh_options))
    out: dict[str, tuple] = {}
    anchors = None

    # SimCLR on balanced data
    seed_everything(seed)
    model = MLP(dim, num_classes, (hidden,))
    simclr = SimCLR(hidden, 3, temperature=temperature, view=view)
    fit(model, simclr, bal, epochs=epochs, seed=seed, eval_every=epochs, **common)
    # the long-tailed pair: one warm-up (GH is SimCLR until then), then two continuations
    seed_everything(seed)
    model_lt = MLP(dim, num_classes, (hidden,))
    gh = SimCLRGH(hidden, num_classes, 3, temperature=temperature, view=view,
                  warmup_epochs=warmup_epochs, structure_seed=seed, **options)
    fit(model_lt, gh, lt, epochs=warmup_epochs, seed=seed, eval_every=warmup_epochs, **common)
    prior_after_warmup = gh.prior.tolist()
    anchors = gh.structure.clone()
    out["simclr_balanced"] = _measure(model, simclr, bal_mix, eval_per_class, seed, anchors)
    simclr_lt = SimCLR(hidden, 3, temperature=temperature, view=view)
    simclr_lt.projector.load_state_dict(gh.projector.state_dict())
    continuations = [("simclr_lt", copy.deepcopy(model_lt), simclr_lt)]
    matched = None
    if matched_prior:  # the oracle: pi_k = class prior of the class that anchor k holds
        matched = matched_class_prior(_positions(model_lt, gh, lt.x_train), lt.y_train,
                                      anchors, lt.train_prior)
        oracle = copy.deepcopy(gh)
        oracle.prior.copy_(matched)
        oracle.prior_is_fixed = True
        continuations.append(("simclr_gh_lt_matched", copy.deepcopy(model_lt), oracle))
    if uniform_prior:  # no prior: every anchor gets 1/K
        flat = copy.deepcopy(gh)
        flat.prior.fill_(1.0 / flat.num_prototypes)
        flat.prior_is_fixed = True
        continuations.append(("simclr_gh_lt_uniform", copy.deepcopy(model_lt), flat))
    if prior_floor > 0:  # pi_hat with a count floor, refreshed as GH does
        floored = copy.deepcopy(gh)
        memory = _FlooredMemory(*gh.memory.values.shape, prior_floor)
        memory.values.copy_(gh.memory.values)
        floored.memory = memory
        floored.prior.copy_(memory.prior())
        continuations.append(("simclr_gh_lt_floored", copy.deepcopy(model_lt), floored))
    if memory_beta is not None:  # a faster memory after the warm-up
        fast = copy.deepcopy(gh)
        fast.beta = memory_beta
        continuations.append(("simclr_gh_lt_fast", copy.deepcopy(model_lt), fast))
    if longer_warmup:  # SimCLR (and the warm-up memory) for longer_warmup more epochs
        longer = copy.deepcopy(gh)
        longer.warmup_epochs = warmup_epochs + longer_warmup
        continuations.append(("simclr_gh_lt_longer", copy.deepcopy(model_lt), longer))
    continuations.append(("simclr_gh_lt", model_lt, gh))
    rest, arm_priors = epochs - warmup_epochs, {}
    for name, m, method in continuations:
        fit(m, method, lt, epochs=rest, seed=seed + 1, eval_every=rest, **common)
        out[name] = _measure(m, method, lt_mix, eval_per_class, seed, anchors)
        if hasattr(method, "prior"):
            arm_priors[name] = method.prior.tolist()
    _, labels = lt_mix.sample_counts([eval_per_class] * num_classes, seed=20_011 + seed)
    return SphereRun(
        seed=seed, metrics={a: out[a][0] for a in out},
        class_accuracy={a: out[a][1] for a in out},
        embeddings={a: out[a][2] for a in out}, labels=labels, anchors=anchors,
        prior_after_warmup=prior_after_warmup, prior_final=gh.prior.tolist(),
        class_prior=lt.train_prior.tolist(), anchor_table={a: out[a][3] for a in out},
        matched_prior=None if matched is None else matched.tolist(),
        train_counts=lt.train_counts.tolist(), seconds=time.perf_counter() - t0,
        arm_priors=arm_priors)


def matched_class_prior(z: torch.Tensor, labels: torch.Tensor, anchors: torch.Tensor,
                        class_prior: torch.Tensor) -> torch.Tensor:
    """The anchor marginal an oracle would give GH: match classes to anchors one-to-one so
    that most samples sit at their class's anchor (the Hungarian algorithm on the table of
    class-c samples whose geometric logits point at anchor k), and give anchor k the class
    prior of its class. Needs C = K."""
    from scipy.optimize import linear_sum_assignment  # scipy comes with scikit-learn

    k = anchors.shape[0]
    if int(class_prior.numel()) != k:
        raise ValueError(f"matched_class_prior needs as many classes as anchors (got "
                         f"{class_prior.numel()} and {k}).")
    nearest = geometric_logits(z, anchors).argmax(1)
    table = torch.stack([torch.bincount(nearest[labels == c], minlength=k) for c in range(k)])
    rows, cols = linear_sum_assignment(-table.numpy())
    prior = torch.zeros(k)
    prior[torch.as_tensor(cols)] = class_prior.float()[torch.as_tensor(rows)]
    return prior


def _run_task(task: tuple[int, SphereSettings]) -> SphereRun:
    seed, settings = task
    return run_seed(seed, settings, **settings.arms())


@dataclass
class SphereComparison:
    """All seeds of the toy (`SphereRun` each)."""

    runs: list[SphereRun] = field(default_factory=list)

    def per_seed(self, arm: str, metric: str) -> list[float]:
        return [r.metrics[arm][metric] for r in self.runs]

    def means(self) -> dict[str, dict[str, float]]:
        """``means()[arm][metric]``: the mean over seeds."""
        return {a: {m: sum(self.per_seed(a, m)) / len(self.runs) for m in METRICS}
                for a in ARMS}

    def paired(self) -> dict[str, dict[str, float]]:
        """``paired()[metric]``: `ltlab.metrics.paired_interval` of simclr_gh_lt - simclr_lt
        (mean, 95 % interval and the per-seed differences)."""
        return {m: paired_interval(self.per_seed("simclr_gh_lt", m),
                                   self.per_seed("simclr_lt", m)) for m in METRICS}

    def rows(self) -> list[dict[str, Any]]:
        """One row per seed and arm: the three metrics."""
        return [{"seed": r.seed, "arm": a, **r.metrics[a]} for r in self.runs for a in ARMS]


def compare_sphere(settings: SphereSettings | None = None, *,
                   seeds: Sequence[int] | None = None, workers: int = 2) -> SphereComparison:
    """`run_seed` at every seed (default: ``settings.seeds``) in up to ``workers``
    one-thread processes (`ltlab.experiments.process_pool.map_tasks`)."""
    s = settings or sphere_settings()
    seeds = [int(x) for x in (s.seeds if seeds is None else seeds)]
    if not seeds:
        raise ValueError("compare_sphere needs at least one seed.")
    runs = map_tasks(_run_task, [(x, s) for x in seeds], workers=workers)
    return SphereComparison(runs=list(runs))


def recorded_sphere_results(result: SphereComparison) -> dict[str, Any]:
    """``sphere_toy[arm][metric]`` (means over seeds) and ``sphere_toy_paired[metric]``
    (simclr_gh_lt - simclr_lt: mean and 95 % interval, `INTERVAL_KEYS`)."""
    paired = {m: {k: p[k] for k in INTERVAL_KEYS} for m, p in result.paired().items()}
    return {"sphere_toy": result.means(), "sphere_toy_paired": paired}
