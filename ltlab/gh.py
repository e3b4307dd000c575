r"""Geometric Harmonization (GH) for self-supervised long-tailed learning.

Zhou, Yao, Hong, Zhang, Han and Wang, *Combating Representation Learning Disparity with
Geometric Harmonization*, NeurIPS 2023 (reference code: MediaBrain-SJTU/Geometric-Harmonization).

**The problem.** Contrastive learning (SimCLR's NT-Xent) pushes every *sample* away from
every other: sample-level uniformity. On long-tailed data most samples are head samples,
so the head classes take over the feature space and the tail classes are squeezed into
what is left ("representation learning disparity").

**The fix: category-level uniformity.** GH fixes K directions that split the unit sphere
equally, a *geometric uniform structure* (Definition 3.1): a simplex equiangular tight
frame M = [M_1, ..., M_K] with unit rows and M_i^T M_j = C = -1/(K-1) for i != j. A
sample's projector output z gets *geometric logits* q = normalize(z M^T) (one score per
anchor, L2-normalised over the K anchors). GH then asks every anchor to receive its
share of the data, not every sample: it allocates surrogate labels Q_hat that solve

    min_{Q_hat}  -(1/N) sum_i q_hat_i . log q_i
    s.t.  Q_hat^T 1_N = N pi  (anchor k receives a share pi_k of the samples),
          Q_hat 1_K = 1_N     (each sample's label is a distribution),

with an entropic regulariser of strength eps = 1/lambda, solved by Sinkhorn iterations
(Algorithm 1, `sinkhorn_allocation`). pi is the *cluster prior*: the share of training
samples whose long-run (memory-averaged) geometric logits point at each anchor
(`PrototypeMemory`), so a head cluster is allowed a bigger share, but no cluster can
swallow the others. The GH loss is a swapped prediction between the two views at
temperature gamma = 0.1 (`swapped_prediction_loss`), and the overall objective is

    L = L_NT-Xent + w_GH * L_GH,

with w_GH = 0 during a SimCLR-only warm-up and then a linear ramp to 1 (`SimCLRGH`).

**Code <-> paper.** ``structure`` = M ``[K, d]``; ``num_prototypes`` = K;
``scores``/``g`` = the geometric logits q ``[N, K]``; ``allocation`` = Q_hat ``[N, K]``
(rows sum to 1, column means = pi); ``eps`` = 1/lambda (0.05, so lambda = 20);
``n_iter`` = E (300); ``temperature`` = gamma (0.1) of L_GH, and 0.2 for NT-Xent.

**Departures from the reference code** (see ``shared/methods-spec.md`` section 5): the
per-sample memory starts at zeros (the reference accumulates into ``torch.empty``, i.e.
uninitialised memory); `uniform_structure` is seeded and also works for K = d + 1;
Sinkhorn runs in float64 (the reference: float32), switches to the log domain when the
scores span more than 500 eps (so any score range works, not only |q| <= 1), and stops
once both marginals hold to 1e-7 (``tol``; ``tol=0`` runs all E iterations).

**Evaluation** (`linear_probe`, `probe_accuracy`): a linear classifier on the frozen
backbone features, trained on a *balanced* labeled set and tested on a balanced test set,
with class groups by thirds of training frequency (`frequency_groups`), as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .augment import contrastive_image_view, contrastive_signal_view
from .data import LTData
from .priors import check_prior

__all__ = [
    "uniform_structure",
    "geometric_logits",
    "sinkhorn_allocation",
    "marginal_errors",
    "swapped_prediction_loss",
    "gh_loss",
    "nt_xent",
    "PrototypeMemory",
    "SimCLR",
    "SimCLRGH",
    "contrastive_signal_view",
    "contrastive_image_view",
    "frequency_groups",
    "group_accuracy",
    "extract_features",
    "LinearProbe",
    "linear_probe",
    "probe_accuracy",
    "class_mean_cosines",
    "pca_2d",
    "toy_scores",
    "mnist1d_pretraining_splits",
    "GHComparison",
    "compare",
    "check_simplex_inner_product",
    "check_allocation",
]


# ----------------------------------------------------------------------------- validation
def _check_positive(value: float, name: str, hint: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{name} must be a positive number (got {value!r}); {hint}")
    return float(value)


def _check_count(value: int, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r}).")
    return value


def _check_scores(scores: torch.Tensor, name: str = "scores") -> torch.Tensor:
    if not torch.is_tensor(scores) or scores.dim() != 2 or 0 in scores.shape:
        shape = tuple(scores.shape) if torch.is_tensor(scores) else type(scores).__name__
        raise ValueError(f"{name} must be a non-empty tensor of shape [N, K] (got {shape}).")
    if not torch.isfinite(scores).all():
        raise ValueError(f"{name} contains NaN or inf; check the projector outputs.")
    return scores


def _check_marginal(prior, num_prototypes: int, device) -> torch.Tensor:
    """The anchor marginal pi: uniform when None, else a prior of length K."""
    if prior is None:
        return torch.full((num_prototypes,), 1.0 / num_prototypes, dtype=torch.float64,
                          device=device)
    p = check_prior(prior.detach() if torch.is_tensor(prior) else prior, "prior")
    if p.numel() != num_prototypes:
        raise ValueError(
            f"prior has {p.numel()} entries but scores have K = {num_prototypes} columns; "
            "pass one probability per prototype (or None for uniform)."
        )
    p = p.to(device=device, dtype=torch.float64)
    return p / p.sum()  # exact in float64: a float32 prior may miss 1 by ~1e-8


# ----------------------------------------------------------------------------- structure
def uniform_structure(
    num_prototypes: int, dim: int, seed: int = 0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    r"""The geometric uniform structure M ``[K, dim]``: a simplex equiangular tight frame.

    Definition 3.1 of the paper: unit rows with M_i^T M_j = -1/(K-1) for i != j, the K
    directions that split the sphere equally. Construction (reference
    ``target/gen_target.py``): A ~ N(0, 1)^{K x d}, U its polar factor,
    M = sqrt(K/(K-1)) (I_K - 11^T/K) U. Here the rows of A are centred *before* taking
    the (rank K-1) polar factor, which gives the same frame for K <= d and also works for
    K = d + 1; M M^T = K/(K-1) (I_K - 11^T/K) exactly. Computed in float64, seeded.

    >>> m = uniform_structure(4, 3)
    >>> round(float(m[0] @ m[1]), 6)
    -0.333333
    """
    _check_count(num_prototypes, "num_prototypes", 2)
    _check_count(dim, "dim", 1)
    if num_prototypes > dim + 1:
        raise ValueError(
            f"num_prototypes = {num_prototypes} is more than dim + 1 = {dim + 1}: at most "
            f"dim + 1 unit vectors can have pairwise inner product -1/(K-1). Raise dim (the "
            "projector's output size) or lower num_prototypes."
        )
    k = num_prototypes
    g = torch.Generator().manual_seed(int(seed))
    a = torch.randn(k, dim, generator=g, dtype=torch.float64)
    a = a - a.mean(0, keepdim=True)  # (I - 11^T/K) A: the rows now span the sum-zero subspace
    w, _, vh = torch.linalg.svd(a, full_matrices=False)
    # the polar factor restricted to the K-1 non-zero singular values: orthonormal rows in 1^perp
    u = w[:, : k - 1] @ vh[: k - 1]
    # M = sqrt(K/(K-1)) (I - 11^T/K) U; U's rows already sum to zero, so the centring is exact
    m = math.sqrt(k / (k - 1)) * (u - u.mean(0, keepdim=True))
    return m.to(dtype)


def geometric_logits(z: torch.Tensor, structure: torch.Tensor) -> torch.Tensor:
    """q = normalize(z M^T): the projector output's inner products with the K anchors,
    L2-normalised over the anchors (z itself is not normalised; reference ``train_cifar.py``)."""
    if z.dim() != 2 or structure.dim() != 2 or z.shape[1] != structure.shape[1]:
        raise ValueError(
            f"z [N, d] and structure [K, d] must share d (got {tuple(z.shape)} and "
            f"{tuple(structure.shape)}); build the structure with dim = the projector's output."
        )
    return F.normalize(z @ structure.T.to(z.dtype), dim=1)


# ----------------------------------------------------------------------------- allocation
@torch.no_grad()
def sinkhorn_allocation(
    scores: torch.Tensor, prior=None, eps: float = 0.05, n_iter: int = 300, tol: float = 1e-7
) -> torch.Tensor:
    r"""Surrogate labels Q_hat ``[N, K]`` with column means ``prior`` and rows summing to 1.

    Algorithm 1 of the paper (reference ``utils.sinkhorn``): with the kernel
    Q_ik = exp(scores_ik / eps) (exp(lambda log q) with lambda = 1/eps) repeat ``n_iter``
    times

        r = pi / (Q^T c)        (anchor scaling: column k gets mass pi_k)
        c = (1/N) / (Q r)       (sample scaling: each sample gets mass 1/N)

    and return N diag(c) Q diag(r): each row sums to 1 exactly (the last update is on c),
    and the column means approach pi. ``prior`` None means uniform; a zero entry gives a
    zero column. Computed in float64 without gradients. Every 10 iterations the column
    marginal is checked and the loop stops once it holds to ``tol`` (the iterates have
    converged; ``tol=0`` runs exactly ``n_iter`` iterations, as the reference does).
    With K = 2 anchors every geometric logit is (a, -a)/|a|/sqrt(2), so the rows repeat
    and the split of identical rows converges slowly: raise ``n_iter`` there.
    When the scores span more than 500 eps (never for geometric logits at eps >= 0.004)
    the iteration runs on logarithms, so that exp(scores / eps) cannot underflow.

    >>> s = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]])
    >>> q = sinkhorn_allocation(s, torch.tensor([0.5, 0.5]))
    >>> [round(v, 3) for v in q.mean(0).tolist()]
    [0.5, 0.5]
    """
    _check_scores(scores)
    _check_positive(eps, "eps", "it is the entropic regularisation 1/lambda (paper: 0.05).")
    _check_count(n_iter, "n_iter")
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0 (got {tol!r}); 0 runs all n_iter iterations.")
    n, k = scores.shape
    pi = _check_marginal(prior, k, scores.device)
    s = scores.detach().double()
    # a global shift only rescales r, so the iterates are the reference's exactly
    log_kernel = (s - s.max()) / eps
    if float(log_kernel.min()) > -500:  # exp() cannot underflow: the plain iteration
        kernel = log_kernel.exp()
        kernel_t = kernel.T.contiguous()
        c = torch.full((n,), 1.0 / n, dtype=torch.float64, device=s.device)
        for it in range(n_iter):
            r = pi / (kernel_t @ c)  # r = pi / (Q^T c)
            c = (1.0 / n) / (kernel @ r)  # c = (1/N) / (Q r)
            if tol and (it + 1) % 10 == 0 and float((r * (kernel_t @ c) - pi).abs().max()) <= tol:
                break
        allocation = n * c[:, None] * kernel * r[None, :]  # Q_hat = N diag(c) Q diag(r)
    else:  # the same iteration on logarithms
        log_pi = pi.log()  # -inf where pi_k = 0
        log_c = torch.full((n,), -math.log(n), dtype=torch.float64, device=s.device)
        for it in range(n_iter):
            log_r = log_pi - torch.logsumexp(log_kernel + log_c[:, None], dim=0)
            log_c = -math.log(n) - torch.logsumexp(log_kernel + log_r[None, :], dim=1)
            if tol and (it + 1) % 10 == 0:
                col = torch.logsumexp(log_kernel + log_c[:, None], dim=0).add(log_r).exp()
                if float((col - pi).abs().max()) <= tol:
                    break
        allocation = torch.exp(log_kernel + log_c[:, None] + log_r[None, :] + math.log(n))
    return allocation.to(scores.dtype if scores.is_floating_point() else torch.float32)


def marginal_errors(allocation: torch.Tensor, prior=None) -> dict[str, float]:
    """How far an allocation is from its two marginals: ``rows`` = max_i |sum_k Q_ik - 1|,
    ``columns`` = max_k |mean_i Q_ik - pi_k|."""
    _check_scores(allocation, "allocation")
    pi = _check_marginal(prior, allocation.shape[1], allocation.device)
    a = allocation.double()
    return {"rows": float((a.sum(1) - 1).abs().max()),
            "columns": float((a.mean(0) - pi).abs().max())}


# ----------------------------------------------------------------------------- losses
def swapped_prediction_loss(
    g1: torch.Tensor, g2: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor,
    temperature: float = 0.1,
) -> torch.Tensor:
    r"""L_GH = -mean_i sum_k q1_ik log softmax(g2_i / gamma)_k
             - mean_i sum_k q2_ik log softmax(g1_i / gamma)_k.

    The surrogate labels of each view (``q1``, ``q2``: allocations, no gradient) supervise
    the geometric logits of the other view at temperature gamma = 0.1 (reference
    ``utils.GHLoss``; the two terms are summed, not averaged).
    """
    _check_positive(temperature, "temperature", "the reference uses 0.1.")
    if not (g1.shape == g2.shape == q1.shape == q2.shape):
        raise ValueError(
            f"g1, g2, q1, q2 must share the shape [N, K] (got {tuple(g1.shape)}, "
            f"{tuple(g2.shape)}, {tuple(q1.shape)}, {tuple(q2.shape)})."
        )
    term1 = -(q1.detach() * F.log_softmax(g2 / temperature, dim=1)).sum(1).mean()
    term2 = -(q2.detach() * F.log_softmax(g1 / temperature, dim=1)).sum(1).mean()
    return term1 + term2


def gh_loss(
    g1: torch.Tensor, g2: torch.Tensor, prior=None, eps: float = 0.05, n_iter: int = 300,
    temperature: float = 0.1,
) -> torch.Tensor:
    """The GH loss of two views' geometric logits: allocate surrogate labels for each view
    with `sinkhorn_allocation` (marginal ``prior`` on the anchors), then
    `swapped_prediction_loss`."""
    q1 = sinkhorn_allocation(g1, prior, eps, n_iter)
    q2 = sinkhorn_allocation(g2, prior, eps, n_iter)
    return swapped_prediction_loss(g1, g2, q1, q2, temperature)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    r"""SimCLR's NT-Xent (Chen et al., 2020, Eq. 1), averaged over the 2B anchors.

    With u = normalize(z) for the 2B views, the loss of anchor i with positive p(i) is
    -log exp(u_i.u_p(i) / T) / sum_{j != i} exp(u_i.u_j / T): one positive and 2B - 2
    negatives. T = 0.2 in the GH reference (``utils.nt_xent``).
    """
    _check_positive(temperature, "temperature", "SimCLR on CIFAR uses 0.2 (GH) or 0.5.")
    if z1.shape != z2.shape or z1.dim() != 2 or z1.shape[0] < 2:
        raise ValueError(
            f"z1 and z2 must both be [B, d] with B >= 2 (got {tuple(z1.shape)}, {tuple(z2.shape)})."
        )
    b = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (u @ u.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=u.device), float("-inf"))
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(u.device)
    return F.cross_entropy(sim, positives)


# ----------------------------------------------------------------------------- memory
class PrototypeMemory(nn.Module):
    r"""Per-sample running geometric logits v_i and the cluster prior pi they imply.

    v_i <- beta v_i + (1 - beta) q_i for the samples of a batch (reference: beta = 0.9 in
    the warm-up, 0.999 after; beta = 0 copies q_i, which is what the reference's first
    epoch does). pi_k = share of the training samples with argmax_k v_i = k. The buffer
    starts at **zeros** (the reference uses ``torch.empty``: uninitialised memory).
    """

    values: torch.Tensor

    def __init__(self, num_samples: int, num_prototypes: int) -> None:
        super().__init__()
        _check_count(num_samples, "num_samples")
        _check_count(num_prototypes, "num_prototypes", 2)
        self.register_buffer("values", torch.zeros(num_samples, num_prototypes))

    @torch.no_grad()
    def update(self, index: torch.Tensor, g: torch.Tensor, beta: float) -> None:
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must lie in [0, 1] (got {beta}); it is the EMA momentum.")
        self.values[index] = beta * self.values[index] + (1.0 - beta) * g.detach().float()

    def prior(self) -> torch.Tensor:
        """pi_k = (1/N) #{i : argmax_k v_i = k} (empty clusters get 0)."""
        k = self.values.shape[1]
        counts = torch.bincount(self.values.argmax(1), minlength=k).float()
        return counts / counts.sum()


# ----------------------------------------------------------------------------- methods
class SimCLR(nn.Module):
    r"""SimCLR pre-training as an `ltlab.train.fit` method (labels unused by the loss).

    Two views x1 = view(x), x2 = view(x) of each batch (``view``: `contrastive_signal_view`
    for MNIST-1D, `contrastive_image_view` for CIFAR, drawn with ``batch.generator``), the
    projector z = P(model.features(x)) (Linear -> BN -> ReLU -> Linear without bias -> BN,
    reference ``proj_head``) and the loss `nt_xent` (z1, z2) at temperature 0.2. The
    projector is this module's parameter, so `fit` optimises and checkpoints it.

    ``predict`` (what `fit` reports per epoch) is a *nearest-class-mean monitor*: cosine
    similarity of the normalised backbone features to the class means of the labeled
    train split, so ``history.metrics`` tracks how separable the features become; the
    labels serve this monitor only, never the loss. The paper's evaluation is the
    balanced linear probe (`probe_accuracy`).
    """

    def __init__(
        self, feature_dim: int, proj_dim: int = 128, hidden_dim: int | None = None,
        temperature: float = 0.2,
        view: Callable[[torch.Tensor, torch.Generator], torch.Tensor] = contrastive_signal_view,
    ) -> None:
        super().__init__()
        _check_count(feature_dim, "feature_dim")
        _check_count(proj_dim, "proj_dim")
        _check_positive(temperature, "temperature", "SimCLR in GH uses 0.2.")
        hidden = hidden_dim or feature_dim
        self.projector = nn.Sequential(
            nn.Linear(feature_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, proj_dim, bias=False), nn.BatchNorm1d(proj_dim),
        )
        self.proj_dim, self.temperature, self.view = proj_dim, temperature, view
        self._monitor: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def setup(self, model: nn.Module, data: LTData, total_steps: int, device) -> None:
        self._monitor = (data.x_train.to(device), data.y_train.to(device), data.num_classes)

    def embed(self, model: nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Projector outputs (z1, z2) of two random views of ``batch.x``."""
        x1, x2 = self.view(batch.x, batch.generator), self.view(batch.x, batch.generator)
        z = self.projector(model.features(torch.cat([x1, x2])))
        return z.chunk(2)

    def loss(self, model: nn.Module, batch, step: int):
        z1, z2 = self.embed(model, batch)
        loss = nt_xent(z1, z2, self.temperature)
        return loss, {"nt_xent": loss.detach()}

    @torch.no_grad()
    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self._monitor is None:
            raise RuntimeError("predict needs setup(model, data, ...) first (fit calls it).")
        xs, ys, c = self._monitor
        feats = F.normalize(extract_features(model, xs), dim=1)
        means = torch.zeros(c, feats.shape[1], device=feats.device).index_add_(0, ys, feats)
        return F.normalize(model.features(x), dim=1) @ F.normalize(means, dim=1).T


class SimCLRGH(SimCLR):
    r"""SimCLR + Geometric Harmonization: L = NT-Xent + w_GH * L_GH (the paper's overall
    objective; reference ``train_cifar.py``).

    Each step: the geometric logits q1, q2 = normalize(z M^T) of the two views; the memory
    takes q1 (beta = 0 in epoch 0, ``beta_warmup`` = 0.9 until the end of the warm-up,
    ``beta`` = 0.999 after); pi = `PrototypeMemory.prior` is refreshed at every step of
    the last warm-up epoch and of every ``prior_every``-th epoch after it; w_GH = 0 for the
    first ``warmup_epochs`` epochs (SimCLR only), then (epoch + 1 - warmup) / ``ramp_epochs``
    up to 1. ``structure`` (M), the memory and pi are buffers, checkpointed by `fit`.
    ``fixed_prior`` replaces the memory's estimate of pi by a given marginal (an
    experiment, e.g. the true class prior as an oracle; not part of the method).
    Epochs are counted from the samples seen, so they match `fit`'s epochs exactly.
    """

    prior: torch.Tensor
    samples_seen: torch.Tensor

    def __init__(
        self, feature_dim: int, num_prototypes: int, proj_dim: int = 128,
        hidden_dim: int | None = None, temperature: float = 0.2,
        view: Callable[[torch.Tensor, torch.Generator], torch.Tensor] = contrastive_signal_view,
        warmup_epochs: int = 10, ramp_epochs: int = 10, prior_every: int = 20,
        eps: float = 0.05, n_iter: int = 300, gh_temperature: float = 0.1,
        beta_warmup: float = 0.9, beta: float = 0.999, structure_seed: int = 0,
        fixed_prior=None,
    ) -> None:
        super().__init__(feature_dim, proj_dim, hidden_dim, temperature, view)
        _check_count(warmup_epochs, "warmup_epochs")
        _check_count(ramp_epochs, "ramp_epochs")
        _check_count(prior_every, "prior_every")
        _check_positive(eps, "eps", "it is the entropic regularisation 1/lambda (paper: 0.05).")
        _check_count(n_iter, "n_iter")
        self.register_buffer("structure", uniform_structure(num_prototypes, proj_dim,
                                                            structure_seed))
        self.register_buffer("prior", torch.full((num_prototypes,), 1.0 / num_prototypes))
        self.prior_is_fixed = fixed_prior is not None
        if self.prior_is_fixed:
            self.prior.copy_(_check_marginal(fixed_prior, num_prototypes, "cpu").float())
        self.register_buffer("samples_seen", torch.zeros((), dtype=torch.long))
        self.memory: PrototypeMemory | None = None
        self.num_prototypes = num_prototypes
        self.warmup_epochs, self.ramp_epochs, self.prior_every = (
            warmup_epochs, ramp_epochs, prior_every)
        self.eps, self.n_iter, self.gh_temperature = eps, n_iter, gh_temperature
        self.beta_warmup, self.beta = beta_warmup, beta
        self._num_samples = 0

    def setup(self, model: nn.Module, data: LTData, total_steps: int, device) -> None:
        super().setup(model, data, total_steps, device)
        self._num_samples = data.x_train.shape[0]
        if self.memory is None or self.memory.values.shape[0] != self._num_samples:
            self.memory = PrototypeMemory(self._num_samples, self.num_prototypes).to(device)

    def gh_weight(self, epoch: int) -> float:
        """w_GH at ``epoch`` (0-based): 0 in the warm-up, then a linear ramp to 1."""
        return min(1.0, max(0.0, (epoch + 1 - self.warmup_epochs) / self.ramp_epochs))

    def loss(self, model: nn.Module, batch, step: int):
        if self.memory is None:
            raise RuntimeError("SimCLRGH needs setup(model, data, ...) first (fit calls it).")
        epoch = int(self.samples_seen) // self._num_samples
        self.samples_seen += batch.x.shape[0]
        z1, z2 = self.embed(model, batch)
        contrastive = nt_xent(z1, z2, self.temperature)
        g1, g2 = geometric_logits(z1, self.structure), geometric_logits(z2, self.structure)
        beta = 0.0 if epoch == 0 else (
            self.beta_warmup if epoch < self.warmup_epochs else self.beta)
        self.memory.update(batch.index, g1, beta)
        e1 = epoch + 1
        refresh = e1 >= self.warmup_epochs and (
            e1 == self.warmup_epochs or e1 % self.prior_every == 0)
        if refresh and not self.prior_is_fixed:
            self.prior.copy_(self.memory.prior())
        w = self.gh_weight(epoch)
        terms = {"nt_xent": contrastive.detach(), "w_gh": w}
        if w == 0:
            return contrastive, terms
        harmonization = gh_loss(g1, g2, self.prior, self.eps, self.n_iter, self.gh_temperature)
        terms["gh"] = harmonization.detach()
        return contrastive + w * harmonization, terms


# ----------------------------------------------------------------------------- evaluation
def frequency_groups(train_counts) -> dict[str, torch.Tensor]:
    """Class indices of the many / medium / few groups as *thirds by training frequency*
    (the paper's CIFAR protocol: 34 / 33 / 33 of 100 classes; 4 / 3 / 3 of 10). Classes are
    sorted by count (most frequent first, ties by index); a remainder goes to the first
    groups."""
    counts = torch.as_tensor(train_counts)
    if counts.dim() != 1 or counts.numel() < 3:
        raise ValueError(
            f"train_counts must be a 1-D vector of at least 3 classes (got shape "
            f"{tuple(counts.shape)}); thirds need three groups."
        )
    order = sorted(range(counts.numel()), key=lambda c: (-float(counts[c]), c))
    base, extra = divmod(counts.numel(), 3)
    sizes = [base + (i < extra) for i in range(3)]
    out, start = {}, 0
    for name, size in zip(("many", "medium", "few"), sizes):
        out[name] = torch.tensor(sorted(order[start : start + size]), dtype=torch.long)
        start += size
    return out


def group_accuracy(logits: torch.Tensor, targets: torch.Tensor, train_counts) -> dict[str, float]:
    """Mean per-class accuracy of each third (`frequency_groups`) and of all classes."""
    from .metrics import per_class_accuracy

    counts = torch.as_tensor(train_counts)
    acc = per_class_accuracy(logits, targets, counts.numel())
    out = {name: float(torch.nanmean(acc[idx])) for name, idx in frequency_groups(counts).items()}
    out["all"] = float(torch.nanmean(acc))
    return out


@torch.no_grad()
def extract_features(model: nn.Module, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Backbone features ``model.features(x)`` in eval mode (batched, on x's device)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = torch.cat([model.features(x[i : i + batch_size].to(dev))
                     for i in range(0, x.shape[0], batch_size)])
    model.train(was_training)
    return out


class LinearProbe(nn.Module):
    """logits = W standardize(f) + b, with the mean and std of the probe's training features."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(mean.numel(), num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.std)


def linear_probe(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, epochs: int = 300,
    lr: float = 1e-2, final_lr: float = 1e-6, weight_decay: float = 5e-6, seed: int = 0,
) -> LinearProbe:
    """Train a linear classifier on frozen features: full-batch Adam, lr decaying
    exponentially from ``lr`` to ``final_lr``, weight decay 5e-6 (reference ``eval``, which
    runs 500 epochs in batches of 1000). Features are standardised first."""
    _check_count(epochs, "epochs")
    features = features.detach().float()
    mean, std = features.mean(0), features.std(0).clamp_min(1e-6)
    torch.manual_seed(seed)
    probe = LinearProbe(mean, std, num_classes).to(features.device)
    opt = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    decay = (final_lr / lr) ** (1.0 / epochs)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, decay)
    labels = labels.to(features.device)
    with torch.enable_grad():
        for _ in range(epochs):
            loss = F.cross_entropy(probe(features), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return probe.eval()


def probe_accuracy(
    model: nn.Module, probe_x: torch.Tensor, probe_y: torch.Tensor, test_x: torch.Tensor,
    test_y: torch.Tensor, train_counts, epochs: int = 300, seed: int = 0,
) -> dict[str, float]:
    """The paper's evaluation: a linear probe on the frozen backbone features of a balanced
    labeled set (``probe_x``, ``probe_y``), tested on a balanced test set; accuracy of the
    many / medium / few thirds of the *pre-training* ``train_counts`` and of all classes."""
    counts = torch.as_tensor(train_counts)
    probe = linear_probe(extract_features(model, probe_x), probe_y, counts.numel(), epochs,
                         seed=seed)
    with torch.no_grad():
        logits = probe(extract_features(model, test_x)).cpu()
    return group_accuracy(logits, test_y.cpu(), counts)


def class_mean_cosines(features: torch.Tensor, labels: torch.Tensor, num_classes: int
                       ) -> torch.Tensor:
    """Cosine similarities ``[C, C]`` between class means of the normalised, then centred
    features (centring removes the direction all samples share, e.g. of non-negative ReLU
    features). Category-level uniformity on a balanced set gives -1/(C-1) off the diagonal."""
    f = F.normalize(features.detach().float(), dim=1)
    f = f - f.mean(0, keepdim=True)
    means = torch.zeros(num_classes, f.shape[1], device=f.device).index_add_(0, labels, f)
    means = F.normalize(means, dim=1)
    return means @ means.T


def pca_2d(features: torch.Tensor) -> torch.Tensor:
    """The first two principal components of the L2-normalised features ``[N, 2]``."""
    f = F.normalize(features.detach().double(), dim=1)
    f = f - f.mean(0, keepdim=True)
    _, _, vh = torch.linalg.svd(f, full_matrices=False)
    sign = torch.sign(vh[:2].sum(1, keepdim=True)).clamp_min(0) * 2 - 1  # deterministic signs
    return (f @ (vh[:2] * sign).T).float()


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


# ----------------------------------------------------------------------------- experiment
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
    from .data import mnist1d_lt

    per_class = max(max_count, probe_per_class)
    # the pool splits 80/20 into train/test and its classes vary by a few percent
    num_samples = 1000 * math.ceil(max(per_class / 0.8, test_per_class / 0.2) * 14 / 1000)
    data = mnist1d_lt(imbalance_ratio, max_count, test_per_class, num_samples, seed)
    probe = mnist1d_lt(1, probe_per_class, test_per_class, num_samples, seed)
    return data, probe.x_train, probe.y_train


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

    def few_gain(self) -> float:
        """Few-group probe accuracy of SimCLR + GH minus SimCLR's."""
        return self.probe_accuracy["simclr_gh"]["few"] - self.probe_accuracy["simclr"]["few"]


def compare(
    data: LTData, probe_x: torch.Tensor, probe_y: torch.Tensor,
    make_model: Callable[[], nn.Module], *, epochs: int = 40, warmup_epochs: int = 10,
    ramp_epochs: int = 5, prior_every: int = 20, num_prototypes: int | None = None,
    proj_dim: int = 32, batch_size: int = 128, lr: float = 1e-3, optimizer: str = "adam",
    weight_decay: float = 0.0, schedule: str = "constant",
    view: Callable[[torch.Tensor, torch.Generator], torch.Tensor] = contrastive_signal_view,
    probe_epochs: int = 300, seed: int = 0, device: str = "auto", progress: bool = False,
    fixed_prior=None,
) -> GHComparison:
    """Pre-train SimCLR and SimCLR + GH on ``data``'s long-tailed train split (its labels
    are not used by either loss), then linear-probe both on the balanced (``probe_x``,
    ``probe_y``) and report many / medium / few / all on ``data``'s balanced test set.

    As in the reference, SimCLR + GH *is* SimCLR for the first ``warmup_epochs`` (while its
    memory learns the cluster prior), so both runs share that warm-up: one model is
    trained for ``warmup_epochs``, copied, and each copy trains ``epochs - warmup_epochs``
    more, one with NT-Xent only and one with NT-Xent + w_GH L_GH, with the same data order
    and augmentations. The comparison is therefore paired: the two runs differ only by GH.
    Each phase has its own learning-rate ``schedule`` (the reference also uses one
    schedule per stage). ``num_prototypes`` defaults to the number of classes;
    ``fixed_prior`` is passed to `SimCLRGH` (None: the memory's estimate, as in the paper).
    """
    import copy
    import time

    from .train import fit, resolve_device, seed_everything

    _check_count(warmup_epochs, "warmup_epochs")
    if not isinstance(epochs, int) or epochs <= warmup_epochs:
        raise ValueError(f"epochs must exceed warmup_epochs = {warmup_epochs} (got {epochs!r}); "
                         "GH only starts after the warm-up.")
    dev = resolve_device(device)
    k = num_prototypes or data.num_classes
    common = dict(batch_size=batch_size, lr=lr, optimizer=optimizer, nesterov=False,
                  weight_decay=weight_decay, schedule=schedule, device=dev, progress=progress)
    seed_everything(seed)
    model = make_model()
    gh_method = SimCLRGH(model.feature_dim, k, proj_dim, view=view,
                         warmup_epochs=warmup_epochs, ramp_epochs=ramp_epochs,
                         prior_every=prior_every, structure_seed=seed, fixed_prior=fixed_prior)
    result = GHComparison(probe_accuracy={})
    t0 = time.perf_counter()
    result.histories["warmup"] = fit(model, gh_method, data, epochs=warmup_epochs, seed=seed,
                                     eval_every=warmup_epochs, **common)
    result.seconds["warmup"] = time.perf_counter() - t0
    simclr_method = SimCLR(model.feature_dim, proj_dim, view=view)
    simclr_method.projector.load_state_dict(gh_method.projector.state_dict())
    runs = {"simclr": (copy.deepcopy(model), simclr_method), "simclr_gh": (model, gh_method)}
    rest = epochs - warmup_epochs
    for name, (m, method) in runs.items():
        t0 = time.perf_counter()
        result.histories[name] = fit(m, method, data, epochs=rest, seed=seed + 1,
                                     eval_every=max(1, rest // 5), **common)
        result.probe_accuracy[name] = probe_accuracy(
            m, probe_x.to(dev), probe_y.to(dev), data.x_test.to(dev), data.y_test,
            data.train_counts, probe_epochs, seed)
        result.seconds[name] = time.perf_counter() - t0
        result.test_features[name] = extract_features(m, data.x_test.to(dev)).cpu()
        method.eval()
        with torch.no_grad():
            result.test_projections[name] = method.projector(
                result.test_features[name].to(dev)).cpu()
        result.models[name], result.methods[name] = m, method
    return result


# ----------------------------------------------------------------------------- exercises
def check_simplex_inner_product(answer, num_prototypes: int = 10) -> bool:
    """Exercise: the inner product of two distinct rows of a K-anchor simplex ETF."""
    from .exercises import check_value

    return check_value(
        answer, -1.0 / (num_prototypes - 1), tol=1e-4,
        hint="The K rows are unit vectors that sum to zero, so expand |sum_k M_k|^2 = 0.",
    )


def check_allocation(fn, seed: int = 0) -> bool:
    """Exercise: ``fn(scores, prior, eps, n_iter)`` should return the Sinkhorn allocation
    (rows sum to 1, column means = prior). Compared with `sinkhorn_allocation` on a toy batch."""
    if fn is None:
        print("Not answered yet: write your function and pass it instead of None.")
        return False
    scores, _ = toy_scores(seed=seed)
    prior = torch.tensor([0.4, 0.25, 0.15, 0.12, 0.08])
    try:
        mine = torch.as_tensor(fn(scores, prior, 0.05, 300)).float()
    except Exception as err:  # the student's code may fail in any way: report it, do not raise
        print(f"Your function raised {type(err).__name__}: {err}")
        return False
    if mine.shape != scores.shape:
        print(f"Expected an allocation of shape {tuple(scores.shape)}, got {tuple(mine.shape)}.")
        return False
    errors = marginal_errors(mine, prior) if torch.isfinite(mine).all() else None
    if errors is None or errors["rows"] > 1e-3 or errors["columns"] > 1e-3:
        print(f"The marginals are off: {errors}. Rows must sum to 1 and column means must "
              "equal the prior; alternate the two scalings and end with the row (sample) one.")
        return False
    gap = float((mine - sinkhorn_allocation(scores, prior)).abs().max())
    if gap > 1e-2:
        print(f"Marginals are right, but the allocation differs from the reference by {gap:.3g}: "
              "check the kernel exp(scores / eps).")
        return False
    print("Correct: both marginals hold and the allocation matches sinkhorn_allocation.")
    return True
