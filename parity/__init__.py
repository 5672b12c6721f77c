"""Parity harness: the one package that imports both torch and paddle.

- ``compare_modules(torch_module, paddle_module, input_shape=...)`` compares any pair.
- ``run_model(name, dims, dtype)`` builds a registered model on both sides and compares.
- ``parity.weights`` converts state dicts both ways.
- ``summarize(model, input_shape)`` gives per-layer shapes, parameters and MACs of either framework's model.
"""
from parity import quiet as _quiet

_quiet.before_imports()  # before any framework loads: no telemetry, no import noise (parity/quiet.py)
_quiet.import_paddle()

from parity.compare import Check, Report, compare_modules, locate_divergence
from parity.summary import Summary, summarize
from parity.weights import (CheckpointError, WeightMismatchError, convert_state_dict, copy_paddle_to_torch,
                            copy_torch_to_paddle, load_checkpoint, load_paddle, load_torch, paddle_to_torch,
                            save_checkpoint, torch_to_paddle)

__all__ = [
    "Check", "CheckpointError", "Report", "Summary", "WeightMismatchError", "compare_modules", "convert_state_dict",
    "load_checkpoint", "save_checkpoint", "copy_paddle_to_torch", "copy_torch_to_paddle",
    "load_paddle", "load_torch", "locate_divergence", "paddle_to_torch", "summarize", "torch_to_paddle",
]
