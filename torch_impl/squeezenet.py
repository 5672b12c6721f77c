"""SqueezeNet 1.0 and 1.1 in PyTorch, 1D and 2D, with torchvision's layout and state-dict keys.

Mirrors paddle_impl/squeezenet.py name for name; the layer tables are in zoo/specs/squeezenet.py.
"""
from __future__ import annotations

import torch
from torch import nn

from torch_impl._registry import register_model
from torch_impl.features import Backbone
from torch_impl.layers import adaptive_avg_pool, check_dims, check_input, conv, max_pool
from zoo.features import check_num_classes
from zoo.specs.squeezenet import POOL, SQUEEZENET_FEATURES, STEM_STRIDE, min_size, squeezenet_body


class Fire(nn.Module):
    """The Fire module: a 1x1 squeeze conv, then 1x1 and 3x3 expand convs side by side, concatenated."""

    def __init__(self, dims: int, inplanes: int, squeeze_planes: int, expand1x1_planes: int,
                 expand3x3_planes: int) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = conv(dims, inplanes, squeeze_planes, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = conv(dims, squeeze_planes, expand1x1_planes, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = conv(dims, squeeze_planes, expand3x3_planes, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(Backbone, nn.Module):
    """SqueezeNet (Iandola et al. 2016), versions "1_0" and "1_1", as torchvision builds them.

    ``features`` is the stem conv, ReLU, then Fire modules and k3 s2 max pools with
    ``ceil_mode=True``; ``classifier`` is dropout, a 1x1 conv to the classes, ReLU and a
    global average pool. Unlike the paper there is no bypass (residual) variant, and
    the input need not be 224: any side of at least ``min_size`` works. Its last classifier
    layer is the 1x1 conv ``classifier.1``; with ``num_classes=0`` the model returns the
    globally pooled features (the ReLU after that conv then acts on them, a no-op, since
    they come out of ReLUs).
    """

    def __init__(self, version: str = "1_0", *, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                 dropout: float = 0.5) -> None:
        super().__init__()
        if version not in SQUEEZENET_FEATURES:
            raise ValueError(f"SqueezeNet version must be one of {sorted(SQUEEZENET_FEATURES)}, got {version!r}")
        spec = SQUEEZENET_FEATURES[version]
        self.version, self.dims, self.in_channels = version, check_dims(dims), in_channels
        self.num_classes = num_classes
        self.min_size = min_size(version)
        channels = spec["stem_channels"]
        layers: list[nn.Module] = [
            conv(dims, in_channels, channels, spec["stem_kernel"], stride=STEM_STRIDE), nn.ReLU(inplace=True),
        ]
        for layer in spec["layers"]:
            if layer == "pool":
                layers.append(max_pool(dims, **POOL))
            else:
                squeeze, e1, e3 = layer
                layers.append(Fire(dims, channels, squeeze, e1, e3))
                channels = e1 + e3
        self.features = nn.Sequential(*layers)
        final_conv = self.make_head(channels, num_classes)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), adaptive_avg_pool(dims, 1),
        )
        init_weights_(self, final_conv)
        self.init_backbone(squeezenet_body(version), {"classifier.1": channels}, num_classes)

    def make_head(self, in_features: int, num_classes: int) -> nn.Module:
        """The 1x1 conv to the classes, or an Identity for 0."""
        if check_num_classes(num_classes) == 0:
            return nn.Identity()
        return conv(self.dims, in_features, num_classes, 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, model=f"squeezenet{self.version}", dims=self.dims, in_channels=self.in_channels,
                    min_size=self.min_size)
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(x), 1)


def init_weights_(model: nn.Module, final_conv: nn.Module) -> None:
    """torchvision's SqueezeNet scheme: kaiming-uniform convs (fan_in, ReLU gain), the final
    conv N(0, 0.01), zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            if m is final_conv:
                nn.init.normal_(m.weight, mean=0.0, std=0.01)
            else:
                nn.init.kaiming_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@register_model
def squeezenet1_0(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                  dropout: float = 0.5) -> SqueezeNet:
    """SqueezeNet 1.0 (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer
    parameters"), torchvision's layout: 7x7/2 stem with 96 channels, eight Fire modules,
    three ceil-mode max pools; 1,248,424 parameters. Differs from the paper only where
    torchvision does: no bypass connections, and a global average pool that accepts any
    input of at least 21 (2D side or 1D length). paddle.vision's squeezenet1_0 floors its
    pools, so it agrees with this one only where every pool input is odd (e.g. 35, 67)."""
    return SqueezeNet("1_0", num_classes=num_classes, in_channels=in_channels, dims=dims, dropout=dropout)


@register_model
def squeezenet1_1(*, num_classes: int = 1000, in_channels: int = 3, dims: int = 2,
                  dropout: float = 0.5) -> SqueezeNet:
    """SqueezeNet 1.1 (the v1.1 release of Iandola et al.'s SqueezeNet: 3x3/2 stem with 64
    channels, pools moved earlier; 2.4x less computation, the same accuracy), torchvision's
    layout; 1,235,496 parameters; inputs of at least 17. paddle.vision's squeezenet1_1 is
    a different network on the same weights: its stem conv is padded by 1 and its pools
    floor instead of ceil. This follows torchvision (unpadded stem, ceil-mode pools)."""
    return SqueezeNet("1_1", num_classes=num_classes, in_channels=in_channels, dims=dims, dropout=dropout)
