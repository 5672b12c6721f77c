"""Fit a checkpoint's tensors to a model of either framework, adapting a head or a stem (numpy only).

A checkpoint (our names, in the layout of the framework that wrote it) is converted to
the target's names and layout (``zoo.state_keys``), then every tensor is checked against
the target's shape:
- equal: loaded;
- the classifier of another class count (the shapes differ only in the output axis, and
  the model's is ``num_classes``): left out, so the model keeps its fresh initialisation
  (fine-tuning onto new classes), with a note naming the keys;
- the input stem of another channel count (a conv weight that differs only in its input
  axis, and the model's is ``in_channels``): adapted as timm's ``adapt_input_conv`` does;
- a head the model was built without (``optional_prefixes``, e.g. inception's aux head):
  skipped with a note, as torchvision does;
- anything else: a WeightMismatchError listing every missing, unexpected and
  mis-shaped key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from zoo.state_keys import WeightMismatchError, is_counter, paddle_key_to_torch, torch_key_to_paddle


@dataclass
class TargetSpec:
    """What the loader needs to know about a built model, computed by its framework's side.

    layout: "torch" or "paddle"; shapes: every state-dict key (target names) and shape;
    linear: the Linear weight keys; bn_prefixes: the BatchNorm layer prefixes ("a.b.").
    """

    layout: str
    shapes: dict[str, tuple[int, ...]]
    linear: set[str]
    bn_prefixes: set[str]
    num_classes: int | None = None
    in_channels: int | None = None
    optional_prefixes: tuple[str, ...] = field(default_factory=tuple)


def to_layout(state: Mapping[str, np.ndarray], layout: str, target: TargetSpec) -> dict[str, np.ndarray]:
    """``state`` (our names, ``layout``) in the target's names and layout."""
    if layout == target.layout:
        return dict(state)
    out = {}
    for key, arr in state.items():
        if target.layout == "paddle":
            new = torch_key_to_paddle(key, target.bn_prefixes)
            if new is None:
                continue  # a torch BatchNorm counter
        else:
            new = paddle_key_to_torch(key, target.bn_prefixes)
        out[new] = arr.T if new in target.linear and arr.ndim == 2 else arr
    return out


def adapt_input_conv(weight: np.ndarray, in_channels: int) -> np.ndarray:
    """A stem conv weight [out, c, k...] for ``in_channels`` inputs (timm's adapt_input_conv):
    summed over the channels for 1 input; for more, repeated to fill and scaled by c / in_channels,
    so a input that repeats an image's channels gives the same activations."""
    c = weight.shape[1]
    if in_channels == 1:
        return weight.sum(axis=1, keepdims=True)
    reps = math.ceil(in_channels / c)
    tiled = np.concatenate([weight] * reps, axis=1)[:, :in_channels]
    return (tiled * (c / in_channels)).astype(weight.dtype)


def _torch_shape(key: str, shape: tuple[int, ...], target: TargetSpec) -> tuple[int, ...]:
    return tuple(reversed(shape)) if target.layout == "paddle" and key in target.linear else tuple(shape)


def _differs_only_at(a: tuple[int, ...], b: tuple[int, ...], axis: int) -> bool:
    return len(a) == len(b) > axis and a[axis] != b[axis] and all(x == y for i, (x, y) in enumerate(zip(a, b))
                                                                   if i != axis)


def fit(state: Mapping[str, np.ndarray], target: TargetSpec, context: str,
        hint: str = "") -> tuple[dict[str, np.ndarray], list[str]]:
    """(tensors to load, under target names; notes) for ``state`` already in the target's layout.

    Keys the result leaves out keep the model's own values: a re-initialised head, and a
    torch model's BatchNorm counters when the checkpoint is paddle's.
    """
    out: dict[str, np.ndarray] = {}
    head, stem, skipped = [], [], []
    missing, mis_shaped = [], []
    for key, want in target.shapes.items():
        if key not in state:
            if not is_counter(key):
                missing.append(key)
            continue
        arr = np.asarray(state[key])
        got = tuple(arr.shape)
        if got == tuple(want):
            out[key] = arr
            continue
        t_got, t_want = _torch_shape(key, got, target), _torch_shape(key, tuple(want), target)
        if target.num_classes is not None and _differs_only_at(t_got, t_want, 0) and t_want[0] == target.num_classes:
            head.append((key, t_got[0]))
        elif (target.in_channels is not None and len(t_want) >= 3 and _differs_only_at(t_got, t_want, 1)
              and t_want[1] == target.in_channels):
            out[key] = adapt_input_conv(arr, target.in_channels)
            stem.append((key, t_got[1]))
        else:
            mis_shaped.append((key, got, tuple(want)))
    unexpected = []
    for key in state:
        if key not in target.shapes:
            (skipped if key.startswith(target.optional_prefixes) else unexpected).append(key)
    if missing or unexpected or mis_shaped:
        raise WeightMismatchError(context, missing, unexpected, mis_shaped, hint)
    notes = []
    if head:
        notes.append(f"the checkpoint's classifier has {head[0][1]} classes, the model {target.num_classes}: "
                     f"{', '.join(k for k, _ in head)} keep their fresh initialisation")
    if stem:
        how = "summed over its channels" if target.in_channels == 1 else "repeated and rescaled (timm's rule)"
        notes.append(f"the checkpoint's input stem takes {stem[0][1]} channels, the model {target.in_channels}: "
                     f"{', '.join(k for k, _ in stem)} {how}")
    if skipped:
        prefixes = sorted({p for p in target.optional_prefixes for k in skipped if k.startswith(p)})
        notes.append(f"the model was built without {', '.join(p.rstrip('.') for p in prefixes)}: the checkpoint's "
                     f"{len(skipped)} tensors there are not loaded")
    return out, notes
