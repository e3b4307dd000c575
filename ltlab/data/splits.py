"""Splits of a data set: a test subset with a given class prior (`label_shift_subset`) and
labeled / unlabeled splits for long-tailed semi-supervised learning (`ssl_split`)."""

from __future__ import annotations

import numpy as np
import torch

from .._validation import as_choice, as_int, as_prior, as_targets
from ..priors import long_tailed_counts
from .ltdata import LTData, take_per_class

__all__ = ["label_shift_subset", "ssl_split", "SSL_PROFILES"]


def label_shift_subset(targets: torch.Tensor, prior, seed: int = 0) -> torch.Tensor:
    """Indices of a subset of ``targets`` whose class proportions follow ``prior``.

    Class c keeps int(n_ref * prior_c / max(prior)) samples, n_ref being the size of the
    smallest class in ``targets``: on a balanced test set with 100 per class and the
    forward-rho prior this is the int(100 * rho^(-i/(C-1))) of the SADE/BalPoE protocol.
    """
    targets = as_targets(targets)
    p = as_prior(prior)
    num_classes = p.numel()
    avail = torch.bincount(targets, minlength=num_classes)
    if avail.numel() != num_classes:
        raise ValueError(f"targets has labels >= {num_classes}, the prior's length.")
    n_ref = int(avail.min())
    if n_ref == 0:
        raise ValueError("targets has a class with no samples; cannot build the subset.")
    n = [int(n_ref * float(pc) / float(p.max()) + 1e-9) for pc in p]
    rng = np.random.RandomState(seed)
    idx = np.concatenate(take_per_class(targets.numpy(), n, rng))
    return torch.as_tensor(np.sort(idx), dtype=torch.long)


SSL_PROFILES = ("consistent", "uniform", "reversed")


def ssl_split(
    pool: LTData,
    labeled_max: int,
    unlabeled_max: int,
    imbalance_ratio: float,
    profile: str = "consistent",
    unlabeled_imbalance_ratio: float | None = None,
    include_labeled_in_unlabeled: bool = False,
    seed: int = 0,
) -> LTData:
    """Labeled / unlabeled split for long-tailed SSL (the ADELLO / USB protocol).

    Labeled counts: ``long_tailed_counts(C, labeled_max, imbalance_ratio)``. Unlabeled
    counts, for ``profile``:

    * ``"consistent"``: ``long_tailed_counts(C, unlabeled_max, ratio_u)`` (same head);
    * ``"uniform"``: ``unlabeled_max`` for every class;
    * ``"reversed"``: the consistent counts in reverse order (the head becomes the tail).

    ``ratio_u`` defaults to ``imbalance_ratio``. Labeled and unlabeled samples are disjoint
    slices of one per-class shuffle of ``pool``'s train split; the released ADELLO configs
    also put the labeled images into the unlabeled stream
    (``include_labeled_in_unlabeled=True``). The test split is ``pool``'s.
    """
    as_choice(profile, SSL_PROFILES, "profile")
    as_int(labeled_max, "labeled_max", minimum=1,
           hint="it is the number of labeled samples of the head class.")
    as_int(unlabeled_max, "unlabeled_max", minimum=1,
           hint="it is the number of unlabeled samples of the head class (of every class for "
                "profile='uniform').")
    num_classes = pool.num_classes
    ratio_u = imbalance_ratio if unlabeled_imbalance_ratio is None else unlabeled_imbalance_ratio
    lab = long_tailed_counts(num_classes, labeled_max, imbalance_ratio)
    if profile == "uniform":
        unl = torch.full((num_classes,), unlabeled_max, dtype=torch.long)
    else:
        unl = long_tailed_counts(num_classes, unlabeled_max, ratio_u)
        if profile == "reversed":
            unl = unl.flip(0)
    y = pool.y_train.numpy()
    rng = np.random.RandomState(seed)
    lab_idx = take_per_class(y, (lab + unl).tolist(), rng)
    labeled = np.concatenate([ix[: int(n)] for ix, n in zip(lab_idx, lab)])
    unlabeled = np.concatenate([ix[int(n):] for ix, n in zip(lab_idx, lab)])
    if include_labeled_in_unlabeled:
        unlabeled = np.concatenate([labeled, unlabeled])
    return LTData(
        pool.x_train[labeled], pool.y_train[labeled], pool.x_test, pool.y_test,
        lab, list(pool.classes), name=f"{pool.name}-ssl({profile})",
        indices={"labeled": labeled.tolist(), "unlabeled": unlabeled.tolist(), "seed": [seed]},
        x_unlabeled=pool.x_train[unlabeled], y_unlabeled=pool.y_train[unlabeled],
    )
