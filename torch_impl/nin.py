"""Network in Network in PyTorch: seed 001's (d2l) NiN, in 1D and 2D.

Mirrors paddle_impl/nin.py name for name; the block table is in zoo/specs/nin.py.
"""
from __future__ import annotations

import torch
from torch import nn

from torch_impl._registry import register_model
from torch_impl.features import Backbone
from torch_impl.layers import adaptive_avg_pool, check_dims, check_input, conv, init_default_, max_pool
from zoo.features import check_num_classes
from zoo.specs.alexnet import Conv, min_input_size, row_body
from zoo.specs.nin import NIN_BLOCKS, NIN_DROPOUT, NIN_HEAD


class NiNBlock(nn.Sequential):
    """A NiN block (Lin, Chen, Yan 2013): a conv, then two 1x1 convs (the "micro network"
    that acts as a per-pixel MLP), each followed by ReLU."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__(
            conv(dims, in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(),
            conv(dims, out_channels, out_channels, 1), nn.ReLU(),
            conv(dims, out_channels, out_channels, 1), nn.ReLU(),
        )


class NiN(Backbone, nn.Module):
    """Network in Network: NiN blocks with 3x3 stride-2 max pools between them, dropout,
    a last block with one map per class, and a global average pool as the classifier.

    The body is the blocks and pools before the dropout; the dropout and the last block
    are the head (``features.7`` its last layer), so ``num_classes=0`` returns the globally
    pooled 384 maps of the third block.
    """

    def __init__(self, *, num_classes: int = 10, in_channels: int = 1, dims: int = 2,
                 dropout: float = NIN_DROPOUT) -> None:
        super().__init__()
        self.dims, self.in_channels = check_dims(dims), in_channels
        self.min_size = min_input_size(NIN_BLOCKS)
        layers: list[nn.Module] = []
        channels = in_channels
        for row in NIN_BLOCKS:
            if isinstance(row, Conv):
                layers.append(NiNBlock(dims, channels, *row))
                channels = row.out_channels
            else:
                layers.append(max_pool(dims, row.kernel_size, row.stride, ceil_mode=row.ceil_mode))
        self.body_len = len(layers)
        layers += [nn.Dropout(dropout), self.make_head(channels, num_classes)]
        self.features = nn.Sequential(*layers)
        self.avgpool = adaptive_avg_pool(dims, 1)
        self.flatten = nn.Flatten()
        init_default_(self)
        self.init_backbone(row_body("features", NIN_BLOCKS, in_channels, 1),
                           {f"features.{self.body_len + 1}": channels}, num_classes)

    def make_head(self, in_features: int, num_classes: int) -> nn.Module:
        """The last NiN block, one map per class, or an Identity for 0 classes."""
        if check_num_classes(num_classes) == 0:
            return nn.Identity()
        return NiNBlock(self.dims, in_features, num_classes, **NIN_HEAD)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model="nin", dims=self.dims, in_channels=self.in_channels, min_size=self.min_size)
        return self.run_features(x, True)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.avgpool(self.run_features(x, False)))


@register_model
def nin(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2, dropout: float = NIN_DROPOUT) -> NiN:
    """Network in Network (Lin, Chen, Yan 2013) as Dive into Deep Learning builds it (seed
    001): NiN blocks of 96@11x11/4, 256@5x5 and 384@3x3, each followed by a 3x3/2 max
    pool, dropout 0.5, a last block of ``num_classes`` maps and a global average pool, for
    1-channel 224x224 Fashion-MNIST; 1,992,166 parameters at 10 classes. As in d2l, the
    last block ends in ReLU, so the logits are non-negative. Unlike the paper (which has
    CIFAR and ImageNet variants of different depths) this is d2l's AlexNet-shaped NiN;
    init is torch's default (d2l uses Xavier). Any input from 67x67 is accepted."""
    return NiN(num_classes=num_classes, in_channels=in_channels, dims=dims, dropout=dropout)
