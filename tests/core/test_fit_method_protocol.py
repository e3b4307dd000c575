"""The `Method` protocol: loss/predict, setup, and the hooks around every optimiser step."""

import copy

import pytest
import torch

from ltlab.data import GaussianMixtureLT, ssl_split
from ltlab.models import MLP
from ltlab.semi_supervised import FixMatch
from ltlab.train import CrossEntropy, Method, fit


@pytest.fixture(scope="module")
def mixture():
    gm = GaussianMixtureLT(num_classes=3, imbalance_ratio=5, max_count=60, radius=3.0, seed=0)
    return gm.dataset(test_per_class=10)


def test_methods_satisfy_the_protocol():
    assert isinstance(CrossEntropy(), Method) and isinstance(FixMatch(), Method)
    assert not isinstance(object(), Method)


def test_hooks_run_in_order_around_each_update(mixture):
    events = []

    class Hooked(CrossEntropy):
        def setup(self, model, data, total_steps, device):
            events.append(("setup", total_steps))

        def before_step(self, model, step):
            events.append(("before", step, next(model.parameters()).detach().clone()))

        def loss(self, model, batch, step):
            events.append(("loss", step))
            return super().loss(model, batch, step)

        def after_step(self, model, step):
            events.append(("after", step, next(model.parameters()).detach().clone()))

    fit(MLP(2, 3, (8,)), Hooked(), mixture, steps=5, batch_size=16, progress=False,
        device="cpu")
    kinds = [e[:2] for e in events]
    assert kinds[0] == ("setup", 5)
    assert kinds[1:] == [k for s in range(5) for k in (("before", s), ("loss", s), ("after", s))]
    befores = [e[2] for e in events if e[0] == "before"]
    afters = [e[2] for e in events if e[0] == "after"]
    for s in range(4):  # before_step sees what the previous update left
        assert torch.equal(befores[s + 1], afters[s])
        assert not torch.equal(befores[s], afters[s])  # after_step sees the new weights


def test_fixmatch_weight_average_through_the_hook_matches_a_hand_computation(mixture):
    pool = GaussianMixtureLT(num_classes=3, imbalance_ratio=1, max_count=100, radius=3.0,
                             seed=1).dataset(test_per_class=10)
    data = ssl_split(pool, labeled_max=30, unlabeled_max=60, imbalance_ratio=5, seed=0)
    snapshots = []

    class Recording(FixMatch):
        def before_step(self, model, step):
            snapshots.append([p.detach().clone() for p in model.parameters()])
            super().before_step(model, step)

    torch.manual_seed(0)
    model = MLP(2, 3, (8,))
    start = copy.deepcopy(model)
    ident = lambda v, g: v  # noqa: E731
    method = Recording(ema=0.8, threshold=0.5, weak=ident, strong=ident)
    fit(model, method, data, steps=6, batch_size=8, lr=0.1, unlabeled_ratio=2,
        progress=False, device="cpu")
    # theta_ema <- 0.8 theta_ema + 0.2 theta, folding in the weights before each step
    want = [p.detach().clone() for p in start.parameters()]
    for snap in snapshots:
        want = [w + 0.2 * (s - w) for w, s in zip(want, snap)]
    assert len(snapshots) == 6
    for w, e in zip(want, method.ema_model.parameters()):
        assert torch.allclose(w, e, atol=1e-6)
    assert not torch.allclose(want[0], next(model.parameters()))  # the average lags the model
