"""VGG family in PaddlePaddle: VGG-11/13/16/19 with and without BatchNorm in torchvision's layout,
with a width multiplier, and the quarter-width 1-channel VGG-11 of seed 001.

Mirrors torch_impl/vgg.py name for name; the configurations are in zoo/specs/vgg.py.
"""
from __future__ import annotations

import paddle
from paddle import nn

from paddle_impl._registry import register_model
from paddle_impl.alexnet import make_classifier
from paddle_impl.features import Backbone
from paddle_impl.layers import adaptive_avg_pool, batch_norm, check_dims, check_input, conv, max_pool
from zoo.specs.vgg import VGG_CFGS, VGG_D2L, VGG_DEPTHS, VGG_HIDDEN, VGG_MIN_SIZE, VGG_POOL, scaled_channels, vgg_body


def make_layers(cfg: tuple[int | str, ...], dims: int, in_channels: int, batch_norm_after_conv: bool,
                width: float = 1.0) -> nn.Sequential:
    """torchvision's ``make_layers``: 3x3 conv (padding 1), [BatchNorm,] ReLU per int, 2x2
    max pool per "M"; conv widths multiplied by ``width``."""
    layers: list[nn.Layer] = []
    channels = in_channels
    for v in cfg:
        if v == "M":
            layers.append(max_pool(dims, 2, 2))
            continue
        out = scaled_channels(v, width)
        layers.append(conv(dims, channels, out, 3, padding=1))
        if batch_norm_after_conv:
            layers.append(batch_norm(dims, out))
        layers.append(nn.ReLU())
        channels = out
    return nn.Sequential(*layers)


def init_vgg_(module: nn.Layer) -> None:
    """torchvision's VGG initialisation: convs kaiming-normal (fan_out, ReLU gain) with zero
    bias, BatchNorm weight 1 and bias 0, Linear weights N(0, 0.01) with zero bias.

    Each initialiser draws into the parameter, as ``nn.init`` does in torch; drawing a
    temporary and ``set_value`` copied 138M weights once more.
    """
    for m in module.sublayers(include_self=True):
        if isinstance(m, (nn.Conv1D, nn.Conv2D)):
            nn.initializer.KaimingNormal(nonlinearity="relu", mode="fan_out")(m.weight)
            if m.bias is not None:
                nn.initializer.Constant(0.0)(m.bias)
        elif isinstance(m, (nn.BatchNorm1D, nn.BatchNorm2D)):
            nn.initializer.Constant(1.0)(m.weight)
            nn.initializer.Constant(0.0)(m.bias)
        elif isinstance(m, nn.Linear):
            nn.initializer.Normal(0.0, 0.01)(m.weight)
            nn.initializer.Constant(0.0)(m.bias)


class VGG(Backbone, nn.Layer):
    """VGG (Simonyan & Zisserman 2014) in torchvision's layout: ``features`` (3x3 convs
    and 2x2 pools), a 7x7 adaptive average pool, and a 4096-4096 classifier with dropout.

    ``width`` multiplies every conv width (the classifier input follows, its hidden width
    does not); 1.0 is the paper's network.
    """

    def __init__(self, cfg: str = "A", *, batch_norm: bool = False, num_classes: int = 1000, in_channels: int = 3,
                 dims: int = 2, width: float = 1.0, dropout: float = 0.5, name: str = "vgg") -> None:
        super().__init__()
        self.model_name, self.dims, self.in_channels, self.min_size = name, check_dims(dims), in_channels, VGG_MIN_SIZE
        if width <= 0:
            raise ValueError(f"width must be positive, got {width!r}")
        self.features = make_layers(VGG_CFGS[cfg], dims, in_channels, batch_norm, width)
        self.avgpool = adaptive_avg_pool(dims, VGG_POOL)
        self.flatten = nn.Flatten()
        last = scaled_channels([v for v in VGG_CFGS[cfg] if v != "M"][-1], width)
        self.classifier = make_classifier(last * VGG_POOL ** dims, VGG_HIDDEN, num_classes, dropout,
                                          dropout_first=False)
        init_vgg_(self)
        self.init_backbone(vgg_body(cfg, batch_norm, in_channels, width), {"classifier.6": VGG_HIDDEN}, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input(x, self, model=self.model_name, dims=self.dims, in_channels=self.in_channels, min_size=self.min_size)
        return self.features(x)

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.classifier(self.flatten(self.avgpool(x)))


def _vgg(name: str, batch_norm: bool, num_classes: int, in_channels: int, dims: int, width: float,
         dropout: float) -> VGG:
    return VGG(VGG_DEPTHS[name], batch_norm=batch_norm, num_classes=num_classes, in_channels=in_channels, dims=dims,
               width=width, dropout=dropout, name=name + ("_bn" if batch_norm else ""))


@register_model
def vgg11(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width: float = 1.0,
          dropout: float = 0.5) -> VGG:
    """VGG-11 (Simonyan & Zisserman 2014, configuration A) in torchvision's layout:
    132,863,336 parameters; torchvision checkpoints convert with parity.weights. ``width``
    multiplies every conv width: ``vgg11(width=0.25, in_channels=1, num_classes=10)`` is
    seed 001's (d2l) quarter-width Fashion-MNIST VGG-11, also registered as ``vgg11_d2l``.
    Unlike the paper: the 7x7 adaptive pool accepts any input from 32x32, and dropout and
    init are torchvision's (kaiming-normal convs, N(0, 0.01) Linear)."""
    return _vgg("vgg11", False, num_classes, in_channels, dims, width, dropout)


@register_model
def vgg11_bn(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width: float = 1.0,
             dropout: float = 0.5) -> VGG:
    """VGG-11 with BatchNorm after every conv (not in the paper; torchvision's variant):
    132,868,840 parameters. ``width`` multiplies every conv width, as in ``vgg11``."""
    return _vgg("vgg11", True, num_classes, in_channels, dims, width, dropout)


@register_model
def vgg13(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width: float = 1.0,
          dropout: float = 0.5) -> VGG:
    """VGG-13 (configuration B) in torchvision's layout: 133,047,848 parameters. ``width``
    multiplies every conv width, as in ``vgg11``."""
    return _vgg("vgg13", False, num_classes, in_channels, dims, width, dropout)


@register_model
def vgg13_bn(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width: float = 1.0,
             dropout: float = 0.5) -> VGG:
    """VGG-13 with BatchNorm after every conv (torchvision's variant): 133,053,736
    parameters. ``width`` multiplies every conv width, as in ``vgg11``."""
    return _vgg("vgg13", True, num_classes, in_channels, dims, width, dropout)


@register_model
def vgg16(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width: float = 1.0,
          dropout: float = 0.5) -> VGG:
    """VGG-16 (configuration D) in torchvision's layout: 138,357,544 parameters (also seed
    003's count). ``width`` multiplies every conv width, as in ``vgg11``."""
    return _vgg("vgg16", False, num_classes, in_channels, dims, width, dropout)


@register_model
def vgg16_bn(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width: float = 1.0,
             dropout: float = 0.5) -> VGG:
    """VGG-16 with BatchNorm after every conv (torchvision's variant): 138,365,992
    parameters. ``width`` multiplies every conv width, as in ``vgg11``."""
    return _vgg("vgg16", True, num_classes, in_channels, dims, width, dropout)


@register_model
def vgg19(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width: float = 1.0,
          dropout: float = 0.5) -> VGG:
    """VGG-19 (configuration E) in torchvision's layout: 143,667,240 parameters. ``width``
    multiplies every conv width, as in ``vgg11``."""
    return _vgg("vgg19", False, num_classes, in_channels, dims, width, dropout)


@register_model
def vgg19_bn(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width: float = 1.0,
             dropout: float = 0.5) -> VGG:
    """VGG-19 with BatchNorm after every conv (torchvision's variant): 143,678,248
    parameters. ``width`` multiplies every conv width, as in ``vgg11``."""
    return _vgg("vgg19", True, num_classes, in_channels, dims, width, dropout)


@register_model
def vgg11_d2l(*, num_classes: int = VGG_D2L["num_classes"], in_channels: int = VGG_D2L["in_channels"],
              dims: int = 2, width: float = VGG_D2L["width"], dropout: float = 0.5) -> VGG:
    """Seed 001's (Dive into Deep Learning) VGG-11 for 1-channel 224x224 Fashion-MNIST: conv
    widths divided by 4 (16/32/64/64/128/128/128/128), a 4096-4096 classifier, 10 classes;
    43,093,322 parameters. The same network as ``vgg11(width=0.25, in_channels=1,
    num_classes=10)``; d2l has no adaptive pool, which at 224x224 (7x7 maps) is the same."""
    return VGG(VGG_DEPTHS["vgg11"], num_classes=num_classes, in_channels=in_channels, dims=dims, width=width,
               dropout=dropout, name="vgg11_d2l")
