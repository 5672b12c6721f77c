"""SqueezeNet 1.0 and 1.1: the layer tables that torch_impl/squeezenet.py and paddle_impl/squeezenet.py both read.

Both versions follow torchvision (layout, state-dict keys, max pools with ``ceil_mode=True``).
paddle.vision's ``squeezenet1_1`` differs from torchvision's: its first conv is padded by 1
and its pools floor instead of ceil (its ``squeezenet1_0`` floors as well). The tables
here are torchvision's.

On ceil_mode (PITFALLS.md): torch drops a last window that would start at or beyond
``L + padding``, paddle keeps it. Every SqueezeNet pool is k3 s2 p0, whose last window
starts at ``ceil((L - 3) / 2) * 2 <= L - 2``, so torch never drops one and the two agree at
every length L >= 2 (tests/test_squeezenet.py sweeps them). A length of 1 is the one
difference: torch refuses it, paddle returns the single element. ``min_size`` keeps every
pool's input at 2 or more, so no SqueezeNet input reaches it.
"""
from __future__ import annotations

from zoo.features import Stage, sequential
from zoo.models import ModelInfo, Published

# Fire modules as (squeeze, expand1x1, expand3x3) and "pool" for a k3 s2 ceil max pool,
# in the order of torchvision's ``features`` after the stem conv and its ReLU.
SQUEEZENET_FEATURES: dict[str, dict] = {
    "1_0": dict(
        stem_channels=96, stem_kernel=7,
        layers=("pool", (16, 64, 64), (16, 64, 64), (32, 128, 128), "pool",
                (32, 128, 128), (48, 192, 192), (48, 192, 192), (64, 256, 256), "pool", (64, 256, 256)),
    ),
    "1_1": dict(
        stem_channels=64, stem_kernel=3,
        layers=("pool", (16, 64, 64), (16, 64, 64), "pool", (32, 128, 128), (32, 128, 128), "pool",
                (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)),
    ),
}
STEM_STRIDE = 2
POOL = dict(kernel_size=3, stride=2, ceil_mode=True)


def squeezenet_body(version: str) -> list[Stage]:
    """The body of a SqueezeNet: ``features`` (stem conv, ReLU, Fire modules and pools)."""
    spec = SQUEEZENET_FEATURES[version]
    c = spec["stem_channels"]
    rows = [(STEM_STRIDE, c), (1, c)]
    for layer in spec["layers"]:
        if layer != "pool":
            c = layer[1] + layer[2]
        rows.append((POOL["stride"] if layer == "pool" else 1, c))
    return sequential("features", rows)


def ceil_pool_size(length: int, kernel_size: int, stride: int, padding: int = 0) -> int:
    """Output length of a ceil_mode pool as torch computes it (0 where torch refuses the input).

    The ceil formula, less one when the last window would start at or beyond
    ``length + padding`` (torch drops that window; paddle keeps it).
    """
    span = length + 2 * padding - kernel_size
    if span + stride - 1 < 0:
        return 0
    out = (span + stride - 1) // stride + 1
    if (out - 1) * stride >= length + padding:
        out -= 1
    return max(out, 0)


def feature_size(version: str, size: int) -> int:
    """Spatial size of the last feature map for input ``size`` (0: too small for the net)."""
    spec = SQUEEZENET_FEATURES[version]
    n = (size - spec["stem_kernel"]) // STEM_STRIDE + 1
    for layer in spec["layers"]:
        if layer == "pool":
            n = ceil_pool_size(n, POOL["kernel_size"], POOL["stride"])
        if n < 1:
            return 0
    return n


def min_size(version: str) -> int:
    """The smallest input side for which every layer has a non-empty output."""
    size = 1
    while feature_size(version, size) < 1:
        size += 1
    return size


_TV = "torchvision 0.28.0 (trainable parameters)"
_PAPER = "Iandola et al. 2016, SqueezeNet (arXiv:1602.07360)"


def _info(version: str, count: int, what: str) -> ModelInfo:
    return ModelInfo(
        f"squeezenet{version}", "squeezenet", f"{_PAPER}; {what}",
        input_size=224, min_size=min_size(version), parity_size=32,
        published=(Published(count, {"num_classes": 1000, "in_channels": 3}, _TV),),
        notes="pools are k3 s2 ceil_mode; torch and paddle agree at every pool input >= 2",
    )


MODELS = [
    _info("1_0", 1_248_424, "torchvision's squeezenet1_0"),
    _info("1_1", 1_235_496, "torchvision's squeezenet1_1 (SqueezeNet v1.1: 3x3 stem, earlier pools)"),
]
