r"""Label shift: estimating an unknown target class prior, and re-weighting posteriors to it.

Under *label shift* the class-conditionals stay fixed, p_t(x | y) = p_s(x | y), and only the
class prior moves from the source prior pi_s (training) to an unknown target prior pi_t. Bayes'
rule then ties the two posteriors together:

.. math::

    p_t(y \mid x) = \frac{p_s(y \mid x)\, \pi_t(y) / \pi_s(y)}
                         {\sum_k p_s(k \mid x)\, \pi_t(k) / \pi_s(k)} .

`reweight_posteriors` applies this formula. Two classic estimators of pi_t from unlabeled
target data:

* `em_prior`: the EM algorithm of Saerens, Latinne & Decaestecker (Neural Computation 14,
  2002, eqs. 2.9-2.10), also called MLLS (maximum-likelihood label shift). E-step: adapt
  every posterior to the current estimate with the formula above; M-step: the new estimate is
  the mean adapted posterior. Each step raises the likelihood of the target inputs; it needs
  *calibrated* source posteriors (Alexandari et al., ICML 2020, recommend bias-corrected
  temperature scaling first).
* `calibrated_probs`: bias-corrected temperature scaling (BCTS; Alexandari, Kundaje &
  Shrikumar, ICML 2020, Sec. 4): softmax(z / T + b) with T and the class biases b fitted by
  maximum likelihood on labeled held-out *source* data with
  `ltlab.metrics.fit_bias_corrected_temperature` (which returns a `LogitScaling`; pass it
  here, or its ``.temperature`` and ``.bias``). EM on BCTS-calibrated posteriors was the most
  accurate estimator in their study; the source prior for EM is then the class prior of that
  held-out set.
* `bbse_prior`: Black Box Shift Estimation (Lipton, Wang & Smola, ICML 2018, eq. 3). With the
  joint confusion matrix C[i, j] = P_s(yhat = i, y = j) of any fixed classifier, measured on
  labeled source data, and the target's distribution of predictions mu[i] = P_t(yhat = i),
  the weights w = pi_t / pi_s solve C w = mu; then pi_t = w * pi_s. It does not need
  calibration, only an invertible confusion matrix; an ill-conditioned one gives a
  `BBSEWarning` (the weights are then unreliable).

Everything works on torch tensors; the estimates are float32 priors (1-D, non-negative, sum 1).

>>> import torch
>>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
>>> prior, adapted = em_prior(probs, torch.tensor([0.5, 0.5]))
>>> [round(v, 3) for v in prior.tolist()]
[0.701, 0.299]

Taught in: notebooks 04 (EM under label shift) and 03 (EM against FlexDA's online estimate),
drivers `ltlab.experiments.calibration` and `ltlab.experiments.flexda`, exercises
`ltlab.exercises.calibration`, figures `ltlab.viz.calibration`, panel
`ltlab.widgets.calibration`.
"""

from __future__ import annotations

import warnings

import torch

from ._validation import as_int, as_logits, as_positive, as_prior, as_probs, as_targets
from .metrics.scaling import LogitScaling

__all__ = [
    "reweight_posteriors",
    "em_prior",
    "bbse_prior",
    "confusion_matrix",
    "calibrated_probs",
    "BBSEWarning",
    "BBSE_MAX_CONDITION",
]

#: Above this condition number of the confusion matrix, `bbse_prior` warns: the solution of
#: C w = mu then amplifies the sampling noise of mu by up to that factor.
BBSE_MAX_CONDITION = 1e6


class BBSEWarning(UserWarning):
    """`bbse_prior`'s confusion matrix is singular or ill-conditioned: the estimate is
    unreliable (more source samples, or a better classifier, would fix it)."""


def reweight_posteriors(probs, source_prior, target_prior) -> torch.Tensor:
    r"""Posteriors adapted to a new class prior (Saerens et al., 2002, eq. 2.4):

    p_t(y|x) = p_s(y|x) pi_t(y) / pi_s(y) / sum_k p_s(k|x) pi_t(k) / pi_s(k).

    ``probs``: ``[N, C]`` source posteriors; returns ``[N, C]`` (float32).

    >>> reweight_posteriors(torch.tensor([[0.5, 0.5]]), [0.5, 0.5], [0.8, 0.2]).tolist()
    [[0.800000011920929, 0.20000000298023224]]
    """
    p = as_probs(probs, renormalise=True)
    c = p.shape[1]
    ps = as_prior(source_prior, "source_prior", num_classes=c, positive=True).double()
    pt = as_prior(target_prior, "target_prior", num_classes=c).double()
    return _reweight(p, pt / ps).float()


def _reweight(p: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    q = p * w[None, :]  # p_s(y|x) pi_t(y) / pi_s(y), then normalised over y (eq. 2.4)
    s = q.sum(1, keepdim=True)
    zero = s == 0
    if bool(zero.any()):  # a row with mass only on classes of weight 0 keeps its posterior
        return torch.where(zero, p, q / s.clamp_min(1e-300))
    return q / s


def em_prior(
    probs,
    train_prior,
    init=None,
    max_iter: int = 1000,
    tol: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Saerens-Latinne-Decaestecker EM estimate of the target prior (MLLS).

    ``probs``: ``[N, C]`` posteriors p_s(y|x) of a classifier trained under ``train_prior``
    (pi_s), evaluated on unlabeled target inputs. Starting from pi^(0) = ``init`` (default
    pi_s), iterate (Saerens et al., 2002, eqs. 2.9-2.10):

    * E-step: p^(k)(y|x_n) = p_s(y|x_n) (pi^(k)(y) / pi_s(y)), normalised over y;
    * M-step: pi^(k+1)(y) = (1/N) sum_n p^(k)(y|x_n),

    until max_y |pi^(k+1) - pi^(k)| < ``tol`` or ``max_iter`` iterations. Returns
    ``(prior, adapted_probs)``: the estimate (float32 ``[C]``) and the posteriors adapted
    to it (float32 ``[N, C]``).

    >>> probs = torch.tensor([[0.8, 0.2], [0.8, 0.2], [0.2, 0.8]])
    >>> prior, _ = em_prior(probs, torch.tensor([0.5, 0.5]))
    >>> [round(v, 2) for v in prior.tolist()]
    [0.78, 0.22]
    """
    p = as_probs(probs, renormalise=True)
    c = p.shape[1]
    ps = as_prior(train_prior, "train_prior", num_classes=c, positive=True).double()
    as_int(max_iter, "max_iter", minimum=1)
    as_positive(tol, "tol")
    prior = ps.clone() if init is None else as_prior(init, "init", num_classes=c).double()
    adapted = _reweight(p, prior / ps)
    for _ in range(max_iter):
        new = adapted.mean(0)  # M-step: pi^(k+1) = (1/N) sum_n p^(k)(y|x_n)
        adapted = _reweight(p, new / ps)  # E-step with the new prior
        done = (new - prior).abs().max() < tol
        prior = new
        if done:
            break
    return prior.float(), adapted.float()


def confusion_matrix(predictions, targets, num_classes: int) -> torch.Tensor:
    """Joint confusion matrix C[i, j] = P(yhat = i, y = j) (float64 ``[C, C]``, sums to 1).

    ``predictions``: hard labels ``[N]`` or probabilities ``[N, C]``; probabilities give the
    *soft* confusion matrix C[i, j] = (1/N) sum_n p(i | x_n) 1[y_n = j].

    >>> confusion_matrix(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), 2).tolist()
    [[0.25, 0.0], [0.25, 0.5]]
    """
    num_classes = as_int(num_classes, "num_classes", minimum=2)
    pred = _prediction_matrix(predictions, num_classes, "predictions")
    targets = as_targets(targets, pred.shape[0], num_classes)
    onehot_y = torch.nn.functional.one_hot(targets, num_classes).double()
    return pred.T @ onehot_y / targets.numel()


def _prediction_matrix(predictions, num_classes: int, name: str) -> torch.Tensor:
    """Hard labels ``[N]`` as one-hot rows, or probabilities ``[N, C]`` (rows renormalised)."""
    t = torch.as_tensor(predictions)
    if t.dim() == 1 and not t.is_floating_point():
        labels = as_targets(t, num_classes=num_classes, name=f"{name} labels")
        return torch.nn.functional.one_hot(labels, num_classes).double()
    p = as_probs(t, name, renormalise=True)
    if p.shape[1] != num_classes:
        raise ValueError(f"{name} has {p.shape[1]} classes, expected {num_classes}; pass "
                         "the predictions of the same classifier.")
    return p


def bbse_prior(
    source_probs,
    source_targets,
    target_probs,
    soft: bool = False,
) -> torch.Tensor:
    r"""Black Box Shift Estimation (Lipton et al., ICML 2018) of the target prior.

    ``source_probs``: ``[M, C]`` predictions on *labeled* held-out source data with labels
    ``source_targets``; ``target_probs``: ``[N, C]`` predictions on unlabeled target data.
    With hard predictions (``soft=False``, the paper's choice) yhat = argmax; with
    ``soft=True`` the probabilities themselves (the soft confusion matrix).

    * C[i, j] = P_s(yhat = i, y = j), mu[i] = P_t(yhat = i), pi_s(j) = sum_i C[i, j];
    * w solves C w = mu (eq. 3; least squares if C is singular, with a `BBSEWarning` when
      its condition number exceeds `BBSE_MAX_CONDITION`), clipped at 0;
    * pi_t = w * pi_s, normalised.

    Returns the estimate as a float32 prior ``[C]``.
    """
    sp = as_probs(source_probs, "source_probs", renormalise=True)
    tp = as_probs(target_probs, "target_probs", renormalise=True)
    num_classes = sp.shape[1]
    if tp.shape[1] != num_classes:
        raise ValueError(f"target_probs has {tp.shape[1]} classes but source_probs has "
                         f"{num_classes}; they must match.")
    src = sp if soft else sp.argmax(1)
    tgt = tp if soft else tp.argmax(1)
    cm = confusion_matrix(src, source_targets, num_classes)
    mu = _prediction_matrix(tgt, num_classes, "target_probs").mean(0)
    pi_s = cm.sum(0)
    cond = float(torch.linalg.cond(cm))
    if not cond < BBSE_MAX_CONDITION:  # also catches inf / NaN of a singular matrix
        warnings.warn(
            f"bbse_prior: the confusion matrix is singular or ill-conditioned (condition "
            f"number {cond:.3g} > {BBSE_MAX_CONDITION:g}); the least-squares estimate is "
            "unreliable. Use more labeled source samples, a better classifier, or em_prior.",
            BBSEWarning, stacklevel=2)
    w = torch.linalg.lstsq(cm, mu[:, None]).solution.flatten().clamp_min(0.0)  # C w = mu (eq. 3)
    q = w * pi_s  # pi_t = w * pi_s
    if q.sum() <= 0:
        raise ValueError("BBSE found no positive weight; the classifier's confusion matrix is "
                         "degenerate. Use more source samples or a better classifier.")
    return (q / q.sum()).float()


def calibrated_probs(logits, temperature: float | LogitScaling, bias=None) -> torch.Tensor:
    """softmax(z / T + b) in float64, returned as float32 ``[N, C]``; ``bias`` None means no
    bias (plain temperature scaling).

    ``temperature`` may be a `LogitScaling` instead, e.g. the BCTS fit of
    `ltlab.metrics.fit_bias_corrected_temperature`: its T and b are used (a vector scaling
    is applied as it is).

    >>> calibrated_probs(torch.tensor([[2.0, 0.0]]), 2.0, [0.0, 1.0]).tolist()
    [[0.5, 0.5]]
    """
    z = as_logits(logits).detach().double()
    if isinstance(temperature, LogitScaling):
        if bias is not None:
            raise ValueError("bias must be None when temperature is a LogitScaling (it "
                             "carries its own bias).")
        if temperature.kind == "vector":
            return temperature(z).softmax(1).float()
        temperature, bias = temperature.temperature, temperature.bias
    temperature = as_positive(temperature, "temperature",
                              "Fit it with `ltlab.metrics.fit_bias_corrected_temperature`.")
    out = z / temperature
    if bias is not None:
        b = torch.as_tensor(bias, dtype=torch.float64)
        if b.shape != (z.shape[1],) or not torch.isfinite(b).all():
            raise ValueError(f"bias must be a finite vector of length {z.shape[1]}, one entry "
                             f"per class of the logits (got shape {tuple(b.shape)}).")
        out = out + b
    return torch.softmax(out, dim=1).float()  # softmax(z / T + b)
