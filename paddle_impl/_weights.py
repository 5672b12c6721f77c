"""``weights=`` for paddle models: what the framework-free loader (zoo.pretrained) needs to know
about a built model, and the assignment of the arrays it returns."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import paddle
from paddle import nn

from zoo import pretrained
from zoo.state_fit import TargetSpec


def module_kinds(model: nn.Layer) -> tuple[set[str], set[str]]:
    """(Linear weight keys, BatchNorm prefixes) of ``model``, by layer type."""
    linear, bn = set(), set()
    for name, m in model.named_sublayers(include_self=True):
        prefix = f"{name}." if name else ""
        if isinstance(m, nn.Linear):
            linear.add(prefix + "weight")
        elif isinstance(m, nn.layer.norm._BatchNormBase):
            bn.add(prefix)
    return linear, bn


def target_spec(model: nn.Layer, build_kwargs: dict[str, Any], optional_prefixes: tuple[str, ...] = ()) -> TargetSpec:
    """The shapes, Linear keys and BatchNorm prefixes of ``model``, and the class and channel counts it was built with."""
    linear, bn = module_kinds(model)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return TargetSpec("paddle", shapes, linear, bn, build_kwargs.get("num_classes"), build_kwargs.get("in_channels"),
                      optional_prefixes)


def assign(model: nn.Layer, arrays: dict[str, np.ndarray]) -> None:
    """Copy ``arrays`` into ``model``'s tensors of the same names, cast to each tensor's dtype."""
    state = model.state_dict()
    for key, arr in arrays.items():
        dtype = paddle.empty([0], dtype=state[key].dtype).numpy().dtype
        state[key].set_value(np.array(arr, dtype=dtype))  # a writable copy, 0-d kept


def load_weights(model: nn.Layer, name: str, weights: str | os.PathLike, build_kwargs: dict[str, Any],
                 check_meta: Callable[[dict[str, Any], Path], None] | None = None) -> list[str]:
    """Load ``weights`` (a source name or a checkpoint path, see zoo.pretrained) into ``model``; returns the notes."""
    from zoo.weight_sources import OPTIONAL_PREFIXES

    spec = target_spec(model, build_kwargs, OPTIONAL_PREFIXES.get(name, ()))
    arrays, notes = pretrained.prepare(weights, name, spec, check_meta)
    assign(model, arrays)
    return notes
