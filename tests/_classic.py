"""Helpers shared by the AlexNet, ZFNet, VGG and NiN tests (tests/test_{alexnet,vgg,nin}.py)."""
from __future__ import annotations

import math

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity import weights as W


def trainable(model: torch.nn.Module | paddle.nn.Layer) -> int:
    """Trainable parameters only: paddle lists BN statistics as parameters with stop_gradient."""
    if isinstance(model, torch.nn.Module):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    return sum(int(math.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


def assert_count(name: str, expected: int, **kwargs) -> None:
    """Both frameworks build ``name`` with ``kwargs`` and hold exactly ``expected`` trainable
    parameters. The torch model is built on the meta device: shapes without the cost of
    initialising them (paddle has no equivalent that survives our explicit init)."""
    with torch.device("meta"):
        t = torch_impl.build(name, **kwargs)
    p = paddle_impl.build(name, **kwargs)
    assert (trainable(t), trainable(p)) == (expected, expected), f"{name} {kwargs}"


def pair(name: str, **kwargs) -> tuple[torch.nn.Module, paddle.nn.Layer]:
    """Both frameworks' ``name`` with the torch weights copied into paddle, in eval mode."""
    t, p = torch_impl.build(name, **kwargs), paddle_impl.build(name, **kwargs)
    W.copy_torch_to_paddle(t, p)
    t.eval()
    p.eval()
    return t, p


def run_torch(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def run_paddle(layer: paddle.nn.Layer, x: np.ndarray) -> np.ndarray:
    with paddle.no_grad():
        return layer(paddle.to_tensor(x)).numpy()


def assert_close(got: np.ndarray, want: np.ndarray, rel: float) -> None:
    """max|got - want| <= rel * max|want| (the harness's max_rel metric)."""
    assert got.shape == want.shape
    err = float(np.abs(got - want).max()) / max(float(np.abs(want).max()), 1e-30)
    assert err <= rel, f"max_rel {err:.2e} > {rel:.0e}"


def from_torchvision(ref: torch.nn.Module, name: str, **kwargs) -> tuple[torch.nn.Module, paddle.nn.Layer]:
    """Our ``name`` in both frameworks holding torchvision model ``ref``'s weights, all in eval mode.

    The torch model is built on the meta device (no initialisation to pay for) and takes
    ref's tensors with ``load_state_dict(strict=True, assign=True)``: exactly torchvision's
    keys and shapes. The paddle model gets them converted by parity.weights.
    """
    with torch.device("meta"):
        ours = torch_impl.build(name, **kwargs)
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    layer = paddle_impl.build(name, **kwargs)
    W.load_paddle(layer, W.torch_to_paddle(ref.state_dict(), layer))
    ref.eval()
    ours.eval()
    layer.eval()
    return ours, layer


def assert_matches_torchvision(ref: torch.nn.Module, ours: torch.nn.Module, layer: paddle.nn.Layer,
                               x: np.ndarray) -> np.ndarray:
    """Our torch model gives torchvision's outputs bit for bit (the same ops on the same
    weights), our paddle model within float32 rounding; returns the paddle outputs."""
    want = run_torch(ref, x)
    np.testing.assert_array_equal(run_torch(ours, x), want)
    got = run_paddle(layer, x)
    assert_close(got, want, 1e-5)
    return got


def shape_errors(name: str, dims: int) -> list[tuple[tuple[int, ...], str]]:
    """Inputs that ``name`` must reject with a ValueError, and a phrase of each message."""
    info = zoo.get(name)
    good = info.input_shape(dims, 2, info.check_size(dims))
    wrong_rank = good[:-1] if dims == 2 else good + (good[-1],)
    cases = [(wrong_rank, "expects input"), ((2, info.in_channels + 1) + good[2:], "input channels")]
    if info.sized_by_input or info.fixed_size:
        cases.append((good[:2] + (good[-1] + 1,) * dims, "was built for input"))
    else:
        cases.append((good[:2] + (info.min_size - 1,) * dims, "at least"))
    return cases


def check_shape_errors(name: str, dims: int, **overrides) -> None:
    """Both frameworks raise a ValueError naming the expected shape for every bad input."""
    info = zoo.get(name)
    kwargs = info.build_kwargs(dims, info.check_size(dims), **overrides)
    t, p = torch_impl.build(name, **kwargs), paddle_impl.build(name, **kwargs)
    for shape, phrase in shape_errors(name, dims):
        x = np.zeros(shape, dtype=np.float32)
        with pytest.raises(ValueError, match=phrase):
            t(torch.from_numpy(x))
        with pytest.raises(ValueError, match=phrase):
            p(paddle.to_tensor(x))
