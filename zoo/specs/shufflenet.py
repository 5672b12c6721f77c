"""ShuffleNet v1 and v2: the tables that torch_impl/shufflenet.py and paddle_impl/shufflenet.py both read."""
from __future__ import annotations

from dataclasses import dataclass

from zoo.features import Stage
from zoo.models import ModelInfo, Published

# --- ShuffleNet v2 (Ma et al. 2018), torchvision's layout -------------------------------

# Units per stage (stage2, stage3, stage4); the first unit of each stage has stride 2.
V2_STAGE_REPEATS: tuple[int, int, int] = (4, 8, 4)
# Output channels of conv1, stage2, stage3, stage4 and conv5 (Ma et al. 2018, Table 5).
V2_CHANNELS: dict[str, tuple[int, int, int, int, int]] = {
    "shufflenet_v2_x0_5": (24, 48, 96, 192, 1024),
    "shufflenet_v2_x1_0": (24, 116, 232, 464, 1024),
    "shufflenet_v2_x1_5": (24, 176, 352, 704, 1024),
    "shufflenet_v2_x2_0": (24, 244, 488, 976, 2048),
}

# --- ShuffleNet v1 (Zhang, Zhou, Lin, Sun 2017) -----------------------------------------

V1_GROUPS: tuple[int, ...] = (1, 2, 3, 4, 8)
V1_STEM_CHANNELS = 24
# Units per stage: one stride-2 unit, then 3, 7 and 3 stride-1 units (Table 1, "Repeat").
V1_STAGE_REPEATS: tuple[int, int, int] = (4, 8, 4)
# Output channels of stages 2, 3 and 4 for each group count g (Table 1).
V1_CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
# Table 1, "Complexity" row: MFLOPs (multiply-adds) of ShuffleNet 1x at 224x224.
V1_PAPER_MFLOPS: dict[int, int] = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}

# What our 1x nets hold and cost (1000 classes, 3x224x224), as tests/test_shufflenet.py
# asserts them. The paper gives no parameter counts, only the complexity above, so the
# counts were verified through it: multiply-adds counted from the built model's layer
# shapes (every conv and the fc, which is what the paper counts; BN, ReLU, pooling,
# shuffle and adds are left out) come within 1.1% of Table 1 for every g: 143.1, 140.8,
# 137.5, 134.3, 138.4 against 143, 140, 137, 133, 137. The same count also settles the
# paper's remark that stage 2's first pointwise layer is not grouped: read as the first
# unit's only, it gives those numbers; grouping it as well gives 139.0/134.5/130.5/132.0
# for g=2/3/4/8, and leaving all of stage 2's first pointwise layers ungrouped gives
# 152.6/160.0/167.0/214.2. Third-party reimplementations report 1.87M parameters for
# 1x g=3 (MMClassification) against our 1,865,728.
V1_PARAMS: dict[int, int] = {1: 1_531_936, 2: 1_733_848, 3: 1_865_728, 4: 1_968_344, 8: 2_434_768}
V1_MACS: dict[int, int] = {1: 143_078_976, 2: 140_836_512, 3: 137_460_672, 4: 134_339_776, 8: 138_365_952}


@dataclass(frozen=True)
class ShuffleUnitSpec:
    """One ShuffleNet v1 unit (Zhang et al. 2017, Fig. 2 b/c).

    ``compress_groups`` is the group count of the first 1x1 conv: 1 for the first unit
    of stage 2, whose 24 input channels are too few to split (the paper's Sec. 3.3 note).
    A stride-2 unit's residual branch outputs ``out_channels - in_channels`` maps, which
    are concatenated with the average-pooled input.
    """

    in_channels: int
    out_channels: int
    mid_channels: int
    stride: int
    groups: int
    compress_groups: int


def _round_to(value: float, multiple: int) -> int:
    """``value`` rounded to the nearest multiple of ``multiple`` (at least one multiple)."""
    return max(multiple, int(value / multiple + 0.5) * multiple)


def shufflenet_v1_stages(groups: int, width_mult: float = 1.0) -> tuple[int, list[list[ShuffleUnitSpec]]]:
    """(stem channels, units of stages 2-4) for ShuffleNet ``width_mult``x with ``groups`` groups.

    At 1x the channels are the paper's Table 1 exactly. The paper's "ShuffleNet s x" scales
    every layer's filters by s; the scaled stage widths are rounded to a multiple of
    ``4 * groups`` (so the bottleneck, a quarter of the output, splits into the groups) and
    the stem to a multiple of ``groups`` (so a stride-2 unit's branch, output minus input,
    does too).
    """
    if groups not in V1_CHANNELS:
        raise ValueError(f"ShuffleNet v1 is defined for groups {V1_GROUPS}, got {groups!r}")
    if width_mult <= 0:
        raise ValueError(f"width_mult must be positive, got {width_mult!r}")
    stem = V1_STEM_CHANNELS if width_mult == 1.0 else _round_to(V1_STEM_CHANNELS * width_mult, groups)
    in_channels, stages = stem, []
    for stage, (repeats, channels) in enumerate(zip(V1_STAGE_REPEATS, V1_CHANNELS[groups])):
        out_channels = channels if width_mult == 1.0 else _round_to(channels * width_mult, 4 * groups)
        units = []
        for i in range(repeats):
            units.append(ShuffleUnitSpec(in_channels, out_channels, out_channels // 4, 2 if i == 0 else 1, groups,
                                         1 if stage == 0 and i == 0 else groups))
            in_channels = out_channels
        stages.append(units)
    return stem, stages


def shufflenet_v2_body(variant: str) -> list[Stage]:
    """The body of ShuffleNet v2: ``conv1``, ``maxpool``, ``stage2`` .. ``stage4``, ``conv5``."""
    c = V2_CHANNELS[variant]
    return [Stage("conv1", 2, c[0]), Stage("maxpool", 2, c[0]), Stage("stage2", 2, c[1]), Stage("stage3", 2, c[2]),
            Stage("stage4", 2, c[3]), Stage("conv5", 1, c[4])]


def shufflenet_v1_body(groups: int, width_mult: float = 1.0) -> list[Stage]:
    """The body of ShuffleNet v1: ``conv1``, ``maxpool``, ``stage2`` .. ``stage4``."""
    stem, stages = shufflenet_v1_stages(groups, width_mult)
    return [Stage("conv1", 2, stem), Stage("maxpool", 2, stem)] + [
        Stage(f"stage{i}", 2, units[-1].out_channels) for i, units in enumerate(stages, start=2)]


_TV = "torchvision 0.28.0 (ImageNet weights meta)"
_V2_SOURCE = "Ma, Zhang, Zheng, Sun 2018, ShuffleNet V2; torchvision's layout"
_V1_SOURCE = "Zhang, Zhou, Lin, Sun 2017, ShuffleNet, Table 1 ({}x, g={})"

MODELS = [
    ModelInfo(
        name, "shufflenet", _V2_SOURCE, input_size=224, min_size=1, parity_size=48, parity_size_1d=256,
        published=(Published(count, {}, _TV),),
        # Width/group variants of one network: in CI the full matrix runs on x0_5, x1_0, g1
        # and g3, the light check on the rest (the full matrix with -m heavy).
        heavy=name in ("shufflenet_v2_x1_5", "shufflenet_v2_x2_0"),
    )
    for name, count in (("shufflenet_v2_x0_5", 1_366_792), ("shufflenet_v2_x1_0", 2_278_604),
                        ("shufflenet_v2_x1_5", 3_503_624), ("shufflenet_v2_x2_0", 7_393_996))
] + [
    ModelInfo(
        f"shufflenet_v1_g{g}", "shufflenet", _V1_SOURCE.format(1, g), input_size=224, min_size=1, parity_size=64,
        parity_size_1d=256, heavy=g in (2, 4, 8),
        notes=f"not in torchvision; {V1_PARAMS[g]:,} parameters and {V1_MACS[g] / 1e6:.1f}M MACs at 224 "
              f"(paper: {V1_PAPER_MFLOPS[g]} MFLOPs)",
    )
    for g in V1_GROUPS
]
