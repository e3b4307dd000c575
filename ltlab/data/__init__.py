"""Long-tailed data sets, all returned as one small dataclass, `LTData`.

* `GaussianMixtureLT`: a synthetic mixture with a shared covariance, so the Bayes posterior
  p(y|x) ∝ pi_y N(x; mu_y, Sigma) is exact and the Bayes balanced error is known.
* `mnist1d_lt`: MNIST-1D (Greydanus, 2020), generated offline, made long-tailed.
* `digits_lt`: scikit-learn's 8x8 digits, made long-tailed.
* `cifar_lt`: CIFAR-10/100-LT from torchvision files (LDAM-DRW protocol, seeded per-class
  shuffles, the first n_i images kept); `write_fake_cifar` writes files in that format.
* `label_shift_subset`: a test subset with a given class prior (forward/backward-rho sets).
* `ssl_split`: labeled / unlabeled splits for long-tailed semi-supervised learning with a
  consistent, uniform or reversed unlabeled profile (the ADELLO protocol).

Every split is seeded and keeps the indices it drew (``LTData.indices``), so that a run can
be repeated exactly; ``LTData.save_indices(path)`` writes them as JSON.
"""

from .cifar import CIFAR_MEAN, CIFAR_STD, cifar_lt, write_fake_cifar
from .digits import digits_lt
from .ltdata import LTData
from .mixture import GaussianMixtureLT
from .mnist1d import _mnist1d_pool, cache_dir, mnist1d_lt
from .splits import SSL_PROFILES, label_shift_subset, ssl_split

__all__ = [
    "LTData",
    "GaussianMixtureLT",
    "mnist1d_lt",
    "digits_lt",
    "cifar_lt",
    "label_shift_subset",
    "ssl_split",
    "CIFAR_MEAN",
    "CIFAR_STD",
    "write_fake_cifar",
    "cache_dir",
    "SSL_PROFILES",
]
