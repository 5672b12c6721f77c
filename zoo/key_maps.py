"""The names other libraries give our tensors, as data: rename rules per family and source.

Each rule is (regex over the library's key, replacement); the first rule that matches
the whole key renames it (a replacement may be a function of the match, where a number
shifts). A key no rule matches keeps its name. The renamed key is our name in the
file's own framework: paddle.vision keys become our paddle_impl keys (BatchNorm
``_mean``/``_variance``, Linear [in, out], since both are paddle).

- torchvision: our torch names are torchvision's by construction (DESIGN.md), except
  DenseNet's published files, which predate torchvision's renaming of
  ``norm.1``/``conv.2`` to ``norm1``/``conv2`` (torchvision renames them on load too).
- paddle.vision: ResNet, VGG, MobileNet v1 and v2 share our names; AlexNet, DenseNet,
  ShuffleNet v2 and MobileNet v3 name their layers their own way (mapped below).
"""
from __future__ import annotations

import re
from typing import Callable, Union

from zoo.specs.mobilenet import mobilenet_v3_blocks

Replacement = Union[str, Callable[["re.Match[str]"], str]]
Rules = tuple[tuple[str, Replacement], ...]

# torchvision's DenseNet files: features.denseblock1.denselayer1.norm.1.weight -> ...norm1.weight
TORCHVISION_DENSENET: Rules = (
    (r"(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var|num_batches_tracked))",
     r"\1\2"),
)

PADDLE_VISION_ALEXNET: Rules = (
    (r"_conv1\._conv\.(.+)", r"features.0.\1"),
    (r"_conv2\._conv\.(.+)", r"features.3.\1"),
    (r"_conv3\.(.+)", r"features.6.\1"),
    (r"_conv4\.(.+)", r"features.8.\1"),
    (r"_conv5\._conv\.(.+)", r"features.10.\1"),
    (r"_fc6\.(.+)", r"classifier.1.\1"),
    (r"_fc7\.(.+)", r"classifier.4.\1"),
    (r"_fc8\.(.+)", r"classifier.6.\1"),
)

_DENSE_PART = {"_batch_norm": "norm", "_conv": "conv"}
PADDLE_VISION_DENSENET: Rules = (
    (r"conv1_func\._conv\.(.+)", r"features.conv0.\1"),
    (r"conv1_func\._batch_norm\.(.+)", r"features.norm0.\1"),
    (r"batch_norm\.(.+)", r"features.norm5.\1"),
    (r"out\.(.+)", r"classifier.\1"),
    # paddle.vision numbers dense blocks and transitions from 2, torchvision from 1.
    (r"db_conv_(\d+)\.conv\d+_(\d+)\.bn_ac_func([12])\.(_batch_norm|_conv)\.(.+)",
     lambda m: f"features.denseblock{int(m[1]) - 1}.denselayer{m[2]}.{_DENSE_PART[m[4]]}{m[3]}.{m[5]}"),
    (r"tr_conv(\d+)_blk\.conv_ac_func\.(_batch_norm|_conv)\.(.+)",
     lambda m: f"features.transition{int(m[1]) - 1}.{_DENSE_PART[m[2]]}.{m[3]}"),
)

# paddle.vision groups each ShuffleNet v2 branch into ConvNormActivation blocks (conv, BN);
# the branch-2 blocks of a stage's first (stride-2) unit carry a "_2" suffix.
_SHUFFLE_BLOCKS = {("_conv_dw_1", "0"): "branch1.0", ("_conv_dw_1", "1"): "branch1.1",
                   ("_conv_linear_1", "0"): "branch1.2", ("_conv_linear_1", "1"): "branch1.3",
                   ("_conv_pw", "0"): "branch2.0", ("_conv_pw", "1"): "branch2.1",
                   ("_conv_dw", "0"): "branch2.3", ("_conv_dw", "1"): "branch2.4",
                   ("_conv_linear", "0"): "branch2.5", ("_conv_linear", "1"): "branch2.6"}
PADDLE_VISION_SHUFFLENET: Rules = (
    (r"_conv1\.(.+)", r"conv1.\1"),
    (r"_last_conv\.(.+)", r"conv5.\1"),
    (r"_fc\.(.+)", r"fc.\1"),
    (r"(\d)_(\d+)\.(_conv_dw_1|_conv_linear_1|_conv_pw|_conv_dw|_conv_linear)(?:_2)?\.([01])\.(.+)",
     lambda m: f"stage{m[1]}.{int(m[2]) - 1}.{_SHUFFLE_BLOCKS[m[3], m[4]]}.{m[5]}"),
)


def _mobilenet_v3_rules(arch: str) -> Rules:
    """paddle.vision's MobileNetV3 (conv, blocks.i.{expand_conv,bottleneck_conv,mid_se,linear_conv},
    lastconv) as our features.i.block.j: j counts only the parts block i has."""
    blocks = mobilenet_v3_blocks(arch)

    def block(m: "re.Match[str]") -> str:
        i, part, rest = int(m[1]), m[2], m[3]
        b = blocks[i]
        parts = (["expand_conv"] * (b["expanded"] != b["in_channels"]) + ["bottleneck_conv"]
                 + ["mid_se"] * bool(b["use_se"]) + ["linear_conv"])
        return f"features.{i + 1}.block.{parts.index(part)}.{rest}"

    return ((r"conv\.(.+)", r"features.0.\1"),
            (r"lastconv\.(.+)", rf"features.{len(blocks) + 1}.\1"),
            (r"blocks\.(\d+)\.(expand_conv|bottleneck_conv|mid_se|linear_conv)\.(.+)", block))


def rules_for(source: str, name: str) -> Rules:
    """The rename rules from ``source``'s names to ours for model ``name`` (() when they agree)."""
    if source == "torchvision":
        return TORCHVISION_DENSENET if name.startswith("densenet") else ()
    if source == "paddle.vision":
        if name == "alexnet":
            return PADDLE_VISION_ALEXNET
        if name.startswith("densenet"):
            return PADDLE_VISION_DENSENET
        if name.startswith("shufflenet_v2"):
            return PADDLE_VISION_SHUFFLENET
        if name.startswith("mobilenet_v3_"):
            return _mobilenet_v3_rules(name.rsplit("_", 1)[1])
    return ()


def rename(key: str, rules: Rules) -> str:
    """Our name for ``key`` under ``rules``."""
    for pattern, replacement in rules:
        m = re.fullmatch(pattern, key)
        if m:
            return replacement(m) if callable(replacement) else m.expand(replacement)
    return key
