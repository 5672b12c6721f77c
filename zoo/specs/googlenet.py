"""GoogLeNet variants: the tables that torch_impl/googlenet.py and paddle_impl/googlenet.py both read."""
from __future__ import annotations

from zoo.features import Stage
from zoo.models import ModelInfo, Published

# The nine Inception modules of Szegedy et al. 2014, Table 1, by torchvision's attribute
# name: (input channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj). d2l's
# GoogLeNet (seed 001) uses the same numbers.
INCEPTION_V1: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}



def inception_v1_out(name: str) -> int:
    """Output channels of an Inception-v1 module: the four paths concatenated."""
    _, ch1x1, _, ch3x3, _, ch5x5, pool_proj = INCEPTION_V1[name]
    return ch1x1 + ch3x3 + ch5x5 + pool_proj


def googlenet_body(variant: str, in_channels: int) -> list[Stage]:
    """The body of a GoogLeNet: the input transform, the stem, and the Inception modules
    with the stage pools between them, in forward order."""
    strides = [s for _, s, _, _ in GOOGLENET_VARIANTS[variant]["pools"]]
    stages = [Stage("transform", 1, in_channels, level=False), Stage("conv1", 2, 64), Stage("maxpool1", strides[0], 64),
              Stage("conv2", 1, 64), Stage("conv3", 1, 192), Stage("maxpool2", strides[1], 192)]
    for group, pool in (("3", "maxpool3"), ("4", "maxpool4"), ("5", None)):
        names = [n for n in INCEPTION_V1 if n.startswith(f"inception{group}")]
        stages += [Stage(n, 1, inception_v1_out(n)) for n in names]
        if pool is not None:
            stages.append(Stage(pool, strides[int(pool[-1]) - 1], inception_v1_out(names[-1])))
    return stages


# Per variant: BatchNorm in every conv block (eps 1e-3) or a biased conv and ReLU; the
# kernel of the "5x5" branch (torchvision's port of the original weights has a 3x3
# there); the four stage pools maxpool1..maxpool4 as (kernel, stride, padding,
# ceil_mode), and the ceil_mode of the 3x3/1 pool inside each Inception module; the
# dropout before the classifier; the weight init (torchvision: truncated normal std 0.01;
# d2l's training loop: Xavier uniform).
GOOGLENET_VARIANTS: dict[str, dict] = {
    "googlenet": dict(batch_norm=True, branch3_kernel=3,
                      pools=((3, 2, 0, True), (3, 2, 0, True), (3, 2, 0, True), (2, 2, 0, True)),
                      branch_pool_ceil=True, dropout=0.2, init="trunc_normal"),
    "googlenet_d2l": dict(batch_norm=False, branch3_kernel=5,
                          pools=((3, 2, 1, False),) * 4,
                          branch_pool_ceil=False, dropout=0.0, init="xavier_uniform"),
}

# torchvision's weight init for GoogLeNet: conv and Linear weights from a normal with this
# std, truncated at +-2 (absolute, i.e. 200 std); Linear biases keep torch's default.
TRUNC_NORMAL_STD = 0.01

# The auxiliary classifiers after inception4a (512 channels) and inception4d (528):
# adaptive average pool to 4x4 (4 in 1D), 1x1 conv to 128, Linear to 1024, ReLU,
# dropout, Linear to the classes.
AUX = dict(pool=4, channels=128, hidden=1024, dropout=0.7)

# What train mode with aux heads returns, in torchvision's order (GoogLeNetOutputs).
OUTPUT_FIELDS = ("logits", "aux_logits2", "aux_logits1")

# transform_input: per-channel (mean, std) of the ImageNet normalisation. Input normalised
# with them is mapped to the (x - 0.5) / 0.5 normalisation the original Inception weights
# (GoogLeNet and Inception-v3) were trained with.
IMAGENET_MEAN_STD = ((0.485, 0.229), (0.456, 0.224), (0.406, 0.225))

_TV = "torchvision 0.28 GoogLeNet_Weights.IMAGENET1K_V1 (num_params)"

MODELS = [
    ModelInfo(
        "googlenet", "googlenet",
        "Szegedy et al. 2014, Going Deeper with Convolutions; torchvision's layout (BN conv blocks, aux heads)",
        input_size=224, min_size=15, parity_size=64, parity_batch=2,
        published=(Published(6_624_904, {"aux_logits": False}, _TV),),
        notes="min_size 15 is torchvision's; aux heads (on by default, as in torchvision's class) run in train mode",
    ),
    ModelInfo(
        "googlenet_d2l", "googlenet",
        "Dive into Deep Learning, GoogLeNet (seed 001): Inception-v1 without BatchNorm, global average pool",
        input_size=96, min_size=1, parity_size=32, num_classes=10, in_channels=1,
        notes="every pool is padded, so any input size works; 96 is d2l's Fashion-MNIST resize",
    ),
]
