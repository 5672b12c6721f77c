"""Import torchvision 0.28.0 (a CUDA-only build) on this CPU machine, for reference tests.

With ``pip install --no-deps torchvision==0.28.0`` its compiled ops cannot load, and
the import stops at the missing ``torchvision::nms`` schema. Defining the two schemas
that the import registers fakes for is enough for every model definition to build and
run on CPU. torchvision is a test-only dependency; .ci/run installs it.
"""
from __future__ import annotations

import pytest
import torch

_LIB = None


def import_torchvision():
    """torchvision, or a pytest skip with the reason when it is not installed."""
    global _LIB
    try:
        import torchvision  # noqa: F401
        return torchvision
    except ModuleNotFoundError:
        pytest.skip("torchvision is not installed (tests only: pip install --no-deps torchvision==0.28.0)")
    except RuntimeError:
        pass  # its CUDA ops did not load; define the schemas and retry
    if _LIB is None:
        _LIB = torch.library.Library("torchvision", "DEF")
        _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import sys
    for mod in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[mod]
    import torchvision
    return torchvision
