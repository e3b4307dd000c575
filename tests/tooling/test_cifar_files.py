"""CIFAR files are pickles: `ltlab.data.cifar_lt` reads them with an unpickler that admits
only what the CIFAR format holds, whatever ``verify`` says (``ltlab train --no-verify``)."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from ltlab.data import cifar_lt, write_fake_cifar
from ltlab.data.cifar import UnsafeFileError, read_cifar_batch


class _Payload:
    """What an attacker's file does: call os.system when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_does_not_run(tmp_path):
    root = tmp_path / "data"
    folder = write_fake_cifar(root, num_classes=10, train_counts=2, test_per_class=1)
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({"data": _Payload(marker), "labels": [0]}, f, protocol=2)
    with pytest.raises(UnsafeFileError, match=r"data_batch_3 is not a CIFAR batch: it asks "
                                              r"for (posix|os|nt)\.system"):
        cifar_lt(root, num_classes=10, verify=False)
    assert not marker.exists(), "the payload ran"
    with pytest.raises(UnsafeFileError, match="data_batch_3"):
        read_cifar_batch(folder / "data_batch_3")
    assert not marker.exists()


def test_other_globals_are_refused_too(tmp_path):
    path = tmp_path / "batch"
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros(3), "x": torch.zeros(1)}, f)  # torch's rebuild global
    with pytest.raises(UnsafeFileError, match=f"{path} is not a CIFAR batch: it asks for torch"):
        read_cifar_batch(path)


def test_a_batch_written_the_way_cifar_writes_it_loads(tmp_path):
    """bytes keys, a uint8 array and a list of labels, pickle protocol 2 (as the archive's
    Python 2 files, read with the latin1 encoding)."""
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"training batch 1 of 5", b"data": data,
                     b"labels": [3, 7], b"filenames": [b"a.png", b"b.png"]}, f, protocol=2)
    batch = read_cifar_batch(path)
    assert batch["labels"] == [3, 7] and batch["data"].dtype == np.uint8
    assert np.array_equal(batch["data"], data)


def test_the_safe_reader_gives_torchvisions_arrays(tmp_path):
    """Numbers do not change: the same images, labels and classes as torchvision's loader."""
    from torchvision import datasets

    from ltlab.priors import long_tailed_counts

    root = tmp_path / "data"
    write_fake_cifar(root, num_classes=10, train_counts=long_tailed_counts(10, 5000, 100).tolist(),
                     test_per_class=2)
    ours = cifar_lt(root, num_classes=10, imbalance_ratio=100, verify=False)
    cls = type("C", (datasets.CIFAR10,), {
        "train_list": [[f, None] for f, _ in datasets.CIFAR10.train_list],
        "test_list": [[f, None] for f, _ in datasets.CIFAR10.test_list],
        "meta": {**datasets.CIFAR10.meta, "md5": None}})
    train, test = cls(str(root), train=True), cls(str(root), train=False)
    assert ours.classes == list(train.classes)
    mean = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
    std = torch.tensor((0.2023, 0.1994, 0.2010)).view(1, 3, 1, 1)

    def norm(images):
        return (torch.as_tensor(images).permute(0, 3, 1, 2).float().div_(255.0) - mean) / std

    assert torch.equal(ours.x_test, norm(test.data))
    assert ours.y_test.tolist() == list(test.targets)
    idx = ours.indices["train"]
    assert torch.equal(ours.x_train, norm(train.data[idx]))
    assert ours.y_train.tolist() == [train.targets[i] for i in idx]


def test_missing_files_say_where_they_were_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"root={str(tmp_path)!r}"):
        cifar_lt(tmp_path, num_classes=10)
