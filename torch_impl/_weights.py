"""``weights=`` for torch models: what the framework-free loader (zoo.pretrained) needs to know
about a built model, and the assignment of the arrays it returns."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from zoo import pretrained
from zoo.state_fit import TargetSpec


def module_kinds(model: nn.Module) -> tuple[set[str], set[str]]:
    """(Linear weight keys, BatchNorm prefixes) of ``model``, by module type."""
    linear, bn = set(), set()
    for name, m in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(m, nn.Linear):
            linear.add(prefix + "weight")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            bn.add(prefix)
    return linear, bn


def target_spec(model: nn.Module, build_kwargs: dict[str, Any], optional_prefixes: tuple[str, ...] = ()) -> TargetSpec:
    """The shapes, Linear keys and BatchNorm prefixes of ``model``, and the class and channel counts it was built with."""
    linear, bn = module_kinds(model)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return TargetSpec("torch", shapes, linear, bn, build_kwargs.get("num_classes"), build_kwargs.get("in_channels"),
                      optional_prefixes)


def assign(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Copy ``arrays`` into ``model``'s tensors of the same names, cast to each tensor's dtype."""
    state = model.state_dict()
    with torch.no_grad():
        for key, arr in arrays.items():
            state[key].copy_(torch.from_numpy(np.array(arr)).to(state[key].dtype))  # a writable copy, 0-d kept


def load_weights(model: nn.Module, name: str, weights: str | os.PathLike, build_kwargs: dict[str, Any],
                 check_meta: Callable[[dict[str, Any], Path], None] | None = None) -> list[str]:
    """Load ``weights`` (a source name or a checkpoint path, see zoo.pretrained) into ``model``; returns the notes."""
    from zoo.weight_sources import OPTIONAL_PREFIXES

    spec = target_spec(model, build_kwargs, OPTIONAL_PREFIXES.get(name, ()))
    arrays, notes = pretrained.prepare(weights, name, spec, check_meta)
    assign(model, arrays)
    return notes
