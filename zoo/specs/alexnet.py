"""AlexNet variants: the layer tables torch_impl/alexnet.py and paddle_impl/alexnet.py both read.

A feature stack is a tuple of rows, read in order:
- ``Conv(out, kernel, stride, padding)``: a convolution, then BatchNorm in the ``*_bn``
  variants, then ReLU;
- ``MaxPool(kernel, stride, ceil_mode)``;
- ``LRN(size, alpha, beta, k)``: local response normalisation across channels, with
  alpha written the paper's way.
zoo/specs/zfnet.py and zoo/specs/nin.py write their stacks in the same rows, and
``feature_size``/``min_input_size`` give the spatial sizes for all three.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

from zoo.features import Stage, sequential
from zoo.models import ModelInfo, Published


class Conv(NamedTuple):
    """A convolution (followed by [BatchNorm and] ReLU in the feature stack)."""

    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0


class MaxPool(NamedTuple):
    """A max pool; ``ceil_mode`` is Caffe's rounding, which ZFNet's map sizes need."""

    kernel_size: int = 3
    stride: int = 2
    ceil_mode: bool = False


class LRN(NamedTuple):
    """Local response normalisation (Krizhevsky et al. 2012, section 3.3):
    ``b = a / (k + alpha * sum(a^2 over `size` neighbouring maps)) ** beta``.

    ``alpha`` is in the paper's convention. torch and paddle both divide their alpha
    by ``size`` (PITFALLS.md), so they are given ``framework_alpha = alpha * size``.
    """

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0

    @property
    def framework_alpha(self) -> float:
        return self.alpha * self.size


Row = Conv | MaxPool | LRN

# torchvision's AlexNet (the widths of Krizhevsky's "one weird trick" paper: 64/192/384/
# 256/256), also seed 003; seed 000's BatchNorm AlexNet uses the same stack.
ALEXNET_FEATURES: tuple[Row, ...] = (
    Conv(64, 11, 4, 2), MaxPool(),
    Conv(192, 5, 1, 2), MaxPool(),
    Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), Conv(256, 3, 1, 1), MaxPool(),
)

# Krizhevsky, Sutskever, Hinton 2012 as seed 002's table writes it: 96/256/384/384/256,
# an unpadded conv1 on 227x227 (55x55 maps), and LRN after conv1 and conv2 with the
# paper's constants. The paper puts LRN before the pool ("max-pooling layers follow
# both response-normalization layers"); seed 002 pools first (CaffeNet's order). The
# paper's order is followed; the parameter count does not depend on it.
ALEXNET_ORIGINAL_FEATURES: tuple[Row, ...] = (
    Conv(96, 11, 4, 0), LRN(), MaxPool(),
    Conv(256, 5, 1, 2), LRN(), MaxPool(),
    Conv(384, 3, 1, 1), Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), MaxPool(),
)

# Dive into Deep Learning's AlexNet (seed 001): conv1 padded by 1, so 224 gives 54x54
# maps and a 256x5x5 = 6400-wide classifier input.
ALEXNET_D2L_FEATURES: tuple[Row, ...] = (
    Conv(96, 11, 4, 1), MaxPool(),
    Conv(256, 5, 1, 2), MaxPool(),
    Conv(384, 3, 1, 1), Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), MaxPool(),
)

# Per variant: the feature stack; BatchNorm after every conv; ``adaptive``, the side of
# the adaptive average pool before the classifier (None: the classifier is sized for
# one input instead); the width of the two hidden layers; and where dropout sits:
# ``dropout_first`` is torchvision's (Dropout, Linear, ReLU) x 2, otherwise VGG's and
# d2l's (Linear, ReLU, Dropout) x 2.
ALEXNET_VARIANTS: dict[str, dict] = {
    "alexnet": dict(features=ALEXNET_FEATURES, batch_norm=False, adaptive=6, hidden=4096, dropout_first=True),
    "alexnet_original": dict(features=ALEXNET_ORIGINAL_FEATURES, batch_norm=False, adaptive=None, hidden=4096,
                             dropout_first=True),
    "alexnet_bn": dict(features=ALEXNET_FEATURES, batch_norm=True, adaptive=6, hidden=1024, dropout_first=True),
    "alexnet_d2l": dict(features=ALEXNET_D2L_FEATURES, batch_norm=False, adaptive=None, hidden=4096,
                        dropout_first=False),
}


def _out(n: int, kernel: int, stride: int, padding: int = 0, ceil_mode: bool = False) -> int:
    """Output size of a conv or pool window, ``(n + 2p - k)//s + 1``; with ``ceil_mode``,
    torch's rule (round up, but drop a last window that would start past the input)."""
    span = n + 2 * padding - kernel
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = math.ceil(span / stride) + 1
    if (out - 1) * stride >= n + padding:
        out -= 1
    return out


def feature_size(rows: Sequence[Row], size: int) -> int:
    """Spatial size after ``rows`` for an input of side ``size``; 0 if some layer's window
    does not fit."""
    for row in rows:
        if isinstance(row, Conv):
            size = _out(size, row.kernel_size, row.stride, row.padding)
        elif isinstance(row, MaxPool):
            size = _out(size, row.kernel_size, row.stride, 0, row.ceil_mode)
        if size < 1:
            return 0
    return size


def min_input_size(rows: Sequence[Row]) -> int:
    """The smallest input side for which every layer of ``rows`` has a window to compute."""
    size = 1
    while feature_size(rows, size) < 1:
        size += 1
    return size


def last_channels(rows: Sequence[Row]) -> int:
    return [r for r in rows if isinstance(r, Conv)][-1].out_channels


def row_body(prefix: str, rows: Sequence[Row], in_channels: int, modules_per_conv: int
             ) -> list[Stage]:
    """The stages of a flat Sequential built from ``rows``, where each ``Conv`` row is
    ``modules_per_conv`` modules (conv, [BatchNorm,] ReLU; 1 for a NiN block) and every
    other row one module."""
    rows_out: list[tuple[int, int]] = []
    channels = in_channels
    for row in rows:
        if isinstance(row, Conv):
            channels = row.out_channels
            rows_out += [(row.stride, channels)] + [(1, channels)] * (modules_per_conv - 1)
        else:
            rows_out.append((row.stride if isinstance(row, MaxPool) else 1, channels))
    return sequential(prefix, rows_out)


_PAPER = "Krizhevsky, Sutskever, Hinton 2012"
_TORCHVISION = "torchvision 0.28.0 (AlexNet_Weights meta)"

MODELS = [
    ModelInfo(
        "alexnet", "alexnet", f"{_PAPER}; torchvision layout 64/192/384/256/256 with a 6x6 adaptive pool (seed 003)",
        input_size=224, min_size=min_input_size(ALEXNET_FEATURES), parity_size=min_input_size(ALEXNET_FEATURES),
        heavy=True, parity_batch=2,
        published=(Published(61_100_840, {"num_classes": 1000}, _TORCHVISION),
                   Published(57_044_810, {"num_classes": 10}, "seed 003 (torchstat, 3x224x224, 10 classes)")),
    ),
    ModelInfo(
        "alexnet_original", "alexnet",
        f"{_PAPER} as seed 002 tabulates it: 96/256/384/384/256, LRN, 227x227 input, classifier sized from the input",
        input_size=227, min_size=min_input_size(ALEXNET_ORIGINAL_FEATURES),
        parity_size=min_input_size(ALEXNET_ORIGINAL_FEATURES), sized_by_input=True,
        # Seed 002's rows summed; its FC8 row prints 4,194,304 for 4096*1000 + 1000 = 4,097,000.
        published=(Published(62_378_344, {"num_classes": 1000, "input_size": 227}, "seed 002 layer table (summed)"),),
    ),
    ModelInfo(
        "alexnet_bn", "alexnet", "seed 000: AlexNet with BatchNorm after every conv, 6x6 adaptive pool, 1024-wide classifier",
        input_size=224, min_size=min_input_size(ALEXNET_FEATURES), parity_size=min_input_size(ALEXNET_FEATURES),
    ),
    ModelInfo(
        "alexnet_d2l", "alexnet",
        "Dive into Deep Learning, AlexNet (seed 001): 1-channel 224x224 Fashion-MNIST, classifier sized from the input",
        input_size=224, min_size=min_input_size(ALEXNET_D2L_FEATURES), parity_size=min_input_size(ALEXNET_D2L_FEATURES),
        sized_by_input=True, num_classes=10, in_channels=1,
        heavy=True,  # its 4096-wide classifier (58M parameters) makes the full parity matrix ~2 CPU-minutes
    ),
]
