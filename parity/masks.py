"""Shared randomness for stochastic layers, so that dropout and stochastic depth are compared
in train mode rather than switched off.

Both sides draw their masks from one seeded numpy stream, in call order: the k-th stochastic
call on the torch side and the k-th on the paddle side get the same keep-mask when they ask
for the same shape. What the comparison then sees is everything the port decides: the rate,
the scaling rule (inverted dropout, or paddle's ``downscale_in_infer``), the axes a mask
spans, and which tensor is dropped. What it does not prove is that each framework's own
random kernel is right, which is the framework's business.

- ``torch.nn.Dropout``/``Dropout1d``/``Dropout2d`` and ``paddle.nn.Dropout``/``Dropout2D``
  get a forward that applies the shared mask with the semantics of the layer's own settings
  (torch: ``p``, and whole channels for DropoutNd; paddle: ``p``, ``axis`` and ``mode``).
- The project's own stochastic layers (``StochasticDepth``) accept a ``mask_source``.
- Any other layer that declares ``stochastic = True`` cannot share its randomness: it is
  named in the result, and the check that reports it fails.
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import paddle
import torch


class MaskSource:
    """Keep-masks (1.0 kept, 0.0 dropped) from a seeded stream, in call order; ``reset`` starts
    the stream again, as each top-level forward does."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def __call__(self, shape: list[int] | tuple[int, ...], keep: float) -> np.ndarray:
        rng = np.random.RandomState([self.seed, self.calls])
        self.calls += 1
        return (rng.random_sample(tuple(int(s) for s in shape)) < keep).astype(np.float64)


def _torch_dropout(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    if not m.training or m.p == 0.0:
        return x
    # Dropout1d/2d/3d drop whole channels: one draw per (sample, channel).
    channels = isinstance(m, (torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.Dropout3d))
    shape = list(x.shape[:2]) + [1] * (x.ndim - 2) if channels else list(x.shape)
    keep = torch.from_numpy(m.mask_source(shape, 1.0 - m.p)).to(x.dtype)
    return x * keep / (1.0 - m.p) if m.p < 1.0 else x * 0.0


def _paddle_dropout(m: paddle.nn.Layer, x: paddle.Tensor) -> paddle.Tensor:
    p = float(m.p)
    if isinstance(m, paddle.nn.Dropout2D):
        axes = [0, 1]
    else:
        axes = m.axis if isinstance(m.axis, (list, tuple)) else ([m.axis] if m.axis is not None else None)
    mode = getattr(m, "mode", "upscale_in_train")
    if not m.training:
        return x * (1.0 - p) if mode == "downscale_in_infer" else x
    if p == 0.0:
        return x
    shape = list(x.shape) if axes is None else [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    keep = paddle.to_tensor(m.mask_source(shape, 1.0 - p)).astype(x.dtype)
    if mode == "downscale_in_infer":
        return x * keep
    return x * keep / (1.0 - p) if p < 1.0 else x * 0.0


TORCH_DROPOUT = (torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.Dropout3d)
PADDLE_DROPOUT = (paddle.nn.Dropout, paddle.nn.Dropout2D)


@dataclass
class Shared:
    """The result of ``share``: the layers that draw from the shared stream on each side, the
    stochastic layers that could not (by name), and ``undo`` to restore every layer."""

    torch_layers: list[str] = field(default_factory=list)
    paddle_layers: list[str] = field(default_factory=list)
    unshared: list[str] = field(default_factory=list)
    undo: list[Callable[[], None]] = field(default_factory=list)

    def restore(self) -> None:
        for fn in reversed(self.undo):
            fn()
        self.undo.clear()


def _attach(m: Any, name: str, source: MaskSource, dropout: tuple, forward: Callable, shared: Shared,
            layers: list[str], side: str) -> None:
    if isinstance(m, dropout):
        m.mask_source = source
        m.forward = types.MethodType(forward, m)
        shared.undo.append(lambda m=m: (m.__dict__.pop("forward", None), m.__dict__.pop("mask_source", None)))
    elif hasattr(m, "mask_source"):
        m.mask_source = source
        shared.undo.append(lambda m=m: setattr(m, "mask_source", None))
    elif getattr(m, "stochastic", False) or "dropout" in type(m).__name__.lower():
        shared.unshared.append(f"{name} ({side} {type(m).__name__})")
        return
    else:
        return
    layers.append(name)


def share(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer, seed: int) -> Shared:
    """Make every stochastic layer of both modules draw from one shared stream (see the module
    docstring); each top-level forward restarts the stream on its side."""
    shared = share_torch(torch_module, seed)
    share_paddle(paddle_module, seed, shared)
    return shared


def share_torch(torch_module: torch.nn.Module, seed: int, shared: Shared | None = None) -> Shared:
    """torch's half of ``share``: alone, it gives a copy of torch's module (a rejudge's
    reference run) the masks that the compared run drew."""
    shared = shared or Shared()
    source = MaskSource(seed)
    for name, m in torch_module.named_modules():
        _attach(m, name, source, TORCH_DROPOUT, _torch_dropout, shared, shared.torch_layers, "torch")
    shared.undo.append(torch_module.register_forward_pre_hook(lambda *_: source.reset()).remove)
    return shared


def share_paddle(paddle_module: paddle.nn.Layer, seed: int, shared: Shared | None = None) -> Shared:
    """paddle's half of ``share`` (see share_torch)."""
    shared = shared or Shared()
    source = MaskSource(seed)
    for name, m in paddle_module.named_sublayers():
        _attach(m, name, source, PADDLE_DROPOUT, _paddle_dropout, shared, shared.paddle_layers, "paddle")
    shared.undo.append(paddle_module.register_forward_pre_hook(lambda *_: source.reset()).remove)
    return shared
