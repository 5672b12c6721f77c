"""LeNet variants: the tables that torch_impl/lenet.py and paddle_impl/lenet.py both read."""
from __future__ import annotations

from zoo.features import Stage, sequential
from zoo.models import ModelInfo, Published

# The LeNet-5 outline (C1 conv 6@5, S2, C3 conv 16@5, S4, C5 120, F6 84, output) with
# the per-variant choices. "c5" is "conv" where C5 is a 5x5 convolution (the paper,
# seed 002, seed 004) and "linear" where it is a Linear over the flattened 16x5x5 maps
# (d2l, seed 001); both hold 48,120 parameters.
LENET5_VARIANTS: dict[str, dict] = {
    "lenet5": dict(activation="relu", subsampling="avg", c1_padding=0, c5="conv", c3_table=False),
    "lenet5_d2l": dict(activation="sigmoid", subsampling="avg", c1_padding=2, c5="linear", c3_table=False),
    "lenet5_original": dict(activation="tanh", subsampling="trainable", c1_padding=0, c5="conv", c3_table=False),
    "lenet5_original_sparse": dict(activation="tanh", subsampling="trainable", c1_padding=0, c5="conv", c3_table=True),
}

# LeCun et al. 1998, Table I: which of the six S2 maps feed each of the sixteen C3 maps.
# Maps 0-5 read three neighbouring maps, 6-11 four neighbouring, 12-14 four
# non-neighbouring, and 15 reads all six: 60 connections of 25 weights plus 16 biases.
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# Seed 000's adaptive LeNet: conv 20@5, BN, max pool 2, conv 50@5, BN, max pool 2,
# Linear(flattened, 512), ReLU, Linear(512, classes).
LENET_BN = dict(channels=(20, 50), kernel=5, pool=2, hidden=512)


def lenet_bn_features(size: int) -> int:
    """Spatial size after seed 000's feature stack, from ``(n + 2p - k)//s + 1``."""
    k, p = LENET_BN["kernel"], LENET_BN["pool"]
    return ((size - k + 1) // p - k + 1) // p


def lenet5_body(variant: str) -> list[Stage]:
    """The body of a LeNet-5 variant: ``features`` up to its flatten (zoo/features.py)."""
    spec = LENET5_VARIANTS[variant]
    trainable = spec["subsampling"] == "trainable"
    rows = [("c1", 1, 6), ("c1_act", 1, 6), ("s2", 2, 6)] + ([("s2_act", 1, 6)] if trainable else [])
    rows += [("c3", 1, 16), ("c3_act", 1, 16), ("s4", 2, 16)] + ([("s4_act", 1, 16)] if trainable else [])
    if spec["c5"] == "conv":
        rows += [("c5", 1, 120), ("c5_act", 1, 120)]
    return [Stage(f"features.{name}", stride, channels) for name, stride, channels in rows]


def lenet_bn_body() -> list[Stage]:
    """The body of seed 000's BN LeNet: ``features`` (conv, BN, pool, twice)."""
    c1, c2 = LENET_BN["channels"]
    p = LENET_BN["pool"]
    return sequential("features", [(1, c1), (1, c1), (p, c1), (1, c2), (1, c2), (p, c2)])


_SEED_002 = "seed 002 (LeNet-5 layer table)"
_SEED_004 = "seed 004 (LeNet-5 with trainable subsampling)"

MODELS = [
    ModelInfo(
        "lenet5", "lenet", "LeCun et al. 1998; layer table of seed 002 (ReLU, average pooling)",
        input_size=32, min_size=32, fixed_size=True, num_classes=10, in_channels=1,
        published=(Published(61_706, {"num_classes": 10, "in_channels": 1}, _SEED_002),),
    ),
    ModelInfo(
        "lenet5_d2l", "lenet", "Dive into Deep Learning, LeNet (seed 001): sigmoid, AvgPool, 28x28 with C1 padded",
        input_size=28, min_size=28, fixed_size=True, num_classes=10, in_channels=1,
        published=(Published(61_706, {"num_classes": 10, "in_channels": 1}, "seed 001 / d2l"),),
    ),
    ModelInfo(
        "lenet5_original", "lenet", "LeCun et al. 1998 with trainable subsampling (seed 004)",
        input_size=32, min_size=32, fixed_size=True, num_classes=10, in_channels=1,
        published=(Published(61_750, {"num_classes": 10, "in_channels": 1}, _SEED_004),),
    ),
    ModelInfo(
        "lenet5_original_sparse", "lenet",
        "LeCun et al. 1998, Table I sparse C3 connections, with trainable subsampling",
        input_size=32, min_size=32, fixed_size=True, num_classes=10, in_channels=1,
        published=(Published(61_750 - 2_416 + 1_516, {"num_classes": 10, "in_channels": 1},
                             "LeCun et al. 1998: C3 has 1,516 trainable parameters"),),
    ),
    ModelInfo(
        "lenet_bn", "lenet", "seed 000: LeNet with BatchNorm, classifier sized from the input",
        input_size=224, min_size=16, parity_size=32, sized_by_input=True, num_classes=10, in_channels=1,
        published=(Published(71_940_187, {"num_classes": 5, "in_channels": 3, "input_size": 224, "dims": 2},
                             "seed 000 (torchsummary, 3x224x224, 5 classes)"),),
    ),
]
