"""DenseNet family in PyTorch: torchvision's DenseNet-BC (121/161/169/201) and seed 001's d2l DenseNet.

Mirrors paddle_impl/densenet.py name for name; the growth and block tables are in
zoo/specs/densenet.py. The torchvision models have torchvision's state-dict keys and
shapes (``features.denseblock1.denselayer1.norm1.weight``), so its checkpoints load
with ``strict=True``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import torch
from torch import nn

from torch_impl._registry import register_model
from torch_impl.features import Backbone
from torch_impl.layers import (ADAPTIVE_MAX_POOL, adaptive_avg_pool, avg_pool, batch_norm, check_dims, check_input,
                               conv, init_default_, init_kaiming_, linear_head, max_pool, to_dims)
from zoo.specs.densenet import BN_SIZE, COMPRESSION_DIVISOR, DENSENET_CONFIGS, DENSENET_D2L, MIN_SIZE, densenet_body


class NormActConv(nn.Sequential):
    """BatchNorm, ReLU, conv: DenseNet's pre-activation unit (keys ``norm.*``, ``conv.*``)."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 bias: bool = False) -> None:
        super().__init__(OrderedDict([
            ("norm", batch_norm(dims, in_channels)),
            ("relu", nn.ReLU()),
            ("conv", conv(dims, in_channels, out_channels, kernel_size, padding=padding, bias=bias)),
        ]))


class Transition(NormActConv):
    """BN, ReLU, 1x1 conv to ``out_channels``, then a 2x2 average pool (stride 2, no padding)."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__(dims, in_channels, out_channels, 1, bias=bias)
        self.add_module("pool", avg_pool(dims, 2, 2))


class DenseLayer(nn.Module):
    """DenseNet-BC's layer: BN-ReLU-1x1 conv to ``bn_size * growth_rate`` channels, then
    BN-ReLU-3x3 conv to ``growth_rate``; optional dropout on the new features.

    Takes the concatenation of everything before it in the block. torchvision's
    ``memory_efficient`` checkpointing (recomputing the 1x1 bottleneck in backward to
    save memory) is not provided: it changes memory use, not the result.
    """

    def __init__(self, dims: int, in_channels: int, growth_rate: int, bn_size: int = BN_SIZE,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        self.norm1 = batch_norm(dims, in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = conv(dims, in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = batch_norm(dims, bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = conv(dims, bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        # A module rather than F.dropout, so that parity can switch it to eval on its own.
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(x)))
        out = self.conv2(self.relu2(self.norm2(out)))
        return self.dropout(out)


class DenseBlock(nn.ModuleDict):
    """Layers ``denselayer1``..``N``: each sees the block input concatenated with every
    earlier layer's output, and the block returns all of them concatenated."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__(OrderedDict((f"denselayer{i + 1}", layer) for i, layer in enumerate(layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


def dense_stages(dims: int, channels: int, block_config: Sequence[int], growth_rate: int,
                 make_layer: Callable[[int], nn.Module], transition_bias: bool = False
                 ) -> tuple[list[tuple[str, nn.Module]], int]:
    """(name, module) pairs ``denseblockI`` and ``transitionI`` for ``block_config``, and the
    channels that come out. ``make_layer(in_channels)`` builds one dense layer; every
    transition but none after the last block halves the channels and the size."""
    stages: list[tuple[str, nn.Module]] = []
    for i, num_layers in enumerate(block_config):
        stages.append((f"denseblock{i + 1}",
                       DenseBlock([make_layer(channels + j * growth_rate) for j in range(num_layers)])))
        channels += num_layers * growth_rate
        if i != len(block_config) - 1:
            out = channels // COMPRESSION_DIVISOR
            stages.append((f"transition{i + 1}", Transition(dims, channels, out, bias=transition_bias)))
            channels = out
    return stages, channels


def stem(dims: int, in_channels: int, out_channels: int, bias: bool) -> list[tuple[str, nn.Module]]:
    """conv 7x7/2, BN, ReLU, max pool 3x3/2: the stem both DenseNets share."""
    return [("conv0", conv(dims, in_channels, out_channels, 7, 2, 3, bias=bias)),
            ("norm0", batch_norm(dims, out_channels)), ("relu0", nn.ReLU()), ("pool0", max_pool(dims, 3, 2, 1))]


class DenseNet(Backbone, nn.Module):
    """DenseNet-BC (Huang et al. 2017) in torchvision's layout.

    ``features``: stem (conv0/norm0/relu0/pool0), dense blocks with transitions between
    them, ``norm5``; then ReLU, global average pool and ``classifier``. Initialised as
    torchvision does: Kaiming-normal (fan_in, ReLU gain) convs, BN weight 1 and bias 0,
    ``classifier`` weight with torch's default uniform and bias 0. These are the paper's
    ImageNet nets (Table 1); the paper trains them without dropout, so ``drop_rate``
    defaults to 0. torchvision's ``memory_efficient`` checkpointing is not provided (it
    saves memory in training and gives the same result).
    """

    def __init__(self, growth_rate: int = 32, block_config: Sequence[int] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = BN_SIZE, drop_rate: float = 0.0, *,
                 num_classes: int = 1000, in_channels: int = 3, dims: int = 2, name: str = "densenet") -> None:
        super().__init__()
        self.name, self.dims, self.in_channels, self.min_size = name, check_dims(dims), in_channels, MIN_SIZE

        def make_layer(channels: int) -> nn.Module:
            return DenseLayer(dims, channels, growth_rate, bn_size, drop_rate)

        stages, channels = dense_stages(dims, num_init_features, block_config, growth_rate, make_layer)
        self.features = nn.Sequential(OrderedDict(
            stem(dims, in_channels, num_init_features, bias=False) + stages
            + [("norm5", batch_norm(dims, channels))]))
        self.relu = nn.ReLU()
        self.avgpool = adaptive_avg_pool(dims, 1)
        self.classifier = linear_head(channels, num_classes)
        init_kaiming_(self, mode="fan_in")
        init_default_(self.classifier)  # torch's default weight, written out so paddle_impl can match it
        if num_classes > 0:
            nn.init.zeros_(self.classifier.bias)
        self.init_backbone(densenet_body(growth_rate, block_config, num_init_features), {"classifier": channels},
                           num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model=self.name, dims=self.dims, in_channels=self.in_channels, min_size=self.min_size)
        return self.relu(self.features(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(x), 1))


class DenseNetD2L(Backbone, nn.Module):
    """DenseNet as Dive into Deep Learning builds it (seed 001).

    ``features``: biased conv 7x7/2, BN, ReLU, max pool 3x3/2; four dense blocks of four
    BN-ReLU-3x3 convs (biased, growth 32, no 1x1 bottleneck) with biased BN-ReLU-1x1
    transitions halving channels and size; BN (``norm5``). Then ReLU, a global pool and
    ``classifier``. The seed pools with an adaptive max pool where the DenseNet paper
    averages; ``global_pool="avg"`` gives the paper's choice.
    Initialised with torch's default uniform scheme, what the seed's modules start from.
    """

    def __init__(self, *, num_classes: int = 10, in_channels: int = 1, dims: int = 2,
                 global_pool: str = "max") -> None:
        super().__init__()
        if global_pool not in ("max", "avg"):
            raise ValueError(f"global_pool must be 'max' or 'avg', got {global_pool!r}")
        self.dims, self.in_channels, self.min_size = check_dims(dims), in_channels, MIN_SIZE
        growth_rate = DENSENET_D2L["growth_rate"]

        def make_layer(channels: int) -> nn.Module:
            return NormActConv(dims, channels, growth_rate, 3, padding=1, bias=True)

        stages, channels = dense_stages(dims, DENSENET_D2L["stem_channels"], DENSENET_D2L["block_config"],
                                        growth_rate, make_layer, transition_bias=True)
        self.features = nn.Sequential(OrderedDict(
            stem(dims, in_channels, DENSENET_D2L["stem_channels"], bias=True) + stages
            + [("norm5", batch_norm(dims, channels))]))
        self.relu = nn.ReLU()
        self.pool = ADAPTIVE_MAX_POOL[dims](to_dims(1, dims)) if global_pool == "max" else adaptive_avg_pool(dims, 1)
        self.classifier = linear_head(channels, num_classes)
        init_default_(self)
        self.init_backbone(densenet_body(growth_rate, DENSENET_D2L["block_config"], DENSENET_D2L["stem_channels"]),
                           {"classifier": channels}, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model="densenet_d2l", dims=self.dims, in_channels=self.in_channels, min_size=self.min_size)
        return self.relu(self.features(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(x), 1))


def _densenet(name: str, num_classes: int, in_channels: int, dims: int, drop_rate: float) -> DenseNet:
    return DenseNet(**DENSENET_CONFIGS[name], bn_size=BN_SIZE, drop_rate=drop_rate, num_classes=num_classes,
                    in_channels=in_channels, dims=dims, name=name)


@register_model
def densenet121(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-121 (Huang et al. 2017, DenseNet-BC, k=32, blocks 6-12-24-16) in torchvision's
    layout and init; 7,978,856 parameters."""
    return _densenet("densenet121", num_classes, in_channels, dims, drop_rate)


@register_model
def densenet161(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-161 (Huang et al. 2017, DenseNet-BC, k=48, 96-channel stem, blocks 6-12-36-24) in
    torchvision's layout and init; 28,681,000 parameters."""
    return _densenet("densenet161", num_classes, in_channels, dims, drop_rate)


@register_model
def densenet169(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-169 (Huang et al. 2017, DenseNet-BC, k=32, blocks 6-12-32-32) in torchvision's
    layout and init; 14,149,480 parameters."""
    return _densenet("densenet169", num_classes, in_channels, dims, drop_rate)


@register_model
def densenet201(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-201 (Huang et al. 2017, DenseNet-BC, k=32, blocks 6-12-48-32) in torchvision's
    layout and init; 20,013,928 parameters."""
    return _densenet("densenet201", num_classes, in_channels, dims, drop_rate)


@register_model
def densenet_d2l(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2,
                 global_pool: str = "max") -> DenseNetD2L:
    """The Dive-into-Deep-Learning DenseNet of seed 001 (Fashion-MNIST, 1 channel, 10 classes):
    four blocks of four biased BN-ReLU-3x3 convs, growth 32, transitions halving channels,
    and the seed's global max pool (``global_pool="avg"`` for the paper's average)."""
    return DenseNetD2L(num_classes=num_classes, in_channels=in_channels, dims=dims, global_pool=global_pool)
