"""ResNet family in PaddlePaddle: torchvision's ResNet, ResNeXt and Wide ResNet, and seed 001's d2l ResNet-18.

Mirrors torch_impl/resnet.py name for name; the stage tables are in zoo/specs/resnet.py.
The attribute names are torchvision's, so converted torchvision checkpoints load, and
they are also paddle.vision's ResNet names.
"""
from __future__ import annotations

from typing import Sequence

import paddle
from paddle import nn

from paddle_impl._registry import register_model
from paddle_impl.features import Backbone
from paddle_impl.layers import (adaptive_avg_pool, batch_norm, check_dims, check_input, conv, init_default_,
                                init_kaiming_, linear_head, max_pool)
from zoo.specs.resnet import (EXPANSION, MIN_SIZE, RESNET_CONFIGS, RESNET_D2L, STAGE_PLANES, STEM_CHANNELS,
                              block_width, resnet_body, resnet_d2l_body)


class BasicBlock(nn.Layer):
    """Two 3x3 convs with BatchNorm, added to the (possibly projected) input: ResNet-18/34."""

    expansion = EXPANSION["basic"]

    def __init__(self, dims: int, inplanes: int, planes: int, stride: int = 1, downsample: nn.Layer | None = None,
                 groups: int = 1, width_per_group: int = 64) -> None:
        super().__init__()
        if groups != 1 or width_per_group != 64:
            raise ValueError("BasicBlock supports only groups=1 and width_per_group=64 "
                             f"(got groups={groups}, width_per_group={width_per_group})")
        self.conv1 = conv(dims, inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = batch_norm(dims, planes)
        self.relu = nn.ReLU()
        self.conv2 = conv(dims, planes, planes, 3, 1, 1, bias=False)
        self.bn2 = batch_norm(dims, planes)
        self.downsample = downsample

    def residual_norm(self) -> nn.Layer:
        """The BatchNorm that closes the residual branch (zeroed by ``zero_init_residual``)."""
        return self.bn2

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Layer):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand by 4, each with BatchNorm.

    The stride sits on the 3x3 conv, as in torchvision ("ResNet v1.5"); the paper puts
    it on the first 1x1 conv, which skips three quarters of the input positions.
    """

    expansion = EXPANSION["bottleneck"]

    def __init__(self, dims: int, inplanes: int, planes: int, stride: int = 1, downsample: nn.Layer | None = None,
                 groups: int = 1, width_per_group: int = 64) -> None:
        super().__init__()
        width = block_width(planes, groups, width_per_group)
        self.conv1 = conv(dims, inplanes, width, 1, bias=False)
        self.bn1 = batch_norm(dims, width)
        self.conv2 = conv(dims, width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = batch_norm(dims, width)
        self.conv3 = conv(dims, width, planes * self.expansion, 1, bias=False)
        self.bn3 = batch_norm(dims, planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def residual_norm(self) -> nn.Layer:
        """The BatchNorm that closes the residual branch (zeroed by ``zero_init_residual``)."""
        return self.bn3

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(Backbone, nn.Layer):
    """ResNet (He et al. 2016) in torchvision's layout, which also covers ResNeXt and Wide ResNet.

    Stem conv 7x7/2, BN, ReLU, max pool 3x3/2; four stages (``layer1``..``layer4``) of
    ``block`` with 64-128-256-512 planes, the first block of stages 2-4 striding by 2 and
    projecting its shortcut with a 1x1 conv and BN; global average pool; ``fc``.
    Initialised as torchvision does: Kaiming-normal (fan_out, ReLU) convs, BN weight 1
    and bias 0, ``fc`` with torch's default uniform; ``zero_init_residual`` zeroes the
    last BN weight of every residual branch, so each block starts as the identity.
    torchvision's ``replace_stride_with_dilation`` and ``norm_layer`` are not provided.
    """

    def __init__(self, block: str, layers: Sequence[int], *, num_classes: int = 1000, in_channels: int = 3,
                 dims: int = 2, zero_init_residual: bool = False, groups: int = 1, width_per_group: int = 64,
                 name: str = "resnet") -> None:
        super().__init__()
        self.name, self.dims, self.in_channels, self.min_size = name, check_dims(dims), in_channels, MIN_SIZE
        self.block = BLOCKS[block]
        self.groups, self.width_per_group = groups, width_per_group
        self.inplanes = STEM_CHANNELS
        self.conv1 = conv(dims, in_channels, STEM_CHANNELS, 7, 2, 3, bias=False)
        self.bn1 = batch_norm(dims, STEM_CHANNELS)
        self.relu = nn.ReLU()
        self.maxpool = max_pool(dims, 3, 2, 1)
        self.layer1 = self._make_layer(STAGE_PLANES[0], layers[0])
        self.layer2 = self._make_layer(STAGE_PLANES[1], layers[1], stride=2)
        self.layer3 = self._make_layer(STAGE_PLANES[2], layers[2], stride=2)
        self.layer4 = self._make_layer(STAGE_PLANES[3], layers[3], stride=2)
        self.avgpool = adaptive_avg_pool(dims, 1)
        self.fc = linear_head(STAGE_PLANES[3] * self.block.expansion, num_classes)
        self._init_weights(zero_init_residual)
        self.init_backbone(resnet_body(block), {"fc": STAGE_PLANES[3] * self.block.expansion}, num_classes)

    @classmethod
    def from_config(cls, variant: str, **kwargs) -> "ResNet":
        """The ResNet of a RESNET_CONFIGS row; ``kwargs`` override the row's groups/width."""
        cfg = dict(RESNET_CONFIGS[variant])
        cfg.update(kwargs)
        block, layers = cfg.pop("block"), cfg.pop("layers")
        return cls(block, layers, name=variant, **cfg)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        out_channels = planes * self.block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out_channels:
            downsample = nn.Sequential(conv(self.dims, self.inplanes, out_channels, 1, stride, bias=False),
                                       batch_norm(self.dims, out_channels))
        layers = [self.block(self.dims, self.inplanes, planes, stride, downsample, self.groups, self.width_per_group)]
        self.inplanes = out_channels
        layers += [self.block(self.dims, self.inplanes, planes, groups=self.groups,
                              width_per_group=self.width_per_group) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        init_kaiming_(self, mode="fan_out")
        init_default_(self.fc)  # torch's default uniform; paddle's own Linear default is Xavier
        if zero_init_residual:
            for m in self.sublayers():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.initializer.Constant(0.0)(m.residual_norm().weight)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input(x, self, model=self.name, dims=self.dims, in_channels=self.in_channels, min_size=self.min_size)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(paddle.flatten(self.avgpool(x), 1))


class Residual(nn.Layer):
    """d2l's residual block (seed 001): two biased 3x3 convs with BatchNorm, added to the
    input, which passes through a biased 1x1 conv (``conv3``) when ``use_1x1conv``."""

    def __init__(self, dims: int, in_channels: int, channels: int, use_1x1conv: bool = False,
                 stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv(dims, in_channels, channels, 3, stride, 1)
        self.conv2 = conv(dims, channels, channels, 3, 1, 1)
        self.conv3 = conv(dims, in_channels, channels, 1, stride) if use_1x1conv else None
        self.bn1 = batch_norm(dims, channels)
        self.bn2 = batch_norm(dims, channels)
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3 is not None:
            x = self.conv3(x)
        return self.relu(y + x)


class ResNetD2L(Backbone, nn.Layer):
    """ResNet-18 as Dive into Deep Learning builds it (seed 001).

    ``b1``: biased conv 7x7/2, BN, ReLU, max pool 3x3/2; ``b2``..``b5``: two Residual
    blocks each (64-128-256-512 channels), the first block of b3-b5 striding by 2 with a
    1x1 conv on its shortcut; global average pool; ``fc``. It differs from the paper's
    (and torchvision's) ResNet-18 in its biased convs and a shortcut projection with no
    BatchNorm. Initialised with torch's default uniform scheme, which is what the seed's
    modules start from (d2l's training loop re-initialises with Xavier before training).
    """

    def __init__(self, *, num_classes: int = 10, in_channels: int = 1, dims: int = 2) -> None:
        super().__init__()
        self.dims, self.in_channels, self.min_size = check_dims(dims), in_channels, MIN_SIZE
        stem = RESNET_D2L["stem_channels"]
        self.b1 = nn.Sequential(conv(dims, in_channels, stem, 7, 2, 3), batch_norm(dims, stem), nn.ReLU(),
                                max_pool(dims, 3, 2, 1))
        channels = stem
        for i, (out_channels, blocks) in enumerate(zip(RESNET_D2L["channels"], RESNET_D2L["blocks"])):
            first_stride = 1 if i == 0 else 2  # the stem has already halved twice
            stage = [Residual(dims, channels, out_channels, use_1x1conv=first_stride != 1, stride=first_stride)]
            stage += [Residual(dims, out_channels, out_channels) for _ in range(1, blocks)]
            self.add_sublayer(f"b{i + 2}", nn.Sequential(*stage))
            channels = out_channels
        self.avgpool = adaptive_avg_pool(dims, 1)
        self.fc = linear_head(channels, num_classes)
        init_default_(self)
        self.init_backbone(resnet_d2l_body(), {"fc": channels}, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input(x, self, model="resnet18_d2l", dims=self.dims, in_channels=self.in_channels, min_size=self.min_size)
        return self.b5(self.b4(self.b3(self.b2(self.b1(x)))))

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(paddle.flatten(self.avgpool(x), 1))
@register_model
def resnet18(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-18 (He et al. 2016), torchvision's layout and init: BasicBlocks [2, 2, 2, 2];
    11,689,512 parameters. Shape-changing shortcuts are 1x1 conv + BN projections (the
    paper's option B; its Table 2 ImageNet nets pad the identity with zeros, option A)."""
    return ResNet.from_config("resnet18", num_classes=num_classes, in_channels=in_channels, dims=dims,
                              zero_init_residual=zero_init_residual)


@register_model
def resnet34(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-34 (He et al. 2016), torchvision's layout and init: BasicBlocks [3, 4, 6, 3];
    21,797,672 parameters. Shortcut projections as in ``resnet18`` (option B, not the
    zero-padding option A of the paper's Table 2)."""
    return ResNet.from_config("resnet34", num_classes=num_classes, in_channels=in_channels, dims=dims,
                              zero_init_residual=zero_init_residual)


@register_model
def resnet50(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, zero_init_residual: bool = False,
             groups: int = 1, width_per_group: int = 64) -> ResNet:
    """ResNet-50 (He et al. 2016), torchvision's layout and init: Bottlenecks [3, 4, 6, 3] with
    the stride on the 3x3 conv (the paper strides the first 1x1); 25,557,032 parameters.
    ``groups``/``width_per_group`` make it a ResNeXt or Wide ResNet."""
    return ResNet.from_config("resnet50", num_classes=num_classes, in_channels=in_channels, dims=dims,
                              zero_init_residual=zero_init_residual, groups=groups, width_per_group=width_per_group)


@register_model
def resnet101(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, zero_init_residual: bool = False,
              groups: int = 1, width_per_group: int = 64) -> ResNet:
    """ResNet-101 (He et al. 2016), torchvision's layout and init: Bottlenecks [3, 4, 23, 3],
    stride on the 3x3 conv; 44,549,160 parameters."""
    return ResNet.from_config("resnet101", num_classes=num_classes, in_channels=in_channels, dims=dims,
                              zero_init_residual=zero_init_residual, groups=groups, width_per_group=width_per_group)


@register_model
def resnet152(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, zero_init_residual: bool = False,
              groups: int = 1, width_per_group: int = 64) -> ResNet:
    """ResNet-152 (He et al. 2016), torchvision's layout and init: Bottlenecks [3, 8, 36, 3],
    stride on the 3x3 conv; 60,192,808 parameters."""
    return ResNet.from_config("resnet152", num_classes=num_classes, in_channels=in_channels, dims=dims,
                              zero_init_residual=zero_init_residual, groups=groups, width_per_group=width_per_group)


@register_model
def resnext50_32x4d(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                    zero_init_residual: bool = False) -> ResNet:
    """ResNeXt-50 32x4d (Xie et al. 2017) in torchvision's layout: ResNet-50 whose 3x3 convs
    have 32 groups of 4 channels per 64 planes; 25,028,904 parameters."""
    return ResNet.from_config("resnext50_32x4d", num_classes=num_classes, in_channels=in_channels, dims=dims,
                              zero_init_residual=zero_init_residual)


@register_model
def wide_resnet50_2(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                    zero_init_residual: bool = False) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016) as torchvision builds it: ResNet-50 with
    the Bottleneck's inner width doubled (the paper widens pre-activation basic blocks);
    68,883,240 parameters."""
    return ResNet.from_config("wide_resnet50_2", num_classes=num_classes, in_channels=in_channels, dims=dims,
                              zero_init_residual=zero_init_residual)


@register_model
def resnet18_d2l(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2) -> ResNetD2L:
    """The Dive-into-Deep-Learning ResNet-18 of seed 001 (Fashion-MNIST, 1 channel, 10 classes):
    biased convs and a biased 1x1 shortcut conv without BatchNorm, unlike the paper."""
    return ResNetD2L(num_classes=num_classes, in_channels=in_channels, dims=dims)
