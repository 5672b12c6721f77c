"""Where a running parity case is: the harness announces each check, a listener shows it.

``compare_modules`` calls ``phase("train")`` and the like between its checks. Nothing
listens by default and a call costs one global look-up; ``python -m parity`` (through
``parity.run``) listens to show the check a long case is in, and
``benchmarks/parity_speed.py`` listens to time each one. Framework-free on purpose: the
runner imports it before torch and paddle are loaded.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

Listener = Callable[[str], None]

_listener: Listener | None = None


def phase(name: str) -> None:
    """Announce that the running case now enters ``name`` (a check or a step of one)."""
    if _listener is not None:
        _listener(name)


@contextlib.contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    """Send every ``phase`` call made inside the block to ``listener``; the previous one is restored after."""
    global _listener
    previous, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = previous
