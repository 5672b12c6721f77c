"""Import torchvision 0.28.0, a CUDA-only build installed with ``--no-deps``, on a CPU machine.

Its compiled ops cannot load there, and ``import torchvision`` stops with a RuntimeError at
the missing ``torchvision::nms`` schema. Defining the two schemas that the import registers
fakes for (``nms`` and ``qnms``) is enough for every model definition to build and run on CPU.
The workaround is applied only when the plain import raises that error; a working
torchvision is imported untouched. torchvision is a test-only dependency (.ci/run installs it).
"""
from __future__ import annotations

import sys
from types import ModuleType

_LIB = None  # the torch.library.Library that holds the two schemas; kept alive for the process


def _forget_torchvision() -> None:
    # A failed import leaves half-initialised submodules behind; the retry must start clean.
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def import_torchvision() -> ModuleType:
    """torchvision, with the ``nms``/``qnms`` schemas defined first when its compiled ops do not load.

    Raises ModuleNotFoundError when torchvision is not installed, and the original
    RuntimeError when the import fails for another reason than the missing schema.
    """
    global _LIB
    try:
        import torchvision
        return torchvision
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
    import torch

    if _LIB is None:
        _LIB = torch.library.Library("torchvision", "DEF")
        _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _forget_torchvision()
    import torchvision
    return torchvision
