"""ZFNet family in PyTorch: the paper's layout and seed 000's BatchNorm ZFNet.

ZFNet is AlexNet's outline with a smaller, denser first layer, so it is built with
torch_impl/alexnet.py's classes from zoo/specs/zfnet.py's tables. Mirrors
paddle_impl/zfnet.py name for name.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Sequence

from torch_impl._registry import register_model
from torch_impl.alexnet import AlexNet
from zoo.specs.zfnet import ZFNET_VARIANTS


class ZFNet(AlexNet):
    """ZFNet (Zeiler & Fergus 2013): AlexNet with a 7x7 stride-2 conv1 and a stride-2 5x5
    conv2, in the variants of zoo/specs/zfnet.py. The classifier is sized for the input."""

    VARIANTS: Mapping[str, dict] = ZFNET_VARIANTS


@register_model
def zfnet(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
          input_size: int | Sequence[int] = 224, dropout: float = 0.5) -> ZFNet:
    """ZFNet as in Zeiler & Fergus 2013, Fig. 3: 96@7x7/2 (padding 1), 3x3/2 max pool,
    normalisation, 256@5x5/2, pool, normalisation, 384, 384, 256 @3x3, pool, then
    Dropout-4096-Dropout-4096; the map sizes are the paper's 110/55/26/13/6 at 224x224
    (pools round up, as in Caffe). The paper's "contrast normalisation across feature
    maps" is LocalResponseNorm with AlexNet's constants, since the paper gives none.
    One tower, and the classifier is sized for ``input_size``; torch's default init."""
    return ZFNet("zfnet", num_classes=num_classes, in_channels=in_channels, dims=dims, input_size=input_size,
                 dropout=dropout)


@register_model
def zfnet_bn(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
             input_size: int | Sequence[int] = 224, dropout: float = 0.5) -> ZFNet:
    """Seed 000's ZFNet with BatchNorm, in 1D and 2D: the paper's widths with unpadded
    conv1, floor-rounded pools, BatchNorm after every conv and no LRN, and a
    Linear-ReLU-Dropout 1024-1024 classifier sized for ``input_size``. The seed's feature
    stack has no activation at all (conv, BatchNorm, pool), which makes it nearly linear;
    a ReLU follows every BatchNorm here (the parameter count is the same)."""
    return ZFNet("zfnet_bn", num_classes=num_classes, in_channels=in_channels, dims=dims, input_size=input_size,
                 dropout=dropout)
