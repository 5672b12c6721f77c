"""No vacuous verdicts: a comparison of nothing is a usage error up front, or a failed check.

Framework-free, so the parity CLI can call ``check_batch`` while parsing its arguments,
before torch or paddle is imported, and the judge can call ``nothing_compared`` on the
sizes of the tensors it was given.
"""
from __future__ import annotations

from typing import Iterable, Sequence


def check_count(value: int | None, flag: str, what: str = "examples") -> None:
    """A ValueError when a count flag (``--batch``) would make every compared tensor empty.

    None means "the default" and passes.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{flag} must be a whole number, got {value!r}")
    if value < 1:
        raise ValueError(f"{flag} must be at least 1, got {value}: {value} {what} would compare nothing")


def check_batch(batch: int | None) -> None:
    """``--batch`` of ``python -m parity``: at least one example (None: each model's parity batch)."""
    check_count(batch, "--batch")


def nothing_compared(shapes: Sequence[Sequence[int]]) -> str | None:
    """Why a check that was given tensors of ``shapes`` compared nothing, or None if it compared something.

    A check with no tensor pairs, or only empty ones (a batch of 0, a model with no
    parameters), must fail with this reason rather than pass with an error of 0.
    """
    if not shapes:
        return "compared nothing: no tensors to compare"
    if all(_size(s) == 0 for s in shapes):
        return f"compared nothing: every tensor is empty (shapes {', '.join(str(list(s)) for s in shapes[:4])})"
    return None


def _size(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n
