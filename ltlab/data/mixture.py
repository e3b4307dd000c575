"""A long-tailed Gaussian mixture whose Bayes posterior is exact (`GaussianMixtureLT`).

>>> gm = GaussianMixtureLT(num_classes=3, imbalance_ratio=10, max_count=100)
>>> gm.train_counts.tolist()
[100, 31, 10]
>>> x, y = gm.sample(5, seed=0)
>>> gm.bayes_posterior(x).sum(1).allclose(torch.ones(5))
True
"""

from __future__ import annotations

import math

import torch

from .._validation import as_counts, as_int, as_positive, as_prior
from ..priors import long_tailed_counts, prior_from_counts
from .ltdata import LTData

__all__ = ["GaussianMixtureLT"]


class GaussianMixtureLT:
    """A long-tailed Gaussian mixture with a shared isotropic covariance.

    Class means lie on a circle of radius ``radius`` (dim = 2) or are drawn at that norm
    (dim > 2); the covariance is ``std**2 * I``. Because the class-conditional densities are
    known, `bayes_posterior` is exact:

        p(y | x) = pi_y N(x; mu_y, Sigma) / sum_k pi_k N(x; mu_k, Sigma).
    """

    def __init__(
        self,
        num_classes: int = 10,
        dim: int = 2,
        imbalance_ratio: float = 100,
        max_count: int = 500,
        radius: float = 4.0,
        std: float = 1.0,
        seed: int = 0,
    ) -> None:
        as_int(dim, "dim", minimum=1)
        as_positive(std, "std", "it is the standard deviation of every class's Gaussian.")
        radius = as_positive(radius, "radius", "it is the distance of the class means from 0; "
                             "4.0 is the default.", allow_zero=True)
        self.num_classes = num_classes
        self.dim = dim
        self.imbalance_ratio = imbalance_ratio
        self.seed = seed
        self.train_counts = long_tailed_counts(num_classes, max_count, imbalance_ratio)
        self.train_prior = prior_from_counts(self.train_counts)
        if dim == 2:
            angle = 2 * math.pi * torch.arange(num_classes, dtype=torch.float64) / num_classes
            means = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
        else:
            g = torch.Generator().manual_seed(seed)
            m = torch.randn(num_classes, dim, generator=g, dtype=torch.float64)
            means = radius * m / m.norm(dim=1, keepdim=True)
        self.means = means.float()
        self.covariance = (std**2) * torch.eye(dim)

    def sample(self, n: int, prior=None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` points with labels from ``prior`` (default: the train prior)."""
        n = as_int(n, "n", minimum=1)
        p = (self.train_prior if prior is None
             else as_prior(prior, num_classes=self.num_classes).float())
        g = torch.Generator().manual_seed(seed)
        y = torch.multinomial(p, n, replacement=True, generator=g)
        return self._draw(y, g), y

    def sample_counts(self, counts, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw exactly ``counts[c]`` points of each class c."""
        c = as_counts(counts, "counts", allow_zero=True)
        if c.numel() != self.num_classes:
            raise ValueError(f"counts has {c.numel()} entries but the mixture has "
                             f"{self.num_classes} classes; give one count per class.")
        g = torch.Generator().manual_seed(seed)
        y = torch.repeat_interleave(torch.arange(self.num_classes), c.long())
        return self._draw(y, g), y

    def _draw(self, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        chol = torch.linalg.cholesky(self.covariance)
        z = torch.randn(y.numel(), self.dim, generator=g)
        return self.means[y] + z @ chol.T

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """log N(x; mu_c, Sigma) for every class: shape [N, C]."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape [N, {self.dim}] (got {tuple(x.shape)}).")
        cov = self.covariance.double()
        prec = torch.linalg.inv(cov)
        diff = x[:, None, :] - self.means.double()[None, :, :]
        maha = torch.einsum("ncd,de,nce->nc", diff, prec, diff)
        logdet = torch.logdet(cov)
        return -0.5 * (maha + logdet + self.dim * math.log(2 * math.pi))

    def bayes_posterior(self, x: torch.Tensor, prior=None) -> torch.Tensor:
        """Exact p(y | x) under ``prior`` (default: the train prior): shape [N, C]."""
        p = self.train_prior if prior is None else as_prior(prior, num_classes=self.num_classes)
        logits = self.log_likelihood(x) + torch.log(p.double()).clamp_min(-1e30)
        return torch.softmax(logits, dim=1).float()

    def bayes_balanced_error(self, n_per_class: int = 20000, seed: int = 12345) -> float:
        """Balanced error of the Bayes-optimal balanced classifier argmax_y p(x|y),
        estimated on a large balanced sample (Monte Carlo, standard error < 0.3 points)."""
        x, y = self.sample_counts([n_per_class] * self.num_classes, seed=seed)
        pred = self.log_likelihood(x).argmax(1)
        per_class = torch.stack([(pred[y == c] == c).float().mean() for c in range(self.num_classes)])
        return float(1 - per_class.mean())

    def dataset(self, test_per_class: int = 500, seed: int | None = None) -> LTData:
        """A long-tailed train split (``train_counts``) and a balanced test split."""
        seed = self.seed if seed is None else seed
        as_int(test_per_class, "test_per_class", minimum=1)
        x_tr, y_tr = self.sample_counts(self.train_counts, seed=seed)
        x_te, y_te = self.sample_counts([test_per_class] * self.num_classes, seed=seed + 1)
        return LTData(
            x_tr, y_tr, x_te, y_te, self.train_counts.clone(),
            [str(c) for c in range(self.num_classes)],
            name=f"gaussian-mixture-lt(ir={self.imbalance_ratio})",
            indices={"seed": [seed]},
        )
