"""CIFAR-10-LT / CIFAR-100-LT: read torchvision's files with the LDAM-DRW protocol
(`cifar_lt`), and write files in the same format with random pixels (`write_fake_cifar`) so
the loader, a recipe and the trainer run end to end without the data."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validation import as_choice, as_fraction, as_int
from ..priors import long_tailed_counts
from .ltdata import LTData, take_per_class

__all__ = ["CIFAR_MEAN", "CIFAR_STD", "UnsafeFileError", "cifar_lt", "read_cifar_batch",
           "write_fake_cifar"]

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


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

    The files are pickles; they are read with `read_cifar_batch`, which admits only what
    the CIFAR format holds (dicts, lists, strings, numbers and numpy arrays) and refuses
    anything else (a pickle can run code), whatever ``verify`` says. ``verify=False`` skips
    the MD5 check of the files: files in the CIFAR format with other contents, such as the
    random-pixel ones of `write_fake_cifar`, then load.
    """
    from torchvision import datasets

    as_choice(num_classes, (10, 100), "num_classes")
    cls = datasets.CIFAR10 if num_classes == 10 else datasets.CIFAR100
    folder = Path(root) / cls.base_folder
    files = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    try:
        if download and not _intact(folder, files, verify=True):
            from torchvision.datasets.utils import download_and_extract_archive

            download_and_extract_archive(cls.url, str(root), filename=cls.filename,
                                         md5=cls.tgz_md5)
        if not _intact(folder, files, verify):
            raise RuntimeError("files missing" + (" or their MD5 differs" if verify else ""))
        train = [read_cifar_batch(folder / name) for name, _ in cls.train_list]
        test = [read_cifar_batch(folder / name) for name, _ in cls.test_list]
        classes = list(read_cifar_batch(folder / cls.meta["filename"])[cls.meta["key"]])
        train_x, train_y = _images_and_labels(train)
        test_x, test_y = _images_and_labels(test)
    except UnsafeFileError:
        raise
    except (RuntimeError, EOFError, KeyError, ValueError, OSError,
            pickle.UnpicklingError) as err:
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

    y = np.asarray(train_y, dtype=np.int64)
    n_max = 5000 if num_classes == 10 else 500
    counts = long_tailed_counts(num_classes, n_max, imbalance_ratio)
    rng = np.random.RandomState(seed)
    idx = np.concatenate(take_per_class(y, counts.tolist(), rng))
    yt = np.asarray(test_y, dtype=np.int64)
    return LTData(
        to_tensor(train_x[idx]), torch.as_tensor(y[idx]),
        to_tensor(test_x), torch.as_tensor(yt),
        counts, classes, name=f"cifar{num_classes}-lt(ir={imbalance_ratio})",
        indices={"train": idx.tolist(), "seed": [seed]},
    )


# ----------------------------------------------------------------------------- safe reading
class UnsafeFileError(ValueError):
    """A CIFAR file asks the unpickler for something the CIFAR format never holds."""


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _numpy_frombuffer():
    try:
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy < 2
        from numpy.core.numeric import _frombuffer
    return _frombuffer


#: the only globals a CIFAR batch needs: numpy's array reconstruction (both module paths:
#: numpy 1 writes ``numpy.core``, numpy 2 ``numpy._core``) and the bytes of protocol 2
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    # Python 3 writes bytes (an array's buffer) in protocol 2 as _codecs.encode(text, "latin1")
    ("_codecs", "encode"): lambda: __import__("codecs").encode,
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, lists, strings, numbers and numpy arrays only."""

    def __init__(self, handle, path: Path) -> None:
        super().__init__(handle, encoding="latin1")  # the originals are Python 2 pickles
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]()
        raise UnsafeFileError(
            f"{self.path} is not a CIFAR batch: it asks for {module}.{name}, and a CIFAR "
            "file holds only arrays, lists, strings and numbers. It was not loaded (a pickle "
            "can run code); replace it with the files of the official python-version archive.")

    def persistent_load(self, pid):
        raise UnsafeFileError(f"{self.path} is not a CIFAR batch (persistent id {pid!r}).")


def read_cifar_batch(path: str | os.PathLike) -> dict[str, Any]:
    """One CIFAR python-format file as a dict with ``str`` keys, read with an unpickler
    that refuses every global but numpy's array reconstruction (`UnsafeFileError`)."""
    path = Path(path)
    with open(path, "rb") as handle:
        obj = _CifarUnpickler(handle, path).load()
    if not isinstance(obj, dict):
        raise ValueError(f"{path} is not a CIFAR batch (a {type(obj).__name__}, not a dict).")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _intact(folder: Path, files: list, verify: bool) -> bool:
    from torchvision.datasets import cifar  # its check_integrity: the MD5 torchvision checks

    return all(cifar.check_integrity(str(folder / name), md5 if verify else None)
               for name, md5 in files)


def _images_and_labels(batches: list[dict[str, Any]]) -> tuple[np.ndarray, list[int]]:
    """Images as uint8 [N, 32, 32, 3] (HWC, as torchvision keeps them) and the labels."""
    data = np.vstack([np.asarray(b["data"], dtype=np.uint8) for b in batches])
    labels: list[int] = []
    for b in batches:
        labels.extend(b["labels"] if "labels" in b else b["fine_labels"])
    return data.reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1)), labels


# ----------------------------------------------------------------------------- fake CIFAR
_CIFAR_LAYOUT = {
    10: dict(folder="cifar-10-batches-py", meta="batches.meta", label_key="labels",
             names_key="label_names", per_class=5000, train_files=5),
    100: dict(folder="cifar-100-python", meta="meta", label_key="fine_labels",
              names_key="fine_label_names", per_class=500, train_files=1),
}


def write_fake_cifar(
    root: str | os.PathLike,
    num_classes: int = 100,
    train_counts: int | Sequence[int] | None = None,
    test_per_class: int = 100,
    signal: float = 0.5,
    seed: int = 0,
) -> Path:
    """Write CIFAR-10 or CIFAR-100 files in the official python-pickle format, with random
    pixels, under ``root`` (the folder `cifar_lt` and torchvision read).

    The layout is the archives': ``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` and
    ``batches.meta``, or ``cifar-100-python/train``, ``test`` and ``meta``; each file is a
    pickled dict with ``data`` (uint8 ``[N, 3072]``, channel-major 32x32 images), the
    labels (``labels``, or ``fine_labels`` and ``coarse_labels``), ``filenames`` and
    ``batch_label``. ``train_counts``: images per class (an int, or one count per class;
    None: the real 5,000 / 500). Pixels are uniform noise blended with a fixed random
    image per class (weight ``signal``), so a model can learn something. The MD5 sums
    differ from the real files': load them with ``cifar_lt(..., verify=False)``.
    Returns the data folder.
    """
    import numpy as np

    as_choice(num_classes, tuple(_CIFAR_LAYOUT), "num_classes")
    as_fraction(signal, "signal")
    as_int(test_per_class, "test_per_class", minimum=0)
    lay = _CIFAR_LAYOUT[num_classes]
    if train_counts is None:
        train_counts = lay["per_class"]
    counts = ([int(train_counts)] * num_classes if np.ndim(train_counts) == 0
              else [int(c) for c in train_counts])
    if len(counts) != num_classes or min(counts) < 0:
        raise ValueError(
            f"train_counts must be one int or {num_classes} non-negative counts "
            f"(got {len(counts)} values, min {min(counts) if counts else None}).")
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(num_classes, 3072), dtype=np.uint8)
    w = round(256 * signal)  # blend in 8-bit fixed point: (256 - w) * noise + w * template

    def images(labels: np.ndarray) -> np.ndarray:
        out = rng.integers(0, 256, size=(labels.size, 3072), dtype=np.uint8).astype(np.uint16)
        out *= 256 - w
        out += templates[labels].astype(np.uint16) * w
        return (out >> 8).astype(np.uint8)

    def split(n_per_class: Sequence[int]) -> np.ndarray:
        y = np.repeat(np.arange(num_classes), n_per_class)
        return y[rng.permutation(y.size)]

    folder = Path(root) / lay["folder"]
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, obj: dict) -> None:
        tmp = folder / (name + ".tmp")
        with open(tmp, "wb") as f:  # the originals are Python 2 pickles; readers load both
            pickle.dump(obj, f, protocol=4)
        os.replace(tmp, folder / name)

    def batch(y: np.ndarray, label: str) -> dict:
        d = {"batch_label": label, lay["label_key"]: y.tolist(), "data": images(y),
             "filenames": [f"fake_{i:06d}.png" for i in range(y.size)]}
        if num_classes == 100:
            d["coarse_labels"] = (y // 5).tolist()
        return d

    y_train = split(counts)
    if num_classes == 10:
        for k, part in enumerate(np.array_split(y_train, lay["train_files"])):
            dump(f"data_batch_{k + 1}", batch(part, f"training batch {k + 1} of 5"))
        dump("test_batch", batch(split([test_per_class] * 10), "testing batch 1 of 1"))
        dump(lay["meta"], {"label_names": [f"fake_{c}" for c in range(10)],
                           "num_cases_per_batch": 10000, "num_vis": 3072})
    else:
        dump("train", batch(y_train, "training batch 1 of 1"))
        dump("test", batch(split([test_per_class] * 100), "testing batch 1 of 1"))
        dump(lay["meta"], {"fine_label_names": [f"fake_{c:02d}" for c in range(100)],
                           "coarse_label_names": [f"fake_super_{c:02d}" for c in range(20)]})
    return folder
