"""MobileNet v1, v2 and v3 in PyTorch, 1D and 2D.

v2 and v3 have torchvision's layout and state-dict keys; v1 (not in torchvision) has
paddle.vision's. Mirrors paddle_impl/mobilenet.py name for name; the block tables and
width rules are in zoo/specs/mobilenet.py.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from torch_impl._registry import register_model
from torch_impl.features import Backbone
from torch_impl.layers import ConvNormAct, adaptive_avg_pool, batch_norm, check_dims, check_input, conv, linear_head
from zoo.specs.mobilenet import (MOBILENET_V1_BLOCKS, MOBILENET_V1_STEM, MOBILENET_V2_LAST, MOBILENET_V3_BN,
                                 make_divisible, mobilenet_v1_body, mobilenet_v1_channels, mobilenet_v2_blocks,
                                 mobilenet_v2_body, mobilenet_v3_blocks, mobilenet_v3_body, mobilenet_v3_last_channel)


class Hardsigmoid(nn.Module):
    """relu6(x + 3) / 6, written out so both frameworks compute exactly the same thing.

    paddle's own Hardsigmoid uses a slope of 0.1666667 rather than 1/6; torch's equals
    this formula bit for bit.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) as torchvision builds it: global average pool,
    1x1 conv ``fc1``, activation, 1x1 conv ``fc2``, gate, and the input scaled by the gate."""

    def __init__(self, dims: int, input_channels: int, squeeze_channels: int,
                 activation: type[nn.Module] = nn.ReLU, scale_activation: type[nn.Module] = nn.Sigmoid) -> None:
        super().__init__()
        self.avgpool = adaptive_avg_pool(dims, 1)
        self.fc1 = conv(dims, input_channels, squeeze_channels, 1)
        self.fc2 = conv(dims, squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class DepthwiseSeparable(nn.Module):
    """MobileNet v1's block: a 3x3 depthwise conv and a 1x1 pointwise conv, each with BN and ReLU.

    Attribute names are paddle.vision's (``_depthwise_conv``, ``_pointwise_conv``).
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self._depthwise_conv = ConvNormAct(dims, in_channels, in_channels, 3, stride, groups=in_channels)
        self._pointwise_conv = ConvNormAct(dims, in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._pointwise_conv(self._depthwise_conv(x))


class MobileNetV1(Backbone, nn.Module):
    """MobileNet v1 (Howard et al. 2017) with paddle.vision's layout: ``conv1``, thirteen
    depthwise-separable blocks named ``conv2_1`` ... ``conv6``, global average pool, ``fc``.

    ``width_mult`` is the paper's alpha, applied as paddle.vision does (``int(c * alpha)``).
    The paper's resolution multiplier is just the input size, which may be anything.
    """

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                 width_mult: float = 1.0) -> None:
        super().__init__()
        self.dims, self.in_channels = check_dims(dims), in_channels
        self.conv1 = ConvNormAct(dims, in_channels, mobilenet_v1_channels(MOBILENET_V1_STEM, width_mult), 3, 2)
        for name, cin, cout, stride in MOBILENET_V1_BLOCKS:
            self.add_module(name, DepthwiseSeparable(dims, mobilenet_v1_channels(cin, width_mult),
                                                     mobilenet_v1_channels(cout, width_mult), stride))
        self.avgpool = adaptive_avg_pool(dims, 1)
        width = mobilenet_v1_channels(MOBILENET_V1_BLOCKS[-1][2], width_mult)
        self.fc = linear_head(width, num_classes)
        init_weights_(self)
        self.init_backbone(mobilenet_v1_body(width_mult), {"fc": width}, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model="mobilenet_v1", dims=self.dims, in_channels=self.in_channels, min_size=1)
        # Written out rather than looped over names: TorchScript has no getattr by a variable name.
        x = self.conv2_2(self.conv2_1(self.conv1(x)))
        x = self.conv4_2(self.conv4_1(self.conv3_2(self.conv3_1(x))))
        x = self.conv5_3(self.conv5_2(self.conv5_1(x)))
        x = self.conv5_6(self.conv5_5(self.conv5_4(x)))
        return self.conv6(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(x), 1))


class InvertedResidual(nn.Module):
    """MobileNet v2's block: 1x1 expansion (unless t = 1), 3x3 depthwise, linear 1x1
    projection, with a skip connection when the shape is kept."""

    def __init__(self, dims: int, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(dims, inp, hidden_dim, 1, activation=nn.ReLU6))
        layers += [
            ConvNormAct(dims, hidden_dim, hidden_dim, 3, stride, groups=hidden_dim, activation=nn.ReLU6),
            conv(dims, hidden_dim, oup, 1, bias=False),
            batch_norm(dims, oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(Backbone, nn.Module):
    """MobileNet v2 (Sandler et al. 2018) as torchvision builds it: ``features`` (stem,
    seventeen inverted residuals, 1x1 conv to 1280), global average pool, ``classifier``
    (dropout, Linear). ``width_mult`` scales every width, rounded to ``round_nearest``."""

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width_mult: float = 1.0,
                 round_nearest: int = 8, dropout: float = 0.2) -> None:
        super().__init__()
        self.dims, self.in_channels = check_dims(dims), in_channels
        blocks = mobilenet_v2_blocks(width_mult, round_nearest)
        self.last_channel = make_divisible(MOBILENET_V2_LAST * max(1.0, width_mult), round_nearest)
        features: list[nn.Module] = [ConvNormAct(dims, in_channels, blocks[0][0], 3, 2, activation=nn.ReLU6)]
        features += [InvertedResidual(dims, cin, cout, s, t) for cin, cout, s, t in blocks]
        features.append(ConvNormAct(dims, blocks[-1][1], self.last_channel, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.avgpool = adaptive_avg_pool(dims, 1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), linear_head(self.last_channel, num_classes))
        init_weights_(self)
        self.init_backbone(mobilenet_v2_body(width_mult, round_nearest), {"classifier.1": self.last_channel},
                           num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model="mobilenet_v2", dims=self.dims, in_channels=self.in_channels, min_size=1)
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(x), 1))


class InvertedResidualV3(nn.Module):
    """MobileNet v3's bneck: 1x1 expansion (when it widens), kxk depthwise, optional
    squeeze-excitation with a hard-sigmoid gate, linear 1x1 projection, skip connection
    when the shape is kept. ReLU or hard-swish by row. torchvision's ``InvertedResidual``
    of mobilenetv3.py (keys ``block.N``)."""

    def __init__(self, dims: int, cnf: dict, bn: dict) -> None:
        super().__init__()
        if cnf["stride"] not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {cnf['stride']}")
        self.use_res_connect = cnf["stride"] == 1 and cnf["in_channels"] == cnf["out_channels"]
        act = nn.Hardswish if cnf["use_hs"] else nn.ReLU
        exp = cnf["expanded"]
        layers: list[nn.Module] = []
        if exp != cnf["in_channels"]:
            layers.append(ConvNormAct(dims, cnf["in_channels"], exp, 1, activation=act, **bn))
        layers.append(ConvNormAct(dims, exp, exp, cnf["kernel"], cnf["stride"], groups=exp, activation=act, **bn))
        if cnf["use_se"]:
            layers.append(SqueezeExcitation(dims, exp, cnf["squeeze"], scale_activation=Hardsigmoid))
        layers.append(ConvNormAct(dims, exp, cnf["out_channels"], 1, activation=None, **bn))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf["out_channels"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        return result + x if self.use_res_connect else result


class MobileNetV3(Backbone, nn.Module):
    """MobileNet v3 (Howard et al. 2019), "large" or "small", as torchvision builds it:
    ``features`` (hard-swish stem, bnecks, 1x1 conv to six times the last width),
    global average pool, ``classifier`` (Linear, hard-swish, dropout, Linear). BatchNorm
    uses eps 1e-3 and momentum 0.01 throughout, as torchvision does."""

    def __init__(self, arch: str, *, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                 width_mult: float = 1.0, reduced_tail: bool = False, dropout: float = 0.2) -> None:
        super().__init__()
        self.arch, self.dims, self.in_channels = arch, check_dims(dims), in_channels
        blocks = mobilenet_v3_blocks(arch, width_mult, reduced_tail)
        bn = dict(MOBILENET_V3_BN)
        layers: list[nn.Module] = [
            ConvNormAct(dims, in_channels, blocks[0]["in_channels"], 3, 2, activation=nn.Hardswish, **bn),
        ]
        layers += [InvertedResidualV3(dims, cnf, bn) for cnf in blocks]
        last_in = blocks[-1]["out_channels"]
        layers.append(ConvNormAct(dims, last_in, 6 * last_in, 1, activation=nn.Hardswish, **bn))
        self.features = nn.Sequential(*layers)
        self.avgpool = adaptive_avg_pool(dims, 1)
        last_channel = mobilenet_v3_last_channel(arch, width_mult, reduced_tail)
        self.classifier = nn.Sequential(
            nn.Linear(6 * last_in, last_channel), nn.Hardswish(), nn.Dropout(p=dropout),
            linear_head(last_channel, num_classes),
        )
        init_weights_(self)
        self.init_backbone(mobilenet_v3_body(arch, width_mult, reduced_tail), {"classifier.3": last_channel},
                           num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model=f"mobilenet_v3_{self.arch}", dims=self.dims, in_channels=self.in_channels, min_size=1)
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(x), 1))


def init_weights_(model: nn.Module) -> None:
    """torchvision's MobileNet scheme: kaiming-normal convs (fan_out, ReLU gain; fan_out of a
    depthwise conv is channels * k * k, as torch counts it), BN weight 1 bias 0, Linear
    N(0, 0.01), zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


@register_model
def mobilenet_v1(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                 width_mult: float = 1.0) -> MobileNetV1:
    """MobileNet v1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks
    for Mobile Vision Applications"), as paddle.vision's mobilenet_v1 (same layer names, so
    its checkpoints load key for key); 4,231,976 parameters at width_mult 1.0 (the paper's
    4.2M). ``width_mult`` is the paper's alpha (0.25, 0.5, 0.75: 470,072, 1,331,592 and
    2,585,560). Weights are initialised with torchvision's MobileNet scheme (paddle.vision
    leaves paddle's defaults), and there is no dropout (neither the paper nor paddle.vision
    has one)."""
    return MobileNetV1(num_classes=num_classes, in_channels=in_channels, dims=dims, width_mult=width_mult)


@register_model
def mobilenet_v2(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width_mult: float = 1.0,
                 round_nearest: int = 8, dropout: float = 0.2) -> MobileNetV2:
    """MobileNet v2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
    Bottlenecks"), torchvision's mobilenet_v2 (layout, keys, init); 3,504,872 parameters.
    As in torchvision and unlike the paper's Table 2, the last 1x1 conv keeps 1280 channels
    for width_mult < 1, and dropout 0.2 precedes the classifier."""
    return MobileNetV2(num_classes=num_classes, in_channels=in_channels, dims=dims, width_mult=width_mult,
                       round_nearest=round_nearest, dropout=dropout)


@register_model
def mobilenet_v3_small(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width_mult: float = 1.0,
                       reduced_tail: bool = False, dropout: float = 0.2) -> MobileNetV3:
    """MobileNet v3 Small (Howard et al. 2019, "Searching for MobileNetV3", Table 2),
    torchvision's mobilenet_v3_small; 2,542,856 parameters. As in torchvision, the SE
    bottleneck is a quarter of the expanded width rounded to 8, and ``reduced_tail``
    halves the last stage. torchvision's ``dilated`` option (for segmentation) is not
    offered. The hard-sigmoid is relu6(x + 3) / 6 exactly (paddle's built-in differs)."""
    return MobileNetV3("small", num_classes=num_classes, in_channels=in_channels, dims=dims, width_mult=width_mult,
                       reduced_tail=reduced_tail, dropout=dropout)


@register_model
def mobilenet_v3_large(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, width_mult: float = 1.0,
                       reduced_tail: bool = False, dropout: float = 0.2) -> MobileNetV3:
    """MobileNet v3 Large (Howard et al. 2019, "Searching for MobileNetV3", Table 1),
    torchvision's mobilenet_v3_large; 5,483,032 parameters. As in torchvision, the SE
    bottleneck is a quarter of the expanded width rounded to 8, and ``reduced_tail``
    halves the last stage. torchvision's ``dilated`` option (for segmentation) is not
    offered. The hard-sigmoid is relu6(x + 3) / 6 exactly (paddle's built-in differs)."""
    return MobileNetV3("large", num_classes=num_classes, in_channels=in_channels, dims=dims, width_mult=width_mult,
                       reduced_tail=reduced_tail, dropout=dropout)
