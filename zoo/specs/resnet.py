"""ResNet variants: the stage tables that torch_impl/resnet.py and paddle_impl/resnet.py both read."""
from __future__ import annotations

from zoo.features import Stage, sequential
from zoo.models import ModelInfo, Published

# Output channels of the four stages before the block's expansion (64-128-256-512), and
# of the 7x7 stem. A stage's first block strides by 2, except in the first stage.
STAGE_PLANES: tuple[int, ...] = (64, 128, 256, 512)
STEM_CHANNELS = 64
# How much a block widens its stage's planes: BasicBlock 1, Bottleneck 4.
EXPANSION = {"basic": 1, "bottleneck": 4}

# torchvision's ResNet family, one row each: block type, blocks per stage, and the
# grouped 3x3 conv's groups and width per group (Bottleneck width = planes *
# width_per_group / 64 * groups). ResNeXt (Xie et al. 2017) is groups/width_per_group;
# Wide ResNet (Zagoruyko & Komodakis 2016) doubles width_per_group.
RESNET_CONFIGS: dict[str, dict] = {
    "resnet18": dict(block="basic", layers=(2, 2, 2, 2), groups=1, width_per_group=64),
    "resnet34": dict(block="basic", layers=(3, 4, 6, 3), groups=1, width_per_group=64),
    "resnet50": dict(block="bottleneck", layers=(3, 4, 6, 3), groups=1, width_per_group=64),
    "resnet101": dict(block="bottleneck", layers=(3, 4, 23, 3), groups=1, width_per_group=64),
    "resnet152": dict(block="bottleneck", layers=(3, 8, 36, 3), groups=1, width_per_group=64),
    "resnext50_32x4d": dict(block="bottleneck", layers=(3, 4, 6, 3), groups=32, width_per_group=4),
    "resnext101_32x8d": dict(block="bottleneck", layers=(3, 4, 23, 3), groups=32, width_per_group=8),
    "resnext101_64x4d": dict(block="bottleneck", layers=(3, 4, 23, 3), groups=64, width_per_group=4),
    "wide_resnet50_2": dict(block="bottleneck", layers=(3, 4, 6, 3), groups=1, width_per_group=128),
    "wide_resnet101_2": dict(block="bottleneck", layers=(3, 4, 23, 3), groups=1, width_per_group=128),
}

# Rows of RESNET_CONFIGS with no registered builder: 84 to 127 million parameters put
# a float64 parity run (weights, gradients, Adam state and a reference copy in both
# frameworks) far beyond the memory the CI machine gives one process. Build them with
# ``ResNet.from_config(name, ...)``; tests/test_resnet.py checks them against torchvision.
UNREGISTERED = ("resnext101_32x8d", "resnext101_64x4d", "wide_resnet101_2")

# Seed 001's d2l ResNet-18: the 7x7 stem, then four stages of two Residual blocks;
# every conv has a bias, and a stage that changes shape puts a 1x1 conv on its first
# block's shortcut.
RESNET_D2L = dict(stem_channels=64, channels=(64, 128, 256, 512), blocks=(2, 2, 2, 2))


def block_width(planes: int, groups: int, width_per_group: int) -> int:
    """Channels of a Bottleneck's grouped 3x3 conv (torchvision's rounding)."""
    return int(planes * (width_per_group / 64.0)) * groups


def resnet_body(block: str) -> list[Stage]:
    """The body of a torchvision-layout ResNet: stem modules, then ``layer1`` .. ``layer4``."""
    stem = STEM_CHANNELS
    stages = [Stage("conv1", 2, stem), Stage("bn1", 1, stem), Stage("relu", 1, stem), Stage("maxpool", 2, stem)]
    return stages + [Stage(f"layer{i + 1}", 1 if i == 0 else 2, planes * EXPANSION[block])
                     for i, planes in enumerate(STAGE_PLANES)]


def resnet_d2l_body() -> list[Stage]:
    """The body of the d2l ResNet-18: ``b1``'s modules (conv, BN, ReLU, pool), then ``b2`` .. ``b5``."""
    stem = RESNET_D2L["stem_channels"]
    stages = sequential("b1", [(2, stem), (1, stem), (1, stem), (2, stem)])
    return stages + [Stage(f"b{i + 2}", 1 if i == 0 else 2, c) for i, c in enumerate(RESNET_D2L["channels"])]


# torchvision's weight metadata (``num_params``) for the 2D ImageNet models.
_TV = "torchvision 0.28.0 weights metadata (num_params)"
PUBLISHED_PARAMS: dict[str, int] = {
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
    "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272, "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696,
}

_PAPERS = {
    "resnet": "He et al. 2016, Deep Residual Learning (torchvision layout, stride on the 3x3 conv)",
    "resnext": "Xie et al. 2017, Aggregated Residual Transformations (torchvision layout)",
    "wide_resnet": "Zagoruyko & Komodakis 2016, Wide Residual Networks (torchvision's bottleneck form)",
}


def _source(name: str) -> str:
    return _PAPERS["wide_resnet" if name.startswith("wide") else "resnext" if name.startswith("resnext") else "resnet"]


# Any input size works (a 1x1 map passes every stride-2 layer). Parity runs at 64, not
# the 32 at which layer4 first sees a 1x1 map: there train-mode BatchNorm in layer4
# normalises over batch x 1 values per channel, and that ill-conditioning lets float64
# rounding (paddle keeps BN's epsilon in float32) grow past the float64 tolerances over
# three Adam steps (resnet18: norm_rel 2.4e-6 at 32x32, 3e-10 at 64x64). Batch 4 for
# every variant: at batch 2, 1D runs are back to 4 values per channel in layer4.
MIN_SIZE = 1
PARITY_SIZE = 64
# Heavy: the full parity matrix takes over a CPU-minute per case; CI gives them the light check
# (resnet18/34 run the bottleneck-free path in full, resnet18_d2l the d2l one).
_HEAVY = {"resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2"}

MODELS = [
    ModelInfo(
        name, "resnet", _source(name), input_size=224, min_size=MIN_SIZE, parity_size=PARITY_SIZE,
        published=(Published(PUBLISHED_PARAMS[name], {}, _TV),),
        heavy=name in _HEAVY,
    )
    for name in RESNET_CONFIGS if name not in UNREGISTERED
] + [
    ModelInfo(
        "resnet18_d2l", "resnet",
        "Dive into Deep Learning, ResNet-18 (seed 001): biased convs, 1x1 conv on the shortcut when the shape changes",
        input_size=96, min_size=MIN_SIZE, parity_size=PARITY_SIZE, num_classes=10, in_channels=1,
    ),
]
