"""Helpers shared by the GoogLeNet and Inception-v3 tests (tests/test_googlenet.py, tests/test_inception.py)."""
from __future__ import annotations

import math

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
from parity import weights as W


def trainable(model: torch.nn.Module | paddle.nn.Layer) -> int:
    """Trainable parameters only: paddle lists BN statistics as parameters with stop_gradient."""
    if isinstance(model, torch.nn.Module):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    return sum(int(math.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


def counts(name: str, **kwargs) -> tuple[int, int]:
    """Trainable parameters of ``name`` in (torch, paddle); torch is built on the meta device."""
    with torch.device("meta"):
        t = torch_impl.build(name, **kwargs)
    return trainable(t), trainable(paddle_impl.build(name, **kwargs))


def calibrate_bn(model: torch.nn.Module, x: np.ndarray, passes: int = 2) -> None:
    """Give every BatchNorm the running statistics of ``passes`` train-mode batches.

    At torchvision's init an eval-mode GoogLeNet returns little more than the fc bias (the
    std-0.01 weights shrink the signal through BN layers that still hold mean 0, var 1) and
    Inception-v3's logits explode; with calibrated statistics an eval comparison sees signal.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the passes
    model.train()
    with torch.no_grad():
        for i in range(passes):
            model(torch.from_numpy(np.roll(x, i, axis=0)).to(next(model.parameters()).dtype))
    # Restored, or a later train-mode pass would update this model's statistics unlike its twin's.
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    model.eval()


def run_torch(model: torch.nn.Module, x: np.ndarray):
    with torch.no_grad():
        return model(torch.from_numpy(x))


def run_paddle(layer: paddle.nn.Layer, x: np.ndarray):
    with paddle.no_grad():
        return layer(paddle.to_tensor(x))


def assert_close(a, b, rtol: float) -> None:
    """max|a - b| <= rtol * max|b| (the parity harness's max_rel)."""
    a, b = W.to_numpy(a).astype(np.float64), W.to_numpy(b).astype(np.float64)
    assert a.shape == b.shape
    err = float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-300)
    assert err <= rtol, f"max_rel {err:.2e} > {rtol:.0e}"


def assert_has_signal(out, bias) -> None:
    """The logits are not just the classifier bias (see calibrate_bn)."""
    out, bias = W.to_numpy(out), W.to_numpy(bias)
    assert np.abs(out - bias).max() > 1e-2 * np.abs(out).max()


def to_paddle(torch_model: torch.nn.Module, name: str, **kwargs) -> paddle.nn.Layer:
    """Our paddle ``name`` with ``torch_model``'s weights (parity.weights) in its dtype, in eval mode."""
    layer = paddle_impl.build(name, **kwargs)
    layer.to(dtype=str(next(torch_model.parameters()).dtype).replace("torch.", ""))  # before the copy, which casts
    W.copy_torch_to_paddle(torch_model, layer)
    layer.eval()
    return layer


def check_shape_errors(name: str, dims: int, in_channels: int, too_small: int | None, ok_size: int,
                       **kwargs) -> None:
    """Wrong rank, wrong channel count and (where there is a minimum) a too-small input raise a
    ValueError naming the expected layout and the actual shape, on both sides, in eval mode."""
    t, p = torch_impl.build(name, dims=dims, in_channels=in_channels, **kwargs), \
        paddle_impl.build(name, dims=dims, in_channels=in_channels, **kwargs)
    t.eval()
    p.eval()
    layout = "[N, C, L]" if dims == 1 else "[N, C, H, W]"
    good = (1, in_channels) + (ok_size,) * dims
    bad = [(1, in_channels) + (ok_size,) * (3 - dims),  # the other rank
           (1, in_channels + 1) + (ok_size,) * dims]
    if too_small is not None:
        bad.append((1, in_channels) + (too_small,) * dims)
    for shape in bad:
        x = np.zeros(shape, np.float32)
        with pytest.raises(ValueError, match=r"\[N, C") as t_err:
            run_torch(t, x)
        with pytest.raises(ValueError, match=r"\[N, C") as p_err:
            run_paddle(p, x)
        for err in (t_err, p_err):
            assert layout in str(err.value) and str(list(shape)) in str(err.value)
    run_torch(t, np.zeros(good, np.float32))
    run_paddle(p, np.zeros(good, np.float32))
