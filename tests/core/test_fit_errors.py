"""`fit` refuses bad input before any training, naming the argument (issue 25)."""

import pytest
import torch

from ltlab.data import GaussianMixtureLT, LTData
from ltlab.models import MLP
from ltlab.train import CrossEntropy, fit, resolve_device


@pytest.fixture(scope="module")
def mixture():
    gm = GaussianMixtureLT(num_classes=4, imbalance_ratio=5, max_count=40, radius=3.0, seed=0)
    return gm.dataset(test_per_class=10)


class Counting(CrossEntropy):
    """Counts loss calls: a refused call must not have trained a single step."""

    calls = 0

    def loss(self, model, batch, step):
        Counting.calls += 1
        return super().loss(model, batch, step)


@pytest.mark.parametrize("kw, name", [
    (dict(warmup_epochs=-3), "warmup_epochs"),
    (dict(warmup_epochs=float("nan")), "warmup_epochs"),
    (dict(lr=-0.1), "lr"),
    (dict(lr=0), "lr"),
    (dict(lr=float("inf")), "lr"),
    (dict(momentum=1.5), "momentum"),
    (dict(momentum=-0.1), "momentum"),
    (dict(weight_decay=-1e-4), "weight_decay"),
    (dict(gamma=0), "gamma"),
    (dict(eval_every=0), "eval_every"),
    (dict(eval_every=-1), "eval_every"),
    (dict(eval_every=1.5), "eval_every"),
    (dict(unlabeled_ratio=-1), "unlabeled_ratio"),
    (dict(seed=-1), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(milestones=(2, -1)), "milestones"),
    (dict(milestones=(2.5,)), "milestones"),
    (dict(batch_size=0), "batch_size"),
    (dict(augment="weak"), "augment"),
    (dict(channels_last="yes"), "channels_last"),
    (dict(device="nonsense"), "device"),
])
def test_invalid_numbers_are_refused_with_the_argument_named(mixture, kw, name):
    Counting.calls = 0
    with pytest.raises(ValueError, match=name):
        fit(MLP(2, 4), Counting(), mixture, **dict(dict(epochs=1, progress=False), **kw))
    assert Counting.calls == 0


def test_numpy_integers_are_accepted_as_integers(mixture):
    np = pytest.importorskip("numpy")
    h = fit(MLP(2, 4), CrossEntropy(), mixture, epochs=np.int64(1), batch_size=np.int32(16),
            seed=np.int64(2), milestones=(np.int64(1),), progress=False, device="cpu")
    assert h.epoch == [0]


def test_eval_every_zero_is_a_clear_error_not_zero_division(mixture):
    with pytest.raises(ValueError, match=r"eval_every must be >= 1 \(got 0\)"):
        fit(MLP(2, 4), CrossEntropy(), mixture, epochs=1, eval_every=0, progress=False)


def _empty_like(data, keep_train=0, keep_test=None):
    keep_test = data.x_test.shape[0] if keep_test is None else keep_test
    return LTData(data.x_train[:keep_train], data.y_train[:keep_train], data.x_test[:keep_test],
                  data.y_test[:keep_test], data.train_counts, data.classes, name="empty")


def test_empty_data_is_a_clear_error(mixture):
    with pytest.raises(ValueError, match="no training samples.*x_train"):
        fit(MLP(2, 4), CrossEntropy(), _empty_like(mixture), epochs=1, progress=False)
    with pytest.raises(ValueError, match="no test samples.*x_test"):
        fit(MLP(2, 4), CrossEntropy(), _empty_like(mixture, 20, 0), epochs=1, progress=False)


def test_unlabeled_ratio_without_an_unlabeled_split(mixture):
    with pytest.raises(ValueError, match="unlabeled_ratio=2"):
        fit(MLP(2, 4), CrossEntropy(), mixture, epochs=1, unlabeled_ratio=2, progress=False)


def test_model_with_the_wrong_number_of_classes_is_refused_before_training(mixture):
    Counting.calls = 0
    with pytest.raises(ValueError, match=r"shape \(1, 3\).*4 classes.*num_classes=4"):
        fit(MLP(2, 3), Counting(), mixture, epochs=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"shape \(1, 6\).*4 classes"):  # too many: was silent
        fit(MLP(2, 6), Counting(), mixture, epochs=1, progress=False, device="cpu")
    assert Counting.calls == 0


def test_model_with_the_wrong_input_size_is_refused_with_the_shapes(mixture):
    Counting.calls = 0
    model = MLP(5, 4)
    with pytest.raises(ValueError, match=r"MLP cannot take the data's inputs.*shape \(1, 2\)"):
        fit(model, Counting(), mixture, epochs=1, progress=False, device="cpu")
    assert Counting.calls == 0


def test_the_dry_run_moves_no_statistic_and_draws_nothing(mixture):
    """The shape check predicts in eval mode: BatchNorm statistics and torch's generator are
    exactly where they were (numbers do not change)."""
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8),
                                torch.nn.Linear(8, 4))
    seen = []

    class Spy(CrossEntropy):
        def loss(self, model, batch, step):
            if step == 0:
                seen.append((model[1].num_batches_tracked.item(), torch.get_rng_state()))
            return super().loss(model, batch, step)

    fit(model, Spy(), mixture, epochs=1, batch_size=16, progress=False, device="cpu", seed=3)
    torch.manual_seed(3)
    assert seen[0][0] == 0 and torch.equal(seen[0][1], torch.get_rng_state())


def test_a_method_without_predict_or_a_model_that_is_not_a_module(mixture):
    class LossOnly:
        def loss(self, model, batch, step):
            return model(batch.x).sum()

    with pytest.raises(TypeError, match="method must have.*predict"):
        fit(MLP(2, 4), LossOnly(), mixture, epochs=1, progress=False)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fit(lambda x: x, CrossEntropy(), mixture, epochs=1, progress=False)


def test_resolve_device_names_the_argument():
    with pytest.raises(ValueError, match="device must be 'auto'.*'nonsense'"):
        resolve_device("nonsense")
