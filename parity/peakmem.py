"""Peak resident memory of one case, read from Linux's /proc.

``getrusage``'s ``ru_maxrss`` is the peak over the whole process, so a worker that ran VGG
first would report VGG's peak for every later case. Linux resets the peak ("VmHWM") when
``5`` is written to ``/proc/self/clear_refs``, so ``run_case`` resets it before each case
and reads it after. Elsewhere (no /proc, or a kernel that refuses) the peak is None.
"""
from __future__ import annotations

from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def reset_peak() -> bool:
    """Start a new peak at the current resident size; False where the kernel does not allow it."""
    try:
        _CLEAR.write_text("5")
        return True
    except OSError:
        return False


def resident_mb() -> float | None:
    """The resident size now ("VmRSS"), in MiB; None where /proc does not say."""
    return _status_mb("VmRSS:")


def peak_mb() -> float | None:
    """The peak resident size since the last reset (or the process start), in MiB."""
    return _status_mb("VmHWM:")


def _status_mb(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    return None
