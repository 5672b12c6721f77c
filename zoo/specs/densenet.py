"""DenseNet variants: the growth and block tables that torch_impl/densenet.py and paddle_impl/densenet.py read."""
from __future__ import annotations

from zoo.features import Stage
from zoo.models import ModelInfo, Published

# torchvision's DenseNet-BC rows (Huang et al. 2017): growth rate k, dense layers per
# block, and the stem's width. Every dense layer is BN-ReLU-1x1 conv (bn_size * k)
# then BN-ReLU-3x3 conv (k); each transition halves the channels.
DENSENET_CONFIGS: dict[str, dict] = {
    "densenet121": dict(growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64),
    "densenet161": dict(growth_rate=48, block_config=(6, 12, 36, 24), num_init_features=96),
    "densenet169": dict(growth_rate=32, block_config=(6, 12, 32, 32), num_init_features=64),
    "densenet201": dict(growth_rate=32, block_config=(6, 12, 48, 32), num_init_features=64),
}
BN_SIZE = 4
# Transitions halve the channels (DenseNet-BC's compression 0.5).
COMPRESSION_DIVISOR = 2

# Seed 001's d2l DenseNet: the 7x7 stem, four dense blocks of four BN-ReLU-3x3 convs
# (biased, growth 32, no bottleneck), biased 1x1 transitions between them.
DENSENET_D2L = dict(stem_channels=64, growth_rate=32, block_config=(4, 4, 4, 4))


def densenet_body(growth_rate: int, block_config: tuple[int, ...], num_init_features: int) -> list[Stage]:
    """The body of a DenseNet (torchvision's or d2l's): ``features``' modules (stem, dense
    blocks, transitions, ``norm5``), then the ReLU before the global pool."""
    c = num_init_features
    stages = [Stage("features.conv0", 2, c), Stage("features.norm0", 1, c), Stage("features.relu0", 1, c),
              Stage("features.pool0", 2, c)]
    for i, layers in enumerate(block_config):
        c += layers * growth_rate
        stages.append(Stage(f"features.denseblock{i + 1}", 1, c))
        if i != len(block_config) - 1:
            c //= COMPRESSION_DIVISOR
            stages.append(Stage(f"features.transition{i + 1}", 2, c))
    return stages + [Stage("features.norm5", 1, c), Stage("relu", 1, c)]

# The stem divides the size by 4 (rounding up) and the three 2x2 transition pools need
# at least 8 left: 29 is the smallest input. Parity runs at 64 (last block 2x2): at 32
# the last block's train-mode BatchNorm sees batch x 1 values per channel, and float64
# rounding grows past the tolerances over three optimizer steps (densenet121 SGD:
# max_rel 9e-4 at 32x32, 5e-12 at 64x64). Batch 4: at batch 2 the 1D runs are back to
# 4 values per channel (densenet121 1D: 7e-2).
MIN_SIZE = 29
PARITY_SIZE = 64

_TV = "torchvision 0.28.0 weights metadata (num_params)"
PUBLISHED_PARAMS = {"densenet121": 7_978_856, "densenet161": 28_681_000, "densenet169": 14_149_480,
                    "densenet201": 20_013_928}
# Heavy: the full parity matrix takes over a CPU-minute per case; CI gives them the light check.
_HEAVY = {"densenet121", "densenet161", "densenet169", "densenet201"}

MODELS = [
    ModelInfo(
        name, "densenet", "Huang et al. 2017, Densely Connected Convolutional Networks (torchvision's DenseNet-BC)",
        input_size=224, min_size=MIN_SIZE, parity_size=PARITY_SIZE,
        published=(Published(count, {}, _TV),), heavy=name in _HEAVY,
    )
    for name, count in PUBLISHED_PARAMS.items()
] + [
    ModelInfo(
        "densenet_d2l", "densenet",
        "Dive into Deep Learning, DenseNet (seed 001): 4 dense blocks of 4 convs, growth 32, transition layers",
        input_size=96, min_size=MIN_SIZE, parity_size=PARITY_SIZE, num_classes=10, in_channels=1,
    ),
]
