"""`fit`'s checkpoints: they carry their settings, a mismatch or a damaged file is refused
with the file named, and they are written atomically (issue 25)."""

import os

import pytest
import torch

import ltlab._fit_checkpoint as steps
from ltlab.data import GaussianMixtureLT
from ltlab.losses import LogitAdjustedLoss
from ltlab.models import MLP
from ltlab.train import CrossEntropy, fit, seed_everything

COMMON = dict(epochs=2, batch_size=32, lr=0.1, seed=3, progress=False, device="cpu")


@pytest.fixture(scope="module")
def mixture():
    gm = GaussianMixtureLT(num_classes=4, imbalance_ratio=5, max_count=60, radius=3.0, seed=0)
    return gm.dataset(test_per_class=10)


@pytest.fixture()
def finished(mixture, tmp_path):
    ck = tmp_path / "run.pt"
    seed_everything(0)
    model = MLP(2, 4, hidden=(16,))
    fit(model, CrossEntropy(), mixture, checkpoint=ck, **COMMON)
    return ck, model


def test_checkpoint_carries_the_settings_that_made_it(finished, mixture):
    ck, _ = finished
    s = torch.load(ck, weights_only=True)["settings"]
    assert (s["lr"], s["seed"], s["epochs"], s["batch_size"]) == (0.1, 3, 2, 32)
    assert s["method"][0] == "ltlab.train.CrossEntropy" and s["model"][0] == "ltlab.models.MLP"
    assert s["train_size"] == mixture.x_train.shape[0] and s["num_classes"] == 4


@pytest.mark.parametrize("change, named", [
    (dict(lr=0.05), "lr 0.1 (this call 0.05)"),
    (dict(seed=4), "seed 3 (this call 4)"),
    (dict(epochs=3), "epochs 2 (this call 3)"),
    (dict(batch_size=16), "batch_size 32 (this call 16)"),
    (dict(mixup_alpha=0.2), "mixup_alpha"),
])
def test_resuming_with_other_settings_is_refused(finished, mixture, change, named):
    ck, _ = finished
    seed_everything(1)
    model = MLP(2, 4, hidden=(16,))
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="other settings") as err:
        fit(model, CrossEntropy(), mixture, checkpoint=ck, **dict(COMMON, **change))
    msg = str(err.value)
    assert named in msg and str(ck) in msg and "delete" in msg and "another checkpoint" in msg
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # untouched


def test_resuming_with_another_method_or_model_class_is_refused(finished, mixture):
    ck, _ = finished
    with pytest.raises(ValueError, match=r"method ltlab.train.CrossEntropy \(this call "
                                         r"ltlab.losses.LogitAdjustedLoss\)"):
        fit(MLP(2, 4, hidden=(16,)), LogitAdjustedLoss(), mixture, checkpoint=ck, **COMMON)


def test_same_settings_resume_a_finished_run_without_training(finished, mixture):
    ck, model = finished
    seed_everything(5)
    again = MLP(2, 4, hidden=(16,))
    fit(again, CrossEntropy(), mixture, checkpoint=ck, **COMMON)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))


def test_another_models_checkpoint_names_the_file_and_the_shapes(finished, mixture):
    ck, _ = finished
    wider = MLP(2, 4, hidden=(32,))  # same class, other sizes
    before = [p.clone() for p in wider.parameters()]
    with pytest.raises(ValueError, match=r"holds another model \(MLP\).*\(16, 2\) in the file, "
                                         r"\(32, 2\) here") as err:
        fit(wider, CrossEntropy(), mixture, checkpoint=ck, **COMMON)
    assert str(ck) in str(err.value)
    assert all(torch.equal(a, b) for a, b in zip(before, wider.parameters()))  # nothing loaded


@pytest.mark.parametrize("damage", ["random", "truncated", "empty", "not_a_dict"])
def test_damaged_checkpoint_is_a_clear_error_naming_the_file(finished, mixture, damage):
    ck, _ = finished
    data = ck.read_bytes()
    if damage == "random":
        ck.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        ck.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        ck.write_bytes(b"")
    else:
        torch.save({"weights": torch.zeros(3)}, ck)
    with pytest.raises(ValueError, match="checkpoint") as err:
        fit(MLP(2, 4, hidden=(16,)), CrossEntropy(), mixture, checkpoint=ck, **COMMON)
    msg = str(err.value)
    assert str(ck) in msg and "delete" in msg
    assert ("cannot be read" in msg) or ("not an ltlab.train.fit checkpoint" in msg)


def test_checkpoint_path_is_checked_before_training(mixture, tmp_path):
    with pytest.raises(ValueError, match="checkpoint=.*does not exist"):
        fit(MLP(2, 4), CrossEntropy(), mixture, checkpoint=tmp_path / "no" / "run.pt", **COMMON)
    with pytest.raises(ValueError, match="checkpoint=.*is a folder"):
        fit(MLP(2, 4), CrossEntropy(), mixture, checkpoint=tmp_path, **COMMON)


def test_checkpoint_is_written_atomically(finished, mixture, monkeypatch):
    """A save that dies half-way leaves the previous checkpoint intact and no temporary file;
    the file is only ever replaced by os.replace of a complete temporary file."""
    ck, _ = finished
    good = ck.read_bytes()
    replaced = []
    real_replace = os.replace

    def spy_replace(src, dst):
        replaced.append((str(src), str(dst), os.path.getsize(src)))
        real_replace(src, dst)

    def dying_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(steps.os, "replace", spy_replace)
    steps.save_atomic({"x": torch.ones(2)}, ck)
    assert replaced and replaced[0][1] == str(ck) and replaced[0][0] != str(ck)
    assert os.path.dirname(replaced[0][0]) == str(ck.parent)  # same file system
    assert torch.equal(torch.load(ck, weights_only=True)["x"], torch.ones(2))
    ck.write_bytes(good)
    monkeypatch.setattr(steps.torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        steps.save_atomic({"x": torch.zeros(2)}, ck)
    assert ck.read_bytes() == good
    assert [p.name for p in ck.parent.iterdir()] == [ck.name]  # no temporary file left


def test_old_checkpoints_without_settings_resume_with_a_warning(finished, mixture):
    ck, model = finished
    state = torch.load(ck, weights_only=True)
    del state["settings"]
    torch.save(state, ck)
    again = MLP(2, 4, hidden=(16,))
    with pytest.warns(UserWarning, match="before checkpoints carried their settings"):
        fit(again, CrossEntropy(), mixture, checkpoint=ck, **COMMON)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
