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

The files are the process's, in one folder ``parity-trail-PID-*`` in the temporary
directory, and each is rewritten in place by the next trail that needs a file: a trail
hands its files back when it drops a step or ends, and the folder goes when the process
ends (``remove_own``; ``parity.run.leave`` calls it too, since it skips the interpreter's
exit handlers). A folder left by a killed process is removed by the next trail made.

Why rewrite rather than delete and write anew: a page that the kernel frees is soon
handed back to the hypervisor on the 2-core machine (free page reporting, visible in
``/sys/module/page_reporting``), and touching it again costs 1-2 s per GB in page faults,
where a page the process keeps costs nothing to reuse. Measured 2026-12-06, taking turns
with the tree before (fea4832), two rounds each, nothing else running:
``python -m parity vgg16 vgg11 --dims 2 --dtype float32 --parity-only --no-onnx --jobs 1``
74.6 and 81.6 s before, 65.9 and 72.8 s after (1.13x, 1.12x; kernel time 38-42 s -> 30-31 s);
``vgg11 resnet50 --dims 2 --parity-only --no-onnx --jobs 1`` 1.07x, 1.04x;
``vgg11 vgg13 --dims 2 --parity-only`` (2 workers, ONNX) 211.9 and 217.0 s -> 199.9 and
209.8 s (1.06x, 1.03x). Against that, ``benchmarks/parity_speed.py vgg11 resnet50 --dims 2
--no-cli`` (each family's cases in one process at 2 threads) gave 0.90x and 0.86x, the
float32 VGG case's ONNX export slower (9.6 -> 14.6 s): the files kept are dirty, and the
kernel writes them out while the exporters write theirs. A small gain where users run it.
The price is disk (and page cache the kernel can reclaim) that stays in use until the
process ends: the most that the process's trails hold at once, 3.4 GB for a float64 VGG-19
(the initial weights and the first two steps' states; 4.6 GB until 2026-12-07, when the
last step's state began to be read from torch's model, which holds it anyway). Since that
evening a comparison also keeps step 1's gradients for its later step checks to replay
(parity/first_step.py): one set per side in float64 where recomputing them costs more than
the write (not VGG's), torch's in float32 (which it wrote for paddle before). A float32 step
check that fails at step 1 keeps all its files until its verdict, for the rejudge to replay
torch's run from (parity/steps.py, ``KEEP_FOR_REJUDGE_MAX_BYTES``): 2 x K steps x the weights.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings
import weakref
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


class _Files:
    """The process's trail files in one folder under ``parent``: taken by a trail, given back,
    and rewritten by the next taker."""

    def __init__(self, parent: Path) -> None:
        try:
            self.folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
        except OSError as exc:
            raise WriteError(parent, f"the checks keep torch's weights there: {reason(exc)}", exc.errno) from exc
        self.pid = os.getpid()  # a forked child makes its own (it inherits this object, not the files)
        self.free: list[Path] = []
        self.made = 0
        # the memory maps read from each file: a file is rewritten only once none is left, so
        # that a tensor read earlier can never change under its holder
        self.maps: dict[Path, list[weakref.ref]] = {}

    def take(self) -> Path:
        """The largest free file no map still reads (its pages are reused the most), or a new name."""
        for path in self.free:
            self.maps[path] = [ref for ref in self.maps.get(path, []) if ref() is not None]
        usable = [path for path in self.free if not self.maps[path]]
        if not usable:
            self.made += 1
            return self.folder / f"{self.made}.bin"
        path = max(usable, key=lambda p: p.stat().st_size if p.exists() else -1)
        self.free.remove(path)
        return path

    def give_back(self, path: Path) -> None:
        self.free.append(path)


_FILES: dict[Path, _Files] = {}


def _files(parent: Path) -> _Files:
    files = _FILES.get(parent)
    if files is None or files.pid != os.getpid() or not files.folder.is_dir():
        files = _FILES[parent] = _Files(parent)
    return files


def remove_own() -> None:
    """Delete this process's trail folders (at exit; a killed process's go with the next trail)."""
    for files in _FILES.values():
        if files.pid == os.getpid():
            shutil.rmtree(files.folder, ignore_errors=True)
    _FILES.clear()


atexit.register(remove_own)


class Trail:
    """Named tensors per (kind, step) in files, read back as read-only tensors on a memory map.

    Use as a context manager: the trail's files are handed back when the block ends, however
    it ends, for the next trail of this process to rewrite."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        remove_stale(folder)
        self._files = _files(Path(folder or tempfile.gettempdir()))
        self.folder = self._files.folder
        # (kind, step) -> the file, and name -> (byte offset, dtype, shape) in it
        self.paths: dict[tuple[str, int], Path] = {}
        self.index: dict[tuple[str, int], dict[str, tuple[int, np.dtype, tuple[int, ...]]]] = {}

    def __enter__(self) -> "Trail":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for key in list(self.paths):
            self.drop(*key)

    def write(self, kind: str, step: int, tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Write the tensors, in their own dtype and logical (row-major) order, as one file.

        The file is one the process had (rewritten from its start, its old tail left and never
        read) or a new one."""
        self.drop(kind, step)
        path, entries, offset = self._files.take(), {}, 0
        try:
            with open(path, "r+b" if path.exists() else "wb") as f:
                for name, t in tensors:
                    arr = t.detach().contiguous().numpy()  # no copy for the usual contiguous tensor
                    arr.tofile(f)
                    entries[name] = (offset, arr.dtype, arr.shape)
                    offset += arr.nbytes
        except OSError as exc:
            self._files.give_back(path)
            raise WriteError(path, f"torch's step {step} could not be kept for the step check: {reason(exc)}",
                             exc.errno) from exc
        self.paths[(kind, step)] = path
        self.index[(kind, step)] = entries

    def names(self, kind: str, step: int) -> set[str]:
        return set(self.index.get((kind, step), {}))

    def read(self, kind: str, step: int, name: str, writable: bool = False) -> torch.Tensor:
        """One tensor, read-only, on a memory map of the file: its pages are only read when
        used, and leave the process's memory when the tensor is dropped.

        ``writable`` maps it copy-on-write instead: a page written to becomes the process's
        own and the file never changes, for a tensor handed to code that might write (an
        optimizer's gradient). A page only read is still the page cache's, with no fresh
        memory to touch."""
        offset, dtype, shape = self.index[(kind, step)][name]
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            return torch.from_numpy(np.empty(shape, dtype=dtype))
        path = self.paths[(kind, step)]
        mapped = np.memmap(path, dtype=dtype, mode="c" if writable else "r", offset=offset, shape=(count,))
        self._files.maps.setdefault(path, []).append(weakref.ref(mapped))
        with warnings.catch_warnings():  # torch warns that the array is read-only; it is only read
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(mapped.reshape(shape))

    def drop(self, kind: str, step: int) -> None:
        """Forget a step once it has been compared; its file goes back to the process's files."""
        self.index.pop((kind, step), None)
        path = self.paths.pop((kind, step), None)
        if path is not None:
            self._files.give_back(path)
