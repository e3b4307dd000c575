"""Recipes (the papers' standard configurations), CIFAR-format files, and the trainer
guarantees the recipes rely on: same seed, same numbers; a resumed run ends where an
uninterrupted one does.

End-to-end runs use CIFAR files written in the real python-pickle format with random
pixels (`ltlab.data.write_fake_cifar`, the ``cifar_root`` fixture of ``tests/conftest.py``),
so `ltlab.data.cifar_lt`, the recipe and `ltlab.train.fit` all run as they would on the
real data, for one or two small steps.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ltlab import recipes
from ltlab.augment import image_standard, signal_weak
from ltlab.cli import main
from ltlab.data import LTData, digits_lt
from ltlab.models import MLP, ResNet32
from ltlab.priors import long_tailed_counts
from ltlab.recipes import RECIPES, get_recipe, run_recipe
from ltlab.recipes.run import _scaled_schedule
from ltlab.train import CrossEntropy, _lr_factor, fit, seed_everything


# ----------------------------------------------------------------------------- recipe data
def test_balpoe_recipes_hold_the_reference_configuration():
    for name, alpha in (("balpoe-cifar100-lt-ir100", 0.4), ("balpoe-cifar10-lt-ir100", 0.8)):
        r = get_recipe(name)
        assert r.model == dict(name="ResNet32", num_experts=3, cosine=True, scale=30.0)
        assert r.method == "ltlab.experts:BalPoEMethod"
        assert tuple(r.method_args["lambdas"]) == (1.0, 0.0, -1.0)  # tau_list 0, 1, 2
        t = r.train
        assert (t["epochs"], t["batch_size"], t["lr"], t["momentum"], t["nesterov"],
                t["weight_decay"]) == (200, 128, 0.1, 0.9, True, 5e-4)
        assert t["mixup_alpha"] == alpha
        assert r.augment == "image_standard"
        assert r.dataset["imbalance_ratio"] == 100


def test_balpoe_schedule_matches_the_reference_custom_lr():
    """After warmup, ltlab's per-step factor equals the reference's per-epoch CustomLR
    (x0.1 from epoch 160, x0.01 from 180); during warmup both rise to 1 over 5 epochs."""
    t = get_recipe("balpoe-cifar100-lt-ir100").train
    spe = 85  # ceil(10,847 / 128)
    total, warmup = t["epochs"] * spe, t["warmup_epochs"] * spe

    def reference(epoch):  # BalPoE utils/util.py learning_rate_scheduler, CustomLR
        lr = 0.01 if epoch >= 180 else 0.1 if epoch >= 160 else 1.0
        return lr * (1 + epoch) / 5 if epoch < 5 else lr

    for epoch in range(200):
        ours = [_lr_factor(epoch * spe + b, total, warmup, t["schedule"], spe,
                           t["milestones"], t["gamma"]) for b in range(spe)]
        if epoch >= 5:
            assert ours == pytest.approx([reference(epoch)] * spe)
        else:  # linear per step; the epoch's last step reaches the reference's value
            assert ours[-1] == pytest.approx(reference(epoch))
            assert all(a < b for a, b in zip(ours, ours[1:]))


def test_other_recipes_hold_their_papers_settings():
    la = get_recipe("la-loss-cifar100-lt-ir100")
    assert la.method == "ltlab.losses:LogitAdjustedLoss" and la.method_args == {"tau": 1.0}
    assert la.train["epochs"] == 1419 and la.train["milestones"] == (691, 1059, 1290)
    assert la.train["weight_decay"] == 2e-4 and la.reference["value"] == pytest.approx(0.4406)
    lda = get_recipe("lda-cifar100-lt-ir50")
    assert lda.dataset["imbalance_ratio"] == 50 and lda.train["gamma"] == 0.01
    assert lda.method_args["window"] == 100 and lda.reference["value"] == pytest.approx(0.481)
    # the 48.1 belongs to the paper's CIFAR setting (gamma 1, distance terms at 0.5), which
    # the recipe runs; the released config's gamma 2 without them is named as a deviation
    method = recipes.build_method(lda)
    assert method.balance.gamma == 1.0 and method.distance_factor == 0.5
    assert method.projection_kind == "linear"
    assert any("gamma = 2" in d and "released" in d for d in lda.deviations)
    flex = get_recipe("flexda-cifar100-lt-n150-m300-ir10")
    assert flex.dataset["ssl"]["labeled_max"] == 150 and flex.dataset["ssl"]["unlabeled_max"] == 300
    assert flex.train["schedule"] == "constant" and flex.train["lr"] == 0.03
    assert flex.train["unlabeled_ratio"] == 2 and flex.train["steps"] == 262_144


def test_adello_recipe_evaluates_the_ema_and_exempts_norm_and_bias_from_decay():
    """As the reference (USB's ema_m = 0.999 and bn_wd_skip): the evaluated model is the
    0.999 EMA of the weights, and 1-D parameters (biases, batch-norm) get no weight decay."""
    flex = get_recipe("flexda-cifar100-lt-n150-m300-ir10")
    method = recipes.build_method(flex)
    assert method.ema == 0.999 and flex.train["decay_norm_and_bias"] is False
    assert not any("EMA" in d for d in flex.deviations)

    class Zero:  # a loss with zero gradient: only weight decay moves the parameters
        def loss(self, model, batch, step):
            return 0.0 * model(batch.x).sum()

        def predict(self, model, x):
            return model(x)

    data = digits_lt(imbalance_ratio=1, max_count=10, seed=0)
    for exempt in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 8),
                                    torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 10))
        with torch.no_grad():
            model[2].bias.fill_(0.5)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        fit(model, Zero(), data, steps=1, batch_size=16, lr=0.1, momentum=0.0,
            weight_decay=0.1, decay_norm_and_bias=not exempt, schedule="constant",
            eval_every=10**9, device="cpu", progress=False)
        for n, p in model.named_parameters():
            shrunk = before[n] * (1 - 0.1 * 0.1)
            if p.dim() > 1 or not exempt:
                assert torch.allclose(p, shrunk, atol=1e-7), n
            else:
                assert torch.equal(p, before[n]), n


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_builds_its_model_and_method(name):
    r = get_recipe(name)
    model = recipes.build_model(r, r.dataset["num_classes"])
    assert model.num_experts == r.model.get("num_experts", 1)
    method = recipes.build_method(r)
    assert callable(method.loss) and callable(method.predict)
    assert r.reference["source"] and isinstance(r.deviations, tuple)
    assert name in recipes.RecipeResult(name, {}, r.reference, None).recipe
    assert name.split("-")[0] in r.describe().lower()


def test_unknown_recipe_is_a_clear_error_listing_them(capsys):
    with pytest.raises(ValueError, match="unknown recipe 'balpoe'.*balpoe-cifar100-lt-ir100"):
        get_recipe("balpoe")
    assert main(["train", "no-such-recipe"]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in RECIPES)


def test_train_list_prints_every_recipe_with_its_paper_number(capsys):
    assert main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in RECIPES)
    assert "52.0%" in out and "48.1%" in out and "44.1%" in out


def test_shortened_run_keeps_the_schedule_shape():
    t = _scaled_schedule(get_recipe("balpoe-cifar100-lt-ir100").train, 20)
    assert t["epochs"] == 20 and t["milestones"] == (16, 18)
    assert t["warmup_epochs"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow  # ~1 min: a ResNet-32 step per recipe on the CPU
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_trains_end_to_end_on_cifar_format_files(name, cifar_root):
    result = run_recipe(name, cifar_root, verify=False, device="cpu", steps=2, batch_size=8,
                        progress=False)
    assert result.history.total_steps == 2 and len(result.history.loss) == 1
    assert np.isfinite(result.history.loss[0])
    r = get_recipe(name)
    assert result.settings["train_size"] == (
        sum(long_tailed_counts(100, 150, 10).tolist()) if "ssl" in r.dataset
        else sum(long_tailed_counts(r.dataset["num_classes"],
                                    500 if r.dataset["num_classes"] == 100 else 5000,
                                    r.dataset["imbalance_ratio"]).tolist()))
    m = result.metrics
    assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["ece"] <= 1.0
    assert result.reference == r.reference
    assert name in result.summary()


def test_ltlab_train_command_runs_a_recipe_and_writes_json(cifar_root, tmp_path, capsys):
    out = tmp_path / "result.json"
    rc = main(["train", "la-loss-cifar10-lt-ir100", "--root", str(cifar_root), "--no-verify",
               "--steps", "1", "--batch-size", "8", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    saved = json.loads(out.read_text())
    assert saved["recipe"] == "la-loss-cifar10-lt-ir100" and saved["settings"]["steps"] == 1
    assert "paper: 77.9%" in capsys.readouterr().out


def test_train_command_reports_missing_files_and_missing_cuda(tmp_path, capsys):
    assert main(["train", "lda-cifar100-lt-ir50", "--root", str(tmp_path), "--device", "cpu",
                 "--steps", "1"]) == 1
    assert "not found" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            run_recipe("balpoe-cifar10-lt-ir100", tmp_path, device="cuda")


# ----------------------------------------------------------------------------- trainer
class _NoisyCrossEntropy(CrossEntropy):
    """CE on logits plus noise from the *global* generator: a method whose numbers depend
    on torch's global RNG state, which a resumed run must restore."""

    def loss(self, model, batch, step):
        logits = model(batch.x)
        logits = logits + 0.1 * torch.randn(logits.shape)
        return batch.mix_loss(lambda y: F.cross_entropy(logits, y))


class _Interrupted(Exception):
    pass


class _StopAt(_NoisyCrossEntropy):
    def __init__(self, stop_step):
        self.stop_step = stop_step

    def loss(self, model, batch, step):
        if step == self.stop_step:
            raise _Interrupted
        return super().loss(model, batch, step)


@pytest.fixture(scope="module")
def digits():
    return digits_lt(imbalance_ratio=10, max_count=120)


def _digits_run(data, method, seed=0, init_seed=0, **kw):
    seed_everything(init_seed)
    model = MLP(64, 10, hidden=(32,))
    kw = {"epochs": 4, "batch_size": 32, "lr": 0.05, "mixup_alpha": 0.4,
          "augment": signal_weak, "warmup_epochs": 1, "schedule": "cosine", **kw}
    history = fit(model, method, data, seed=seed, device="cpu", progress=False, **kw)
    return model, history


def test_same_seed_same_device_gives_the_same_numbers(digits):
    m1, h1 = _digits_run(digits, _NoisyCrossEntropy())
    m2, h2 = _digits_run(digits, _NoisyCrossEntropy())
    assert h1.loss == h2.loss and h1.metrics == h2.metrics
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(),
                                                 m2.state_dict().values()))
    _, h3 = _digits_run(digits, _NoisyCrossEntropy(), seed=1)  # the check can fail
    assert h3.loss != h1.loss


def test_same_seed_same_numbers_for_images_and_channels_last_changes_nothing():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 3, 8, 8, generator=g)
    y = torch.arange(48) % 4
    data = LTData(x, y, x[:8], y[:8], torch.bincount(y), ["a", "b", "c", "d"])
    runs = []
    for cl in (False, False, True):
        seed_everything(0)
        model = ResNet32(4, num_experts=2, cosine=True)
        h = fit(model, CrossEntropyExperts(), data, steps=3, batch_size=16, lr=0.05,
                mixup_alpha=0.4, augment=image_standard, device="cpu", progress=False,
                channels_last=cl)
        runs.append((h, [p.detach().clone() for p in model.parameters()]))
    (h1, p1), (h2, p2), (h3, p3) = runs
    assert h1.loss == h2.loss and all(torch.equal(a, b) for a, b in zip(p1, p2))
    # NHWC: same maths, other kernels. Tolerances from the spread measured on this toy run
    # (3 SGD steps of ResNet-32, 32 data seeds, torch.set_num_threads 1 and 2, NCHW vs
    # channels-last): the loss differed by up to 6.1e-3 relative and parameters by up to
    # 1.7e-2 absolute (training amplifies float noise: at data seed 0 it was 2.5e-4 and
    # 2.9e-3, the CI failure's 2.5e-4 against the old guess of 1e-4); margin x3.
    assert h3.loss == pytest.approx(h1.loss, rel=2e-2)
    assert all(torch.allclose(a, b, atol=5e-2) for a, b in zip(p1, p3))


def test_channels_last_forward_pass_is_the_same_function():
    """The tight check: one forward pass (no training to amplify the noise). Measured
    spread, 32 seeds x 1 and 2 threads: 1.0e-6 of the largest logit; tolerance 1e-5."""
    for seed in range(4):
        seed_everything(seed)
        model = ResNet32(4, num_experts=2, cosine=True).eval()
        x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            nchw = model(x)
            nhwc = model.to(memory_format=torch.channels_last)(
                x.to(memory_format=torch.channels_last))
        assert (nchw - nhwc).abs().max() <= 1e-5 * nchw.abs().max()
        assert not torch.equal(nchw, torch.zeros_like(nchw))


class CrossEntropyExperts(CrossEntropy):
    """Mean CE over the experts of an [E, N, C] model (a minimal multi-expert method)."""

    def loss(self, model, batch, step):
        z = model(batch.x)
        return batch.mix_loss(lambda yy: sum(F.cross_entropy(e, yy) for e in z) / len(z))

    def predict(self, model, x):
        return model(x).mean(0)


def test_interrupted_run_resumes_from_its_checkpoint_to_the_same_weights(digits, tmp_path):
    full_model, full = _digits_run(digits, _NoisyCrossEntropy())
    steps_per_epoch = full.total_steps // 4
    ckpt = tmp_path / "run.pt"
    with pytest.raises(_Interrupted):  # dies in the middle of the third epoch
        _digits_run(digits, _StopAt(2 * steps_per_epoch + 3), checkpoint=ckpt)
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 1 and state["step"] == 2 * steps_per_epoch
    # restart with a differently initialised model: everything comes from the checkpoint
    model, resumed = _digits_run(digits, _NoisyCrossEntropy(), init_seed=123, checkpoint=ckpt)
    assert resumed.epoch == full.epoch and resumed.loss == full.loss
    assert resumed.metrics == full.metrics
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 full_model.state_dict().values()))
    # a finished run's checkpoint resumes to the same end without training again
    again_model, again = _digits_run(digits, _NoisyCrossEntropy(), init_seed=7, checkpoint=ckpt)
    assert again.loss == full.loss
    assert all(torch.equal(a, b) for a, b in zip(again_model.state_dict().values(),
                                                 full_model.state_dict().values()))
