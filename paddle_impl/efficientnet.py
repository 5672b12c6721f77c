"""EfficientNet B0-B7 in PaddlePaddle, in torchvision's layout and keys.

Mirrors torch_impl/efficientnet.py name for name; the block tables are in zoo/specs/efficientnet.py.
"""
from __future__ import annotations

import paddle
from paddle import nn

from paddle_impl._registry import register_model
from paddle_impl.features import Backbone
from paddle_impl.layers import ConvNormAct, check_dims, check_input, conv, linear_head
from zoo.specs.efficientnet import STOCHASTIC_DEPTH_PROB, VARIANTS, MBConvSpec, efficientnet_body, efficientnet_stages


class StochasticDepth(nn.Layer):
    """Drops a residual branch per sample with probability ``p`` in training, scaling the
    survivors by 1/(1-p) (Huang et al. 2016, "row" mode of torchvision's StochasticDepth).

    ``stochastic = True`` tells the parity harness that this layer draws random numbers in
    train mode. The two frameworks' generators differ, so the harness sets ``mask_source``, a
    callable ``(shape, keep probability) -> numpy 0/1 array`` that both sides share
    (parity/masks.py); left at None, the layer draws its own.
    """

    stochastic = True
    mask_source = None

    def __init__(self, p: float, dims: int = 2) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability must be in [0, 1], got {p}")
        self.p = p
        # One draw per sample, broadcast over channels and space; kept as a list so that
        # torch.fx and TorchScript need not read the input's rank.
        self.noise_tail = [1] * (dims + 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        shape = [x.shape[0]] + self.noise_tail
        if self.mask_source is not None:
            noise = paddle.to_tensor(self.mask_source(shape, survival)).astype(x.dtype)
        else:
            noise = paddle.bernoulli(paddle.full(shape, survival, dtype=x.dtype))
        if survival > 0.0:
            noise = noise / survival
        return x * noise


class GlobalAvgPool(nn.Layer):
    """Global average over the spatial axes, keeping them as size 1: [N, C, ...] -> [N, C, 1, ...].

    torchvision's AdaptiveAvgPool2d(1) written as a mean, in both frameworks: paddle's
    float64 adaptive-pool backward divides in float32 (about 1e-8 relative), which the
    float64 parity checks would otherwise see through every SE block.
    """

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.axes = list(range(2, check_dims(dims) + 2))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x.mean(axis=self.axes, keepdim=True)


class SqueezeExcitation(nn.Layer):
    """Squeeze-and-excitation (Hu et al. 2018) as in torchvision: global average, 1x1 conv
    to ``squeeze`` channels, SiLU, 1x1 conv back, sigmoid, and scale the input."""

    def __init__(self, dims: int, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = GlobalAvgPool(dims)
        self.fc1 = conv(dims, channels, squeeze, 1)
        self.fc2 = conv(dims, squeeze, channels, 1)
        self.activation = nn.Silu()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class MBConv(nn.Layer):
    """Mobile inverted bottleneck (Sandler et al. 2018) with squeeze-and-excitation, as
    EfficientNet uses it: [expand 1x1,] depthwise kxk, SE, project 1x1 (no activation);
    the input is added back, through stochastic depth, when the shapes allow."""

    def __init__(self, dims: int, spec: MBConvSpec, bn_eps: float, bn_momentum: float) -> None:
        super().__init__()
        self.use_res_connect = spec.residual
        norm = dict(eps=bn_eps, momentum=bn_momentum)
        layers: list[nn.Layer] = []
        if spec.expanded != spec.in_channels:
            layers.append(ConvNormAct(dims, spec.in_channels, spec.expanded, 1, activation=nn.Silu, **norm))
        layers += [
            ConvNormAct(dims, spec.expanded, spec.expanded, spec.kernel, spec.stride, groups=spec.expanded,
                        activation=nn.Silu, **norm),
            SqueezeExcitation(dims, spec.expanded, spec.squeeze),
            ConvNormAct(dims, spec.expanded, spec.out_channels, 1, activation=None, **norm),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(spec.drop_prob, dims)
        self.out_channels = spec.out_channels

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


class EfficientNet(Backbone, nn.Layer):
    """EfficientNet (Tan & Le 2019) in torchvision's layout: ``features`` (stem, seven MBConv
    stages, 1x1 head conv), ``avgpool``, ``classifier`` (dropout, Linear). Same keys as
    torchvision's model."""

    def __init__(self, variant: str = "efficientnet_b0", *, num_classes: int = 1000, in_channels: int = 3,
                 dims: int = 2, dropout: float | None = None,
                 stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB) -> None:
        super().__init__()
        self.variant, self.dims, self.in_channels = variant, check_dims(dims), in_channels
        v = VARIANTS[variant]
        norm = dict(eps=v.bn_eps, momentum=v.bn_momentum)
        stem, stages, head = efficientnet_stages(variant, stochastic_depth_prob)
        layers: list[nn.Layer] = [ConvNormAct(dims, in_channels, stem, 3, 2, activation=nn.Silu, **norm)]
        layers += [nn.Sequential(*[MBConv(dims, spec, v.bn_eps, v.bn_momentum) for spec in stage])
                   for stage in stages]
        layers.append(ConvNormAct(dims, stages[-1][-1].out_channels, head, 1, activation=nn.Silu, **norm))
        self.features = nn.Sequential(*layers)
        self.avgpool = GlobalAvgPool(dims)
        self.classifier = nn.Sequential(
            nn.Dropout(p=v.dropout if dropout is None else dropout),
            linear_head(head, num_classes),
        )
        init_efficientnet_(self)
        self.init_backbone(efficientnet_body(variant), {"classifier.1": head}, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input(x, self, model=self.variant, dims=self.dims, in_channels=self.in_channels, min_size=1)
        return self.features(x)

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.classifier(paddle.flatten(self.avgpool(x), 1))


def init_efficientnet_(module: nn.Layer) -> None:
    """torchvision's EfficientNet init, written out since paddle's defaults differ: convs
    kaiming-normal (fan_out, ReLU gain), zero conv biases; BN weight 1, bias 0; Linear
    uniform(+-1/sqrt(out_features)), zero bias (a paddle Linear weight is [in, out])."""
    kaiming = nn.initializer.KaimingNormal(nonlinearity="relu", mode="fan_out")
    ones, zeros = nn.initializer.Constant(1.0), nn.initializer.Constant(0.0)
    for m in module.sublayers(include_self=True):
        if isinstance(m, (nn.Conv1D, nn.Conv2D)):
            kaiming(m.weight)
            if m.bias is not None:
                zeros(m.bias)
        elif isinstance(m, (nn.BatchNorm1D, nn.BatchNorm2D)):
            ones(m.weight)
            zeros(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.weight.shape[1] ** 0.5
            nn.initializer.Uniform(-bound, bound)(m.weight)
            zeros(m.bias)


def _build(variant: str, num_classes: int, in_channels: int, dims: int, dropout: float | None,
           stochastic_depth_prob: float) -> EfficientNet:
    return EfficientNet(variant, num_classes=num_classes, in_channels=in_channels, dims=dims, dropout=dropout,
                        stochastic_depth_prob=stochastic_depth_prob)


@register_model
def efficientnet_b0(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float | None = None,
                    stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB) -> EfficientNet:
    """EfficientNet-B0 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
    Neural Networks", Table 1), torchvision's layout and keys: 5,288,548 parameters, 224x224.
    As torchvision (and the paper): SiLU, SE on a quarter of each block's input width,
    stochastic depth 0.2 rising linearly over the blocks, dropout 0.2; BN eps 1e-5, momentum
    0.1 (torch's defaults, as torchvision uses for B0-B4)."""
    return _build("efficientnet_b0", num_classes, in_channels, dims, dropout, stochastic_depth_prob)


@register_model
def efficientnet_b1(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float | None = None,
                    stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB) -> EfficientNet:
    """EfficientNet-B1 (Tan & Le 2019): width 1.0, depth 1.1, 240x240, dropout 0.2; torchvision's
    layout and keys, 7,794,184 parameters."""
    return _build("efficientnet_b1", num_classes, in_channels, dims, dropout, stochastic_depth_prob)


@register_model
def efficientnet_b2(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float | None = None,
                    stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB) -> EfficientNet:
    """EfficientNet-B2 (Tan & Le 2019): width 1.1, depth 1.2, 260x260, dropout 0.3; torchvision's
    layout and keys, 9,109,994 parameters."""
    return _build("efficientnet_b2", num_classes, in_channels, dims, dropout, stochastic_depth_prob)


@register_model
def efficientnet_b3(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float | None = None,
                    stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB) -> EfficientNet:
    """EfficientNet-B3 (Tan & Le 2019): width 1.2, depth 1.4, 300x300, dropout 0.3; torchvision's
    layout and keys, 12,233,232 parameters."""
    return _build("efficientnet_b3", num_classes, in_channels, dims, dropout, stochastic_depth_prob)


@register_model
def efficientnet_b4(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float | None = None,
                    stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB) -> EfficientNet:
    """EfficientNet-B4 (Tan & Le 2019): width 1.4, depth 1.8, 380x380, dropout 0.4; torchvision's
    layout and keys, 19,341,616 parameters."""
    return _build("efficientnet_b4", num_classes, in_channels, dims, dropout, stochastic_depth_prob)


@register_model
def efficientnet_b5(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float | None = None,
                    stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB) -> EfficientNet:
    """EfficientNet-B5 (Tan & Le 2019): width 1.6, depth 2.2, 456x456, dropout 0.4; torchvision's
    layout and keys, 30,389,784 parameters. BN eps 1e-3, momentum 0.01 (TensorFlow's 0.99),
    as torchvision sets for B5-B7 to match the ported weights."""
    return _build("efficientnet_b5", num_classes, in_channels, dims, dropout, stochastic_depth_prob)


@register_model
def efficientnet_b6(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float | None = None,
                    stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB) -> EfficientNet:
    """EfficientNet-B6 (Tan & Le 2019): width 1.8, depth 2.6, 528x528, dropout 0.5; torchvision's
    layout and keys, 43,040,704 parameters; BN eps 1e-3, momentum 0.01 as torchvision."""
    return _build("efficientnet_b6", num_classes, in_channels, dims, dropout, stochastic_depth_prob)


@register_model
def efficientnet_b7(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float | None = None,
                    stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB) -> EfficientNet:
    """EfficientNet-B7 (Tan & Le 2019): width 2.0, depth 3.1, 600x600, dropout 0.5; torchvision's
    layout and keys, 66,347,960 parameters; BN eps 1e-3, momentum 0.01 as torchvision."""
    return _build("efficientnet_b7", num_classes, in_channels, dims, dropout, stochastic_depth_prob)
