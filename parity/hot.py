"""Hot activations: every clip and saturating tail is reached, on both sides of its kinks.

Under random weights and unit-variance inputs, no activation in front of MobileNetV2's last
ReLU6 exceeds 6, and no SE gate's Hardsigmoid input leaves [-3, 3]: a port that wrote ReLU
for ReLU6 computes the same numbers there. The hot run scales the input of every clipped or
saturating activation layer to a standard deviation of ``HOT_STD``, on both sides by the
same factor: torch's forward measures the factor at each call, paddle's applies torch's
factors in call order. The two networks are changed alike, so they must still agree, and
now every clip is crossed. The regimes each layer saw (below, between and above its kinks)
are counted on torch's side and reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import paddle
import torch

# The kinks (or, for tanh and sigmoid, where the tails begin) of each activation, by class
# name, which is the same in both frameworks and for the project's own Hardsigmoid.
KINKS: dict[str, tuple[float, float]] = {
    "ReLU6": (0.0, 6.0), "Hardsigmoid": (-3.0, 3.0), "Hardswish": (-3.0, 3.0),
    "Tanh": (-2.0, 2.0), "Sigmoid": (-4.0, 4.0),
}
HOT_STD = 5.0


@dataclass
class Heat:
    """The factors applied in call order, the regimes seen per torch layer as [below, between,
    above] counts, and ``restore`` to remove the hooks."""

    factors: list[float] = field(default_factory=list)
    regimes: dict[str, list[int]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    undo: list[Callable[[], None]] = field(default_factory=list)

    def restore(self) -> None:
        for fn in self.undo:
            fn()
        self.undo.clear()

    def cold(self) -> list[str]:
        """Layers that never saw both sides of their kinks."""
        return [f"{n} ({self.kinds[n]})" for n, (lo, _, hi) in self.regimes.items() if not (lo and hi)]


def heat(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer) -> Heat:
    """Install the hot hooks on both modules; torch's forward must run before paddle's."""
    h = Heat()

    def start_torch(*_):
        h.factors.clear()

    h.undo.append(torch_module.register_forward_pre_hook(start_torch).remove)
    for name, m in torch_module.named_modules():
        kinks = KINKS.get(type(m).__name__)
        if kinks is None:
            continue
        h.regimes[name] = [0, 0, 0]
        h.kinds[name] = type(m).__name__

        def torch_hook(_m, inputs, _name=name, _kinks=kinks):
            x = inputs[0]
            f = HOT_STD / max(float(x.detach().double().std()), 1e-12) if x.numel() > 1 else HOT_STD
            h.factors.append(f)
            y = x * f
            lo, hi = _kinks
            seen = h.regimes[_name]
            seen[0] += int((y < lo).sum())
            seen[2] += int((y > hi).sum())
            seen[1] += int(y.numel()) - int((y < lo).sum()) - int((y > hi).sum())
            return (y,) + tuple(inputs[1:])

        h.undo.append(m.register_forward_pre_hook(torch_hook).remove)
    # paddle's side reads torch's factors as paddle's forward calls for them: the same list object
    h.undo.append(follow(paddle_module, paddle_module.named_sublayers(), h.factors))
    return h


def follow(module, layers, factors: list[float]) -> Callable[[], None]:
    """Scale the input of each clipped or saturating layer among ``layers`` (module's
    ``named_modules()`` or ``named_sublayers()``; torch or paddle) by ``factors`` in call
    order, restarting at each forward of ``module``. paddle's side of ``heat`` applies
    torch's factors this way, and check_hot's float32 rejudge heats a float64 copy of
    torch's module with the float32 run's factors. Returns the function that removes the hooks."""
    calls = [0]
    undo = [module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, 0)).remove]
    for _, m in layers:
        if type(m).__name__ not in KINKS:
            continue

        def hook(_m, inputs):
            f = factors[calls[0]] if calls[0] < len(factors) else float("nan")
            calls[0] += 1
            return (inputs[0] * f,) + tuple(inputs[1:])

        undo.append(m.register_forward_pre_hook(hook).remove)

    def remove() -> None:
        for fn in undo:
            fn()

    return remove
