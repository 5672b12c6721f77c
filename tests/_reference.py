"""Helpers for the reference tests that compare our models with torchvision and paddle.vision.

Eval-mode outputs are compared in float64 after the BatchNorm statistics and affine
parameters are randomised: with the initial statistics (mean 0, variance 1) a swapped
or mis-converted BN buffer would go unnoticed.
"""
from __future__ import annotations

import math

import numpy as np
import paddle
import torch

from parity import weights as W


def randomize_bn_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm non-trivial running statistics, weight and bias (in place)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
    return model


def torch_eval(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def paddle_eval(layer: paddle.nn.Layer, x: np.ndarray) -> np.ndarray:
    layer.eval()
    with paddle.no_grad():
        return layer(paddle.to_tensor(x)).numpy()


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    """max|a - b| relative to the larger of the two outputs' max magnitudes."""
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-300))


def paddle_trainable(layer: paddle.nn.Layer) -> int:
    """Trainable parameters of a paddle layer (paddle lists BN statistics as parameters too)."""
    return sum(int(math.prod(p.shape)) for p in layer.parameters() if not p.stop_gradient)


def torch_trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def assert_trainable_both(name: str, expected: int, **kwargs) -> None:
    """The registered ``name`` built with ``kwargs`` has ``expected`` trainable parameters in both frameworks."""
    import paddle_impl
    import torch_impl

    assert torch_trainable(torch_impl.build(name, **kwargs)) == expected
    assert paddle_trainable(paddle_impl.build(name, **kwargs)) == expected


def assert_input_errors(framework: str, name: str, min_size: int | None = None) -> None:
    """Wrong rank, wrong channels, a 2D input to a 1D net and (with ``min_size``) a too-small
    input raise ValueErrors that name the expected layout."""
    import pytest

    import paddle_impl
    import torch_impl
    import zoo

    impl, make = (torch_impl, torch.zeros) if framework == "torch" else (paddle_impl, paddle.zeros)
    channels = zoo.get(name).in_channels
    model = impl.build(name)
    with pytest.raises(ValueError, match=r"expects input \[N, C, H, W\]"):
        model(make([channels, 32, 32]))
    with pytest.raises(ValueError, match=rf"expects {channels} input channels"):
        model(make([1, channels + 1, 32, 32]))
    with pytest.raises(ValueError, match=r"\[N, C, L\]"):
        impl.build(name, dims=1)(make([1, channels, 32, 32]))
    if min_size is not None:
        with pytest.raises(ValueError, match=rf"at least {min_size}"):
            model(make([1, channels, min_size - 1, 64]))


def check_torchvision_chain(ours_torch: torch.nn.Module, reference: torch.nn.Module, ours_paddle: paddle.nn.Layer,
                            x: np.ndarray, tol: float = 1e-10) -> None:
    """torchvision's state dict loads into ours with strict=True (the same keys, in the same
    order), gives the same float64 eval output, and converts to paddle with the same output."""
    randomize_bn_(reference)
    reference.double()
    assert list(ours_torch.state_dict()) == list(reference.state_dict())
    ours_torch.load_state_dict(reference.state_dict(), strict=True)
    ours_torch.double()
    expected = torch_eval(reference, x)
    assert max_rel(torch_eval(ours_torch, x), expected) < tol
    ours_paddle.to(dtype="float64")
    W.copy_torch_to_paddle(ours_torch, ours_paddle)
    assert max_rel(paddle_eval(ours_paddle, x), expected) < tol
