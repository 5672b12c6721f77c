"""MnasNet-B1 (0.5, 0.75, 1.0, 1.3) in PaddlePaddle, 1D and 2D, with torchvision's layout and parameter names.

Mirrors torch_impl/mnasnet.py name for name; the depths and stack table are in zoo/specs/mnasnet.py.
"""
from __future__ import annotations

import math

import paddle
from paddle import nn

from paddle_impl._registry import register_model
from paddle_impl.features import Backbone
from paddle_impl.layers import batch_norm, check_dims, check_input, conv, linear_head
from paddle_impl.mobilenet import init_weights_ as init_mobilenet_
from zoo.specs.mnasnet import (MNASNET_ALPHAS, MNASNET_BN_MOMENTUM, MNASNET_LAST, MNASNET_STACKS, mnasnet_body,
                               mnasnet_depths)


class InvertedResidual(nn.Layer):
    """MnasNet's MBConv block: 1x1 expansion, kxk depthwise, linear 1x1 projection, each with
    BN (ReLU after the first two), plus the input when the shape is kept. torchvision's
    ``_InvertedResidual`` (keys ``layers.0`` ... ``layers.7``)."""

    def __init__(self, dims: int, in_ch: int, out_ch: int, kernel_size: int, stride: int, expansion_factor: int,
                 bn_momentum: float = 0.1) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if kernel_size not in (3, 5):
            raise ValueError(f"kernel_size must be 3 or 5, got {kernel_size}")
        mid_ch = in_ch * expansion_factor
        self.apply_residual = in_ch == out_ch and stride == 1
        self.layers = nn.Sequential(
            conv(dims, in_ch, mid_ch, 1, bias=False),
            batch_norm(dims, mid_ch, momentum=bn_momentum),
            nn.ReLU(),
            conv(dims, mid_ch, mid_ch, kernel_size, stride, kernel_size // 2, groups=mid_ch, bias=False),
            batch_norm(dims, mid_ch, momentum=bn_momentum),
            nn.ReLU(),
            conv(dims, mid_ch, out_ch, 1, bias=False),
            batch_norm(dims, out_ch, momentum=bn_momentum),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.layers(x) + x if self.apply_residual else self.layers(x)


def stack(dims: int, in_ch: int, out_ch: int, kernel_size: int, stride: int, exp_factor: int, repeats: int,
          bn_momentum: float) -> nn.Sequential:
    """``repeats`` blocks; only the first changes width or stride, so only the rest add their input."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    blocks = [InvertedResidual(dims, in_ch, out_ch, kernel_size, stride, exp_factor, bn_momentum)]
    blocks += [InvertedResidual(dims, out_ch, out_ch, kernel_size, 1, exp_factor, bn_momentum)
               for _ in range(1, repeats)]
    return nn.Sequential(*blocks)


class MNASNet(Backbone, nn.Layer):
    """MnasNet-B1 (Tan et al. 2019) as torchvision builds it: ``layers`` (3x3/2 stem, a
    depthwise-separable conv, six MBConv stacks, 1x1 conv to 1280), a mean over the
    spatial axes, ``classifier`` (dropout, Linear). ``alpha`` scales every depth but the
    last 1280 (torchvision's layout version 2, in which the stem scales too)."""

    def __init__(self, alpha: float, *, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.alpha, self.dims, self.in_channels = alpha, check_dims(dims), in_channels
        self.spatial_axes = list(range(2, dims + 2))
        depths = mnasnet_depths(alpha)
        m = MNASNET_BN_MOMENTUM
        layers: list[nn.Layer] = [
            conv(dims, in_channels, depths[0], 3, 2, 1, bias=False),
            batch_norm(dims, depths[0], momentum=m),
            nn.ReLU(),
            conv(dims, depths[0], depths[0], 3, 1, 1, groups=depths[0], bias=False),
            batch_norm(dims, depths[0], momentum=m),
            nn.ReLU(),
            conv(dims, depths[0], depths[1], 1, bias=False),
            batch_norm(dims, depths[1], momentum=m),
        ]
        for (kernel, stride, expansion, repeats), cin, cout in zip(MNASNET_STACKS, depths[1:], depths[2:]):
            layers.append(stack(dims, cin, cout, kernel, stride, expansion, repeats, m))
        layers += [
            conv(dims, depths[-1], MNASNET_LAST, 1, bias=False),
            batch_norm(dims, MNASNET_LAST, momentum=m),
            nn.ReLU(),
        ]
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), linear_head(MNASNET_LAST, num_classes))
        init_weights_(self)
        self.init_backbone(mnasnet_body(alpha), {"classifier.1": MNASNET_LAST}, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input(x, self, model=f"mnasnet (alpha {self.alpha})", dims=self.dims, in_channels=self.in_channels,
                    min_size=1)
        return self.layers(x)

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.classifier(x.mean(axis=self.spatial_axes))


def init_weights_(model: MNASNet) -> None:
    """torchvision's MnasNet scheme: MobileNet's for convs and BN (kaiming-normal fan_out, 1/0),
    but the Linear kaiming-uniform over fan_out (= classes) with gain 1, zero bias. paddle's
    Linear weight is [in, out], so fan_out is its second axis."""
    init_mobilenet_(model)
    linear = model.classifier[1]
    if isinstance(linear, nn.Linear):  # an Identity at num_classes=0
        bound = math.sqrt(3.0 / linear.weight.shape[1])
        nn.initializer.Uniform(-bound, bound)(linear.weight)
        nn.initializer.Constant(0.0)(linear.bias)


def _mnasnet(name: str, num_classes: int, in_channels: int, dims: int, dropout: float) -> MNASNet:
    return MNASNet(MNASNET_ALPHAS[name], num_classes=num_classes, in_channels=in_channels, dims=dims,
                   dropout=dropout)


@register_model
def mnasnet0_5(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float = 0.2) -> MNASNet:
    """MnasNet-B1 at depth multiplier 0.5 (Tan et al. 2019, "MnasNet: Platform-Aware Neural
    Architecture Search for Mobile"), torchvision's mnasnet0_5; 2,218,512 parameters. As in
    torchvision: no squeeze-excitation (B1 is the SE-free network), BN momentum from TF's
    decay 0.9997, and depths rounded to multiples of 8, preferring to round up."""
    return _mnasnet("mnasnet0_5", num_classes, in_channels, dims, dropout)


@register_model
def mnasnet0_75(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float = 0.2) -> MNASNet:
    """MnasNet-B1 at depth multiplier 0.75 (Tan et al. 2019, "MnasNet"), torchvision's
    mnasnet0_75; 3,170,208 parameters. Same construction as ``mnasnet1_0`` with every depth
    but the final 1280 scaled and rounded to a multiple of 8."""
    return _mnasnet("mnasnet0_75", num_classes, in_channels, dims, dropout)


@register_model
def mnasnet1_0(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float = 0.2) -> MNASNet:
    """MnasNet-B1 (Tan et al. 2019, "MnasNet: Platform-Aware Neural Architecture Search for
    Mobile", Figure 7), torchvision's mnasnet1_0; 4,383,312 parameters. As in torchvision:
    no squeeze-excitation (B1 is the SE-free network) and BN momentum 1 - 0.9997 (the
    paper's TF decay, in torch's convention)."""
    return _mnasnet("mnasnet1_0", num_classes, in_channels, dims, dropout)


@register_model
def mnasnet1_3(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float = 0.2) -> MNASNet:
    """MnasNet-B1 at depth multiplier 1.3 (Tan et al. 2019, "MnasNet"), torchvision's
    mnasnet1_3; 6,282,256 parameters. Same construction as ``mnasnet1_0`` with every depth
    but the final 1280 scaled and rounded to a multiple of 8."""
    return _mnasnet("mnasnet1_3", num_classes, in_channels, dims, dropout)
