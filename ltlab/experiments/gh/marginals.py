r"""Notebook 06, the sphere toy's marginals: the anchor marginal GH enforces decides whether
it can give the tail its own anchor.

Every arm continues from the same SimCLR warm-up with the same data order (`run_seed`), so
each difference below is paired per seed (`ltlab.metrics.paired_interval`, 95 % Student t):

* `marginal_intervals`: GH − SimCLR at ratio 64 for each of `MARGINALS`: the class prior
  matched to the anchors (an oracle that needs the labels, `matched_class_prior`), GH's own
  estimate pi_hat (the method) and a uniform marginal (no prior at all);
* `improvement_intervals`: each label-free attempt to bring pi_hat closer to the class prior
  (`IMPROVEMENTS`: a count floor on pi_hat, a faster memory after the warm-up, a longer
  warm-up), against GH with its own pi_hat and against SimCLR;
* `prior_errors`: how far pi_hat is from the matched class prior (total variation, the same
  between the sorted vectors, and pi_hat's largest share).

>>> prior_errors([0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1])["sorted_total_variation"]
0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...metrics import paired_interval
from .sphere import METRICS, SphereRun, SphereSettings, compare_sphere, sphere_settings

__all__ = ["IMPROVEMENTS", "IMPROVEMENT_ARMS", "MARGINALS", "MARGINAL_ARMS", "compare_marginals",
           "improvement_intervals", "marginal_intervals", "prior_error_table", "prior_errors",
           "recorded_marginal_results"]

#: GH's anchor marginals: the class prior matched to the anchors (an oracle,
#: `matched_class_prior`), GH's own estimate pi_hat (the method) and a uniform marginal.
MARGINALS = ("matched", "estimated", "uniform")

#: The `run_seed` arm that continues GH with each marginal.
MARGINAL_ARMS = {"matched": "simclr_gh_lt_matched", "estimated": "simclr_gh_lt",
                 "uniform": "simclr_gh_lt_uniform"}

#: Label-free attempts to bring pi_hat closer to the class prior, in the order tried.
IMPROVEMENTS = ("count_floor", "faster_memory", "longer_warmup")

#: The `run_seed` arm of each attempt (switched on by `SphereSettings`' ``prior_floor``,
#: ``memory_beta`` and ``longer_warmup``).
IMPROVEMENT_ARMS = {"count_floor": "simclr_gh_lt_floored", "faster_memory": "simclr_gh_lt_fast",
                    "longer_warmup": "simclr_gh_lt_longer"}


def prior_errors(pi_hat: Sequence[float], reference: Sequence[float]) -> dict[str, float]:
    """How far GH's pi_hat is from a ``reference`` marginal on the same anchors (e.g.
    `matched_class_prior`): ``total_variation`` = (1/2) sum_k |pi_hat_k - ref_k|,
    ``sorted_total_variation``, the same between the two sorted vectors (no anchor-to-class
    matching, so label-free up to the class prior), and ``largest_share`` = max_k pi_hat_k."""
    p = torch.as_tensor(list(pi_hat), dtype=torch.float64)
    r = torch.as_tensor(list(reference), dtype=torch.float64)
    if p.shape != r.shape:
        raise ValueError(f"pi_hat and reference need the same length (got {p.numel()} and "
                         f"{r.numel()}).")
    return {"total_variation": float(0.5 * (p - r).abs().sum()),
            "sorted_total_variation": float(0.5 * (p.sort().values - r.sort().values).abs().sum()),
            "largest_share": float(p.max())}


def _per_seed(runs: Sequence[SphereRun], arm: str, metric: str) -> list[float]:
    missing = [r.seed for r in runs if arm not in r.metrics]
    if missing:
        raise ValueError(f"arm {arm!r} did not run at seeds {missing}: switch it on in "
                         "SphereSettings (matched_prior, uniform_prior, prior_floor, "
                         "memory_beta, longer_warmup).")
    return [r.metrics[arm][metric] for r in runs]


def _check(runs: Sequence[SphereRun], metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS} (got {metric!r}).")
    if not runs:
        raise ValueError("needs at least one SphereRun (one seed).")


def marginal_intervals(runs: Sequence[SphereRun], metric: str = "tail_accuracy",
                       marginals: Sequence[str] = MARGINALS) -> dict[str, dict[str, Any]]:
    """``{m: paired_interval(GH with marginal m, SimCLR)}`` on ``metric`` over ``runs``
    (``{"mean", "ci_low", "ci_high", "per_seed"}``, fractions)."""
    _check(runs, metric)
    base = _per_seed(runs, "simclr_lt", metric)
    arms = dict(MARGINAL_ARMS, floored="simclr_gh_lt_floored")
    return {m: paired_interval(_per_seed(runs, arms[m], metric), base) for m in marginals}


def improvement_intervals(runs: Sequence[SphereRun], metric: str = "tail_accuracy"
                          ) -> dict[str, dict[str, dict[str, Any]]]:
    """For each of `IMPROVEMENTS` that ran: ``{"vs_estimated": paired_interval(attempt, GH
    with its own pi_hat), "vs_simclr": paired_interval(attempt, SimCLR)}`` on ``metric``."""
    _check(runs, metric)
    estimated = _per_seed(runs, MARGINAL_ARMS["estimated"], metric)
    base = _per_seed(runs, "simclr_lt", metric)
    out = {}
    for name in IMPROVEMENTS:
        arm = IMPROVEMENT_ARMS[name]
        if all(arm in r.metrics for r in runs):
            values = _per_seed(runs, arm, metric)
            out[name] = {"vs_estimated": paired_interval(values, estimated),
                         "vs_simclr": paired_interval(values, base)}
    return out


def prior_error_table(runs: Sequence[SphereRun], arm: str | None = None
                      ) -> list[dict[str, float]]:
    """`prior_errors` per seed against the matched class prior: of GH's pi_hat after the
    warm-up (``arm`` None, what GH enforces first), or of ``arm``'s final marginal."""
    if not runs or any(r.matched_prior is None for r in runs):
        raise ValueError("prior_error_table needs runs with the matched prior "
                         "(SphereSettings(matched_prior=True)).")
    if arm is None:
        return [prior_errors(r.prior_after_warmup, r.matched_prior) for r in runs]
    return [prior_errors(r.arm_priors[arm], r.matched_prior) for r in runs]


def recorded_marginal_results(runs: Sequence[SphereRun]) -> dict[str, Any]:
    """Notebook 06's recorded marginal keys: ``sphere_toy_marginals[m]`` (`marginal_intervals`
    on the tail's accuracy), ``sphere_toy_improvements[attempt]`` (`improvement_intervals`)
    and ``sphere_toy_prior_error[error]``: per seed, pi_hat after the warm-up against the
    matched class prior (`prior_error_table`)."""
    table = prior_error_table(runs)
    return {"sphere_toy_marginals": marginal_intervals(runs),
            "sphere_toy_improvements": improvement_intervals(runs),
            "sphere_toy_prior_error": {k: [row[k] for row in table] for k in table[0]}}


def compare_marginals(settings: SphereSettings | None = None, seeds: Sequence[int] | None = None,
                      *, prior_floor: float = 0.0, workers: int = 1,
                      metric: str = "tail_accuracy") -> dict[str, Any]:
    """GH - SimCLR (ratio 64, paired per seed) on ``metric`` for each of `MARGINALS` (and
    ``"floored"`` when ``prior_floor`` > 0): ``{"marginals": {m: {"mean", "ci_low",
    "ci_high", "per_seed"}}, "prior_error": {"after_warmup" | "final": [prior_errors per
    seed]}, "seeds", "seconds": [per seed], "runs"}``. The matched and uniform arms run
    whatever ``settings`` say; the cluster std is ``settings.std``."""
    s = (settings or sphere_settings()).replace(matched_prior=True, uniform_prior=True,
                                                prior_floor=prior_floor)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS} (got {metric!r}).")
    seeds = [int(x) for x in (s.seeds if seeds is None else seeds)]
    if not seeds:
        raise ValueError("compare_marginals needs at least one seed.")
    runs = compare_sphere(s, seeds=seeds, workers=workers).runs
    names = MARGINALS + (("floored",) if prior_floor > 0 else ())
    return {"marginals": marginal_intervals(runs, metric, names),
            "prior_error": {"after_warmup": prior_error_table(runs),
                            "final": [prior_errors(r.prior_final, r.matched_prior)
                                      for r in runs]},
            "seeds": seeds, "seconds": [r.seconds for r in runs], "runs": runs}
