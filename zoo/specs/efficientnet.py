"""EfficientNet B0-B7: the block tables that torch_impl/efficientnet.py and paddle_impl/efficientnet.py both read."""
from __future__ import annotations

import math
from dataclasses import dataclass

from zoo.features import Stage, sequential
from zoo.models import ModelInfo, Published

# Tan & Le 2019, Table 1 (EfficientNet-B0), one row per stage:
# (expand ratio, kernel, stride of the first block, input channels, output channels, blocks).
B0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
# Stochastic depth: block i of n drops its residual branch with probability 0.2 * i / n.
STOCHASTIC_DEPTH_PROB = 0.2


@dataclass(frozen=True)
class Variant:
    """Compound-scaling coefficients and training details of one EfficientNet."""

    width_mult: float
    depth_mult: float
    dropout: float
    input_size: int
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1  # torch convention: the weight of the new batch


# Width, depth, dropout and resolution as torchvision 0.28.0 builds them (the paper's
# phi-scaled coefficients). torchvision gives B5-B7 the TensorFlow BatchNorm settings of
# the ported weights (eps 1e-3, momentum 0.01) and B0-B4 torch's defaults; kept as is so
# torchvision checkpoints mean the same thing here.
VARIANTS: dict[str, Variant] = {
    "efficientnet_b0": Variant(1.0, 1.0, 0.2, 224),
    "efficientnet_b1": Variant(1.0, 1.1, 0.2, 240),
    "efficientnet_b2": Variant(1.1, 1.2, 0.3, 260),
    "efficientnet_b3": Variant(1.2, 1.4, 0.3, 300),
    "efficientnet_b4": Variant(1.4, 1.8, 0.4, 380),
    "efficientnet_b5": Variant(1.6, 2.2, 0.4, 456, bn_eps=1e-3, bn_momentum=0.01),
    "efficientnet_b6": Variant(1.8, 2.6, 0.5, 528, bn_eps=1e-3, bn_momentum=0.01),
    "efficientnet_b7": Variant(2.0, 3.1, 0.5, 600, bn_eps=1e-3, bn_momentum=0.01),
}


def make_divisible(value: float, divisor: int = 8) -> int:
    """The nearest multiple of ``divisor`` to ``value``, never below 90% of it (the TF rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class MBConvSpec:
    """One MBConv block: expand 1x1 (skipped when ``expanded == in_channels``), depthwise
    ``kernel`` with ``stride``, squeeze-and-excitation to ``squeeze`` channels, project 1x1.
    ``drop_prob`` is the stochastic-depth probability of its residual branch."""

    in_channels: int
    out_channels: int
    expanded: int
    squeeze: int
    kernel: int
    stride: int
    drop_prob: float

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def efficientnet_stages(variant: str, stochastic_depth_prob: float = STOCHASTIC_DEPTH_PROB
                        ) -> tuple[int, list[list[MBConvSpec]], int]:
    """(stem channels, blocks per stage, head channels) of ``variant``.

    Widths are scaled by ``width_mult`` and rounded with ``make_divisible``; each stage's
    block count is ``ceil(blocks * depth_mult)``. Only a stage's first block takes its
    stride and input width. The head conv has four times the last stage's width.
    """
    v = VARIANTS[variant]
    rows = [(e, k, s, make_divisible(i * v.width_mult), make_divisible(o * v.width_mult),
             int(math.ceil(n * v.depth_mult))) for e, k, s, i, o, n in B0_STAGES]
    total = sum(r[-1] for r in rows)
    stages, block = [], 0
    for expand, kernel, stride, in_channels, out_channels, n in rows:
        blocks = []
        for i in range(n):
            c_in = in_channels if i == 0 else out_channels
            blocks.append(MBConvSpec(c_in, out_channels, make_divisible(c_in * expand), max(1, c_in // 4), kernel,
                                     stride if i == 0 else 1, stochastic_depth_prob * block / total))
            block += 1
        stages.append(blocks)
    return rows[0][3], stages, 4 * rows[-1][4]


def efficientnet_body(variant: str) -> list[Stage]:
    """The body of an EfficientNet: ``features`` (stem, seven MBConv stages, head conv)."""
    stem, stages, head = efficientnet_stages(variant)
    rows = [(2, stem)] + [(stage[0].stride, stage[-1].out_channels) for stage in stages] + [(1, head)]
    return sequential("features", rows)


_TV = "torchvision 0.28.0 (ImageNet weights meta)"
_COUNTS = {
    "efficientnet_b0": 5_288_548, "efficientnet_b1": 7_794_184, "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232, "efficientnet_b4": 19_341_616, "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704, "efficientnet_b7": 66_347_960,
}
# B1-B4 take 0.5-2 CPU-minutes per parity case at the smallest sizes (depth and SE blocks,
# not width); B5-B7 also need batch 2 and, with only 2 values per channel in a 1x1 last
# stage, a 64x64 input to keep train-mode BatchNorm conditioned. B0-B4 take batch 8 at 32x32
# for the same reason: at batch 4 B0's float64 sgd_steps differed by 5.1e-5 and passed only
# through the own-error rejudge; at 8 by 4.1e-11, and the case ran faster (20 s against 22 s).
_HEAVY = ("efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
          "efficientnet_b5", "efficientnet_b6", "efficientnet_b7")
_BATCH_2 = ("efficientnet_b5", "efficientnet_b6", "efficientnet_b7")
# The harness's BatchNorm calibration (parity.compare.calibration_samples): 256 positions per
# channel at the deepest map, up to 256 samples. With the default 64 (at most 16 samples)
# the SE gates of a randomised EfficientNet multiply estimation noise block after block: eval
# outputs reached 1e2 to 1e5 and torch float32 differed from torch float64 by 1.5e-2 (B1, 2D)
# to 0.64 (B6, 1D), so a float32 eval check at 1e-4 could fail on rounding alone (B6 1D did).
# With 256 positions the same measure is 1e-6 to 7e-5 (measured 2026-12-03).
CALIBRATION = (256, 256)

MODELS = [
    ModelInfo(
        name, "efficientnet", f"Tan & Le 2019, EfficientNet-B{name[-1]}; torchvision's layout",
        input_size=VARIANTS[name].input_size, min_size=1, parity_size=64 if name in _BATCH_2 else 32,
        parity_size_1d=128,
        published=(Published(count, {}, _TV),),
        heavy=name in _HEAVY, parity_batch=2 if name in _BATCH_2 else 8, calibration=CALIBRATION,
    )
    for name, count in _COUNTS.items()
]
