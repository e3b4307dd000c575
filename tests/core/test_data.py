import json
import math
import pickle

import numpy as np
import pytest
import torch

from ltlab.data import (
    GaussianMixtureLT,
    cifar_lt,
    digits_lt,
    label_shift_subset,
    mnist1d_lt,
    ssl_split,
    write_fake_cifar,
)
from ltlab.data.mnist1d import _mnist1d_pool
from ltlab.priors import long_tailed_counts, shifted_prior

# what the `cifar_root` fixture (tests/conftest.py) writes per class in the train splits
C100_TRAIN = long_tailed_counts(100, 500, 1).tolist()
C10_TRAIN = long_tailed_counts(10, 5000, 100).tolist()


def test_gaussian_mixture_posterior_matches_the_density_formula():
    gm = GaussianMixtureLT(num_classes=4, dim=3, imbalance_ratio=10, max_count=100, seed=1)
    x, _ = gm.sample(50, seed=3)
    prior = torch.tensor([0.4, 0.3, 0.2, 0.1])
    post = gm.bayes_posterior(x, prior)
    # independent computation with torch.distributions
    dists = [torch.distributions.MultivariateNormal(gm.means[c].double(), gm.covariance.double())
             for c in range(4)]
    joint = torch.stack([d.log_prob(x.double()).exp() * prior[c] for c, d in enumerate(dists)], 1)
    assert torch.allclose(post.double(), joint / joint.sum(1, keepdim=True), atol=1e-5)
    assert gm.means.shape == (4, 3) and gm.covariance.shape == (3, 3)


def test_gaussian_mixture_sampling_and_dataset():
    gm = GaussianMixtureLT(num_classes=10, imbalance_ratio=100, max_count=500)
    data = gm.dataset(test_per_class=50)
    assert data.train_counts.tolist() == long_tailed_counts(10, 500, 100).tolist()
    assert torch.bincount(data.y_train).tolist() == data.train_counts.tolist()
    assert torch.bincount(data.y_test).tolist() == [50] * 10
    # class means are recovered by the sample means of the head class
    head = data.x_train[data.y_train == 0].mean(0)
    assert torch.allclose(head, gm.means[0], atol=0.15)
    x, y = gm.sample(20000, prior=shifted_prior(10, 10, "backward"), seed=1)
    freq = torch.bincount(y, minlength=10).float() / 20000
    assert torch.allclose(freq, shifted_prior(10, 10, "backward"), atol=0.01)
    assert 0.0 < gm.bayes_balanced_error(n_per_class=2000) < 0.5


def test_mnist1d_lt_is_long_tailed_and_seeded():
    a = mnist1d_lt(imbalance_ratio=100, max_count=200, test_per_class=50, seed=0)
    b = mnist1d_lt(imbalance_ratio=100, max_count=200, test_per_class=50, seed=0)
    assert a.train_counts.tolist() == long_tailed_counts(10, 200, 100).tolist()
    assert torch.bincount(a.y_train, minlength=10).tolist() == a.train_counts.tolist()
    assert torch.bincount(a.y_test, minlength=10).tolist() == [50] * 10
    assert a.x_train.shape[1:] == (40,)
    assert torch.equal(a.x_train, b.x_train) and a.indices == b.indices
    c = mnist1d_lt(imbalance_ratio=100, max_count=200, test_per_class=50, seed=1)
    assert not torch.equal(a.x_train, c.x_train)


def test_save_indices(tmp_path):
    d = digits_lt(imbalance_ratio=10, max_count=100, test_per_class=30, seed=2)
    path = d.save_indices(tmp_path / "split.json")
    saved = json.loads(path.read_text())
    assert saved["indices"]["train"] == d.indices["train"]
    assert not set(d.indices["train"]) & set(d.indices["test"])  # disjoint
    from sklearn.datasets import load_digits

    raw = load_digits()
    assert np.allclose(raw.data[d.indices["train"]] / 16.0, d.x_train.numpy())


def test_label_shift_subset_reproduces_forward_50():
    targets = torch.arange(100).repeat_interleave(100)  # balanced, 100 per class
    idx = label_shift_subset(targets, shifted_prior(100, 50, "forward"), seed=0)
    counts = torch.bincount(targets[idx], minlength=100)
    assert counts.tolist() == [int(100 * 50 ** (-i / 99)) for i in range(100)]
    assert idx.numel() == 2486
    with pytest.raises(ValueError, match="sum to 1"):
        label_shift_subset(targets, torch.full((100,), 0.02))


@pytest.mark.parametrize("profile", ["consistent", "uniform", "reversed"])
def test_ssl_split_profiles(profile):
    pool = mnist1d_lt(imbalance_ratio=1, max_count=300, test_per_class=20, seed=0)
    d = ssl_split(pool, labeled_max=60, unlabeled_max=150, imbalance_ratio=10, profile=profile)
    lab = long_tailed_counts(10, 60, 10)
    unl = {"consistent": long_tailed_counts(10, 150, 10),
           "uniform": torch.full((10,), 150),
           "reversed": long_tailed_counts(10, 150, 10).flip(0)}[profile]
    assert torch.bincount(d.y_train, minlength=10).tolist() == lab.tolist()
    assert torch.bincount(d.y_unlabeled, minlength=10).tolist() == unl.tolist()
    assert not set(d.indices["labeled"]) & set(d.indices["unlabeled"])
    with pytest.raises(ValueError, match="profile"):
        ssl_split(pool, 60, 150, 10, profile="inverse")


def _write_fake_cifar10(root, n_train=600, n_test=100):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for i in range(1, 6):
        labels = [(j + i) % 10 for j in range(n_train // 5)]
        batch = {"data": rng.randint(0, 256, (len(labels), 3072), dtype=np.uint8), "labels": labels}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    test = {"data": rng.randint(0, 256, (n_test, 3072), dtype=np.uint8),
            "labels": [j % 10 for j in range(n_test)]}
    (folder / "test_batch").write_bytes(pickle.dumps(test))
    meta = {"label_names": [f"c{i}" for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))


def test_cifar_lt_reads_torchvision_files(tmp_path, monkeypatch):
    from torchvision import datasets

    _write_fake_cifar10(tmp_path)
    monkeypatch.setattr(datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(datasets.cifar, "check_integrity", lambda *a, **k: True)
    # 60 per class available: n_max 5000 is too many, so the protocol must refuse clearly
    with pytest.raises(ValueError, match="samples"):
        cifar_lt(tmp_path, num_classes=10, imbalance_ratio=100)


def test_cifar_lt_missing_files_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        cifar_lt(tmp_path / "nowhere", num_classes=100, download=False)
    with pytest.raises(ValueError, match="num_classes"):
        cifar_lt(tmp_path, num_classes=20)


def test_ltdata_shape_mismatch_is_an_error():
    from ltlab.data import LTData

    with pytest.raises(ValueError, match="x_train has 3 rows"):
        LTData(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long), torch.zeros(1, 2),
               torch.zeros(1, dtype=torch.long), torch.tensor([2]), ["a"])
    assert math.isfinite(float(torch.zeros(1).sum()))


def test_mnist1d_disk_cache_returns_the_generated_arrays(tmp_path, monkeypatch):
    """The on-disk cache gives exactly a fresh generation's arrays; a corrupt cache file
    is regenerated; LTLAB_CACHE_DIR="" turns the cache off."""
    monkeypatch.setenv("LTLAB_CACHE_DIR", "")
    _mnist1d_pool.cache_clear()
    fresh = _mnist1d_pool(300, 7)
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("LTLAB_CACHE_DIR", str(tmp_path))
    _mnist1d_pool.cache_clear()
    first = _mnist1d_pool(300, 7)
    files = list(tmp_path.glob("mnist1d-raw-300-7.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp*"))
    _mnist1d_pool.cache_clear()
    cached = _mnist1d_pool(300, 7)
    for a, b, c in zip(fresh, first, cached):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    files[0].write_bytes(b"not an npz file")
    _mnist1d_pool.cache_clear()
    again = _mnist1d_pool(300, 7)
    np.testing.assert_array_equal(again[0], fresh[0])
    _mnist1d_pool.cache_clear()


# ----------------------------------------------------------------------------- CIFAR files
def test_fake_cifar_files_have_the_official_layout(cifar_root):
    for folder, names in (("cifar-100-python", ["train", "test", "meta"]),
                          ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)]
                           + ["test_batch", "batches.meta"])):
        for name in names:
            assert (cifar_root / folder / name).is_file(), (folder, name)
    with open(cifar_root / "cifar-100-python" / "train", "rb") as f:
        d = pickle.load(f, encoding="latin1")
    assert d["data"].dtype == np.uint8 and d["data"].shape == (sum(C100_TRAIN), 3072)
    assert np.bincount(d["fine_labels"]).tolist() == C100_TRAIN
    assert len(d["coarse_labels"]) == len(d["filenames"]) == sum(C100_TRAIN)
    with open(cifar_root / "cifar-10-batches-py" / "batches.meta", "rb") as f:
        assert len(pickle.load(f, encoding="latin1")["label_names"]) == 10
    labels = []
    for i in range(1, 6):
        with open(cifar_root / "cifar-10-batches-py" / f"data_batch_{i}", "rb") as f:
            labels += pickle.load(f, encoding="latin1")["labels"]
    assert np.bincount(labels).tolist() == C10_TRAIN


def test_cifar_lt_loads_the_files_with_the_ldam_counts(cifar_root):
    data = cifar_lt(cifar_root, 10, 100, verify=False)
    assert data.train_counts.tolist() == C10_TRAIN and data.x_train.shape == (12406, 3, 32, 32)
    assert torch.bincount(data.y_train).tolist() == C10_TRAIN
    assert data.x_test.shape == (50, 3, 32, 32)
    # torchvision's own reader agrees pixel for pixel (channel-major rows -> HWC -> CHW)
    with open(cifar_root / "cifar-10-batches-py" / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="latin1")["data"].reshape(-1, 3, 32, 32)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
    std = torch.tensor([0.2023, 0.1994, 0.2010]).view(3, 1, 1)
    assert torch.allclose(data.x_test[0], (torch.as_tensor(raw[0]).float() / 255 - mean) / std,
                          atol=1e-5)


def test_cifar_files_missing_or_corrupt_are_clear_errors(cifar_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found .or corrupt.*download=True"):
        cifar_lt(tmp_path / "empty", 100)
    with pytest.raises(FileNotFoundError, match="corrupt"):  # MD5 differs from the real files
        cifar_lt(cifar_root, 10)
    broken = tmp_path / "broken"
    write_fake_cifar(broken, 10, 10, test_per_class=1)
    path = broken / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as by an interrupted copy
    with pytest.raises(FileNotFoundError, match="corrupt"):
        cifar_lt(broken, 10, verify=False)
    with pytest.raises(ValueError, match="train_counts"):
        write_fake_cifar(tmp_path / "x", 10, [5] * 9)
    with pytest.raises(ValueError, match="num_classes"):
        write_fake_cifar(tmp_path / "x", 20)


def test_bad_arguments_say_what_to_do():
    """The data sets check their inputs with `ltlab._validation` (one message per mistake)."""
    with pytest.raises(ValueError, match="dim must be >= 1"):
        GaussianMixtureLT(dim=0)
    with pytest.raises(ValueError, match="std must be > 0"):
        GaussianMixtureLT(std=0.0)
    gm = GaussianMixtureLT(num_classes=4, imbalance_ratio=10, max_count=50)
    with pytest.raises(ValueError, match="prior has 2 entries but there are 4 classes"):
        gm.sample(10, prior=[0.5, 0.5])
    with pytest.raises(ValueError, match="prior has 3 entries but there are 4 classes"):
        gm.bayes_posterior(torch.zeros(2, 2), prior=[0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="sum to 1.*prior_from_counts"):
        gm.sample(10, prior=[0.5, 0.5, 0.5, 0.5])
    targets = torch.arange(4).repeat(10)
    with pytest.raises(ValueError, match="integer class indices"):
        label_shift_subset(targets.float(), [0.25] * 4)
    with pytest.raises(ValueError, match="labels >= 3"):
        label_shift_subset(targets, [0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="signal must lie in"):
        write_fake_cifar("unused", 10, signal=1.5)


def test_moved_prior_checks_keep_the_numbers():
    """`as_prior` returns the prior unchanged: the same draws as before the move."""
    gm = GaussianMixtureLT(num_classes=3, imbalance_ratio=10, max_count=30)
    prior = [0.2, 0.3, 0.5]
    x, y = gm.sample(200, prior=prior, seed=4)
    g = torch.Generator().manual_seed(4)
    y_ref = torch.multinomial(torch.tensor(prior, dtype=torch.float64).float(), 200,
                              replacement=True, generator=g)
    assert torch.equal(y, y_ref)
    post = gm.bayes_posterior(x, torch.tensor(prior))
    joint = gm.log_likelihood(x) + torch.log(torch.tensor(prior, dtype=torch.float64))
    assert torch.allclose(post, torch.softmax(joint, 1).float())
