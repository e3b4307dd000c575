"""Notebook 08's parts: SimCLR and SimCLR + GH pre-trained on MNIST-1D-LT and compared by a
balanced linear probe (its driver: `ltlab.experiments.gh_mnist1d`); and the toy batch of
notebook 06's allocation panel. (Notebook 06's sphere toy is `ltlab.experiments.gh.sphere`;
its driver `ltlab.experiments.gh`.)

`ProbeSettings` (`probe_settings`) sizes it; `pretrain_and_probe` pre-trains both and
probes (a `GHComparison`); `compare_seeds` repeats it over training seeds for the
notebook's paired table (a `SeedTable`).

>>> probe_settings(quick=True).warmup_epochs
10
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ..._validation import as_int
from ...analysis import extract_features, probe_accuracy
from ...augment import contrastive_signal_view
from ...contrastive import SimCLR
from ...data import LTData, mnist1d_lt
from ...gh import SimCLRGH, geometric_logits, uniform_structure
from ...metrics import paired_interval
from ...models import PooledCNN1D
from ...train import fit, resolve_device, seed_everything
from ..process_pool import map_tasks
from ..protocol import FitOptions

__all__ = ["GHComparison", "ProbeSettings", "SeedTable", "compare_seeds",
           "mnist1d_pretraining_splits", "pretrain_and_probe", "probe_settings", "toy_scores"]


@dataclass(frozen=True)
class ProbeSettings:
    """Sizes of notebook 08's MNIST-1D probe: the pre-training set (head class ``max_count``,
    ``imbalance_ratio``), balanced probe and test signals per class (1,000 each: MNIST-1D is
    generated, so a large test set costs only its generation and keeps the few third's
    accuracy from being noisy), ``fit``'s options (pre-training epochs, batch size, Adam at
    a constant learning rate; one schedule per phase), GH's SimCLR-only ``warmup_epochs``,
    ``ramp_epochs`` and ``prior_every``, ``num_prototypes`` K (None: the number of classes),
    the projector's ``proj_dim``, the linear probe's ``probe_epochs`` and how many training
    seeds the multi-seed table runs (``seeds``, `compare_seeds`)."""

    max_count: int = 400
    imbalance_ratio: float = 100
    probe_per_class: int = 1000
    test_per_class: int = 1000
    fit: FitOptions = FitOptions(epochs=40, batch_size=128, lr=1e-3, weight_decay=0.0, extra=(
        ("optimizer", "adam"), ("nesterov", False), ("schedule", "constant")))
    warmup_epochs: int = 10
    ramp_epochs: int = 5
    prior_every: int = 20
    num_prototypes: int | None = 10
    proj_dim: int = 32
    probe_epochs: int = 300
    seeds: int = 5

    def legacy(self) -> dict[str, Any]:
        """The flat dict of ltlab before the protocol (what the full-size settings hash
        covers, so the committed records stay valid)."""
        return dict(max_count=self.max_count, probe_per_class=self.probe_per_class,
                    test_per_class=self.test_per_class, epochs=self.fit.epochs,
                    warmup_epochs=self.warmup_epochs, seeds=self.seeds)


def probe_settings(quick: bool = True) -> ProbeSettings:
    """Quick runs on a 2-core CPU in a few minutes; full (head 1,000, 150 epochs of which
    40 of warm-up, 8 seeds) in about ten."""
    if quick:
        return ProbeSettings()
    return ProbeSettings(max_count=1000, fit=ProbeSettings().fit.replace(epochs=150),
                         warmup_epochs=40, seeds=8)


def toy_scores(
    counts=(24, 12, 6, 3, 2), noise: float = 0.5, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A toy batch for the allocation panel: ``counts[k]`` samples around anchor k of a
    simplex structure (K = len(counts), dim K), plus Gaussian noise of std ``noise``,
    returned as geometric logits ``[N, K]`` and the true clusters ``[N]``."""
    counts = [int(c) for c in counts]
    if len(counts) < 2 or min(counts) < 1:
        raise ValueError(f"counts needs >= 2 clusters of >= 1 sample each (got {counts}).")
    k = len(counts)
    m = uniform_structure(k, k, seed).double()
    labels = torch.repeat_interleave(torch.arange(k), torch.tensor(counts))
    g = torch.Generator().manual_seed(seed)
    z = m[labels] + noise * torch.randn(labels.numel(), k, generator=g, dtype=torch.float64)
    return geometric_logits(z, m).float(), labels


def mnist1d_pretraining_splits(
    imbalance_ratio: float = 100, max_count: int = 400, probe_per_class: int = 100,
    test_per_class: int = 100, seed: int = 0,
) -> tuple[LTData, torch.Tensor, torch.Tensor]:
    """The three sets of the paper's protocol on MNIST-1D: a long-tailed pre-training set
    (`mnist1d_lt`; its labels only define the groups and the training monitor), a balanced
    labeled probe set of ``probe_per_class`` signals per class, and the balanced test set.
    Both come from one generated pool (the probe set may share signals with the
    pre-training set, as the paper's probe uses the full balanced CIFAR train set); the
    test signals are disjoint from both. Returns ``(data, probe_x, probe_y)``."""
    per_class = max(max_count, probe_per_class)
    # the pool splits 80/20 into train/test and its classes vary by a few percent
    num_samples = 1000 * math.ceil(max(per_class / 0.8, test_per_class / 0.2) * 14 / 1000)
    data = mnist1d_lt(imbalance_ratio, max_count, test_per_class, num_samples, seed)
    probe = mnist1d_lt(1, probe_per_class, test_per_class, num_samples, seed)
    return data, probe.x_train, probe.y_train


@contextlib.contextmanager
def _cpu_threads(device: torch.device, threads: int):
    """Run the block with ``threads`` torch threads on the CPU (restored afterwards)."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class GHComparison:
    """What `compare` measured: ``probe_accuracy[method][group]``, training histories,
    the test set's backbone features (what the probe sees) and projector outputs z (where
    GH acts), and the pre-trained model and method of each run."""

    probe_accuracy: dict[str, dict[str, float]]
    histories: dict[str, Any] = field(default_factory=dict)
    test_features: dict[str, torch.Tensor] = field(default_factory=dict)
    test_projections: dict[str, torch.Tensor] = field(default_factory=dict)
    models: dict[str, nn.Module] = field(default_factory=dict)
    methods: dict[str, nn.Module] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """One row per method: probe accuracy of many / medium / few and of all classes."""
        return [{"method": name, **acc} for name, acc in self.probe_accuracy.items()]

    def few_gain(self) -> float:
        """Few-group probe accuracy of SimCLR + GH minus SimCLR's."""
        return self.probe_accuracy["simclr_gh"]["few"] - self.probe_accuracy["simclr"]["few"]


def pretrain_and_probe(
    data: LTData, probe_x: torch.Tensor, probe_y: torch.Tensor,
    make_model: Callable[[], nn.Module], settings: ProbeSettings | None = None, *,
    view: Callable[[torch.Tensor, torch.Generator], torch.Tensor] = contrastive_signal_view,
    seed: int = 0, device: str = "auto", show_progress: bool = False, fixed_prior=None,
) -> GHComparison:
    """Pre-train SimCLR and SimCLR + GH on ``data``'s long-tailed train split (its labels
    are not used by either loss), then linear-probe both on the balanced (``probe_x``,
    ``probe_y``) and report many / medium / few / all on ``data``'s balanced test set.
    ``settings`` (default `probe_settings`): ``fit``'s options (``fit.epochs`` in all), GH's
    knobs and the probe's epochs; the data sizes in it are not used here.

    As in the reference, SimCLR + GH *is* SimCLR for the first ``warmup_epochs`` (while its
    memory learns the cluster prior), so both runs share that warm-up: one model is
    trained for ``warmup_epochs``, copied, and each copy trains ``epochs - warmup_epochs``
    more, one with NT-Xent only and one with NT-Xent + w_GH L_GH, with the same data order
    and augmentations. The comparison is therefore paired: the two runs differ only by GH.
    Each phase has its own learning-rate ``schedule`` (the reference also uses one
    schedule per stage). ``num_prototypes`` defaults to the number of classes;
    ``fixed_prior`` is passed to `SimCLRGH` (None: the memory's estimate, as in the paper).
    """
    s = settings or probe_settings()
    epochs, warmup_epochs = s.fit.epochs, s.warmup_epochs
    as_int(warmup_epochs, "warmup_epochs", minimum=1)
    if not isinstance(epochs, int) or epochs <= warmup_epochs:
        raise ValueError(f"epochs must exceed warmup_epochs = {warmup_epochs} (got {epochs!r}); "
                         "GH only starts after the warm-up.")
    dev = resolve_device(device)
    # a small CNN: one thread is as fast as two, and far faster on a CPU shared with other work
    with _cpu_threads(dev, 1):
        k = s.num_prototypes or data.num_classes
        common = {**s.fit.as_kwargs(), "device": dev, "progress": show_progress}
        seed_everything(seed)
        model = make_model()
        gh_method = SimCLRGH(model.feature_dim, k, s.proj_dim, view=view,
                             warmup_epochs=warmup_epochs, ramp_epochs=s.ramp_epochs,
                             prior_every=s.prior_every, structure_seed=seed,
                             fixed_prior=fixed_prior)
        result = GHComparison(probe_accuracy={})
        t0 = time.perf_counter()
        result.histories["warmup"] = fit(model, gh_method, data, seed=seed,
                                         eval_every=warmup_epochs,
                                         **{**common, "epochs": warmup_epochs})
        result.seconds["warmup"] = time.perf_counter() - t0
        simclr_method = SimCLR(model.feature_dim, s.proj_dim, view=view)
        simclr_method.projector.load_state_dict(gh_method.projector.state_dict())
        runs = {"simclr": (copy.deepcopy(model), simclr_method), "simclr_gh": (model, gh_method)}
        rest = epochs - warmup_epochs
        for name, (m, method) in runs.items():
            t0 = time.perf_counter()
            result.histories[name] = fit(m, method, data, seed=seed + 1,
                                         eval_every=max(1, rest // 5),
                                         **{**common, "epochs": rest})
            result.probe_accuracy[name] = probe_accuracy(
                m, probe_x.to(dev), probe_y.to(dev), data.x_test.to(dev), data.y_test,
                data.train_counts, s.probe_epochs, seed)
            result.seconds[name] = time.perf_counter() - t0
            result.test_features[name] = extract_features(m, data.x_test.to(dev)).cpu()
            method.eval()
            with torch.no_grad():
                result.test_projections[name] = method.projector(
                    result.test_features[name].to(dev)).cpu()
            result.models[name], result.methods[name] = m, method
        return result


@dataclass
class SeedTable:
    """`pretrain_and_probe` at several training seeds on one split: ``probe_accuracy[i][method][group]``
    of seed ``seeds[i]``."""

    seeds: list[int]
    probe_accuracy: list[dict[str, dict[str, float]]]

    def rows(self) -> list[dict[str, Any]]:
        """Per group: the mean of each method over the seeds and the paired difference
        SimCLR + GH - SimCLR (mean and 95 % interval, `paired_interval`)."""
        out = []
        for g in ("many", "medium", "few", "all"):
            gh_acc = [a["simclr_gh"][g] for a in self.probe_accuracy]
            base = [a["simclr"][g] for a in self.probe_accuracy]
            diff = paired_interval(gh_acc, base)
            out.append({"group": g, "simclr": sum(base) / len(base),
                        "simclr_gh": sum(gh_acc) / len(gh_acc), "difference": diff["mean"],
                        "ci_low": diff["ci_low"], "ci_high": diff["ci_high"]})
        return out


def _seed_task(task: tuple[int, LTData, torch.Tensor, torch.Tensor, ProbeSettings, str]
               ) -> dict[str, dict[str, float]]:
    seed, data, probe_x, probe_y, settings, device = task
    return pretrain_and_probe(data, probe_x, probe_y, PooledCNN1D, settings, seed=seed,
                              device=device).probe_accuracy


def compare_seeds(
    data: LTData, probe_x: torch.Tensor, probe_y: torch.Tensor,
    settings: ProbeSettings | None = None, seeds: Sequence[int] = (0, 1, 2), workers: int = 2,
    done: dict[int, dict[str, dict[str, float]]] | None = None, device: str = "cpu",
) -> SeedTable:
    """`pretrain_and_probe` (backbone `ltlab.models.PooledCNN1D`, ``settings``) at every
    training seed on the *same* split, on the CPU in up to ``workers`` one-thread processes
    (on a GPU ``device``: one after another on it): the seeds vary the initialisation, the
    data order, the views and the anchors, not the data, so the table's interval leaves out
    the split's own noise. ``done`` maps seeds already run to their ``probe_accuracy`` (not
    run again)."""
    s = settings or probe_settings()
    seeds = [int(x) for x in seeds]
    if not seeds:
        raise ValueError("compare_seeds needs at least one seed.")
    done = dict(done or {})
    todo = [x for x in seeds if x not in done]
    dev = resolve_device(device)
    accs = map_tasks(_seed_task, [(x, data, probe_x, probe_y, s, str(dev)) for x in todo],
                     workers=workers if dev.type == "cpu" else 1)
    done.update(zip(todo, accs))
    return SeedTable(seeds, [done[x] for x in seeds])
