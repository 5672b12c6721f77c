"""AlexNet family in PyTorch: torchvision's AlexNet, the 2012 paper's layout with LRN, seed 000's
BatchNorm AlexNet and the d2l AlexNet. ZFNet (torch_impl/zfnet.py) reuses these classes.

Mirrors paddle_impl/alexnet.py name for name; the layer tables are in zoo/specs/alexnet.py.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Sequence

import torch
from torch import nn

from torch_impl._registry import register_model
from torch_impl.features import Backbone
from torch_impl.layers import (adaptive_avg_pool, batch_norm, check_dims, check_input, conv, init_default_,
                               linear_head, max_pool)
from zoo.specs.alexnet import ALEXNET_VARIANTS, LRN, Conv, Row, feature_size, last_channels, min_input_size, row_body


def local_response_norm(dims: int, spec: LRN) -> nn.Module:
    """LocalResponseNorm across channels with ``spec``'s constants in the paper's convention."""
    check_dims(dims)
    return nn.LocalResponseNorm(spec.size, alpha=spec.framework_alpha, beta=spec.beta, k=spec.k)


def make_features(rows: Sequence[Row], dims: int, in_channels: int, batch_norm_after_conv: bool) -> nn.Sequential:
    """A flat Sequential from a zoo/specs/alexnet.py table: conv, [BatchNorm,] ReLU per
    ``Conv`` row, so that ``alexnet``'s keys are torchvision's (features.0, .3, .6, ...)."""
    layers: list[nn.Module] = []
    channels = in_channels
    for row in rows:
        if isinstance(row, Conv):
            layers.append(conv(dims, channels, row.out_channels, row.kernel_size, row.stride, row.padding))
            if batch_norm_after_conv:
                layers.append(batch_norm(dims, row.out_channels))
            layers.append(nn.ReLU())
            channels = row.out_channels
        elif isinstance(row, LRN):
            layers.append(local_response_norm(dims, row))
        else:
            layers.append(max_pool(dims, row.kernel_size, row.stride, ceil_mode=row.ceil_mode))
    return nn.Sequential(*layers)


def make_classifier(in_features: int, hidden: int, num_classes: int, dropout: float,
                    dropout_first: bool) -> nn.Sequential:
    """Two hidden Linear+ReLU layers with dropout, then the output Linear.

    ``dropout_first``: torchvision AlexNet's order (Dropout, Linear, ReLU) x 2; otherwise
    VGG's and d2l's (Linear, ReLU, Dropout) x 2. Either way the Linear layers sit at the
    indices torchvision uses (1, 4, 6 and 0, 3, 6).
    """
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(2):
        block = [nn.Linear(width, hidden), nn.ReLU()]
        layers += [nn.Dropout(dropout), *block] if dropout_first else [*block, nn.Dropout(dropout)]
        width = hidden
    layers.append(linear_head(width, num_classes))
    return nn.Sequential(*layers)


class AlexNet(Backbone, nn.Module):
    """An AlexNet-style network: a conv/pool/LRN feature stack, then either an adaptive
    average pool (input of any size from ``min_size``) or a classifier sized for one
    input, then two dropout-regularised hidden layers.

    ``variant`` names a row of ``VARIANTS`` (zoo/specs/alexnet.py here, ZFNet's table in
    the ZFNet subclass). Attribute names are torchvision's: features, avgpool, classifier.
    """

    VARIANTS: Mapping[str, dict] = ALEXNET_VARIANTS

    def __init__(self, variant: str = "alexnet", *, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                 input_size: int | Sequence[int] | None = None, dropout: float = 0.5) -> None:
        super().__init__()
        spec = self.VARIANTS[variant]
        rows = spec["features"]
        self.variant, self.dims, self.in_channels = variant, check_dims(dims), in_channels
        self.min_size = min_input_size(rows)
        self.features = make_features(rows, dims, in_channels, spec["batch_norm"])
        if spec["adaptive"] is not None:
            self.input_size = None
            self.avgpool = adaptive_avg_pool(dims, spec["adaptive"])
            spatial = [spec["adaptive"]] * dims
        else:
            if input_size is None:
                raise ValueError(f"{variant} sizes its classifier for one input: give input_size")
            sizes = (input_size,) * dims if isinstance(input_size, int) else tuple(input_size)
            if len(sizes) != dims:
                raise ValueError(f"input_size for dims={dims} needs {dims} value(s), got {input_size!r}")
            if min(sizes) < self.min_size:
                raise ValueError(f"{variant} needs an input size of at least {self.min_size}, got {input_size!r}")
            self.input_size = sizes
            self.avgpool = None
            spatial = [feature_size(rows, s) for s in sizes]
        self.flatten = nn.Flatten()
        self.classifier = make_classifier(last_channels(rows) * math.prod(spatial), spec["hidden"], num_classes,
                                          dropout, spec["dropout_first"])
        init_default_(self)
        self.init_backbone(row_body("features", rows, in_channels, 3 if spec["batch_norm"] else 2),
                           {"classifier.6": spec["hidden"]}, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model=self.variant, dims=self.dims, in_channels=self.in_channels, size=self.input_size,
                    min_size=self.min_size)
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        if self.avgpool is not None:
            x = self.avgpool(x)
        return self.classifier(self.flatten(x))


@register_model
def alexnet(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float = 0.5) -> AlexNet:
    """AlexNet in torchvision's layout (Krizhevsky, Sutskever, Hinton 2012, with the
    64/192/384/256/256 widths of Krizhevsky 2014): a 6x6 adaptive average pool lets it
    take any input from 63x63; 61,100,840 parameters (57,044,810 at 10 classes, seed 003).
    The state dict has torchvision's keys, so torchvision checkpoints load with strict=True.
    Unlike the paper: one tower instead of two GPU halves, no LRN, torch's default init."""
    return AlexNet("alexnet", num_classes=num_classes, in_channels=in_channels, dims=dims, dropout=dropout)


@register_model
def alexnet_original(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                     input_size: int | Sequence[int] = 227, dropout: float = 0.5) -> AlexNet:
    """AlexNet as in the 2012 paper and seed 002's table: 96/256/384/384/256 on 227x227,
    LocalResponseNorm (size 5, alpha 1e-4, beta 0.75, k 2, the paper's alpha convention)
    after conv1 and conv2, before their pools; 62,378,344 parameters. Differences from the
    paper: the two GPU towers are one (no grouped conv2/4/5), and the classifier is sized
    for ``input_size`` (227 gives the paper's 256x6x6) rather than fixed, so smaller inputs
    can be checked cheaply. Initialisation is torch's default, as torchvision's AlexNet."""
    return AlexNet("alexnet_original", num_classes=num_classes, in_channels=in_channels, dims=dims,
                   input_size=input_size, dropout=dropout)


@register_model
def alexnet_bn(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, dropout: float = 0.5) -> AlexNet:
    """Seed 000's adaptive AlexNet with BatchNorm, in 1D and 2D: torchvision's conv stack
    with BatchNorm after every conv, a 6x6 adaptive pool, and a 1024-1024 classifier.
    Not in the paper (BatchNorm is from 2015). The seed applies ReLU before BatchNorm on
    conv4 only; every conv here is conv, BatchNorm, ReLU. Because of the adaptive pool the
    classifier does not depend on the input size, so no ``input_size`` is taken."""
    return AlexNet("alexnet_bn", num_classes=num_classes, in_channels=in_channels, dims=dims, dropout=dropout)


@register_model
def alexnet_d2l(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2,
                input_size: int | Sequence[int] = 224, dropout: float = 0.5) -> AlexNet:
    """The Dive-into-Deep-Learning AlexNet (seed 001) for 1-channel 224x224 Fashion-MNIST:
    96/256/384/384/256 with conv1 padded by 1, Linear(6400, 4096), ReLU, Dropout twice, no
    LRN. The classifier is sized for ``input_size``. Unlike the paper: one tower, no LRN,
    dropout after each hidden layer, torch's default init (d2l uses Xavier)."""
    return AlexNet("alexnet_d2l", num_classes=num_classes, in_channels=in_channels, dims=dims,
                   input_size=input_size, dropout=dropout)
