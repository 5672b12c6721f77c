"""Inception-v3: the facts that torch_impl/inception.py and paddle_impl/inception.py both read."""
from __future__ import annotations

from zoo.features import Stage
from zoo.models import ModelInfo, Published

# The Mixed blocks in order, by torchvision's attribute name: (block kind, arguments after
# the input channels). A: 35x35 grid (pool_features), B: 35->17 reduction, C: 17x17 grid
# with factorised 1x7/7x1 convs (channels_7x7), D: 17->8 reduction, E: 8x8 grid with
# 1x3/3x1 convs.
MIXED: tuple[tuple[str, str, int, tuple[int, ...]], ...] = (
    ("Mixed_5b", "A", 192, (32,)),
    ("Mixed_5c", "A", 256, (64,)),
    ("Mixed_5d", "A", 288, (64,)),
    ("Mixed_6a", "B", 288, ()),
    ("Mixed_6b", "C", 768, (128,)),
    ("Mixed_6c", "C", 768, (160,)),
    ("Mixed_6d", "C", 768, (160,)),
    ("Mixed_6e", "C", 768, (192,)),
    ("Mixed_7a", "D", 768, ()),
    ("Mixed_7b", "E", 1280, ()),
    ("Mixed_7c", "E", 2048, ()),
)

# The auxiliary classifier reads Mixed_6e (768 channels, 17x17 at 299). It has no padding
# anywhere: a 5/3 average pool (17 -> 5), a 1x1 conv to 128, a 5x5 conv to 768 (5 -> 1),
# so it needs Mixed_6e to be at least 17 wide, which the stem gives only from 299 on:
# 299 is the smallest input that trains with the aux head. Without it (and in eval
# mode, where the head does not run) the network accepts 75 (Mixed_7c is then 1x1).
AUX_AFTER = "Mixed_6e"
AUX_MIN_SIZE = 299
MIN_SIZE = 75

# torchvision's weight init: conv and Linear weights from a normal truncated at +-2
# (absolute), std 0.1, except the aux head's fc (std 0.001). torchvision also tags the
# aux head's 5x5 conv block with std 0.01, but its init loop reads the tag only from
# Conv2d/Linear modules, so that conv gets 0.1; we reproduce what torchvision does.
TRUNC_NORMAL_STD = 0.1
TRUNC_NORMAL_STD_OVERRIDES = {"AuxLogits.fc": 0.001}

# The registry parity runs without the aux head (it trains only from 299, which is far too
# costly in float64 on 2 cores) at the smallest input whose Mixed_7 maps are 2x2: at 75 they
# are 1x1, so at batch 2 the train-mode BatchNorms there normalise 2 values per channel (to
# +-1) and their outputs and gradients are ill-conditioned (gradients reach 3e6; float64
# train loss differs by 1e-9 between two correct implementations).
PARITY_SIZE = 107


# Output channels of each Mixed block kind from its input channels and arguments.
_MIXED_OUT = {"A": lambda c, pool_features: 224 + pool_features, "B": lambda c: 480 + c,
              "C": lambda c, _: 768, "D": lambda c: 512 + c, "E": lambda c: 2048}


def inception_v3_body(in_channels: int) -> list[Stage]:
    """The body of Inception-v3: the input transform, the stem, and the Mixed blocks (B and
    D reduce by 2), in forward order."""
    stages = [Stage("transform", 1, in_channels, level=False), Stage("Conv2d_1a_3x3", 2, 32),
              Stage("Conv2d_2a_3x3", 1, 32),
              Stage("Conv2d_2b_3x3", 1, 64), Stage("maxpool1", 2, 64), Stage("Conv2d_3b_1x1", 1, 80),
              Stage("Conv2d_4a_3x3", 1, 192), Stage("maxpool2", 2, 192)]
    stages += [Stage(name, 2 if kind in "BD" else 1, _MIXED_OUT[kind](in_ch, *args))
               for name, kind, in_ch, args in MIXED]
    return stages

MODELS = [
    ModelInfo(
        "inception_v3", "inception",
        "Szegedy et al. 2015, Rethinking the Inception Architecture; torchvision's Inception3 (BN eps 1e-3, aux head)",
        # Batch 4, not 2: with 2 samples train-mode BatchNorm at the 1x1 last stage sees 2 values
        # per channel and float64 train and step checks needed the own-error rejudge (1D sgd_steps
        # 7.9e-5, 2D asym train_input_grad 3.7e-8); at 4 they agree to 3e-8 and 3e-11 with no
        # rejudge, and the case runs faster for it (31 s against 39 s, 1D float64, 2026-12-03).
        input_size=299, min_size=MIN_SIZE, parity_size=PARITY_SIZE, heavy=True, parity_batch=4,
        published=(Published(27_161_264, {"aux_logits": True},
                             "torchvision 0.28 Inception_V3_Weights.IMAGENET1K_V1 (num_params)"),),
        notes="aux_logits defaults to False (training with the aux head needs 299); min_size 75 holds "
              "in eval mode or without the aux head",
    ),
]
