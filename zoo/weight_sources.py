"""Where published ImageNet weights for our models live, and which of them load (data).

Two sources, each read from its library's own cache folder and never downloaded:
- ``torchvision``: ``$TORCH_HOME/hub/checkpoints`` (else ``$XDG_CACHE_HOME/torch/hub/
  checkpoints``, else ``~/.cache/torch/hub/checkpoints``), torch.hub's rule; the file
  names are those of torchvision 0.28.0's weight enums, DEFAULT first.
- ``paddle.vision``: ``~/.cache/paddle/hapi/weights``, paddle 3.3.1's ``WEIGHTS_HOME``
  (paddle/utils/download.py), which no variable overrides; it follows ``$HOME``.

``REFUSED`` says, per source and model, why a published file is not loaded although a
file exists: paddle.vision's network is another function there. ``CONVERSIONS`` are the
exact rewrites (and their stated consequence) that make a file the same function in our
model. ``NOTES`` are consequences a user should know that change nothing at load time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SOURCES = ("torchvision", "paddle.vision")
TORCHVISION_URL = "https://download.pytorch.org/models/"
PADDLE_HAPI_URL = "https://paddle-hapi.bj.bcebos.com/models/"
PADDLE_DYGRAPH_URL = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"

# model -> ((tag, file), ...), torchvision's DEFAULT weights first.
_TORCHVISION: dict[str, tuple[tuple[str, str], ...]] = {
    "alexnet": (("IMAGENET1K_V1", "alexnet-owt-7be5be79.pth"),),
    "vgg11": (("IMAGENET1K_V1", "vgg11-8a719046.pth"),),
    "vgg11_bn": (("IMAGENET1K_V1", "vgg11_bn-6002323d.pth"),),
    "vgg13": (("IMAGENET1K_V1", "vgg13-19584684.pth"),),
    "vgg13_bn": (("IMAGENET1K_V1", "vgg13_bn-abd245e5.pth"),),
    "vgg16": (("IMAGENET1K_V1", "vgg16-397923af.pth"),),
    "vgg16_bn": (("IMAGENET1K_V1", "vgg16_bn-6c64b313.pth"),),
    "vgg19": (("IMAGENET1K_V1", "vgg19-dcbb9e9d.pth"),),
    "vgg19_bn": (("IMAGENET1K_V1", "vgg19_bn-c79401a0.pth"),),
    "googlenet": (("IMAGENET1K_V1", "googlenet-1378be20.pth"),),
    "inception_v3": (("IMAGENET1K_V1", "inception_v3_google-0cc3c7bd.pth"),),
    "resnet18": (("IMAGENET1K_V1", "resnet18-f37072fd.pth"),),
    "resnet34": (("IMAGENET1K_V1", "resnet34-b627a593.pth"),),
    "resnet50": (("IMAGENET1K_V2", "resnet50-11ad3fa6.pth"), ("IMAGENET1K_V1", "resnet50-0676ba61.pth")),
    "resnet101": (("IMAGENET1K_V2", "resnet101-cd907fc2.pth"), ("IMAGENET1K_V1", "resnet101-63fe2227.pth")),
    "resnet152": (("IMAGENET1K_V2", "resnet152-f82ba261.pth"), ("IMAGENET1K_V1", "resnet152-394f9c45.pth")),
    "resnext50_32x4d": (("IMAGENET1K_V2", "resnext50_32x4d-1a0047aa.pth"),
                        ("IMAGENET1K_V1", "resnext50_32x4d-7cdf4587.pth")),
    "wide_resnet50_2": (("IMAGENET1K_V2", "wide_resnet50_2-9ba9bcbe.pth"),
                        ("IMAGENET1K_V1", "wide_resnet50_2-95faca4d.pth")),
    "densenet121": (("IMAGENET1K_V1", "densenet121-a639ec97.pth"),),
    "densenet161": (("IMAGENET1K_V1", "densenet161-8d451a50.pth"),),
    "densenet169": (("IMAGENET1K_V1", "densenet169-b2777c0a.pth"),),
    "densenet201": (("IMAGENET1K_V1", "densenet201-c1103571.pth"),),
    "squeezenet1_0": (("IMAGENET1K_V1", "squeezenet1_0-b66bff10.pth"),),
    "squeezenet1_1": (("IMAGENET1K_V1", "squeezenet1_1-b8a52dc0.pth"),),
    "mobilenet_v2": (("IMAGENET1K_V2", "mobilenet_v2-7ebf99e0.pth"), ("IMAGENET1K_V1", "mobilenet_v2-b0353104.pth")),
    "mobilenet_v3_small": (("IMAGENET1K_V1", "mobilenet_v3_small-047dcff4.pth"),),
    "mobilenet_v3_large": (("IMAGENET1K_V2", "mobilenet_v3_large-5c1a4163.pth"),
                           ("IMAGENET1K_V1", "mobilenet_v3_large-8738ca79.pth")),
    "shufflenet_v2_x0_5": (("IMAGENET1K_V1", "shufflenetv2_x0.5-f707e7126e.pth"),),
    "shufflenet_v2_x1_0": (("IMAGENET1K_V1", "shufflenetv2_x1-5666bf0f80.pth"),),
    "shufflenet_v2_x1_5": (("IMAGENET1K_V1", "shufflenetv2_x1_5-3c479a10.pth"),),
    "shufflenet_v2_x2_0": (("IMAGENET1K_V1", "shufflenetv2_x2_0-8be3c8ee.pth"),),
    "mnasnet0_5": (("IMAGENET1K_V1", "mnasnet0.5_top1_67.823-3ffadce67e.pth"),),
    "mnasnet0_75": (("IMAGENET1K_V1", "mnasnet0_75-7090bc5f.pth"),),
    "mnasnet1_0": (("IMAGENET1K_V1", "mnasnet1.0_top1_73.512-f206786ef8.pth"),),
    "mnasnet1_3": (("IMAGENET1K_V1", "mnasnet1_3-a4c69d6f.pth"),),
    "efficientnet_b0": (("IMAGENET1K_V1", "efficientnet_b0_rwightman-7f5810bc.pth"),),
    "efficientnet_b1": (("IMAGENET1K_V2", "efficientnet_b1-c27df63c.pth"),
                        ("IMAGENET1K_V1", "efficientnet_b1_rwightman-bac287d4.pth")),
    "efficientnet_b2": (("IMAGENET1K_V1", "efficientnet_b2_rwightman-c35c1473.pth"),),
    "efficientnet_b3": (("IMAGENET1K_V1", "efficientnet_b3_rwightman-b3899882.pth"),),
    "efficientnet_b4": (("IMAGENET1K_V1", "efficientnet_b4_rwightman-23ab8bcd.pth"),),
    "efficientnet_b5": (("IMAGENET1K_V1", "efficientnet_b5_lukemelas-1a07897c.pth"),),
    "efficientnet_b6": (("IMAGENET1K_V1", "efficientnet_b6_lukemelas-24a108a5.pth"),),
    "efficientnet_b7": (("IMAGENET1K_V1", "efficientnet_b7_lukemelas-c5b4e57e.pth"),),
}

# model -> file name under its base URL (paddle.vision 3.3.1's model_urls).
_PADDLE_VISION: dict[str, str] = {
    "alexnet": PADDLE_DYGRAPH_URL + "AlexNet_pretrained.pdparams",
    "vgg16": PADDLE_HAPI_URL + "vgg16.pdparams",
    "vgg19": PADDLE_HAPI_URL + "vgg19.pdparams",
    "googlenet": PADDLE_DYGRAPH_URL + "GoogLeNet_pretrained.pdparams",
    "inception_v3": PADDLE_HAPI_URL + "inception_v3.pdparams",
    **{n: PADDLE_HAPI_URL + f"{n}.pdparams" for n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                                                       "resnext50_32x4d", "wide_resnet50_2")},
    **{f"densenet{d}": PADDLE_DYGRAPH_URL + f"DenseNet{d}_pretrained.pdparams" for d in (121, 161, 169, 201)},
    "squeezenet1_0": PADDLE_DYGRAPH_URL + "SqueezeNet1_0_pretrained.pdparams",
    "squeezenet1_1": PADDLE_DYGRAPH_URL + "SqueezeNet1_1_pretrained.pdparams",
    "mobilenet_v1": PADDLE_HAPI_URL + "mobilenetv1_1.0.pdparams",
    "mobilenet_v2": PADDLE_HAPI_URL + "mobilenet_v2_x1.0.pdparams",
    "mobilenet_v3_small": PADDLE_HAPI_URL + "mobilenet_v3_small_x1.0.pdparams",
    "mobilenet_v3_large": PADDLE_HAPI_URL + "mobilenet_v3_large_x1.0.pdparams",
    **{f"shufflenet_v2_{w}": PADDLE_HAPI_URL + f"shufflenet_v2_{w}.pdparams" for w in ("x0_5", "x1_0", "x1_5", "x2_0")},
}

REFUSED: dict[tuple[str, str], str] = {
    ("paddle.vision", "googlenet"): "paddle.vision's GoogLeNet is the 2014 network without BatchNorm (its convs "
                                    "have biases and no BN layers), always with aux heads; ours is torchvision's, "
                                    "with BatchNorm after every conv",
    ("paddle.vision", "inception_v3"): "paddle.vision's InceptionV3 uses BatchNorm eps 1e-5 where torchvision's "
                                       "and ours use 1e-3 (no exact rewrite when a running variance is below "
                                       "1e-3), and has no aux head",
    ("paddle.vision", "squeezenet1_0"): "paddle.vision's SqueezeNet floors its max pools where torchvision's and "
                                        "ours ceil them, so at 224x224 the maps differ from the first pool "
                                        "(54 -> 26 there, 27 here)",
    ("paddle.vision", "squeezenet1_1"): "paddle.vision's squeezenet1_1 pads its stem conv by 1 and floors its "
                                        "pools; torchvision's and ours do neither",
    ("paddle.vision", "shufflenet_v2_x2_0"): "paddle.vision's shufflenet_v2_x2_0 has 224 channels in stage 2 where "
                                             "the paper's Table 5, torchvision and ours have 244",
}


@dataclass(frozen=True)
class Scale:
    """Multiply one tensor by ``factor`` on load (an exact rewrite that keeps the function)."""

    key: str
    factor: float


CONVERSIONS: dict[tuple[str, str], tuple[tuple[Scale, ...], str]] = {
    ("paddle.vision", "alexnet"): (
        (Scale("classifier.1.weight", 0.5), Scale("classifier.4.weight", 0.5)),
        "paddle.vision's AlexNet drops out in 'downscale_in_infer' mode, so in eval it halves the inputs of fc6 "
        "and fc7; their weights are halved here (exact), so eval outputs equal paddle.vision's. Training from them "
        "uses our inverted dropout, which keeps eval unscaled."),
}

NOTES: dict[tuple[str, str], str] = {
    ("paddle.vision", "mobilenet_v3_small"): "paddle.vision gates squeeze-excitation with paddle's Hardsigmoid "
                                             "(slope 0.1666667), ours with relu6(x + 3) / 6: outputs differ from "
                                             "paddle.vision's by about 1e-8 relative",
    ("paddle.vision", "mobilenet_v3_large"): "paddle.vision gates squeeze-excitation with paddle's Hardsigmoid "
                                             "(slope 0.1666667), ours with relu6(x + 3) / 6: outputs differ from "
                                             "paddle.vision's by about 1e-8 relative",
}
# Every paddle.vision file with BatchNorm: the statistics are used as they are.
PADDLE_VISION_BN_NOTE = ("paddle.vision trained these BatchNorm statistics with paddle's biased batch variance; they "
                         "load as they are (eval outputs equal paddle.vision's), and further training updates them "
                         "with the unbiased variance, as torch does")

# Builder arguments a source's published weights were trained with (torchvision sets them
# when it builds these models with weights); a caller's own value wins.
BUILD_DEFAULTS: dict[tuple[str, str], dict[str, object]] = {
    ("torchvision", "googlenet"): {"transform_input": True},
    ("torchvision", "inception_v3"): {"transform_input": True},
}
# Tensors of heads a model may be built without (inception_v3's aux head is off by
# default): skipped with a note when the model lacks them, as torchvision does.
OPTIONAL_PREFIXES: dict[str, tuple[str, ...]] = {
    "googlenet": ("aux1.", "aux2."),
    "inception_v3": ("AuxLogits.",),
}


@dataclass(frozen=True)
class WeightFile:
    """One published file: its source, tag (torchvision's enum name), cache file name and URL."""

    source: str
    model: str
    tag: str
    url: str

    @property
    def file(self) -> str:
        return self.url.rsplit("/", 1)[1]


def files(source: str, name: str) -> list[WeightFile]:
    """The published files of ``name`` from ``source``, the preferred one first ([] when none)."""
    if source == "torchvision":
        return [WeightFile(source, name, tag, TORCHVISION_URL + f) for tag, f in _TORCHVISION.get(name, ())]
    if source == "paddle.vision":
        return [WeightFile(source, name, "pretrained", _PADDLE_VISION[name])] if name in _PADDLE_VISION else []
    raise ValueError(f"unknown weight source {source!r}; the sources are {', '.join(SOURCES)}")


def loadable(source: str, name: str) -> bool:
    """Whether ``source`` publishes weights for ``name`` that load into our model."""
    return bool(files(source, name)) and (source, name) not in REFUSED


def cache_dir(source: str) -> Path:
    """The folder ``source``'s library caches its downloads in, by that library's own rule."""
    if source == "torchvision":
        if os.environ.get("TORCH_HOME"):
            hub = Path(os.environ["TORCH_HOME"]).expanduser() / "hub"
        else:
            hub = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "torch" / "hub"
        return hub / "checkpoints"
    if source == "paddle.vision":
        return Path("~/.cache/paddle/hapi/weights").expanduser()
    raise ValueError(f"unknown weight source {source!r}; the sources are {', '.join(SOURCES)}")


def describe(source: str, name: str) -> str:
    """One cell of the README's weights column: how ``source``'s file for ``name`` loads."""
    if not files(source, name):
        return ""
    if (source, name) in REFUSED:
        return f"{source}: no"
    return source + (" (converted)" if (source, name) in CONVERSIONS else "")
