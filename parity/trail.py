"""torch's weights kept on disk while a comparison runs: each optimizer step's, and the initial ones.

The step checks (parity/steps.py) run torch's K steps first and write, after each step,
torch's weights and BatchNorm statistics (and, in float32, the gradients paddle will step
on) to one file per step; paddle then runs its K steps and is compared, step by step, with
what the files hold. Run in lockstep, both sides' weights, gradients and optimizer moments
were alive together: eight copies of the model in an Adam check, plus the initial weights
kept for the next check, which took float64 VGG-19-BN's case to 11.0 GB. One side at a
time, and with the initial weights (which every check starts from) in a file as well
(parity/compare.py), it is five; the trail itself is in the page cache, which the kernel can
write out, and a file is read back one tensor at a time through a memory map.

The files live in a fresh folder ``parity-trail-PID-*`` in the temporary directory, removed
when the check or comparison ends; a folder left by a killed process is removed by the
next trail made.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from zoo.files import WriteError, alive, reason

PREFIX = "parity-trail-"


def remove_stale(folder: str | os.PathLike | None = None) -> list[Path]:
    """Delete the trail folders of processes that no longer exist; returns what was removed."""
    folder = Path(folder or tempfile.gettempdir())
    removed = []
    for entry in folder.glob(PREFIX + "*"):
        pid = entry.name[len(PREFIX):].split("-", 1)[0]
        if entry.is_dir() and pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


class Trail:
    """Named tensors per (kind, step) in files, read back as read-only tensors on a memory map.

    Use as a context manager: the folder and its files go when the block ends, however it ends."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        remove_stale(folder)
        parent = Path(folder or tempfile.gettempdir())
        try:
            self.folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
        except OSError as exc:
            raise WriteError(parent, f"the checks keep torch's weights there: {reason(exc)}", exc.errno) from exc
        # (kind, step) -> name -> (byte offset, dtype, shape)
        self.index: dict[tuple[str, int], dict[str, tuple[int, np.dtype, tuple[int, ...]]]] = {}

    def __enter__(self) -> "Trail":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _path(self, kind: str, step: int) -> Path:
        return self.folder / f"{kind}-{step}.bin"

    def write(self, kind: str, step: int, tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Write the tensors, in their own dtype and logical (row-major) order, as one file."""
        path, entries, offset = self._path(kind, step), {}, 0
        try:
            with open(path, "wb") as f:
                for name, t in tensors:
                    arr = t.detach().contiguous().numpy()  # no copy for the usual contiguous tensor
                    arr.tofile(f)
                    entries[name] = (offset, arr.dtype, arr.shape)
                    offset += arr.nbytes
        except OSError as exc:
            raise WriteError(path, f"torch's step {step} could not be kept for the step check: {reason(exc)}",
                             exc.errno) from exc
        self.index[(kind, step)] = entries

    def names(self, kind: str, step: int) -> set[str]:
        return set(self.index.get((kind, step), {}))

    def read(self, kind: str, step: int, name: str) -> torch.Tensor:
        """One tensor, read-only, on a memory map of the file: its pages are only read when
        used, and leave the process's memory when the tensor is dropped."""
        offset, dtype, shape = self.index[(kind, step)][name]
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            return torch.from_numpy(np.empty(shape, dtype=dtype))
        arr = np.memmap(self._path(kind, step), dtype=dtype, mode="r", offset=offset, shape=(count,)).reshape(shape)
        with warnings.catch_warnings():  # torch warns that the array is read-only; it is only read
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(arr)

    def drop(self, kind: str, step: int) -> None:
        """Forget a step once it has been compared (its pages leave the page cache too)."""
        self.index.pop((kind, step), None)
        self._path(kind, step).unlink(missing_ok=True)
