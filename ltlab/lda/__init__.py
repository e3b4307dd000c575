r"""LDA: long-tailed recognition as domain adaptation (Peng et al., ACM MM 2021).

The long-tailed training set is an *unbalanced* source domain :math:`\mathcal D_u`; the
balanced test set is a *balanced* target domain :math:`\mathcal D_b` with the same
class-conditionals :math:`p(x \mid y)` and a uniform prior. The domain-adaptation bound of
Ben-David et al. (Eq. 1) with the empirical-risk bound (Eq. 2) gives the relaxed bound the
method minimises (Eq. 4),
:math:`R_b(h) \lesssim \hat R_u(h') + \hat R_b(h) + d(\mathcal D_u,
\mathcal D_b) + \text{const}` (the paper's :math:`\epsilon` is our risk :math:`R`), and each
term becomes one part of the loss:

* :math:`\hat R_u`: cross-entropy of an auxiliary **unbalanced** head :math:`h'`;
* :math:`\hat R_b`: the **balanced** risk of the main head :math:`h`, estimated on the
  long-tailed batch with importance weights :math:`w_i = p_b(i) / p_u(i) \propto 1 /
  (C\, n_i)` (Eq. 3, 5; `balanced_risk_weights`, `balanced_risk`);
* the two risks are traded off by the **self-adaptive balance factor** (Eq. 6)
  :math:`\omega = \max(0,\ \overline{\mathrm{acc}}(h') - \overline{\mathrm{acc}}(h))^{\nu}`
  (the paper's :math:`\alpha` and :math:`\gamma`; ``gamma`` is :math:`\nu`), the accuracy gap of the two heads over a window of recent batches (`BalanceFactor`);
* the divergence :math:`d` is not observable (no test data); it is approximated by pulling
  features of a class together and pushing class centres apart in the space of a
  **projection head** (Eq. 7, 8; `intra_class_distance_loss`, `inter_class_distance_loss`).

Total loss (Eq. 9), in the reference code's factors; at test time only h is used::

    L = zeta_unb CE(h'(x), y) + zeta_bal omega R_bal(h) + zeta_dist (L_inter + L_intra)

with zeta_unb = ``loss0_factor``, zeta_bal = ``loss1_factor`` and zeta_dist =
``distance_factor`` (the paper's lambda).

**Scales: reference versus normalised.** The released code (``lib/core/combiner.py``) uses
scales that change the effective weight of the balanced risk by orders of magnitude; ltlab
defaults to them, and offers a normalised variant (`LDA.normalised`); nu (``gamma``) = 2 in both:

==================  ==========================================  ==============================
quantity            reference (default)                         normalised
==================  ==========================================  ==============================
batch accuracies    percent (x 100)                             fractions in [0, 1]
window mean         over all 100 slots, empty ones count as 0   over the batches seen so far
``R_bal``           sum_i w_i CE_i (= (B/N) x balanced CE)      sum_i w_i CE_i / sum_i w_i
``loss1_factor``    2                                           20
weight of R_bal     loss1_factor * omega                        min(loss1_factor * omega, 1)
==================  ==========================================  ==============================

In expectation the reference term equals the normalised one with ``loss1_factor = 2 *
100**nu * B / N`` (B the batch, N the training-set size; `reference_equivalent_factor`):
about 236 on CIFAR-100-LT, 44 on ImageNet-LT and 1,300 on the 988-image MNIST-1D-LT of
notebook 05, where SGD diverges: the reference scales suit B/N around 0.01 or below. The
normalised default of 20 was chosen on MNIST-1D-LT before the cap below (10 gained less, 40
was unstable).

**Why the normalised weight is capped at 1** (``max_balanced_weight``). In fractions the gap
is at most 1, so the balance factor omega lies in [0, 1]: the balanced risk never weighs more
than the unbalanced one. ``loss1_factor = 20`` lifts the small omega of nu = 2 (a gap of 0.1 to
0.2 gives omega = 0.01 to 0.04, a weight of 0.2 to 0.8); but gap ** nu tends to 1 as nu
tends to 0, and at nu = 0 omega is 1 whatever the gap (0 ** 0 = 1: the adaptation is off),
so without the cap the balanced risk would weigh 20 from the first step. Its self-normalised
weights put a third or more of a batch's gradient on one or two tail samples, and SGD at the
notebook's learning rate diverges there (MNIST-1D-LT, lr 0.05: weight 2 trains, 5 and 20 end
at chance or in NaN; CE at five times the learning rate trains, the balanced risk alone does
not). The cap keeps the paper's range, ``min(loss1_factor * omega, 1)``, so every nu
trains; at nu = 0 the loss is ``CE(h') + R_bal(h)``.

Code <-> reference: ``unbalanced`` = h' (head 0), ``balanced`` = h (head 1); ``gamma`` (nu) /
``window`` / ``loss0_factor`` / ``loss1_factor`` = ``AUTO_ALPHA.GAMMA`` / ``LENGTH`` /
``LOSS0_FACTOR`` / ``LOSS1_FACTOR``; ``projection`` = ``NECK.TYPE`` (``None`` when
``NECK.ENABLE`` is off, as in the CIFAR configs); ``margin`` / ``distance_factor`` /
``weighted_inter`` = ``NECK.MARGIN`` / ``LOSS_FACTOR`` / ``WEIGHT_INTER_LOSS``.

Taught in: notebook 05, driver `ltlab.experiments.lda`, exercises `ltlab.exercises.lda`,
figures `ltlab.viz.lda`, panel `ltlab.widgets.lda`.
"""

from .distances import (class_centres, inter_class_distance_loss, intra_class_distance_loss,
                        intra_class_distances)
from .method import LDA
from .risk import (BalanceFactor, balance_factor, balance_factor_trace, balanced_risk,
                   balanced_risk_weights, reference_equivalent_factor, tail_window,
                   window_means)

__all__ = [
    "BalanceFactor", "LDA", "balance_factor", "balance_factor_trace", "balanced_risk",
    "balanced_risk_weights", "class_centres", "inter_class_distance_loss",
    "intra_class_distance_loss", "intra_class_distances", "reference_equivalent_factor",
    "tail_window", "window_means",
]
