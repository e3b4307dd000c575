"""Long-tailed data sets, all returned as one small dataclass, `LTData`.

* `GaussianMixtureLT`: a synthetic mixture with a shared covariance, so the Bayes posterior
  p(y|x) ∝ pi_y N(x; mu_y, Sigma) is exact and the Bayes balanced error is known.
* `mnist1d_lt`: MNIST-1D (Greydanus, 2020), generated offline, made long-tailed.
* `digits_lt`: scikit-learn's 8x8 digits, made long-tailed.
* `cifar_lt`: CIFAR-10/100-LT from torchvision files (LDAM-DRW protocol, seeded per-class
  shuffles, the first n_i images kept).
* `label_shift_subset`: a test subset with a given class prior (forward/backward-rho sets).
* `ssl_split`: labeled / unlabeled splits for long-tailed semi-supervised learning with a
  consistent, uniform or reversed unlabeled profile (the ADELLO protocol).

Every split is seeded and keeps the indices it drew (``LTData.indices``), so that a run can
be repeated exactly; ``LTData.save_indices(path)`` writes them as JSON.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .priors import check_prior, long_tailed_counts, prior_from_counts

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
]

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


@dataclass
class LTData:
    """A long-tailed data set: tensors, class counts and the indices that built it.

    ``x_unlabeled`` / ``y_unlabeled`` are set only by `ssl_split` (``y_unlabeled`` holds the
    hidden true labels, for evaluating prior estimates; training must not read it).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_counts: torch.Tensor
    classes: list[str]
    name: str = ""
    indices: dict[str, list[int]] = field(default_factory=dict)
    x_unlabeled: torch.Tensor | None = None
    y_unlabeled: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"x_{split} has {x.shape[0]} rows but y_{split} has {y.shape[0]} labels."
                )
        if len(self.classes) != self.train_counts.numel():
            raise ValueError(
                f"{len(self.classes)} class names for {self.train_counts.numel()} counts."
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def train_prior(self) -> torch.Tensor:
        return prior_from_counts(self.train_counts, allow_empty=True)

    @property
    def log_prior(self) -> torch.Tensor:
        """log pi with the library's epsilon convention (see `ltlab.losses`)."""
        return torch.log(self.train_prior + 1e-12)

    def save_indices(self, path: str | os.PathLike) -> Path:
        """Write the indices that define this split as JSON (atomically)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps({"name": self.name, "indices": self.indices}))
        os.replace(tmp, path)
        return path

    def __repr__(self) -> str:  # a short, readable summary for notebooks
        counts = self.train_counts.tolist()
        extra = ""
        if self.x_unlabeled is not None:
            extra = f", unlabeled={self.x_unlabeled.shape[0]}"
        return (
            f"LTData({self.name!r}: train={self.x_train.shape[0]} "
            f"(head {counts[0]}, tail {counts[-1]}), test={self.x_test.shape[0]}, "
            f"classes={self.num_classes}, x shape={tuple(self.x_train.shape[1:])}{extra})"
        )


def _counts(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(y, minlength=num_classes)


def _take_per_class(
    y: np.ndarray, counts, rng: np.random.RandomState, offset=None
) -> list[np.ndarray]:
    """For each class c, shuffle its indices and keep the slice [offset_c, offset_c + n_c)."""
    out = []
    for c, n in enumerate(counts):
        idx = np.nonzero(y == c)[0]
        rng.shuffle(idx)
        start = 0 if offset is None else int(offset[c])
        if start + n > len(idx):
            raise ValueError(
                f"class {c} has {len(idx)} samples, {start + int(n)} are needed; lower the "
                "counts (max_count) or generate more data (num_samples)."
            )
        out.append(idx[start : start + int(n)])
    return out


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
        if dim < 1:
            raise ValueError(f"dim must be >= 1 (got {dim}).")
        if std <= 0:
            raise ValueError(f"std must be positive (got {std}).")
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
        p = self.train_prior if prior is None else check_prior(prior).float()
        if p.numel() != self.num_classes:
            raise ValueError(f"prior has {p.numel()} entries, expected {self.num_classes}.")
        g = torch.Generator().manual_seed(seed)
        y = torch.multinomial(p, n, replacement=True, generator=g)
        return self._draw(y, g), y

    def sample_counts(self, counts, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw exactly ``counts[c]`` points of each class c."""
        g = torch.Generator().manual_seed(seed)
        y = torch.repeat_interleave(
            torch.arange(self.num_classes), torch.as_tensor(counts, dtype=torch.long)
        )
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
        p = self.train_prior if prior is None else check_prior(prior)
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
        x_tr, y_tr = self.sample_counts(self.train_counts, seed=seed)
        x_te, y_te = self.sample_counts([test_per_class] * self.num_classes, seed=seed + 1)
        return LTData(
            x_tr, y_tr, x_te, y_te, self.train_counts.clone(),
            [str(c) for c in range(self.num_classes)],
            name=f"gaussian-mixture-lt(ir={self.imbalance_ratio})",
            indices={"seed": [seed]},
        )


def _lt_from_pool(
    x_pool: np.ndarray, y_pool: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
    num_classes: int, max_count: int, imbalance_ratio: float, test_per_class: int | None,
    seed: int, name: str, classes: list[str], profile: str = "exponential",
) -> LTData:
    counts = long_tailed_counts(num_classes, max_count, imbalance_ratio, profile)
    rng = np.random.RandomState(seed)
    train_idx = np.concatenate(_take_per_class(y_pool, counts.tolist(), rng))
    if test_per_class is None:
        test_per_class = int(min(np.bincount(y_test, minlength=num_classes)))
    test_idx = np.concatenate(_take_per_class(y_test, [test_per_class] * num_classes, rng))
    return LTData(
        torch.as_tensor(x_pool[train_idx], dtype=torch.float32),
        torch.as_tensor(y_pool[train_idx], dtype=torch.long),
        torch.as_tensor(x_test[test_idx], dtype=torch.float32),
        torch.as_tensor(y_test[test_idx], dtype=torch.long),
        counts, classes, name=name,
        indices={"train": train_idx.tolist(), "test": test_idx.tolist(), "seed": [seed]},
    )


def cache_dir() -> Path | None:
    """Where generated data sets are cached: ``$LTLAB_CACHE_DIR`` (default
    ``~/.cache/ltlab``); an empty value turns the cache off."""
    value = os.environ.get("LTLAB_CACHE_DIR", str(Path.home() / ".cache" / "ltlab"))
    return Path(value) if value else None


@functools.lru_cache(maxsize=4)
def _mnist1d_pool(num_samples: int, seed: int) -> tuple[np.ndarray, ...]:
    """Generate the MNIST-1D pool (offline, ~2 ms a signal), cached on disk under
    `cache_dir` (the same arrays as a fresh generation; written atomically)."""
    cache = cache_dir()
    path = cache / f"mnist1d-raw-{num_samples}-{seed}.npz" if cache else None
    if path is not None and path.exists():
        try:
            with np.load(path) as f:
                return f["x"], f["y"], f["x_test"], f["y_test"]
        except Exception:  # a corrupt or foreign file: generate again
            pass
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    pool = make_dataset(args)
    out = (np.asarray(pool["x"], dtype=np.float32), np.asarray(pool["y"], dtype=np.int64),
           np.asarray(pool["x_test"], dtype=np.float32), np.asarray(pool["y_test"], dtype=np.int64))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, x=out[0], y=out[1], x_test=out[2], y_test=out[3])
            os.replace(tmp, path)
        except OSError:  # a read-only home: no cache, same data
            pass
    return out


def mnist1d_lt(
    imbalance_ratio: float = 100,
    max_count: int = 400,
    test_per_class: int | None = 100,
    num_samples: int | None = None,
    seed: int = 0,
    profile: str = "exponential",
) -> LTData:
    """MNIST-1D made long-tailed: 40-sample 1-D signals of 10 digit templates.

    The pool is generated offline by ``mnist1d.data.make_dataset`` (a few seconds); its
    default split puts 80% in train and 20% in test. ``num_samples`` defaults to enough
    for ``max_count`` images of the head class and ``test_per_class`` per class in test.
    """
    need = max(max_count / 0.8, (test_per_class or 100) / 0.2) * 10 * 1.2
    size = int(num_samples or math.ceil(need / 100) * 100)
    for attempt in range(4):
        x, y, xt, yt = _mnist1d_pool(size, 42 + seed)
        try:
            return _lt_from_pool(
                x, y, xt, yt, 10, max_count, imbalance_ratio, test_per_class, seed,
                f"mnist1d-lt(ir={imbalance_ratio})", [str(i) for i in range(10)], profile,
            )
        except ValueError:
            if num_samples is not None or attempt == 3:
                raise
            size = int(size * 1.5)  # a class fell short of its count: generate a larger pool
    raise AssertionError("unreachable")


def digits_lt(
    imbalance_ratio: float = 10,
    max_count: int = 120,
    test_per_class: int = 50,
    seed: int = 0,
) -> LTData:
    """scikit-learn's 8x8 digits (1,797 images, about 180 per class) made long-tailed.

    ``test_per_class`` images of every class are held out first (balanced test set); the
    long-tailed train split is drawn from the rest. Pixels are scaled to [0, 1].
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = d.data.astype(np.float32) / 16.0, d.target.astype(np.int64)
    rng = np.random.RandomState(seed)
    test_idx = np.concatenate(_take_per_class(y, [test_per_class] * 10, rng))
    rest = np.setdiff1d(np.arange(len(y)), test_idx)
    data = _lt_from_pool(
        x[rest], y[rest], x[test_idx], y[test_idx], 10, max_count, imbalance_ratio,
        test_per_class, seed, f"digits-lt(ir={imbalance_ratio})", [str(i) for i in range(10)],
    )
    data.indices["train"] = rest[np.asarray(data.indices["train"])].tolist()
    data.indices["test"] = test_idx[np.asarray(data.indices["test"])].tolist()
    return data


def cifar_lt(
    root: str | os.PathLike = "data",
    num_classes: int = 100,
    imbalance_ratio: float = 100,
    download: bool = False,
    seed: int = 0,
    verify: bool = True,
) -> LTData:
    """CIFAR-10-LT / CIFAR-100-LT (LDAM-DRW protocol) from torchvision's files.

    n_i = int(n_max * (1/ratio)^(i/(C-1))) with n_max = 5000 (CIFAR-10) or 500 (CIFAR-100);
    each class's indices are shuffled with ``np.random.RandomState(seed)`` and the first
    n_i kept. Images are returned as float tensors [N, 3, 32, 32], normalised with the
    CIFAR mean and std; the test set is the full balanced one.

    ``verify=False`` skips torchvision's MD5 check of the files (their format is still
    read as is): files in the CIFAR format with other contents, such as the random-pixel
    ones of `ltlab.recipes.write_fake_cifar`, then load.
    """
    import pickle

    from torchvision import datasets

    if num_classes not in (10, 100):
        raise ValueError(f"num_classes must be 10 or 100 (got {num_classes!r}).")
    cls = datasets.CIFAR10 if num_classes == 10 else datasets.CIFAR100
    if not verify:  # same loader, no checksums: an MD5 of None only checks the file exists
        cls = type(cls.__name__, (cls,), {
            "train_list": [[f, None] for f, _ in cls.train_list],
            "test_list": [[f, None] for f, _ in cls.test_list],
            "meta": {**cls.meta, "md5": None},
        })
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except (RuntimeError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as err:
        raise FileNotFoundError(
            f"CIFAR-{num_classes} files not found (or corrupt) under root={str(root)!r} "
            f"with download={download}. Pass download=True on a machine with internet, or "
            f"copy the python-version archive's extracted folder into {str(root)!r}. ({err})"
        ) from err
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)

    def to_tensor(images: np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(images).permute(0, 3, 1, 2).float().div_(255.0)
        return (t - mean) / std

    y = np.asarray(train.targets, dtype=np.int64)
    n_max = 5000 if num_classes == 10 else 500
    counts = long_tailed_counts(num_classes, n_max, imbalance_ratio)
    rng = np.random.RandomState(seed)
    idx = np.concatenate(_take_per_class(y, counts.tolist(), rng))
    yt = np.asarray(test.targets, dtype=np.int64)
    return LTData(
        to_tensor(train.data[idx]), torch.as_tensor(y[idx]),
        to_tensor(test.data), torch.as_tensor(yt),
        counts, list(train.classes), name=f"cifar{num_classes}-lt(ir={imbalance_ratio})",
        indices={"train": idx.tolist(), "seed": [seed]},
    )


def label_shift_subset(targets: torch.Tensor, prior, seed: int = 0) -> torch.Tensor:
    """Indices of a subset of ``targets`` whose class proportions follow ``prior``.

    Class c keeps int(n_ref * prior_c / max(prior)) samples, n_ref being the size of the
    smallest class in ``targets``: on a balanced test set with 100 per class and the
    forward-rho prior this is the int(100 * rho^(-i/(C-1))) of the SADE/BalPoE protocol.
    """
    targets = torch.as_tensor(targets)
    if targets.dim() != 1:
        raise ValueError(f"targets must be 1-D (got shape {tuple(targets.shape)}).")
    p = check_prior(prior)
    num_classes = p.numel()
    avail = _counts(targets, num_classes)
    if avail.numel() != num_classes:
        raise ValueError(f"targets has labels >= {num_classes}, the prior's length.")
    n_ref = int(avail.min())
    if n_ref == 0:
        raise ValueError("targets has a class with no samples; cannot build the subset.")
    n = [int(n_ref * float(pc) / float(p.max()) + 1e-9) for pc in p]
    rng = np.random.RandomState(seed)
    idx = np.concatenate(_take_per_class(targets.numpy(), n, rng))
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
    if profile not in SSL_PROFILES:
        raise ValueError(f"profile must be one of {SSL_PROFILES} (got {profile!r}).")
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
    lab_idx = _take_per_class(y, (lab + unl).tolist(), rng)
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
