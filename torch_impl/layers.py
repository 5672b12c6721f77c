"""Building blocks shared by the torch models, and the one place the 2D-to-1D rule lives.

A 1D signal is treated as a 1xL image: a kernel, stride, padding or adaptive output
given as (h, w) becomes w for ``dims=1``, and a plain int stays as it is.
paddle_impl/layers.py mirrors this file name for name.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.fx
from torch import nn

from zoo.features import check_num_classes
from zoo.shapes import check_input_dtype, check_input_shape

CONV = {1: nn.Conv1d, 2: nn.Conv2d}
BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}
AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d}
ADAPTIVE_AVG_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d}
ADAPTIVE_MAX_POOL = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d}

Size = int | Sequence[int]


def check_dims(dims: int) -> int:
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 (Conv1d, signals) or 2 (Conv2d, images), got {dims!r}")
    return dims


def to_dims(value: Size, dims: int) -> Size:
    """Apply the 2D-to-1D rule to a kernel, stride, padding or output size."""
    if dims == 2 or isinstance(value, int):
        return value
    return value[-1]


def conv(dims: int, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
         padding: Size = 0, groups: int = 1, bias: bool = True) -> nn.Module:
    """Conv1d or Conv2d with the 2D-to-1D rule applied to its geometry."""
    return CONV[dims](in_channels, out_channels, to_dims(kernel_size, dims), stride=to_dims(stride, dims),
                      padding=to_dims(padding, dims), groups=groups, bias=bias)


def max_pool(dims: int, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
             ceil_mode: bool = False) -> nn.Module:
    stride = kernel_size if stride is None else stride
    return MAX_POOL[dims](to_dims(kernel_size, dims), to_dims(stride, dims), to_dims(padding, dims),
                          ceil_mode=ceil_mode)


def avg_pool(dims: int, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
             ceil_mode: bool = False) -> nn.Module:
    """Average pool that counts padding in the mean (torch's default)."""
    stride = kernel_size if stride is None else stride
    return AVG_POOL[dims](to_dims(kernel_size, dims), to_dims(stride, dims), to_dims(padding, dims),
                          ceil_mode=ceil_mode, count_include_pad=True)


def adaptive_avg_pool(dims: int, output_size: Size) -> nn.Module:
    return ADAPTIVE_AVG_POOL[dims](to_dims(output_size, dims))


def batch_norm(dims: int, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> nn.Module:
    """BatchNorm in torch's convention (momentum is the weight of the new batch)."""
    return BATCH_NORM[dims](num_features, eps=eps, momentum=momentum)


def linear_head(in_features: int, num_classes: int) -> nn.Module:
    """A classifier's last layer: Linear to ``num_classes``, or, for 0, an Identity that passes
    the ``in_features`` on (timm's ``num_classes=0``: the model returns its features)."""
    if check_num_classes(num_classes) == 0:
        return nn.Identity()
    return nn.Linear(in_features, num_classes)


class ConvNormAct(nn.Sequential):
    """conv, BatchNorm, activation as a Sequential (keys ``0.weight``, ``1.running_mean``),
    the layout of torchvision's ``Conv2dNormActivation``."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size | None = None, groups: int = 1, activation: type[nn.Module] | None = nn.ReLU,
                 eps: float = 1e-5, momentum: float = 0.1) -> None:
        if padding is None:
            padding = tuple((k - 1) // 2 for k in kernel_size) if not isinstance(kernel_size, int) else (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            conv(dims, in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False),
            batch_norm(dims, out_channels, eps=eps, momentum=momentum),
        ]
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)


class DownSample(nn.Module):
    """LeNet-5's trainable subsampling (LeCun et al. 1998, S2 and S4).

    Each channel is averaged over a ``kernel_size`` window, multiplied by a learnable
    per-channel coefficient and shifted by a learnable per-channel bias: 2 parameters per
    channel. The paper sums the four inputs; an average is the same up to the learnable
    coefficient. Initialised to a plain average (coefficient 1, bias 0) rather than the
    random values of seed 004, so an untrained net starts as ordinary average pooling.
    """

    def __init__(self, dims: int, channels: int, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.dims = check_dims(dims)
        self.pool = avg_pool(dims, kernel_size, stride)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = (1, -1) + (1,) * self.dims
        return self.pool(x) * self.weight.view(view) + self.bias.view(view)


def check_input(x: torch.Tensor, net: Any, model: str, dims: int, in_channels: int, size: Any = None,
                min_size: Any = None) -> None:
    """A ValueError naming the expected and actual shape when ``x`` does not fit, and a TypeError
    naming both dtypes when ``x``'s dtype is not that of ``net``'s weights (zoo.shapes).

    ``net`` is the calling model, ``size`` an int, a sequence of ints or None, ``min_size``
    an int or None (typed Any, and not keyword-only, because TorchScript compiles this
    signature). Skipped where there is no concrete tensor to check: under
    ``torch.jit.script`` (the branch is not even compiled), ``torch.jit.trace`` (export
    traces one shape, already checked in eager mode), ``torch.fx`` symbolic tracing
    (torchvision's feature extractor) and, for the dtype, the meta device (shapes only).
    """
    if not torch.jit.is_scripting():
        if not (torch.jit.is_tracing() or isinstance(x, torch.fx.Proxy)):
            check_input_shape(tuple(x.shape), model=model, dims=dims, in_channels=in_channels, size=size,
                              min_size=min_size)
            if x.device.type != "meta" and not (x.is_floating_point() and torch.is_autocast_enabled(x.device.type)):
                check_input_dtype(dtype_name(x.dtype), dtype_name(next(net.parameters()).dtype), model=model,
                                  cast_input="x.to(torch.{dtype})", cast_model="model.to(torch.{dtype})")


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``, the name zoo.shapes and paddle use."""
    return str(dtype).removeprefix("torch.")


def init_default_(module: nn.Module) -> None:
    """Uniform(+-1/sqrt(fan_in)) for every conv and Linear weight and bias.

    This is torch's own default, written out so that paddle_impl can apply the same
    scheme explicitly (paddle's defaults differ); fan_in counts in_channels/groups.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -bound, bound)


def init_kaiming_(module: nn.Module, mode: str = "fan_in") -> None:
    """Kaiming-normal conv weights (ReLU gain, ``mode`` "fan_in" or "fan_out" as in
    ``nn.init.kaiming_normal_``) with zero conv biases, and BatchNorm weight 1, bias 0.

    torchvision's scheme for ResNet (fan_out), DenseNet (fan_in) and its other ReLU nets;
    paddle_impl applies the same explicitly. Linear layers are left to the caller.
    """
    for m in module.modules():
        if isinstance(m, tuple(CONV.values())):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, tuple(BATCH_NORM.values())):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class BasicConv(nn.Module):
    """conv, BatchNorm, ReLU under the keys ``conv.*`` and ``bn.*``: torchvision's ``BasicConv2d``
    of GoogLeNet and Inception-v3 (bias-free conv, BatchNorm eps 1e-3), in 1D or 2D.

    ``norm=False`` leaves out the BatchNorm and gives the conv a bias (the BN-free Inception-v1).
    The ReLU is a module, where torchvision calls it functionally (no key changes): the parity
    harness aligns float32 kink flips of ReLU modules only (parity/kinks.py), and Inception-v3's
    float32 gradient checks compared such flips, 2-7% of a gradient, until it could.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size = 0, *, norm: bool = True, eps: float = 1e-3) -> None:
        super().__init__()
        self.conv = conv(dims, in_channels, out_channels, kernel_size, stride, padding, bias=not norm)
        self.bn = batch_norm(dims, out_channels, eps=eps) if norm else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x)
