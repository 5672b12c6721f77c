"""Inception-v3 in PaddlePaddle, in torchvision's layout (Inception3), 1D and 2D.

Mirrors torch_impl/inception.py name for name; the facts are in zoo/specs/inception.py.
A factorised (1, 7) or (7, 1) conv follows the 2D-to-1D rule (h, w) -> w, so in 1D the
1x7 convs become 7-wide and the 7x1 convs 1-wide (likewise 1x3 -> 3, 3x1 -> 1).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Optional, Union

import paddle
from paddle import nn

from paddle_impl._registry import register_model
from paddle_impl.features import Backbone
from paddle_impl.googlenet import TransformInput
from paddle_impl.layers import (BasicConv, adaptive_avg_pool, avg_pool, check_dims, check_input, init_default_,
                                linear_head, max_pool)
from zoo.specs.inception import (AUX_AFTER, AUX_MIN_SIZE, MIN_SIZE, MIXED, TRUNC_NORMAL_STD,
                                 TRUNC_NORMAL_STD_OVERRIDES, inception_v3_body)

# Train mode with the aux head returns this, as torchvision does: (logits, aux_logits).
InceptionOutputs = namedtuple("InceptionOutputs", ("logits", "aux_logits"))


class InceptionA(nn.Layer):
    """35x35 block: 1x1; 1x1 then 5x5; 1x1 then two 3x3; 3x3/1 average pool then 1x1."""

    def __init__(self, dims: int, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv(dims, in_channels, 64, 1)
        self.branch5x5_1 = BasicConv(dims, in_channels, 48, 1)
        self.branch5x5_2 = BasicConv(dims, 48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv(dims, in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv(dims, 64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv(dims, 96, 96, 3, padding=1)
        self.pool = avg_pool(dims, 3, 1, 1)  # exclusive=False: counts the padding, as torch does
        self.branch_pool = BasicConv(dims, in_channels, pool_features, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return paddle.concat([self.branch1x1(x), branch5x5, branch3x3dbl, self.branch_pool(self.pool(x))], 1)


class InceptionB(nn.Layer):
    """35->17 reduction: 3x3/2; 1x1, 3x3, 3x3/2; 3x3/2 max pool."""

    def __init__(self, dims: int, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv(dims, in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv(dims, in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv(dims, 64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv(dims, 96, 96, 3, stride=2)
        self.pool = max_pool(dims, 3, 2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return paddle.concat([self.branch3x3(x), branch3x3dbl, self.pool(x)], 1)


class InceptionC(nn.Layer):
    """17x17 block with factorised 7x7 convs: 1x1; 1x1, 1x7, 7x1; 1x1, 7x1, 1x7, 7x1, 1x7;
    3x3/1 average pool then 1x1."""

    def __init__(self, dims: int, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv(dims, in_channels, 192, 1)
        self.branch7x7_1 = BasicConv(dims, in_channels, c7, 1)
        self.branch7x7_2 = BasicConv(dims, c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv(dims, c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv(dims, in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv(dims, c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv(dims, c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv(dims, c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv(dims, c7, 192, (1, 7), padding=(0, 3))
        self.pool = avg_pool(dims, 3, 1, 1)
        self.branch_pool = BasicConv(dims, in_channels, 192, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))
        branch7x7dbl = self.branch7x7dbl_5(self.branch7x7dbl_4(branch7x7dbl))
        return paddle.concat([self.branch1x1(x), branch7x7, branch7x7dbl, self.branch_pool(self.pool(x))], 1)


class InceptionD(nn.Layer):
    """17->8 reduction: 1x1, 3x3/2; 1x1, 1x7, 7x1, 3x3/2; 3x3/2 max pool."""

    def __init__(self, dims: int, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv(dims, in_channels, 192, 1)
        self.branch3x3_2 = BasicConv(dims, 192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv(dims, in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv(dims, 192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv(dims, 192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv(dims, 192, 192, 3, stride=2)
        self.pool = max_pool(dims, 3, 2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return paddle.concat([branch3x3, branch7x7x3, self.pool(x)], 1)


class InceptionE(nn.Layer):
    """8x8 block with expanded filter banks: 1x1; 1x1 then (1x3 | 3x1); 1x1, 3x3 then
    (1x3 | 3x1); 3x3/1 average pool then 1x1."""

    def __init__(self, dims: int, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv(dims, in_channels, 320, 1)
        self.branch3x3_1 = BasicConv(dims, in_channels, 384, 1)
        self.branch3x3_2a = BasicConv(dims, 384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv(dims, 384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv(dims, in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv(dims, 448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv(dims, 384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv(dims, 384, 384, (3, 1), padding=(1, 0))
        self.pool = avg_pool(dims, 3, 1, 1)
        self.branch_pool = BasicConv(dims, in_channels, 192, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = paddle.concat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = paddle.concat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        return paddle.concat([self.branch1x1(x), branch3x3, branch3x3dbl, self.branch_pool(self.pool(x))], 1)


class InceptionAux(nn.Layer):
    """Auxiliary classifier on Mixed_6e: 5x5/3 average pool, 1x1 conv to 128, 5x5 conv to
    768, global average pool, Linear. Unpadded throughout, so it needs a 17-wide input."""

    def __init__(self, dims: int, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool = avg_pool(dims, 5, 3)
        self.conv0 = BasicConv(dims, in_channels, 128, 1)
        self.conv1 = BasicConv(dims, 128, 768, 5)
        self.avgpool = adaptive_avg_pool(dims, 1)
        self.fc = linear_head(768, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.conv1(self.conv0(self.pool(x)))
        return self.fc(paddle.flatten(self.avgpool(x), 1))


BLOCKS = {"A": InceptionA, "B": InceptionB, "C": InceptionC, "D": InceptionD, "E": InceptionE}


class Inception3(Backbone, nn.Layer):
    """Inception-v3 (Szegedy et al. 2015), torchvision's ``Inception3`` layout and keys.

    Stem (3x3/2, 3x3, 3x3, 3x3/2 max pool, 1x1, 3x3, 3x3/2 max pool), Mixed_5b-5d (A),
    Mixed_6a (B), Mixed_6b-6e (C), Mixed_7a (D), Mixed_7b-7c (E), global average pool,
    dropout, Linear. With ``aux_logits`` the auxiliary classifier reads Mixed_6e in train
    mode only, and the forward then returns ``InceptionOutputs(logits, aux_logits)``;
    otherwise the logits alone.
    """

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, aux_logits: bool = False,
                 transform_input: bool = False, dropout: float = 0.5) -> None:
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"transform_input maps ImageNet RGB statistics and needs in_channels=3, got {in_channels}")
        self.dims, self.in_channels = check_dims(dims), in_channels
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.min_size, self.aux_min_size = MIN_SIZE, AUX_MIN_SIZE
        self.transform = TransformInput() if transform_input else nn.Identity()
        self.Conv2d_1a_3x3 = BasicConv(dims, in_channels, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv(dims, 32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv(dims, 32, 64, 3, padding=1)
        self.maxpool1 = max_pool(dims, 3, 2)
        self.Conv2d_3b_1x1 = BasicConv(dims, 64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv(dims, 80, 192, 3)
        self.maxpool2 = max_pool(dims, 3, 2)
        for name, kind, in_ch, args in MIXED:
            self.add_sublayer(name, BLOCKS[kind](dims, in_ch, *args))
            if name == AUX_AFTER:  # registered here, as in torchvision, so the key order matches
                self.AuxLogits = InceptionAux(dims, in_ch, num_classes) if aux_logits else None
        self.avgpool = adaptive_avg_pool(dims, 1)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = linear_head(2048, num_classes)
        self._init_weights()
        heads = {"fc": 2048}
        if aux_logits:
            heads["AuxLogits.fc"] = 768
        self.init_backbone(inception_v3_body(in_channels), heads, num_classes)

    def _init_weights(self) -> None:
        init_default_(self)  # Linear biases keep torch's default, as torchvision leaves them
        for name, m in self.named_sublayers():
            if isinstance(m, (nn.Conv1D, nn.Conv2D, nn.Linear)):
                std = TRUNC_NORMAL_STD_OVERRIDES.get(name, TRUNC_NORMAL_STD)
                nn.initializer.TruncatedNormal(mean=0.0, std=std, a=-2.0, b=2.0)(m.weight)

    def body(self, x: paddle.Tensor, with_aux: bool) -> tuple[paddle.Tensor, Optional[paddle.Tensor]]:
        """The final feature map, and the aux head's logits (None unless ``with_aux`` and the
        model has the head). The Mixed blocks are written out in MIXED's order, as
        TorchScript has no getattr by a variable name; the aux head reads AUX_AFTER."""
        with_aux = with_aux and self.AuxLogits is not None
        check_input(x, self, model="inception_v3 (training with the aux head)" if with_aux else "inception_v3",
                    dims=self.dims, in_channels=self.in_channels,
                    min_size=self.aux_min_size if with_aux else self.min_size)
        x = self.maxpool1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(self.transform(x)))))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        x = self.Mixed_6a(self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x))))
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        aux: Optional[paddle.Tensor] = None
        if self.AuxLogits is not None and with_aux:
            aux = self.AuxLogits(x)
        return self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x))), aux

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.body(x, False)[0]

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(paddle.flatten(self.dropout(self.avgpool(x)), 1))

    def forward(self, x: paddle.Tensor) -> Union[paddle.Tensor, InceptionOutputs]:
        x, aux = self.body(x, self.training)
        x = self.forward_head(x)
        if self.training and self.aux_logits:
            return InceptionOutputs(x, aux)
        return x


@register_model
def inception_v3(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2, aux_logits: bool = False,
                 transform_input: bool = False, dropout: float = 0.5) -> Inception3:
    """Inception-v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture for Computer
    Vision") in torchvision's layout, so torchvision state dicts load with strict=True.

    As torchvision (and its port of the original weights): BatchNorm eps 1e-3 after every
    conv, the 35x35/17x17/8x8 blocks A/C/E with the B and D reductions, one auxiliary
    classifier on Mixed_6e without the paper's BN on its fully connected layer, dropout 0.5,
    and no label smoothing (a loss choice, not part of the model). 27,161,264 parameters
    with the aux head, 23,834,568 without. Input 299x299; from 75x75 up in eval mode or
    without the aux head, while training with the aux head needs 299 (its unpadded 5x5/3
    pool and 5x5 conv need a 17x17 Mixed_6e) and smaller inputs raise a ValueError.

    ``aux_logits`` defaults to False, unlike torchvision's True, so that the default model
    trains at any size from 75 (and the parity harness can check it at a small input);
    pass ``aux_logits=True`` for torchvision's keys with ``AuxLogits.*``, e.g. to load its
    checkpoints with strict=True. In train mode with the aux head the forward returns
    ``InceptionOutputs(logits, aux_logits)``; otherwise the logits. ``transform_input``
    (off by default) maps ImageNet-normalised RGB to the original weights' scaling.
    """
    return Inception3(num_classes=num_classes, in_channels=in_channels, dims=dims, aux_logits=aux_logits,
                      transform_input=transform_input, dropout=dropout)
