"""VGG variants: the configurations torch_impl/vgg.py and paddle_impl/vgg.py both read.

Simonyan & Zisserman 2014, Table 1, in torchvision's notation: an int is a 3x3 conv
(padding 1) with that many output maps, "M" a 2x2 stride-2 max pool.
"""
from __future__ import annotations

from zoo.features import Stage, sequential
from zoo.models import ModelInfo, Published

VGG_CFGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
VGG_DEPTHS: dict[str, str] = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}

# torchvision's head: a 7x7 adaptive average pool, then 4096-4096 with dropout.
VGG_POOL = 7
VGG_HIDDEN = 4096

# Seed 001 (d2l) trains VGG-11 on 1-channel 224x224 Fashion-MNIST with every conv
# width divided by 4 (its "ratio"); the classifier stays 4096 wide.
VGG_D2L = dict(width=0.25, in_channels=1, num_classes=10)


def scaled_channels(channels: int, width: float) -> int:
    """A conv width times the width multiplier (at least 1 map)."""
    return max(1, int(round(channels * width)))


def vgg_body(cfg: str, batch_norm: bool, in_channels: int, width: float = 1.0) -> list[Stage]:
    """The body of a VGG: ``features``, one module per conv, BatchNorm, ReLU and pool."""
    rows: list[tuple[int, int]] = []
    channels = in_channels
    for v in VGG_CFGS[cfg]:
        if v == "M":
            rows.append((2, channels))
        else:
            channels = scaled_channels(v, width)
            rows += [(1, channels)] * (3 if batch_norm else 2)
    return sequential("features", rows)


# Five 2x2 pools halve the input five times, so 32 is the smallest input (1x1 maps).
VGG_MIN_SIZE = 32

_TORCHVISION = "torchvision 0.28.0 (VGG*_Weights meta)"
_COUNTS = {
    "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240, "vgg19_bn": 143_678_248,
}


def _info(name: str) -> ModelInfo:
    depth = name.split("_")[0]
    published = [Published(_COUNTS[name], {"num_classes": 1000}, _TORCHVISION)]
    if name == "vgg16":
        published.append(Published(138_357_544, {"num_classes": 1000}, "seed 003 (torchstat, 3x224x224)"))
    bn = " with BatchNorm after every conv" if name.endswith("_bn") else ""
    return ModelInfo(
        name, "vgg", f"Simonyan & Zisserman 2014, configuration {VGG_DEPTHS[depth]}{bn}; torchvision layout",
        input_size=224, min_size=VGG_MIN_SIZE, parity_size=VGG_MIN_SIZE, heavy=True, parity_batch=2,
        published=tuple(published),
    )


MODELS = [_info(f"{depth}{bn}") for depth in VGG_DEPTHS for bn in ("", "_bn")] + [
    ModelInfo(
        "vgg11_d2l", "vgg",
        "Dive into Deep Learning, VGG-11 (seed 001): conv widths divided by 4, 1-channel 224x224 Fashion-MNIST",
        input_size=224, min_size=VGG_MIN_SIZE, parity_size=VGG_MIN_SIZE, heavy=True, parity_batch=2,
        num_classes=VGG_D2L["num_classes"], in_channels=VGG_D2L["in_channels"],
    ),
]
