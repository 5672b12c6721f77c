"""Which layers of a torch model round their output size, at a given input size.

A pooling or strided layer computes ``(L + 2p - d(k-1) - 1) / s + 1`` output positions; when
the division leaves a remainder, ``ceil_mode`` and the padding decide whether a last, partial
window exists. A check at a size where no layer rounds cannot see a wrong ``ceil_mode``: this
module finds, per layer, whether a size makes it round, so that ``zoo`` can state sizes that do
(``ModelInfo.asym_size``) and a test can prove it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Rounding:
    """One strided window layer at one input size: its name, kind and input length per axis,
    and whether floor and ceil of its output-size division differ on any axis."""

    layer: str
    kind: str  # "pool" or "conv"
    ceil_mode: bool
    lengths: tuple[int, ...]
    rounds: bool


def _pairs(v, n: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _window(m: torch.nn.Module) -> tuple[str, tuple, tuple, tuple, tuple, bool] | None:
    pools = (torch.nn.MaxPool1d, torch.nn.MaxPool2d, torch.nn.AvgPool1d, torch.nn.AvgPool2d)
    if isinstance(m, pools) and max(_pairs(m.stride, 2)) > 1:
        n = 1 if isinstance(m, (torch.nn.MaxPool1d, torch.nn.AvgPool1d)) else 2
        dil = _pairs(getattr(m, "dilation", 1), n)
        return "pool", _pairs(m.kernel_size, n), _pairs(m.stride, n), _pairs(m.padding, n), dil, bool(m.ceil_mode)
    if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) and max(m.stride) > 1:
        if isinstance(m.padding, str):
            return None
        return "conv", tuple(m.kernel_size), tuple(m.stride), tuple(m.padding), tuple(m.dilation), False
    return None


def roundings(model: torch.nn.Module, input_shape: tuple[int, ...]) -> list[Rounding]:
    """Every pooling layer and strided conv of ``model`` on an input of ``input_shape``, in call
    order, with whether it rounds. The forward runs on the meta device: shapes only."""
    found: list[Rounding] = []
    handles = []
    for name, m in model.named_modules():
        spec = _window(m)
        if spec is None:
            continue

        def hook(_m, inputs, _out, _name=name, _spec=spec):
            kind, k, s, p, d, ceil = _spec
            lengths = tuple(inputs[0].shape[2:])
            rounds = any((n + 2 * pp - dd * (kk - 1) - 1) % ss != 0
                         for n, kk, ss, pp, dd in zip(lengths, k, s, p, d))
            found.append(Rounding(_name, kind, ceil, lengths, rounds))

        handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()(torch.empty(input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return found


def rounding_pools(model: torch.nn.Module, input_shape: tuple[int, ...]) -> tuple[set[str], set[str]]:
    """(every strided pool's name, the names of those that round at ``input_shape``)."""
    found = [r for r in roundings(model, input_shape) if r.kind == "pool"]
    return {r.layer for r in found}, {r.layer for r in found if r.rounds}
