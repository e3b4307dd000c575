r"""Geometric Harmonization (GH) for self-supervised long-tailed learning.

Zhou, Yao, Hong, Zhang, Han and Wang, *Combating Representation Learning Disparity with
Geometric Harmonization*, NeurIPS 2023 (reference code: MediaBrain-SJTU/Geometric-Harmonization).

**The problem.** Contrastive learning (SimCLR's NT-Xent, `ltlab.contrastive`) pushes every
*sample* away from every other: sample-level uniformity. On long-tailed data most samples
are head samples, so the head classes take over the feature space and the tail classes are
squeezed into what is left ("representation learning disparity").

**The fix: category-level uniformity.** GH fixes K directions that split the unit sphere
equally, a *geometric uniform structure* (Definition 3.1): a simplex equiangular tight
frame M = [M_1, ..., M_K] with unit rows and M_k^T M_l = -1/(K-1) for k != l
(`uniform_structure`). A sample's projector output z_n gets *geometric logits*
S_n = normalize(z_n M^T) (one score per anchor, L2-normalised over the K anchors;
`geometric_logits`; the paper's q_n; scores S = [S_1; ...; S_N], entries in [-1, 1]). GH then asks every
anchor to receive its share of the data, not every sample: it allocates surrogate labels
(an allocation A = Q_hat) that solve, as the reference code does,

    max_A  <A, S> + eps H(A)       (H(A) = -sum_ik A_ik log A_ik)
    s.t.   A^T 1_N = N pi  (anchor k receives a share pi_k of the samples),
           A 1_K = 1_N     (each sample's label is a distribution),

whose solution is A = N diag(c) exp(S / eps) diag(r), found by Sinkhorn iterations
(Algorithm 1, `sinkhorn_allocation`). The paper writes the cost as -sum_n q_hat_n . log q_n
with the kernel exp(lambda log Q), its lambda being our 1/eps; the signed scores have no
logarithm, and the reference passes exp(S / eps), i.e. the paper's form with log q replaced
by the score S itself. pi is the *cluster prior*: the share of training
samples whose long-run (memory-averaged) geometric logits point at each anchor
(`PrototypeMemory`), so a head cluster is allowed a bigger share, but no cluster can
swallow the others. The GH loss is a swapped prediction between the two views at
temperature T_GH = 0.1 (the paper's gamma; `swapped_prediction_loss`, `gh_loss`), with A^(v)
the allocation and S^(v) the scores of view v,

    L_GH = -(1/N) sum_n [ A^(1)_n . log softmax(S^(2)_n / T_GH) + A^(2)_n . log softmax(S^(1)_n / T_GH) ],

and the overall objective is

    L = L_NT-Xent + zeta_GH * L_GH,

with zeta_GH = 0 during a SimCLR-only warm-up and then a linear ramp to 1 (`SimCLRGH`).

**Code <-> paper.** ``structure`` = M ``[K, d]``; ``num_prototypes`` = K;
``scores``/``g`` = the geometric logits S (the paper's q) ``[N, K]``; ``allocation`` = A
(the paper's Q_hat) ``[N, K]`` (rows sum to 1, column means = pi); ``eps`` = eps (0.05: the
paper's lambda = 1/eps = 20); ``n_iter`` = n_iter (300, the paper's E); ``temperature`` =
T_GH (0.1, the paper's gamma) of L_GH, and T = 0.2 for NT-Xent.

**Departures from the reference code** (Zhou et al., NeurIPS 2023, Sec. 3 and Algorithm 1,
against MediaBrain-SJTU/Geometric-Harmonization): the per-sample memory starts at zeros (the reference accumulates into ``torch.empty``, i.e.
uninitialised memory); `uniform_structure` is seeded and also works for K = d + 1;
Sinkhorn runs in float64 (the reference: float32), switches to the log domain when the
scores span more than 500 eps (so any score range works, not only |q| <= 1), and stops
once both marginals hold to 1e-7 (``tol``; ``tol=0`` runs all n_iter iterations).

**Evaluation** is a linear probe on the frozen backbone features, trained on a *balanced*
labeled set and tested on a balanced test set, with class groups by thirds of training
frequency (`ltlab.analysis.probe_accuracy`, `ltlab.analysis.frequency_groups`).

Taught in: notebook 06, driver `ltlab.experiments.gh` (the sphere toy, `.sphere`), and the
optional notebook 08, driver `ltlab.experiments.gh_mnist1d` (MNIST-1D pre-training and
probes, `ltlab.experiments.gh.probe`); exercises `ltlab.exercises.gh`, figures
`ltlab.viz.gh`, panel `ltlab.widgets.gh`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import contrastive
from ._validation import as_fraction, as_int, as_logits, as_positive, as_prior
from .augment import contrastive_signal_view

if TYPE_CHECKING:
    from .data import LTData

__all__ = [
    "uniform_structure",
    "geometric_logits",
    "sinkhorn_allocation",
    "marginal_errors",
    "swapped_prediction_loss",
    "gh_loss",
    "PrototypeMemory",
    "SimCLRGH",
]

_EPS_HINT = "It is the entropic regularisation 1/lambda (paper: 0.05)."


# ----------------------------------------------------------------------------- inputs
def _as_scores(scores, name: str = "scores") -> torch.Tensor:
    """Geometric logits (or an allocation) ``[N, K]``: a non-empty, finite float matrix."""
    scores = as_logits(scores, name)
    if 0 in scores.shape:
        raise ValueError(f"{name} must be a non-empty [N, K] matrix (got {tuple(scores.shape)}).")
    if not torch.isfinite(scores).all():
        raise ValueError(f"{name} contains NaN or inf; check the projector outputs.")
    return scores


def _anchor_marginal(prior, num_prototypes: int, device) -> torch.Tensor:
    """The anchor marginal pi in float64: uniform when None, else a prior of length K."""
    if prior is None:
        return torch.full((num_prototypes,), 1.0 / num_prototypes, dtype=torch.float64,
                          device=device)
    p = as_prior(prior.detach() if torch.is_tensor(prior) else prior, "prior")
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
    as_int(num_prototypes, "num_prototypes", minimum=2)
    as_int(dim, "dim", minimum=1)
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
    return F.normalize(z @ structure.T.to(z.dtype), dim=1)  # q = normalize(z M^T)


# ----------------------------------------------------------------------------- allocation
@torch.no_grad()
def sinkhorn_allocation(
    scores: torch.Tensor, prior=None, eps: float = 0.05, n_iter: int = 300, tol: float = 1e-7
) -> torch.Tensor:
    r"""Surrogate labels Q_hat ``[N, K]`` with column means ``prior`` and rows summing to 1.

    The maximiser of <A, scores> + eps H(A) with rows summing to 1 and column means
    ``prior``. Algorithm 1 of the paper (reference ``utils.sinkhorn``): with the kernel
    Q_ik = exp(scores_ik / eps) (the paper's exp(lambda log q) with the score in place of
    log q; the paper's lambda is 1/eps) repeat ``n_iter`` times

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
    _as_scores(scores)
    as_positive(eps, "eps", _EPS_HINT)
    as_int(n_iter, "n_iter", minimum=1)
    as_positive(tol, "tol", "0 runs all n_iter iterations.", allow_zero=True)
    n, k = scores.shape
    pi = _anchor_marginal(prior, k, scores.device)
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
    return allocation.to(scores.dtype)


def marginal_errors(allocation: torch.Tensor, prior=None) -> dict[str, float]:
    """How far an allocation is from its two marginals: ``rows`` = max_i |sum_k Q_ik - 1|,
    ``columns`` = max_k |mean_i Q_ik - pi_k|."""
    _as_scores(allocation, "allocation")
    pi = _anchor_marginal(prior, allocation.shape[1], allocation.device)
    a = allocation.double()
    return {"rows": float((a.sum(1) - 1).abs().max()),
            "columns": float((a.mean(0) - pi).abs().max())}


# ----------------------------------------------------------------------------- losses
def swapped_prediction_loss(
    g1: torch.Tensor, g2: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor,
    temperature: float = 0.1,
) -> torch.Tensor:
    r"""L_GH = -mean_n sum_k q1_nk log softmax(g2_n / T_GH)_k
             - mean_n sum_k q2_nk log softmax(g1_n / T_GH)_k.

    The surrogate labels of each view (``q1``, ``q2``: the allocations A^(1), A^(2), no
    gradient) supervise the geometric logits (``g1``, ``g2``: S^(1), S^(2)) of the other view
    at temperature T_GH = ``temperature`` = 0.1 (the paper's gamma; reference
    ``utils.GHLoss``; the two terms are summed, not averaged).
    """
    as_positive(temperature, "temperature", "The reference uses 0.1.")
    if not (g1.shape == g2.shape == q1.shape == q2.shape):
        raise ValueError(
            f"g1, g2, q1, q2 must share the shape [N, K] (got {tuple(g1.shape)}, "
            f"{tuple(g2.shape)}, {tuple(q1.shape)}, {tuple(q2.shape)})."
        )
    # L_GH = -mean_n q1_n . log softmax(g2_n / T_GH) - mean_n q2_n . log softmax(g1_n / T_GH)
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


# ----------------------------------------------------------------------------- memory
class PrototypeMemory(nn.Module):
    r"""Per-sample running geometric logits bar S_n and the cluster prior pi they imply.

    bar S_n <- eta bar S_n + (1 - eta) S_n for the samples of a batch, with the momentum
    eta = ``beta`` (the paper's beta; reference: 0.9 in the warm-up, 0.999 after; 0 copies
    S_n, which is what the reference's first epoch does). pi_k = share of the training
    samples with argmax_k bar S_n = k. The buffer
    starts at **zeros** (the reference uses ``torch.empty``: uninitialised memory).
    """

    values: torch.Tensor

    def __init__(self, num_samples: int, num_prototypes: int) -> None:
        super().__init__()
        as_int(num_samples, "num_samples", minimum=1)
        as_int(num_prototypes, "num_prototypes", minimum=2)
        self.register_buffer("values", torch.zeros(num_samples, num_prototypes))

    @torch.no_grad()
    def update(self, index: torch.Tensor, g: torch.Tensor, beta: float) -> None:
        as_fraction(beta, "beta", "It is the EMA momentum.")
        self.values[index] = beta * self.values[index] + (1.0 - beta) * g.detach().float()

    def prior(self) -> torch.Tensor:
        """pi_k = (1/N) #{n : argmax_k bar S_n = k} (empty clusters get 0)."""
        k = self.values.shape[1]
        counts = torch.bincount(self.values.argmax(1), minlength=k).float()
        return counts / counts.sum()


# ----------------------------------------------------------------------------- method
class SimCLRGH(contrastive.SimCLR):
    r"""SimCLR + Geometric Harmonization: L = NT-Xent + zeta_GH * L_GH (the paper's overall
    objective; reference ``train_cifar.py``).

    Each step: the geometric logits S^(1), S^(2) = normalize(z M^T) of the two views; the
    memory takes S^(1) (momentum eta = 0 in epoch 0, ``beta_warmup`` = 0.9 until the end of the warm-up,
    ``beta`` = 0.999 after); pi = `PrototypeMemory.prior` is refreshed at every step of
    the last warm-up epoch and of every ``prior_every``-th epoch after it; zeta_GH = 0 for the
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
        as_int(warmup_epochs, "warmup_epochs", minimum=1)
        as_int(ramp_epochs, "ramp_epochs", minimum=1)
        as_int(prior_every, "prior_every", minimum=1)
        as_positive(eps, "eps", _EPS_HINT)
        as_int(n_iter, "n_iter", minimum=1)
        self.register_buffer("structure", uniform_structure(num_prototypes, proj_dim,
                                                            structure_seed))
        self.register_buffer("prior", torch.full((num_prototypes,), 1.0 / num_prototypes))
        self.prior_is_fixed = fixed_prior is not None
        if self.prior_is_fixed:
            self.prior.copy_(_anchor_marginal(fixed_prior, num_prototypes, "cpu").float())
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
        """zeta_GH at ``epoch`` (0-based): 0 in the warm-up, then a linear ramp to 1."""
        return min(1.0, max(0.0, (epoch + 1 - self.warmup_epochs) / self.ramp_epochs))

    def loss(self, model: nn.Module, batch, step: int):
        if self.memory is None:
            raise RuntimeError("SimCLRGH needs setup(model, data, ...) first (fit calls it).")
        epoch = int(self.samples_seen) // self._num_samples
        self.samples_seen += batch.x.shape[0]
        z1, z2 = self.embed(model, batch)
        nce = contrastive.nt_xent(z1, z2, self.temperature)
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
        terms = {"nt_xent": nce.detach(), "w_gh": w}
        if w == 0:
            return nce, terms
        harmonization = gh_loss(g1, g2, self.prior, self.eps, self.n_iter, self.gh_temperature)
        terms["gh"] = harmonization.detach()
        return nce + w * harmonization, terms  # L = L_NT-Xent + zeta_GH L_GH

