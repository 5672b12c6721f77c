"""MnasNet-B1 at depth multipliers 0.5, 0.75, 1.0 and 1.3: the tables both frameworks read.

Follows torchvision's ``mnasnet*`` (version 2 of its layout: the stem scales with the
multiplier too), which implements the B1 network of Tan et al. 2019, Figure 7.
"""
from __future__ import annotations

from zoo.features import Stage, sequential
from zoo.models import ModelInfo, Published

# Channel depths before scaling: the stem conv, the separable conv after it, then the
# output of each of the six stacks below.
MNASNET_DEPTHS: tuple[int, ...] = (32, 16, 24, 40, 80, 96, 192, 320)
# The six stacks of inverted residuals (MBConv): (kernel, stride of the first block,
# expansion factor, repeats). Only the first block of a stack changes width or size,
# so only the others have a skip connection.
MNASNET_STACKS: tuple[tuple[int, int, int, int], ...] = (
    (3, 2, 3, 3),
    (5, 2, 3, 3),
    (5, 2, 6, 3),
    (3, 1, 6, 2),
    (5, 2, 6, 4),
    (3, 1, 6, 1),
)
MNASNET_LAST = 1280
# The paper trains with TensorFlow's BN decay 0.9997, which is torch momentum 1 - 0.9997.
MNASNET_BN_MOMENTUM = 1 - 0.9997
MNASNET_ALPHAS = {"mnasnet0_5": 0.5, "mnasnet0_75": 0.75, "mnasnet1_0": 1.0, "mnasnet1_3": 1.3}


def round_to_multiple_of(value: float, divisor: int = 8, round_up_bias: float = 0.9) -> int:
    """Round to a multiple of ``divisor``, up unless that is within 10% above the lower one.

    torchvision's asymmetric rule: (83, 8) -> 80 but (84, 8) -> 88.
    """
    if not 0.0 < round_up_bias < 1.0:
        raise ValueError(f"round_up_bias must lie in (0, 1), got {round_up_bias}")
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new if new >= round_up_bias * value else new + divisor


def mnasnet_depths(alpha: float) -> list[int]:
    """The eight channel depths of MNASNET_DEPTHS scaled by ``alpha``."""
    if alpha <= 0.0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    return [round_to_multiple_of(d * alpha, 8) for d in MNASNET_DEPTHS]


def mnasnet_body(alpha: float) -> list[Stage]:
    """The body of MnasNet: ``layers`` (stem conv, BN, ReLU, separable conv with its BNs
    and ReLU, six stacks, 1x1 conv, BN, ReLU)."""
    d = mnasnet_depths(alpha)
    rows = [(2, d[0]), (1, d[0]), (1, d[0]), (1, d[0]), (1, d[0]), (1, d[0]), (1, d[1]), (1, d[1])]
    rows += [(stride, depth) for (_, stride, _, _), depth in zip(MNASNET_STACKS, d[2:])]
    return sequential("layers", rows + [(1, MNASNET_LAST)] * 3)


_TV = "torchvision 0.28.0 (trainable parameters)"
_PAPER = "Tan et al. 2019, MnasNet (arXiv:1807.11626), B1 network; torchvision's"
_COUNTS = {"mnasnet0_5": 2_218_512, "mnasnet0_75": 3_170_208, "mnasnet1_0": 4_383_312, "mnasnet1_3": 6_282_256}

MODELS = [
    ModelInfo(
        name, "mnasnet", f"{_PAPER} {name} (depth multiplier {alpha})",
        input_size=224, min_size=1, parity_size=64,
        published=(Published(_COUNTS[name], {"num_classes": 1000, "in_channels": 3}, _TV),),
        # Width variants of one network: the full matrix runs on 0.5 and 1.0 in CI, the
        # light check on these two (the full matrix with -m heavy).
        heavy=name in ("mnasnet0_75", "mnasnet1_3"),
    )
    for name, alpha in MNASNET_ALPHAS.items()
]
