"""Small helpers shared by the SqueezeNet, MobileNet and MnasNet tests."""
from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np
import paddle
import pytest
import torch


def trainable(model) -> int:
    """Trainable parameter count of a torch module or a paddle layer (paddle lists BN statistics too)."""
    if isinstance(model, torch.nn.Module):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    return sum(int(math.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


def rel_err(a, b) -> float:
    """max|a - b| over the larger of max|a| and max|b|."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-300))


def randomize_(state: dict, seed: int = 0) -> dict:
    """Random values in every float tensor of a torch state dict, so that a reference
    comparison exercises every weight and BN statistic; BN variances and weights stay near 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in state.items():
            if t.is_floating_point():
                r = torch.rand(t.shape, generator=g, dtype=t.dtype)
                near_one = key.endswith("running_var") or (key.endswith("weight") and t.ndim == 1)
                t.copy_(0.5 + r if near_one else 0.2 * r - 0.1)
    return state


def assert_input_errors(torch_model, paddle_model, cases: Iterable[tuple[tuple[int, ...], str]]) -> None:
    """Each (shape, hint): both sides raise a ValueError naming the shape and containing the hint."""
    for shape, hint in cases:
        runs: list[Callable[[], object]] = [lambda: torch_model(torch.zeros(shape)),
                                            lambda: paddle_model(paddle.zeros(shape))]
        for run in runs:
            with pytest.raises(ValueError) as err:
                run()
            assert hint in str(err.value) and str(list(shape)) in str(err.value), str(err.value)


def eval_pair(name: str, **kwargs):
    """The registered model ``name`` built on both sides with ``kwargs``, in eval mode."""
    import paddle_impl
    import torch_impl

    t = torch_impl.build(name, **kwargs).eval()
    p = paddle_impl.build(name, **kwargs)
    p.eval()
    return t, p


def assert_output_shape(torch_model, paddle_model, shapes: Iterable[tuple[int, ...]], expected: tuple[int, ...]):
    """Zeros of each input shape give an output of ``expected`` shape on both sides."""
    for shape in shapes:
        assert tuple(torch_model(torch.zeros(shape)).shape) == expected, shape
        assert tuple(paddle_model(paddle.zeros(shape)).shape) == expected, shape


def fan_out_std_ratios(weights: dict) -> dict[str, float]:
    """For every conv weight with over 2,000 entries: its std over the kaiming fan_out std
    sqrt(2 / (out_channels * k...)), which torch computes the same for depthwise convs."""
    return {key: float(w.std()) / math.sqrt(2.0 / (w.shape[0] * math.prod(w.shape[2:])))
            for key, w in weights.items() if w.ndim >= 3 and w.size > 2_000}
