"""Parity harness: the one package that imports both torch and paddle.

- ``compare_modules(torch_module, paddle_module, input_shape=...)`` compares any pair.
- ``run_model(name, dims, dtype)`` builds a registered model on both sides and compares.
- ``parity.weights`` converts state dicts both ways.
- ``summarize(model, input_shape)`` gives per-layer shapes, parameters and MACs of either framework's model.

The names below are imported on first use, not with the package: ``python -m parity``
runs this file before its argument parser, and a usage error or ``--help`` must not wait
for torch and paddle to load.
"""
import importlib as _importlib
import sys as _sys

from parity import quiet as _quiet

_quiet.before_imports()  # before any framework loads: no telemetry, no import noise (parity/quiet.py)
# ``import parity`` in a user's script loads paddle now, quietly, so that a later ``import paddle``
# prints nothing. ``python -m parity`` (sys.argv[0] is "-m" while Python locates __main__) leaves
# it to the sub-command, which parses its arguments first.
if _sys.argv[:1] != ["-m"]:
    _quiet.import_paddle()

# public name -> the submodule that defines it
_EXPORTS = {
    "Check": "results", "Report": "results", "compare_modules": "compare", "locate_divergence": "compare",
    "Summary": "summary", "summarize": "summary",
    "CheckpointError": "weights", "WeightMismatchError": "weights", "convert_state_dict": "weights",
    "copy_paddle_to_torch": "weights", "copy_torch_to_paddle": "weights", "load_checkpoint": "weights",
    "load_paddle": "weights", "load_torch": "weights", "paddle_to_torch": "weights",
    "save_checkpoint": "weights", "torch_to_paddle": "weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'parity' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"parity.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
