"""`fit` trains and evaluates the modules a method owns together with the model (issue 23).

The old loop called ``model.train()`` only, so a method left in eval mode (as
``experiments.gh_sphere._positions`` leaves GH's projector) trained with its BatchNorm frozen
until the first evaluation. These tests use only names that existed before the fix, so they
can be run against the old code (they fail there).
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ltlab.data import GaussianMixtureLT
from ltlab.models import MLP
from ltlab.train import fit, predict_logits, seed_everything


@pytest.fixture(scope="module")
def mixture():
    gm = GaussianMixtureLT(num_classes=3, imbalance_ratio=5, max_count=60, radius=3.0, seed=0)
    return gm.dataset(test_per_class=20)


class ProjectorMethod(nn.Module):
    """CE on the model's logits plus a term through a projector with BatchNorm (like
    SimCLR's); records the projector's mode at every step."""

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.projector = nn.Sequential(nn.Linear(feature_dim, 8), nn.BatchNorm1d(8))
        self.modes: list[bool] = []

    def loss(self, model, batch, step):
        self.modes.append(self.projector[1].training)
        z = self.projector(model.features(batch.x))
        return F.cross_entropy(model(batch.x), batch.y) + 0.1 * z.pow(2).mean()

    def predict(self, model, x):
        return model(x)


def _run(mixture, method, **kw):
    seed_everything(0)
    model = MLP(2, 3, hidden=(16,))
    args = dict(epochs=3, batch_size=32, lr=0.05, device="cpu", progress=False, seed=1)
    args.update(kw)
    return model, fit(model, method, mixture, **args)


def test_a_method_left_in_eval_mode_trains_its_batchnorm(mixture):
    method = ProjectorMethod(16).eval()  # left in eval mode by an earlier measurement
    bn = method.projector[1]
    before = bn.running_mean.clone()
    _run(mixture, method, eval_every=10)  # no evaluation before the last epoch
    assert all(method.modes), "the projector trained in eval mode"
    assert int(bn.num_batches_tracked) == len(method.modes)  # every step updated the stats
    assert not torch.allclose(bn.running_mean, before)


def test_left_in_eval_or_not_the_numbers_are_the_same(mixture):
    fresh, left = ProjectorMethod(16), ProjectorMethod(16)
    left.load_state_dict(fresh.state_dict())
    left.eval()
    m1, h1 = _run(mixture, fresh, eval_every=10)
    m2, h2 = _run(mixture, left, eval_every=10)
    assert h1.loss == h2.loss
    assert torch.equal(fresh.projector[1].running_var, left.projector[1].running_var)


def test_method_modules_evaluate_with_the_model(mixture):
    seen = []

    class Spy(ProjectorMethod):
        def predict(self, model, x):
            seen.append((model.training, self.projector[1].training))
            return model(x)

    method = Spy(16)
    model, _ = _run(mixture, method, eval_every=1)
    assert seen and all(m is False and p is False for m, p in seen)  # evaluation: both eval
    assert all(method.modes)  # training resumed in train mode after each evaluation
    assert not model.training and not method.training  # fit leaves both in eval mode
    model.train()
    predict_logits(model, method, mixture.x_test, "cpu")
    assert model.training and method.training  # both back to the model's mode
