"""ShuffleNet family in PyTorch: ShuffleNet v2 (torchvision's layout and keys) and ShuffleNet v1 (the paper's Table 1).

Mirrors paddle_impl/shufflenet.py name for name; the tables are in zoo/specs/shufflenet.py.
"""
from __future__ import annotations

import torch
from torch import nn

from torch_impl._registry import register_model
from torch_impl.features import Backbone
from torch_impl.layers import (ConvNormAct, avg_pool, batch_norm, check_dims, check_input, conv, init_default_,
                               linear_head, max_pool)
from zoo.specs.shufflenet import (V2_CHANNELS, V2_STAGE_REPEATS, ShuffleUnitSpec, shufflenet_v1_body,
                                  shufflenet_v1_stages, shufflenet_v2_body)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` channel groups, (groups, c/groups) -> (c/groups, groups).

    Reshape and transpose by hand, for any number of spatial dims: paddle's
    ChannelShuffle takes 4D input only, and both sides must do the same thing. The
    spatial axes travel as one, so that TorchScript and torch.fx need not unpack the shape.
    """
    n, c = x.shape[0], x.shape[1]
    return x.reshape(n, groups, c // groups, -1).transpose(1, 2).reshape(x.shape)


class ChannelShuffle(nn.Module):
    """``channel_shuffle`` as a module (no parameters)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """Mean over every spatial axis: [N, C, ...] -> [N, C] (torchvision's ``x.mean([2, 3])``)."""
    return x.flatten(2).mean(2)


# --- ShuffleNet v2 ----------------------------------------------------------------------

class InvertedResidual(nn.Module):
    """ShuffleNet v2 unit (Ma et al. 2018, Fig. 3 c/d), torchvision's ``InvertedResidual``.

    Stride 1: the channels split in half, one half passes through, the other goes through
    1x1-dw3x3-1x1. Stride 2: both branches see the whole input and each outputs half.
    The halves are concatenated and shuffled with 2 groups.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        branch = out_channels // 2
        if stride == 1 and in_channels != 2 * branch:
            raise ValueError(f"a stride-1 unit needs in_channels == out_channels (even), got {in_channels}, "
                             f"{out_channels}")
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                conv(dims, in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
                batch_norm(dims, in_channels),
                conv(dims, in_channels, branch, 1, bias=False),
                batch_norm(dims, branch),
                nn.ReLU(),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            conv(dims, in_channels if stride > 1 else branch, branch, 1, bias=False),
            batch_norm(dims, branch),
            nn.ReLU(),
            conv(dims, branch, branch, 3, stride, 1, groups=branch, bias=False),
            batch_norm(dims, branch),
            conv(dims, branch, branch, 1, bias=False),
            batch_norm(dims, branch),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(Backbone, nn.Module):
    """ShuffleNet v2 (Ma, Zhang, Zheng, Sun 2018) in torchvision's layout: conv1, maxpool,
    stage2-4, conv5, global average, fc. Same keys as torchvision's model."""

    def __init__(self, variant: str = "shufflenet_v2_x1_0", *, num_classes: int = 1000, in_channels: int = 3,
                 dims: int = 2) -> None:
        super().__init__()
        self.variant, self.dims, self.in_channels = variant, check_dims(dims), in_channels
        channels = V2_CHANNELS[variant]
        self.conv1 = ConvNormAct(dims, in_channels, channels[0], 3, 2, 1)
        self.maxpool = max_pool(dims, 3, 2, 1)
        c_in = channels[0]
        for i, (repeats, c_out) in enumerate(zip(V2_STAGE_REPEATS, channels[1:4]), start=2):
            units = [InvertedResidual(dims, c_in, c_out, 2)]
            units += [InvertedResidual(dims, c_out, c_out, 1) for _ in range(repeats - 1)]
            setattr(self, f"stage{i}", nn.Sequential(*units))
            c_in = c_out
        self.conv5 = ConvNormAct(dims, c_in, channels[4], 1)
        self.fc = linear_head(channels[4], num_classes)
        # torchvision leaves torch's defaults; init_default_ writes them out.
        init_default_(self)
        self.init_backbone(shufflenet_v2_body(variant), {"fc": channels[4]}, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model=self.variant, dims=self.dims, in_channels=self.in_channels, min_size=1)
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.stage4(self.stage3(self.stage2(x))))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(global_avg_pool(x))


# --- ShuffleNet v1 ----------------------------------------------------------------------

class ShuffleUnit(nn.Module):
    """ShuffleNet v1 unit (Zhang et al. 2017, Fig. 2 b and c).

    1x1 group conv (BN, ReLU), channel shuffle, 3x3 depthwise conv (BN, no ReLU, as the
    paper says), 1x1 group conv (BN); then add the input (stride 1) or concatenate the
    3x3 stride-2 average-pooled input (stride 2), and ReLU. Where the first 1x1 conv is
    not grouped (first unit of stage 2) there is nothing to shuffle, so no shuffle.
    """

    def __init__(self, dims: int, spec: ShuffleUnitSpec) -> None:
        super().__init__()
        self.stride = spec.stride
        branch_out = spec.out_channels - spec.in_channels if spec.stride == 2 else spec.out_channels
        mid = spec.mid_channels
        self.compress = ConvNormAct(dims, spec.in_channels, mid, 1, groups=spec.compress_groups)
        self.shuffle = ChannelShuffle(spec.groups) if spec.compress_groups > 1 else nn.Identity()
        self.depthwise = ConvNormAct(dims, mid, mid, 3, spec.stride, groups=mid, activation=None)
        self.expand = ConvNormAct(dims, mid, branch_out, 1, groups=spec.groups, activation=None)
        self.shortcut = avg_pool(dims, 3, 2, 1) if spec.stride == 2 else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(self.depthwise(self.shuffle(self.compress(x))))
        if self.stride == 2:
            return self.relu(torch.cat((self.shortcut(x), out), dim=1))
        return self.relu(out + x)


class ShuffleNetV1(Backbone, nn.Module):
    """ShuffleNet v1 (Zhang, Zhou, Lin, Sun 2017), Table 1: conv1 3x3/2 (24), max pool 3x3/2,
    stages 2-4 of ShuffleNet units, global average pool, fc.

    Names follow the v2 model (conv1, maxpool, stage2-4, fc). The paper's layers are
    kept as they are; BN and ReLU after conv1 follow the paper's "BN and nonlinearity as
    in ResNet" remark, since Table 1 lists only the conv.
    """

    def __init__(self, groups: int = 3, *, width_mult: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                 dims: int = 2) -> None:
        super().__init__()
        self.name = f"shufflenet_v1_g{groups}"
        self.dims, self.in_channels = check_dims(dims), in_channels
        stem, stages = shufflenet_v1_stages(groups, width_mult)
        self.conv1 = ConvNormAct(dims, in_channels, stem, 3, 2, 1)
        self.maxpool = max_pool(dims, 3, 2, 1)
        for i, units in enumerate(stages, start=2):
            setattr(self, f"stage{i}", nn.Sequential(*[ShuffleUnit(dims, u) for u in units]))
        self.fc = linear_head(stages[-1][-1].out_channels, num_classes)
        # torch's default scheme, as for ShuffleNet v2 in torchvision.
        init_default_(self)
        self.init_backbone(shufflenet_v1_body(groups, width_mult), {"fc": stages[-1][-1].out_channels}, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model=self.name, dims=self.dims, in_channels=self.in_channels, min_size=1)
        x = self.maxpool(self.conv1(x))
        return self.stage4(self.stage3(self.stage2(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(global_avg_pool(x))


# --- builders ---------------------------------------------------------------------------

@register_model
def shufflenet_v2_x0_5(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2) -> ShuffleNetV2:
    """ShuffleNet v2 0.5x (Ma et al. 2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN
    Architecture Design"), torchvision's layout and keys: 1,366,792 parameters. As the paper;
    init is torch's default, as in torchvision."""
    return ShuffleNetV2("shufflenet_v2_x0_5", num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def shufflenet_v2_x1_0(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2) -> ShuffleNetV2:
    """ShuffleNet v2 1.0x (Ma et al. 2018), torchvision's layout and keys: 2,278,604 parameters."""
    return ShuffleNetV2("shufflenet_v2_x1_0", num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def shufflenet_v2_x1_5(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2) -> ShuffleNetV2:
    """ShuffleNet v2 1.5x (Ma et al. 2018), torchvision's layout and keys: 3,503,624 parameters."""
    return ShuffleNetV2("shufflenet_v2_x1_5", num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def shufflenet_v2_x2_0(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2) -> ShuffleNetV2:
    """ShuffleNet v2 2.0x (Ma et al. 2018), torchvision's layout and keys: 7,393,996 parameters.
    Stage 2 has 244 channels as in the paper's Table 5 and torchvision (paddle.vision uses 224)."""
    return ShuffleNetV2("shufflenet_v2_x2_0", num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def shufflenet_v1_g1(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                     width_mult: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1x, g=1 (Zhang et al. 2017, "ShuffleNet: An Extremely Efficient Convolutional
    Neural Network for Mobile Devices", Table 1): 144/288/576 channels, no shuffle (one group).
    ``width_mult`` is the paper's "ShuffleNet s x" (rounding in zoo/specs/shufflenet.py)."""
    return ShuffleNetV1(1, width_mult=width_mult, num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def shufflenet_v1_g2(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                     width_mult: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1x, g=2 (Zhang et al. 2017, Table 1): 200/400/800 channels; the first 1x1 conv
    of stage 2 is not grouped, as in the paper."""
    return ShuffleNetV1(2, width_mult=width_mult, num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def shufflenet_v1_g3(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                     width_mult: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1x, g=3 (Zhang et al. 2017, Table 1): 240/480/960 channels, the paper's main
    model; the first 1x1 conv of stage 2 is not grouped, as in the paper."""
    return ShuffleNetV1(3, width_mult=width_mult, num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def shufflenet_v1_g4(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                     width_mult: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1x, g=4 (Zhang et al. 2017, Table 1): 272/544/1088 channels; the first 1x1
    conv of stage 2 is not grouped, as in the paper."""
    return ShuffleNetV1(4, width_mult=width_mult, num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def shufflenet_v1_g8(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                     width_mult: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1x, g=8 (Zhang et al. 2017, Table 1): 384/768/1536 channels; the first 1x1
    conv of stage 2 is not grouped, as in the paper."""
    return ShuffleNetV1(8, width_mult=width_mult, num_classes=num_classes, in_channels=in_channels, dims=dims)
