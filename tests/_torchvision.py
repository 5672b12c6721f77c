"""torchvision for reference tests: parity/torchvision_compat.py's import, or a pytest skip.

torchvision 0.28.0 here is a CUDA-only build installed with ``--no-deps`` (.ci/run); the
compat module defines the two op schemas its import needs on a CPU machine.
"""
from __future__ import annotations

import pytest

from parity.torchvision_compat import import_torchvision as _import


def import_torchvision():
    """torchvision, or a pytest skip with the reason when it is not installed."""
    try:
        return _import()
    except ModuleNotFoundError:
        pytest.skip("torchvision is not installed (tests only: pip install --no-deps torchvision==0.28.0)")
