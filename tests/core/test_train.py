import math

import pytest
import torch
import torch.nn.functional as F

from ltlab.data import GaussianMixtureLT
from ltlab.models import MLP
from ltlab.train import Batch, CrossEntropy, _lr_factor, fit, resolve_device, seed_everything


@pytest.fixture(scope="module")
def mixture():
    gm = GaussianMixtureLT(num_classes=4, imbalance_ratio=10, max_count=200, radius=3.0, seed=0)
    return gm.dataset(test_per_class=200)


def _train(data, **kw):
    seed_everything(0)
    model = MLP(2, data.num_classes, hidden=(32,))
    args = dict(epochs=4, batch_size=64, lr=0.1, progress=False, seed=3)
    args.update(kw)
    history = fit(model, CrossEntropy(), data, **args)
    return model, history


def test_fit_learns_and_records_history(mixture):
    model, h = _train(mixture, epochs=15)
    assert len(h.loss) == 15 and h.loss[-1] < h.loss[0]
    assert h.metrics["accuracy"][-1] > 0.7  # chance is 0.25 on the balanced test set
    assert h.total_steps == 15 * math.ceil(mixture.x_train.shape[0] / 64)


def test_same_seed_same_numbers(mixture):
    m1, h1 = _train(mixture, mixup_alpha=0.4)
    m2, h2 = _train(mixture, mixup_alpha=0.4)
    assert h1.loss == h2.loss
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    _, h3 = _train(mixture, mixup_alpha=0.4, seed=4)
    assert h3.loss != h1.loss


def test_mixup_mixes_the_loss_like_soft_targets():
    logits = torch.randn(6, 3)
    y, y2 = torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([1, 1, 0, 2, 2, 0])
    b = Batch(x=torch.zeros(6, 1), y=y, index=torch.arange(6), y_mix=y2, lam=0.3)
    mixed = b.mix_loss(lambda t: F.cross_entropy(logits, t))
    soft = -(b.soft_targets(3) * logits.log_softmax(1)).sum(1).mean()
    assert torch.allclose(mixed, soft, atol=1e-6)


def test_lr_schedule_by_hand():
    # 10 steps per epoch, 2 warmup epochs, step decay at epochs 5 and 8
    f = [_lr_factor(s, 100, 20, "step", 10, (5, 8), 0.1) for s in range(100)]
    assert f[0] == pytest.approx(1 / 20) and f[19] == pytest.approx(1.0)
    assert f[49] == 1.0 and f[50] == pytest.approx(0.1) and f[80] == pytest.approx(0.01)
    c = [_lr_factor(s, 100, 0, "cosine", 10, (), 0.1) for s in (0, 50, 100)]
    assert c == pytest.approx([1.0, 0.5, 0.0])


def test_nan_loss_names_the_step_and_term(mixture):
    class Exploding(CrossEntropy):
        def loss(self, model, batch, step):
            ce = super().loss(model, batch, step)
            bad = ce * (float("nan") if step == 3 else 1.0)
            return ce + bad, {"ce": ce, "bad_term": bad}

    with pytest.raises(FloatingPointError, match="step 3.*bad_term"):
        fit(MLP(2, 4), Exploding(), mixture, epochs=2, batch_size=64, progress=False)


def test_checkpoint_resume_gives_the_same_weights(mixture, tmp_path):
    common = dict(epochs=4, batch_size=64, lr=0.1, progress=False, seed=3, mixup_alpha=0.2)
    seed_everything(0)
    straight = MLP(2, 4, hidden=(32,))
    h_straight = fit(straight, CrossEntropy(), mixture, **common)
    half = h_straight.total_steps // 2

    class InterruptedAt(CrossEntropy):  # a kernel killed in the middle of epoch 3
        def loss(self, model, batch, step):
            if step == half + 1:
                raise KeyboardInterrupt
            return super().loss(model, batch, step)

    ck = tmp_path / "run.pt"
    seed_everything(0)
    with pytest.raises(KeyboardInterrupt):
        fit(MLP(2, 4, hidden=(32,)), InterruptedAt(), mixture, checkpoint=ck, **common)
    assert torch.load(ck, weights_only=True)["epoch"] == 1  # the last finished epoch
    assert not list(tmp_path.glob("*.tmp"))  # written atomically: no partial file
    seed_everything(123)  # a fresh process: other global state, same checkpoint
    resumed = MLP(2, 4, hidden=(32,))
    h_resumed = fit(resumed, CrossEntropy(), mixture, checkpoint=ck, **common)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert h_resumed.loss == pytest.approx(h_straight.loss)


def test_bad_arguments(mixture):
    with pytest.raises(ValueError, match="exactly one of epochs"):
        fit(MLP(2, 4), CrossEntropy(), mixture, epochs=1, steps=5, progress=False)
    with pytest.raises(ValueError, match="schedule"):
        fit(MLP(2, 4), CrossEntropy(), mixture, epochs=1, schedule="linear", progress=False)
    with pytest.raises(ValueError, match="unlabeled"):
        fit(MLP(2, 4), CrossEntropy(), mixture, epochs=1, unlabeled_ratio=2, progress=False)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        fit(MLP(2, 4), CrossEntropy(), mixture, epochs=0, progress=False)
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        fit(MLP(2, 4), CrossEntropy(), mixture, epochs=1, batch_size=1.5, progress=False)
    with pytest.raises(ValueError, match="optimizer must be one of 'sgd', 'adam'"):
        fit(MLP(2, 4), CrossEntropy(), mixture, epochs=1, optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="mixup_alpha must be >= 0"):
        fit(MLP(2, 4), CrossEntropy(), mixture, epochs=1, mixup_alpha=-0.1, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_device("auto").type in ("cpu", "cuda")


def test_forwarded_names_are_gone():
    """No forwards before the first release: ``ltlab.train.map_tasks`` (moved to
    `ltlab.experiments.process_pool`) is no longer importable from here."""
    import ltlab.train as train

    with pytest.raises(AttributeError, match="map_tasks"):
        train.map_tasks  # noqa: B018
    assert "Method" in train.__all__ and callable(train.fit)
