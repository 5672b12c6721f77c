"""GoogLeNet family in PyTorch: torchvision's GoogLeNet (BN, aux heads) and d2l's plain Inception-v1.

Mirrors paddle_impl/googlenet.py name for name; the tables are in zoo/specs/googlenet.py.
"""
from __future__ import annotations

from collections import namedtuple
from functools import partial
from typing import Optional, Union

import torch
from torch import nn

import zoo
from torch_impl._registry import register_model
from torch_impl.features import Backbone
from torch_impl.layers import (BasicConv, adaptive_avg_pool, check_dims, check_input, init_default_, linear_head,
                               max_pool)
from zoo.specs.googlenet import (AUX, GOOGLENET_VARIANTS, IMAGENET_MEAN_STD, INCEPTION_V1, OUTPUT_FIELDS,
                                 TRUNC_NORMAL_STD, googlenet_body, inception_v1_out)

# Train mode with aux heads returns this, as torchvision does: (logits, aux_logits2, aux_logits1).
GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", OUTPUT_FIELDS)
# For TorchScript, which reads a namedtuple's field types from here (aux heads may be absent).
GoogLeNetOutputs.__annotations__ = {"logits": torch.Tensor, "aux_logits2": Optional[torch.Tensor],
                                    "aux_logits1": Optional[torch.Tensor]}


def imagenet_to_inception(x: torch.Tensor) -> torch.Tensor:
    """Map ImageNet-normalised RGB input to the (x - 0.5) / 0.5 scaling of the original Inception weights."""
    return torch.cat([x[:, i:i + 1] * (std / 0.5) + (mean - 0.5) / 0.5
                      for i, (mean, std) in enumerate(IMAGENET_MEAN_STD)], 1)


class TransformInput(nn.Module):
    """``imagenet_to_inception`` as a module: the first stage of the body when ``transform_input``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imagenet_to_inception(x)


class Inception(nn.Module):
    """Inception-v1 module: 1x1; 1x1 then 3x3; 1x1 then "5x5"; 3x3/1 max pool then 1x1,
    concatenated on channels. The spatial size is unchanged."""

    def __init__(self, dims: int, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, *, norm: bool = True, branch3_kernel: int = 3,
                 pool_ceil: bool = True) -> None:
        super().__init__()
        self.branch1 = BasicConv(dims, in_channels, ch1x1, 1, norm=norm)
        self.branch2 = nn.Sequential(BasicConv(dims, in_channels, ch3x3red, 1, norm=norm),
                                     BasicConv(dims, ch3x3red, ch3x3, 3, padding=1, norm=norm))
        self.branch3 = nn.Sequential(BasicConv(dims, in_channels, ch5x5red, 1, norm=norm),
                                     BasicConv(dims, ch5x5red, ch5x5, branch3_kernel, padding=branch3_kernel // 2,
                                               norm=norm))
        self.branch4 = nn.Sequential(max_pool(dims, 3, 1, 1, ceil_mode=pool_ceil),
                                     BasicConv(dims, in_channels, pool_proj, 1, norm=norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier: adaptive average pool to 4x4 (4 in 1D), 1x1 conv
    block to 128, Linear to 1024, ReLU, dropout 0.7, Linear to the classes."""

    def __init__(self, dims: int, in_channels: int, num_classes: int, dropout: float = AUX["dropout"]) -> None:
        super().__init__()
        self.pool = adaptive_avg_pool(dims, (AUX["pool"], AUX["pool"]))
        self.conv = BasicConv(dims, in_channels, AUX["channels"], 1)
        self.fc1 = nn.Linear(AUX["channels"] * AUX["pool"] ** dims, AUX["hidden"])
        self.fc2 = linear_head(AUX["hidden"], num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))


class GoogLeNet(Backbone, nn.Module):
    """GoogLeNet / Inception-v1 (Szegedy et al. 2014), in the variants of zoo/specs/googlenet.py.

    Stem (7x7/2 conv, pool, 1x1 conv, 3x3 conv, pool), Inception 3a-3b, pool, 4a-4e,
    pool, 5a-5b, global average pool, dropout, Linear. With ``aux_logits`` an auxiliary
    classifier reads 4a and another 4d; they run only in train mode, where the forward
    returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` (torchvision's
    namedtuple and order); in eval mode, or without aux heads, it returns the logits alone.
    Deliberate differences from the paper are in the builders' docstrings.
    """

    def __init__(self, variant: str = "googlenet", *, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                 aux_logits: bool = True, transform_input: bool = False, dropout: float | None = None,
                 dropout_aux: float = AUX["dropout"]) -> None:
        super().__init__()
        spec = GOOGLENET_VARIANTS[variant]
        if transform_input and in_channels != 3:
            raise ValueError(f"transform_input maps ImageNet RGB statistics and needs in_channels=3, got {in_channels}")
        self.variant, self.dims, self.in_channels = variant, check_dims(dims), in_channels
        self.min_size = zoo.get(variant).min_size
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.transform = TransformInput() if transform_input else nn.Identity()
        norm = spec["batch_norm"]
        pools = [max_pool(dims, k, s, p, ceil_mode=c) for k, s, p, c in spec["pools"]]

        def inception(name: str) -> Inception:
            return Inception(dims, *INCEPTION_V1[name], norm=norm, branch3_kernel=spec["branch3_kernel"],
                             pool_ceil=spec["branch_pool_ceil"])

        self.conv1 = BasicConv(dims, in_channels, 64, 7, stride=2, padding=3, norm=norm)
        self.maxpool1 = pools[0]
        self.conv2 = BasicConv(dims, 64, 64, 1, norm=norm)
        self.conv3 = BasicConv(dims, 64, 192, 3, padding=1, norm=norm)
        self.maxpool2 = pools[1]
        self.inception3a = inception("inception3a")
        self.inception3b = inception("inception3b")
        self.maxpool3 = pools[2]
        self.inception4a = inception("inception4a")
        self.inception4b = inception("inception4b")
        self.inception4c = inception("inception4c")
        self.inception4d = inception("inception4d")
        self.inception4e = inception("inception4e")
        self.maxpool4 = pools[3]
        self.inception5a = inception("inception5a")
        self.inception5b = inception("inception5b")
        if aux_logits:
            self.aux1 = InceptionAux(dims, inception_v1_out("inception4a"), num_classes, dropout_aux)
            self.aux2 = InceptionAux(dims, inception_v1_out("inception4d"), num_classes, dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = adaptive_avg_pool(dims, 1)
        p = spec["dropout"] if dropout is None else dropout
        self.dropout = nn.Dropout(p=p) if p > 0 else nn.Identity()
        self.fc = linear_head(inception_v1_out("inception5b"), num_classes)
        self._init_weights(spec["init"])
        heads = {"fc": inception_v1_out("inception5b")}
        if aux_logits:
            heads.update({"aux1.fc2": AUX["hidden"], "aux2.fc2": AUX["hidden"]})
        self.init_backbone(googlenet_body(variant, in_channels), heads, num_classes)

    def _init_weights(self, scheme: str) -> None:
        init_default_(self)  # Linear/conv biases keep torch's default, as torchvision and d2l leave them
        if scheme == "trunc_normal":
            weight_init = partial(nn.init.trunc_normal_, mean=0.0, std=TRUNC_NORMAL_STD, a=-2.0, b=2.0)
        else:
            weight_init = nn.init.xavier_uniform_
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                weight_init(m.weight)

    def body(self, x: torch.Tensor, with_aux: bool
             ) -> tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """The final feature map, and the aux heads' logits (None unless ``with_aux``)."""
        check_input(x, self, model=self.variant, dims=self.dims, in_channels=self.in_channels, min_size=self.min_size)
        x = self.maxpool1(self.conv1(self.transform(x)))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1: Optional[torch.Tensor] = None
        if self.aux1 is not None and with_aux:
            aux1 = self.aux1(x)
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2: Optional[torch.Tensor] = None
        if self.aux2 is not None and with_aux:
            aux2 = self.aux2(x)
        x = self.maxpool4(self.inception4e(x))
        return self.inception5b(self.inception5a(x)), aux1, aux2

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x, False)[0]

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, GoogLeNetOutputs]:
        x, aux1, aux2 = self.body(x, self.training)
        x = self.forward_head(x)
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


@register_model
def googlenet(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, aux_logits: bool = True,
              transform_input: bool = False, dropout: float = 0.2, dropout_aux: float = 0.7) -> GoogLeNet:
    """GoogLeNet (Szegedy et al. 2014, "Going Deeper with Convolutions") in torchvision's layout,
    so torchvision state dicts load with strict=True.

    Differences from the paper, all torchvision's: BatchNorm (eps 1e-3) after every conv
    instead of LRN; the "5x5" branch uses a 3x3 conv (as torchvision's port of the original
    weights does); ceil-mode pools and a 2x2 pool before stage 5; dropout 0.2 instead of
    0.4; the aux heads pool adaptively to 4x4 instead of a 5x5/3 average pool (the same
    at 224, and any input size works). ``aux_logits=True`` (torchvision's class default)
    adds the two auxiliary classifiers: 13,004,888 parameters; without them 6,624,904.
    In train mode with aux heads the forward returns ``GoogLeNetOutputs(logits,
    aux_logits2, aux_logits1)``; otherwise the logits. ``transform_input`` (off by
    default) maps ImageNet-normalised RGB to the original weights' scaling.
    """
    return GoogLeNet("googlenet", num_classes=num_classes, in_channels=in_channels, dims=dims, aux_logits=aux_logits,
                     transform_input=transform_input, dropout=dropout, dropout_aux=dropout_aux)


@register_model
def googlenet_d2l(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2) -> GoogLeNet:
    """The plain Inception-v1 of Dive into Deep Learning (seed 001), e.g. for Fashion-MNIST at 96x96.

    Four-path Inception modules with the paper's 1x1/3x3/5x5/pool-projection channels,
    biased convs each followed by ReLU, no BatchNorm, padded 3x3/2 max pools, global
    average pool and one Linear. Differences from the paper: no LRN, no aux classifiers,
    no dropout (as in d2l). The seed's listing drops the ReLU after the stem's 3x3 conv;
    d2l's book and the paper have it, and so does this model. Weights are Xavier-uniform
    (d2l's training loop), biases torch's default.
    """
    return GoogLeNet("googlenet_d2l", num_classes=num_classes, in_channels=in_channels, dims=dims, aux_logits=False)
