"""Large tensors on transparent huge pages: the checks of a big model spend far less time in page faults.

A check allocates, fills and frees tensors of hundreds of MB over and over: the transposed
copy of VGG's 25088x4096 classifier weight, Adam's temporaries, paddle's gradients, each
optimizer step's fresh state dict. glibc maps every such block afresh, and the kernel faults
it in 4 KiB at a time. Where the kernel lets a process ask for 2 MiB pages
(``/sys/kernel/mm/transparent_hugepage/enabled`` is ``madvise`` or ``always``), two
switches ask:

- ``THP_MEM_ALLOC_ENABLE=1``: torch's CPU allocator advises huge pages for its blocks of
  2 MiB and more. torch reads it when it allocates, so setting it here takes effect in
  this process.
- ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc 2.35 and later): malloc does the same
  for every block, paddle's tensors included. glibc reads it when a process starts, so it
  reaches the processes started after ``enable()``: ``--jobs`` workers, pytest-xdist
  workers, and ``python -m parity`` itself, which starts over once with it (``restart_argv``).

Only the harness's entry points switch them on (``python -m parity``, where a target is
registry-heavy or for a sub-command, see ``parity.__main__.needs_huge_pages``; and
``tests/conftest.py``):
``import parity`` in a user's script leaves that process and its children as they were.

Measured on 2026-12-04 on the 2-core machine (THP ``madvise``), with vgg11 2D float64 parity
and no ONNX, ``--jobs 1``, four settings taking turns for two rounds: neither 72 s and
69 s; torch's alone 55 s and 61 s; glibc's alone 49 s and 47 s; both 43.8 s and 43.9 s.
Peak RSS was 12.8-12.9 GB in all four. Where the kernel says ``never``, both are no-ops.

Tried and left out, 2026-12-05: keeping freed memory in the heap (``glibc.malloc.mmap_max=0``
and a 1 TiB ``trim_threshold``), so that a freed block is reused without page faults. While
the step checks ran torch's per-tensor Adam it helped (vgg11 2D float64 parity 81 -> 51 s);
once they ran the fused kernels, which make no whole-tensor temporaries, it lost, two rounds
in turn: 54.8 and 53.8 s against 47.9 and 42.2 s with ``hugetlb`` alone, peak RSS 14.0-15.6
GB against 14.0 GB (a freed block is reused only where the next one fits).
Tried and left out, 2026-12-07: jemalloc (Debian's libjemalloc2, LD_PRELOAD) in place of
glibc's malloc, one process per case in turn, one thread. Keeping freed memory
(``MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1,thp:always``) took vgg16 2D float64 parity
from 54.3 and 53.3 s to 41.9 and 40.3 s (system time 24 -> 10 s), peak 6.25 -> 7.14 GB; but
the same setting took vgg16 2D float32 from 17.9 to 24.0 s (system time 3.8 -> 9.1 s), left
resnet50 2D float64 within the machine's drift (17.4-20.3 s against 17.8-20.7 s), and
without ``thp:always`` gained nothing on vgg16 float64 (52.7 s). No setting won everywhere.
``ZOO_HUGEPAGES=0`` in the environment leaves both unset.
"""
from __future__ import annotations

import ctypes
import gc
import os
import sys
from typing import MutableMapping

TORCH_SWITCH = "THP_MEM_ALLOC_ENABLE"
GLIBC_TUNABLE = "glibc.malloc.hugetlb=1"
_MARK = "ZOO_HUGEPAGES_RESTARTED"  # set before the one restart, so that there is never a second


def wanted(environ: MutableMapping[str, str] = os.environ) -> bool:
    """False where ZOO_HUGEPAGES=0 opts out."""
    return environ.get("ZOO_HUGEPAGES", "1") != "0"


def _glibc_version() -> tuple[int, int] | None:
    """(major, minor) of the C library where it is glibc; None elsewhere (macOS, musl)."""
    try:
        name, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").split()
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else None
    except (AttributeError, ValueError, OSError):
        return None


def glibc_has_tunable() -> bool:
    """True where malloc is glibc 2.35 or later, which knows ``glibc.malloc.hugetlb``."""
    version = _glibc_version()
    return version is not None and version >= (2, 35)


def enable(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set both switches in ``environ``, keeping what the user set (a user's
    THP_MEM_ALLOC_ENABLE or glibc.malloc.hugetlb value wins; other GLIBC_TUNABLES entries
    stay). Returns whether the glibc tunable was added, that is, whether this process
    started without it.

    Only the harness's own entry points call this (``python -m parity``, the tests): a
    script that imports ``parity`` keeps its process and its children as they are."""
    if not wanted(environ):
        return False
    environ.setdefault(TORCH_SWITCH, "1")
    tunables = environ.get("GLIBC_TUNABLES", "")
    if not glibc_has_tunable() or "glibc.malloc.hugetlb=" in tunables:
        return False
    environ["GLIBC_TUNABLES"] = f"{tunables}:{GLIBC_TUNABLE}" if tunables else GLIBC_TUNABLE
    return True


def restart_argv(added: bool, environ: MutableMapping[str, str] = os.environ) -> list[str] | None:
    """The command line to start this process over with, so that glibc reads the tunable that
    ``enable`` just ``added``; None when there is nothing to gain or it was done once."""
    if not added or environ.get(_MARK) or not getattr(sys, "orig_argv", None) or not sys.executable:
        return None
    environ[_MARK] = "1"
    return [sys.executable, *sys.orig_argv[1:]]


def release() -> None:
    """Hand the memory that the last case freed back to the system before the next one starts.

    glibc keeps freed blocks below its mmap threshold in its heap. In the full run of
    2026-12-04, with the heap on huge pages, a worker that had run a float64 VGG parity case
    started its next cases at 14.5 GB, and a wide_resnet50_2 case beside it was killed for
    memory (why the heap kept that much was not established; the kernel's khugepaged filling
    freed holes back in is one explanation). ``malloc_trim`` returns every free page of the
    heap, holes included: with it, the same VGG cases started at their own size again."""
    gc.collect()
    if _glibc_version() is not None:
        ctypes.CDLL(None).malloc_trim(0)
