"""MobileNet v1, v2 and v3: the block tables and width rules that both frameworks read.

v2 and v3 follow torchvision (tables, channel rounding, state-dict keys). v1 is not in
torchvision; it follows paddle.vision's ``mobilenet_v1`` (the paper's Table 1, with
paddle.vision's layer names, so its checkpoints load with the same keys).
"""
from __future__ import annotations

from zoo.features import Stage, sequential
from zoo.models import ModelInfo, Published

# --- MobileNet v1 (Howard et al. 2017, Table 1) ---------------------------------------
# The stem is a full 3x3 conv with 32 outputs and stride 2. Each row below is one
# depthwise-separable block: (name, input channels, output channels, depthwise stride);
# the 3x3 depthwise conv keeps the input channels, the 1x1 conv maps them to the output.
MOBILENET_V1_STEM = 32
MOBILENET_V1_BLOCKS: tuple[tuple[str, int, int, int], ...] = (
    ("conv2_1", 32, 64, 1),
    ("conv2_2", 64, 128, 2),
    ("conv3_1", 128, 128, 1),
    ("conv3_2", 128, 256, 2),
    ("conv4_1", 256, 256, 1),
    ("conv4_2", 256, 512, 2),
    ("conv5_1", 512, 512, 1),
    ("conv5_2", 512, 512, 1),
    ("conv5_3", 512, 512, 1),
    ("conv5_4", 512, 512, 1),
    ("conv5_5", 512, 512, 1),
    ("conv5_6", 512, 1024, 2),
    ("conv6", 1024, 1024, 1),
)


def mobilenet_v1_channels(channels: int, width_mult: float) -> int:
    """The paper's width multiplier as paddle.vision applies it: truncate, no rounding to 8."""
    return int(channels * width_mult)


# --- MobileNet v2 (Sandler et al. 2018, Table 2) --------------------------------------
# Rows (t, c, n, s): expansion factor, output channels, repeats, stride of the first.
MOBILENET_V2_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
MOBILENET_V2_STEM = 32
MOBILENET_V2_LAST = 1280


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10% down.

    The TF-slim rule that torchvision and paddle.vision use for every width-scaled
    channel count of MobileNet v2 and v3.
    """
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def mobilenet_v2_blocks(width_mult: float = 1.0, round_nearest: int = 8) -> list[tuple[int, int, int, int]]:
    """Every inverted-residual block as (in, out, stride, expansion), after width scaling."""
    in_ch = make_divisible(MOBILENET_V2_STEM * width_mult, round_nearest)
    blocks = []
    for t, c, n, s in MOBILENET_V2_SETTING:
        out_ch = make_divisible(c * width_mult, round_nearest)
        for i in range(n):
            blocks.append((in_ch, out_ch, s if i == 0 else 1, t))
            in_ch = out_ch
    return blocks


# --- MobileNet v3 (Howard et al. 2019, Tables 1 and 2) --------------------------------
# Rows (in, kernel, expanded, out, squeeze-excite, activation, stride); "RE" is ReLU and
# "HS" hard-swish. Rows marked in ``*_TAIL`` are the last stage, whose channels
# ``reduced_tail=True`` halves (torchvision's option for detection backbones).
MOBILENET_V3_LARGE: tuple[tuple[int, int, int, int, bool, str, int], ...] = (
    (16, 3, 16, 16, False, "RE", 1),
    (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2),
    (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1),
    (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2),
    (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
)
MOBILENET_V3_SMALL: tuple[tuple[int, int, int, int, bool, str, int], ...] = (
    (16, 3, 16, 16, True, "RE", 2),
    (16, 3, 72, 24, False, "RE", 2),
    (24, 3, 88, 24, False, "RE", 1),
    (24, 5, 96, 40, True, "HS", 2),
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1),
    (48, 5, 144, 48, True, "HS", 1),
    (48, 5, 288, 96, True, "HS", 2),
    (96, 5, 576, 96, True, "HS", 1),
    (96, 5, 576, 96, True, "HS", 1),
)
MOBILENET_V3 = {
    "large": dict(rows=MOBILENET_V3_LARGE, tail=12, last_channel=1280),
    "small": dict(rows=MOBILENET_V3_SMALL, tail=8, last_channel=1024),
}
# BatchNorm of every v3 layer, in torch's convention (the TF defaults the paper used).
MOBILENET_V3_BN = dict(eps=1e-3, momentum=0.01)


def mobilenet_v3_blocks(arch: str, width_mult: float = 1.0, reduced_tail: bool = False) -> list[dict]:
    """The block configurations of ``arch`` ("large" or "small") after width scaling.

    Each is a dict with in_channels, kernel, expanded, out_channels, use_se, use_hs,
    stride and squeeze (the SE bottleneck width, 0 without SE).
    """
    spec = MOBILENET_V3[arch]
    blocks = []
    for i, (cin, k, exp, cout, se, act, s) in enumerate(spec["rows"]):
        if reduced_tail:
            # The tail's first block keeps its input (the previous stage's output).
            cin = cin // 2 if i > spec["tail"] else cin
            exp = exp // 2 if i > spec["tail"] else exp
            cout = cout // 2 if i >= spec["tail"] else cout
        expanded = make_divisible(exp * width_mult)
        blocks.append(dict(in_channels=make_divisible(cin * width_mult), kernel=k, expanded=expanded,
                           out_channels=make_divisible(cout * width_mult), use_se=se, use_hs=act == "HS", stride=s,
                           squeeze=make_divisible(expanded // 4) if se else 0))
    return blocks


def mobilenet_v3_last_channel(arch: str, width_mult: float = 1.0, reduced_tail: bool = False) -> int:
    """Width of the classifier's hidden layer."""
    return make_divisible(MOBILENET_V3[arch]["last_channel"] // (2 if reduced_tail else 1) * width_mult)


def mobilenet_v1_body(width_mult: float = 1.0) -> list[Stage]:
    """The body of MobileNet v1: ``conv1``, then the thirteen blocks by name."""
    stages = [Stage("conv1", 2, mobilenet_v1_channels(MOBILENET_V1_STEM, width_mult))]
    return stages + [Stage(name, s, mobilenet_v1_channels(cout, width_mult))
                     for name, _, cout, s in MOBILENET_V1_BLOCKS]


def mobilenet_v2_body(width_mult: float = 1.0, round_nearest: int = 8) -> list[Stage]:
    """The body of MobileNet v2: ``features`` (stem, inverted residuals, last 1x1 conv)."""
    blocks = mobilenet_v2_blocks(width_mult, round_nearest)
    last = make_divisible(MOBILENET_V2_LAST * max(1.0, width_mult), round_nearest)
    return sequential("features", [(2, blocks[0][0])] + [(s, cout) for _, cout, s, _ in blocks] + [(1, last)])


def mobilenet_v3_body(arch: str, width_mult: float = 1.0, reduced_tail: bool = False) -> list[Stage]:
    """The body of MobileNet v3: ``features`` (stem, bnecks, last 1x1 conv to six times the last width)."""
    blocks = mobilenet_v3_blocks(arch, width_mult, reduced_tail)
    rows = [(2, blocks[0]["in_channels"])] + [(b["stride"], b["out_channels"]) for b in blocks]
    return sequential("features", rows + [(1, 6 * blocks[-1]["out_channels"])])


_TV = "torchvision 0.28.0 (trainable parameters)"
_PV = "paddle.vision.models.mobilenet_v1 3.3.1 (trainable parameters)"
_IMAGENET = {"num_classes": 1000, "in_channels": 3}

MODELS = [
    ModelInfo(
        "mobilenet_v1", "mobilenet",
        "Howard et al. 2017, MobileNets (arXiv:1704.04861), as paddle.vision's mobilenet_v1",
        input_size=224, min_size=1, parity_size=64,
        published=(Published(4_231_976, _IMAGENET, _PV),
                   Published(470_072, {**_IMAGENET, "width_mult": 0.25}, _PV),
                   Published(1_331_592, {**_IMAGENET, "width_mult": 0.5}, _PV),
                   Published(2_585_560, {**_IMAGENET, "width_mult": 0.75}, _PV)),
        notes="the paper's Table 1 gives 4.2M (1.0), 2.6M (0.75), 1.3M (0.5), 0.5M (0.25)",
    ),
    ModelInfo(
        "mobilenet_v2", "mobilenet", "Sandler et al. 2018, MobileNetV2 (arXiv:1801.04381); torchvision's mobilenet_v2",
        input_size=224, min_size=1, parity_size=64,
        published=(Published(3_504_872, _IMAGENET, _TV),),
    ),
    ModelInfo(
        "mobilenet_v3_small", "mobilenet",
        "Howard et al. 2019, Searching for MobileNetV3 (arXiv:1905.02244); torchvision's mobilenet_v3_small",
        input_size=224, min_size=1, parity_size=64,
        published=(Published(2_542_856, _IMAGENET, _TV),),
    ),
    ModelInfo(
        "mobilenet_v3_large", "mobilenet",
        "Howard et al. 2019, Searching for MobileNetV3 (arXiv:1905.02244); torchvision's mobilenet_v3_large",
        input_size=224, min_size=1, parity_size=64,
        published=(Published(5_483_032, _IMAGENET, _TV),),
    ),
]
