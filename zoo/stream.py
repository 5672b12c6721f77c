"""Numpy batches made ahead of the training loop by background threads: the streaming path.

A batch is made by gathering its rows (from arrays in memory, or decoding them from disk for
a streamed ``folder``), resizing them to the network's input, casting them to the run's dtype
and augmenting them (``zoo.augment``). ``prefetch`` runs that on a small thread pool while
the loop trains on the previous batches: numpy's copies and Pillow's decoding release the
GIL, so the two overlap. The batches are identical in both frameworks, framework-free.

Data that fits in memory, resized, with no augmentation, skips all of this: the scripts hold
it as device tensors and slice batches from them (``Loader.in_memory``).
"""
from __future__ import annotations

import collections
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from zoo.augment import Augment

T = TypeVar("T")
DISK_WORKERS = 8  # decoding threads for a folder read from disk
AHEAD = 2  # batches made ahead of the one being trained on, per worker


def prefetch(make: Callable[[int], T], n: int, workers: int = 1, ahead: int = AHEAD) -> Iterator[T]:
    """``make(0)``, ..., ``make(n - 1)`` in order, computed by ``workers`` threads up to
    ``workers * ahead`` items ahead of the consumer. An exception in ``make`` is raised here, at its
    item; leaving the loop early cancels what was not started and waits for what was."""
    pending: collections.deque[Future] = collections.deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoo-stream") as pool:
        try:
            for i in range(n):
                pending.append(pool.submit(make, i))
                if len(pending) > workers * ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


def positions(batch_size: int, rank: int, world: int) -> np.ndarray:
    """Where this process's shard (``training.shard``) sits in its global batch."""
    return np.array_split(np.arange(batch_size), world)[rank]


class Loader:
    """One run's data: train/test inputs (arrays, or a folder read from disk), labels, and how a batch is made.

    ``in_memory``: the inputs are already resized arrays in the run's dtype and no augmentation
    applies, so the scripts may hold them as tensors and slice batches themselves.
    """

    def __init__(self, x_train: Any, y_train: np.ndarray, x_test: Any, y_test: np.ndarray,
                 transform: Callable[[np.ndarray], np.ndarray] | None, augment: Augment | None, seed: int,
                 from_disk: bool) -> None:
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self.transform, self.augment, self.seed = transform, augment, seed
        self.workers = min(DISK_WORKERS, os.cpu_count() or 1) if from_disk else 1

    @property
    def in_memory(self) -> bool:
        return self.transform is None and self.augment is None and isinstance(self.x_train, np.ndarray)

    def _inputs(self, x: Any, rows: np.ndarray | slice) -> np.ndarray:
        out = x[rows]
        return self.transform(out) if self.transform is not None else np.array(out)

    def train_batch(self, batch: np.ndarray, rows: np.ndarray, epoch: int, step: int, rank: int = 0,
                    world: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """This process's inputs and labels of global batch number ``step`` of ``epoch``."""
        x = self._inputs(self.x_train, rows)
        if self.augment is not None:
            x = self.augment(x, (self.seed, epoch, step), positions(len(batch), rank, world), len(batch))
        return x, self.y_train[rows]

    def train_batches(self, batches: Sequence[np.ndarray], shards: Sequence[np.ndarray], epoch: int, rank: int = 0,
                      world: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The epoch's training batches (``shards`` are this process's rows of ``batches``), made ahead."""
        return prefetch(lambda i: self.train_batch(batches[i], shards[i], epoch, i, rank, world), len(batches),
                        self.workers)

    def test_batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        starts = range(0, len(self.y_test), batch_size)
        return prefetch(lambda i: (self._inputs(self.x_test, slice(starts[i], starts[i] + batch_size)),
                                   self.y_test[starts[i]:starts[i] + batch_size]), len(starts), self.workers)
