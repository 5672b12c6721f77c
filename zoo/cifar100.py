"""``--dataset cifar100``: CIFAR-100 in its standard python-pickle layout, the user's own copy.

Read from ``cifar-100-python/{train,test,meta}`` (torchvision's extracted layout) or
``cifar-100-python.tar.gz`` (paddle's cache, ``~/.cache/paddle/dataset/cifar``), in
``--data-dir`` or else ``./data`` and paddle's cache. The 100 fine labels are the classes,
named and ordered as the ``meta`` file's ``fine_label_names``. Nothing is downloaded.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data import Dataset, DatasetError, _cifar_dirs, cifar_blobs, standardise

ARCHIVE = "cifar-100-python.tar.gz"
FILES = ("train", "test", "meta")
NUM_CLASSES = 100


def _unpickle(blob: bytes, where: str) -> dict[bytes, Any]:
    try:
        obj = pickle.loads(blob, encoding="bytes")
    except Exception as e:  # a corrupt pickle can raise almost anything
        raise DatasetError(f"{where}: not a CIFAR-100 python pickle: {type(e).__name__}: {e}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: holds a {type(obj).__name__}, not a CIFAR-100 dict")
    return obj


def read_split(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N, 3, 32, 32] images and int64 fine labels of the ``train`` or ``test`` file."""
    d = _unpickle(blob, where)
    if b"data" not in d or b"fine_labels" not in d:
        raise DatasetError(f"{where}: expected the keys data and fine_labels, found {sorted(k.decode() for k in d)}")
    x = np.asarray(d[b"data"], dtype=np.uint8)
    y = np.asarray(d[b"fine_labels"], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(x) != len(y):
        raise DatasetError(f"{where}: expected data [N, 3072] and N labels, got {list(x.shape)} and {len(y)}")
    if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DatasetError(f"{where}: fine labels outside 0..{NUM_CLASSES - 1}")
    return x.reshape(-1, 3, 32, 32), y


def read_classes(blob: bytes, where: str) -> tuple[str, ...]:
    names = _unpickle(blob, where).get(b"fine_label_names")
    if not isinstance(names, list) or len(names) != NUM_CLASSES:
        raise DatasetError(f"{where}: expected {NUM_CLASSES} fine_label_names")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def load_cifar100(data_dir: Path | None = None) -> Dataset:
    """CIFAR-100, 50,000 / 10,000, standardised with the training split's statistics."""
    blobs, source = cifar_blobs("cifar100", FILES, ARCHIVE, _cifar_dirs(data_dir, "cifar-100-python"))
    x_train, y_train = read_split(blobs["train"], f"{source}/train")
    x_test, y_test = read_split(blobs["test"], f"{source}/test")
    classes = read_classes(blobs["meta"], f"{source}/meta")
    return standardise("cifar100", x_train, y_train, x_test, y_test, classes, source=source, scale=1 / 255)
