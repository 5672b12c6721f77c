"""Large tensors on transparent huge pages, in a heap that keeps what it frees: the checks of a
big model spend far less time in page faults.

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

A third and fourth keep freed memory in the process for the next allocation to reuse:
``glibc.malloc.mmap_max=0`` serves every block from the heap instead of a mapping of its own
that ``free`` hands back at once, and a ``glibc.malloc.trim_threshold`` of 1 TiB stops
``free`` from shrinking the heap. On this VM, memory handed back is reported free to the
host (virtio-balloon free page reporting), and touching it again costs 2.5-5 s per GB of
page faults; every optimizer step of a VGG makes hundreds of MB of gradients and Adam
temporaries afresh. ``release()`` still hands everything back between cases.

Only the harness's entry points switch them on (``python -m parity`` and ``tests/conftest.py``):
``import parity`` in a user's script leaves that process and its children as they were.

Measured on 2026-12-04 on the 2-core machine (THP ``madvise``), with vgg11 2D float64 parity
and no ONNX, ``--jobs 1``, four settings taking turns for two rounds: neither 72 s and
69 s; torch's alone 55 s and 61 s; glibc's alone 49 s and 47 s; both 43.8 s and 43.9 s.
Peak RSS was 12.8-12.9 GB in all four. Where the kernel says ``never``, both are no-ops.
Keeping the heap, measured 2026-12-05 the same way, one process at a time on the idle
machine: vgg11 2D float64 parity 81.0 s -> 50.9 s of wall time (system time 82.8 -> 44.8 s),
peak RSS 12.9 -> 14.8 GB (freed blocks are reused only where the next one fits); vgg11
float32 43.1 -> 32.8 s (6.8 -> 7.7 GB); resnet50 float64 25.6/21.4 s -> 19.9/20.3 s (3.0 GB
both); VGG-16 ``compare`` at 64x64 float32: 45 -> 37 s of comparison, 9 -> 4 s of builds.
``ZOO_HUGEPAGES=0`` in the environment leaves all of them unset.
"""
from __future__ import annotations

import ctypes
import gc
import os
import sys
from typing import MutableMapping

TORCH_SWITCH = "THP_MEM_ALLOC_ENABLE"
# Each is added unless the user's GLIBC_TUNABLES names it already.
GLIBC_TUNABLES = ("glibc.malloc.hugetlb=1", "glibc.malloc.mmap_max=0", f"glibc.malloc.trim_threshold={1 << 40}")
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
    """True where malloc is glibc 2.35 or later, which knows ``glibc.malloc.hugetlb`` (the
    others are older)."""
    version = _glibc_version()
    return version is not None and version >= (2, 35)


def enable(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set the switches in ``environ``, keeping what the user set (a user's
    THP_MEM_ALLOC_ENABLE or value of any of GLIBC_TUNABLES' names wins; other GLIBC_TUNABLES
    entries stay). Returns whether a glibc tunable was added, that is, whether this process
    started without it.

    Only the harness's own entry points call this (``python -m parity``, the tests): a
    script that imports ``parity`` keeps its process and its children as they are."""
    if not wanted(environ):
        return False
    environ.setdefault(TORCH_SWITCH, "1")
    tunables = environ.get("GLIBC_TUNABLES", "")
    if not glibc_has_tunable():
        return False
    named = {entry.partition("=")[0] for entry in tunables.split(":") if entry}
    added = [t for t in GLIBC_TUNABLES if t.partition("=")[0] not in named]
    if not added:
        return False
    environ["GLIBC_TUNABLES"] = ":".join(([tunables] if tunables else []) + added)
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
