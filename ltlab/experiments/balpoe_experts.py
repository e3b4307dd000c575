r"""Notebook 02, expert by expert: each expert's logits (`expert_logits`), what a λ̄ ≠ 0
ensemble's raw aggregate favours (`ensemble_bias`), and Figure 3 computed exactly: each
λ-expert's target prior :math:`\propto\pi^\lambda` against the marginal its predictions
actually have, on a Gaussian mixture whose Bayes experts are known (`expert_marginals`);
how often the experts of a trained model disagree (`expert_disagreement`), with their own
late layers and sharing the whole network (`diversity_comparison`).

`ltlab.experiments.balpoe` (the notebook's driver) re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._validation import as_positive
from ..balpoe import BalPoE, BalPoEMethod, expert_target_priors, miscalibrated_logits
from ..data import GaussianMixtureLT, LTData
from ..losses import log_prior_from_counts, log_prior_of
from ..metrics import balanced_accuracy
from ..priors import kl_divergence
from ..train import resolve_device
from .mnist1d_setup import Trained, mnist_fit_options, train_method
from .protocol import FitOptions

__all__ = ["diversity_comparison", "ensemble_bias", "expert_disagreement", "expert_logits",
           "expert_marginals"]


# ----------------------------------------------------------------------------- per expert
def expert_logits(trained: Trained, x: torch.Tensor, device: str = "auto") -> torch.Tensor:
    """The raw expert logits ``[E, N, C]`` of a trained BalPoE model (no aggregation, no
    bias removed)."""
    if not isinstance(trained.method, BalPoEMethod):
        raise ValueError(f"{trained.name!r} is not a BalPoE model; expert logits need one.")
    model = trained.model
    dev = next(model.parameters()).device if device == "auto" else resolve_device(device)
    model.to(dev).eval()
    with torch.no_grad():
        return trained.method.expert_logits(model, x.to(dev)).cpu()


def ensemble_bias(trained: Trained, data: LTData, device: str = "auto") -> dict[str, Any]:
    r"""What a BalPoE model predicts before and after its bias :math:`\bar\lambda\log\pi_s` is
    removed, on the balanced test set: ``bias`` (:math:`\bar\lambda`), the fraction of test
    signals predicted as each class by the raw aggregate :math:`\bar z`
    (``predicted_raw``) and by :math:`\bar z - \bar\lambda\log\pi_s` (``predicted_balanced``),
    and the balanced accuracy of both (``balanced_accuracy_raw`` / ``_balanced``). On a
    balanced test set a balanced classifier predicts every class about equally often."""
    z = expert_logits(trained, data.x_test, device)
    bpe = trained.method.balpoe
    raw = bpe.aggregate(z)
    fixed = raw - bpe.bias * log_prior_from_counts(data.train_counts)
    c = data.num_classes

    def freq(logits: torch.Tensor) -> list[float]:
        return (torch.bincount(logits.argmax(1), minlength=c).double() / logits.shape[0]).tolist()

    return {"bias": bpe.bias, "predicted_raw": freq(raw), "predicted_balanced": freq(fixed),
            "balanced_accuracy_raw": balanced_accuracy(raw, data.y_test, c),
            "balanced_accuracy_balanced": balanced_accuracy(fixed, data.y_test, c)}


# ----------------------------------------------------------------------------- Figure 3
def expert_marginals(lambdas: Sequence[float], imbalance_ratio: float = 100,
                     temperature: float = 1.0, num_samples: int = 20000,
                     seed: int = 0) -> dict[str, Any]:
    r"""Target priors, expected marginals and the balanced error of λ-experts on a 2-D
    Gaussian mixture whose posteriors are known.

    Expert e's logits follow `ltlab.balpoe.miscalibrated_logits`,
    :math:`z_e = T\log p_{train}(y|x) - (1-\lambda_e)\log\pi_s` (the model of notebook 04):
    the Bayes classifier for the prior :math:`q_e\propto\pi_s^{\lambda_e}` when T = 1
    (calibrated), over- (T > 1) or under-confident (T < 1) otherwise, and then *biased*: the
    prior enters scaled by T but is removed unscaled. Its expected marginal is
    :math:`m_e = E_{x\sim p_{q_e}}[\mathrm{softmax}(z_e(x))]`, estimated on ``num_samples``
    points drawn from :math:`q_e`. For a calibrated expert :math:`m_e = q_e` exactly (the law
    of total probability), so KL(q_e ‖ m_e) measures miscalibration, as in the paper's
    Figure 3. The ensemble (mean of the :math:`z_e`) has target :math:`\propto\pi_s^{\bar\lambda}`;
    its balanced prediction :math:`\arg\max(\bar z - \bar\lambda\log\pi_s)` is measured on
    ``num_samples`` points of the balanced distribution against the Bayes rule
    :math:`\arg\max_y p(x|y)`.

    Returns ``prior`` (the train prior), ``lambdas``, ``bias`` (mean λ), ``targets`` and
    ``marginals`` ([E, C] lists), ``kl`` (per expert), the ensemble's ``ensemble_target``,
    ``ensemble_marginal``, ``ensemble_kl``, ``ensemble_balanced_error`` and
    ``bayes_balanced_error`` (fractions), and ``temperature``.
    """
    temperature = as_positive(temperature, "temperature",
                              "T = 1 is a calibrated expert; > 1 over-, < 1 under-confident.")
    bpe = BalPoE(lambdas)
    mixture = GaussianMixtureLT(num_classes=10, dim=2, imbalance_ratio=imbalance_ratio,
                                max_count=1000, seed=seed)
    prior = mixture.train_prior.double()
    lp = log_prior_of(prior).double()
    targets = expert_target_priors(bpe.lambdas.tolist(), prior).double()
    ens_target = expert_target_priors([bpe.bias], prior)[0].double()

    def ensemble_logits(lams: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ll = mixture.log_likelihood(x).double()
        return torch.stack([miscalibrated_logits(ll, lp, float(lam), temperature)
                            for lam in lams.double()]).mean(0)

    def marginal(lams: torch.Tensor, q: torch.Tensor, k: int) -> torch.Tensor:
        x, _ = mixture.sample(num_samples, prior=q.float() / q.float().sum(), seed=seed + 1 + k)
        return torch.softmax(ensemble_logits(lams, x), 1).mean(0)

    marginals = torch.stack([marginal(bpe.lambdas[k:k + 1], targets[k], k)
                             for k in range(bpe.num_experts)])
    ens_marginal = marginal(bpe.lambdas, ens_target, bpe.num_experts)
    c = prior.numel()
    x_bal, y_bal = mixture.sample(num_samples, prior=torch.full((c,), 1.0 / c),
                                  seed=seed + 2 + bpe.num_experts)
    z_bal = ensemble_logits(bpe.lambdas, x_bal) - bpe.bias * lp

    def kl(p: torch.Tensor, q: torch.Tensor) -> float:
        return kl_divergence((p / p.sum()).float(), (q / q.sum()).float())

    return {
        "prior": prior.tolist(), "lambdas": bpe.lambdas.tolist(), "bias": bpe.bias,
        "targets": targets.tolist(), "marginals": marginals.tolist(),
        "kl": [kl(targets[k], marginals[k]) for k in range(bpe.num_experts)],
        "ensemble_target": ens_target.tolist(), "ensemble_marginal": ens_marginal.tolist(),
        "ensemble_kl": kl(ens_target, ens_marginal),
        "ensemble_balanced_error": 1.0 - balanced_accuracy(z_bal, y_bal, c),
        "bayes_balanced_error": 1.0 - balanced_accuracy(mixture.log_likelihood(x_bal), y_bal, c),
        "temperature": float(temperature),
    }


# ----------------------------------------------------------------------------- diversity
def expert_disagreement(trained: Trained, data: LTData, device: str = "auto") -> dict[str, float]:
    r"""How different the experts of a trained BalPoE model are, on the balanced test set.

    Each expert's *balanced* prediction is :math:`\arg\max(z_e - \lambda_e\log\pi_s)` (its
    own bias removed, so experts that agree on the evidence agree here). Returns
    ``disagreement``: the fraction of test signals on which these predictions are not all
    equal; ``pairwise_kl``: the mean over expert pairs of
    :math:`\mathrm{KL}(\mathrm{softmax}(z_e - \lambda_e\log\pi_s) \,\|\, \cdot_{e'})`, averaged over
    signals (nats); and ``balanced_accuracy`` of the ensemble."""
    z = expert_logits(trained, data.x_test, device).double()
    lam = trained.method.balpoe.lambdas.double()
    lp = log_prior_from_counts(data.train_counts).double()
    zb = z - lam[:, None, None] * lp
    pred = zb.argmax(2)
    logp = torch.log_softmax(zb, 2)
    e = z.shape[0]
    kls = [(logp[a].exp() * (logp[a] - logp[b])).sum(1).mean()
           for a in range(e) for b in range(e) if a != b]
    agg = trained.method.balpoe.predict(z.float(), lp.float())
    return {
        "disagreement": float((pred != pred[0]).any(0).double().mean()),
        "pairwise_kl": float(torch.stack(kls).mean()) if kls else 0.0,
        "balanced_accuracy": balanced_accuracy(agg, data.y_test, data.num_classes),
    }


def diversity_comparison(data: LTData, own_layers: Trained | None = None,
                         options: FitOptions | None = None, *, seed: int = 0,
                         device: str = "auto", mixup_alpha: float = 0.4,
                         shared: Trained | None = None) -> dict[str, dict[str, float]]:
    """`expert_disagreement` of BalPoE + mixup with per-expert late layers (``own_layers``,
    trained if not given) and of the same model whose experts share the whole network
    (``shared``, ``shared_convs=3``: they differ only in their cosine heads; trained if not
    given)."""
    options = mnist_fit_options() if options is None else options
    kw: dict[str, Any] = dict(seed=seed, device=device, mixup_alpha=mixup_alpha)
    if own_layers is None:
        own_layers = train_method("balpoe_mixup", data, options, **kw)
    if shared is None:
        shared = train_method("balpoe_mixup", data, options, shared_convs=3, **kw)
    return {"own_layers": expert_disagreement(own_layers, data, device),
            "shared_network": expert_disagreement(shared, data, device)}
