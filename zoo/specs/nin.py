"""Network in Network: the block table torch_impl/nin.py and paddle_impl/nin.py both read.

Written in the rows of zoo/specs/alexnet.py, where each ``Conv`` row stands for a NiN
block (that conv, then two 1x1 convs, each followed by ReLU).
"""
from __future__ import annotations

from zoo.models import ModelInfo
from zoo.specs.alexnet import Conv, MaxPool, Row, min_input_size

# Seed 001 (d2l): NiN blocks of AlexNet's first three conv geometries, each followed by
# a 3x3 stride-2 max pool; dropout; a last block with one map per class; global average
# pool.
NIN_BLOCKS: tuple[Row, ...] = (
    Conv(96, 11, 4, 0), MaxPool(),
    Conv(256, 5, 1, 2), MaxPool(),
    Conv(384, 3, 1, 1), MaxPool(),
)
# The last block's kernel, stride and padding; its width is the number of classes.
NIN_HEAD = dict(kernel_size=3, stride=1, padding=1)
NIN_DROPOUT = 0.5

MODELS = [
    ModelInfo(
        "nin", "nin", "Lin, Chen, Yan 2013; the NiN of Dive into Deep Learning (seed 001), 1-channel 224x224",
        input_size=224, min_size=min_input_size(NIN_BLOCKS), parity_size=min_input_size(NIN_BLOCKS),
        num_classes=10, in_channels=1,
    ),
]
