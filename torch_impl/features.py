"""The backbone API every torch model shares (timm's conventions), and the features_only model.

- ``num_classes=0`` builds a model whose last classifier layer is an Identity, so that
  it returns the features that layer would read (pooled, or a classifier's last hidden
  layer where the net has one: ``num_features`` wide).
- ``forward_features(x)`` (each model's own) returns the unpooled final feature map.
- ``reset_classifier(n)`` replaces the last classifier layer(s), aux heads included.
- ``build(name, features_only=True, out_indices=...)`` returns a ``FeatureNet``.

Mirrors paddle_impl/features.py name for name. Which modules make a model's body, and
which of their outputs are feature levels, are zoo facts (zoo/features.py).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, Sequence

import torch
from torch import nn

import zoo
from torch_impl.layers import check_input, init_default_, linear_head
from zoo.features import FeatureInfoList, Stage, feature_levels, select_levels, stage_key


def get_module(root: nn.Module, path: str) -> nn.Module:
    """The submodule at dotted ``path`` ("" is ``root`` itself)."""
    module = root
    for name in filter(None, path.split(".")):
        module = getattr(module, name)
    return module


def set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    """Put ``module`` at dotted ``path``, in the place of what is there."""
    parent, _, name = path.rpartition(".")
    setattr(get_module(root, parent), name, module)


class Backbone:
    """Mixin of every zoo model: timm's classifier API, and the facts ``FeatureNet`` reads.

    A model calls ``init_backbone`` at the end of ``__init__`` and defines
    ``forward_features(x)`` and ``forward_head(x)`` (pool and classifier); ``forward``
    applies one after the other. Listed first among the bases, so that this ``forward``
    is the model's.
    """

    def init_backbone(self, body: Sequence[Stage], head_widths: dict[str, int], num_classes: int) -> None:
        """Record the model's body (zoo stages), its last classifier layers as {path: input
        width} (the main head first, then any aux heads) and its number of classes."""
        self.body_stages = list(body)
        self.feature_info: FeatureInfoList = feature_levels(self.body_stages)
        self.head_widths = dict(head_widths)
        self.num_features = next(iter(self.head_widths.values()))
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def run_features(self, x: torch.Tensor, body: bool) -> torch.Tensor:
        """The first ``body_len`` layers of ``features`` (``body``), or the others: for the nets
        whose ``features`` run on into the head (LeNet-5's flatten and C5, NiN's last block)."""
        for i, layer in enumerate(self.features):
            if (i < self.body_len) == body:
                x = layer(x)
        return x

    def make_head(self, in_features: int, num_classes: int) -> nn.Module:
        """A new last classifier layer; a Linear, or an Identity for 0 classes."""
        return linear_head(in_features, num_classes)

    def get_classifier(self) -> nn.Module:
        """The main head's last layer."""
        return get_module(self, next(iter(self.head_widths)))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace every last classifier layer (aux heads too) with a fresh one for
        ``num_classes``, initialised with torch's default uniform scheme; 0 puts an Identity
        there, so the model returns ``num_features`` features."""
        for path, width in self.head_widths.items():
            head = self.make_head(width, num_classes)
            init_default_(head)
            set_module(self, path, head)
        self.num_classes = num_classes


class FeatureNet(nn.ModuleDict):
    """A model's body that returns the feature maps at ``out_indices`` (timm's features_only).

    Holds the body's stages up to the deepest level asked for (the rest of the model,
    classifier included, is left out), keyed by their path with dots as underscores, so
    ``layer1.0.conv1.weight`` keeps its key and ``features.3.weight`` becomes
    ``features_3.weight``. ``feature_info`` has the chosen levels, with timm's
    ``channels()``, ``reduction()`` and ``module_name()``. Build the full model first to
    load a checkpoint of it, then wrap it.
    """

    def __init__(self, model: nn.Module, out_indices: Iterable[int] | None = None, name: str | None = None) -> None:
        label = name or type(model).__name__
        levels = select_levels(model.feature_info, out_indices, label)
        last = max(f.index for f in levels)
        stages = model.body_stages[:last + 1]
        super().__init__(OrderedDict((stage_key(s.path), get_module(model, s.path)) for s in stages))
        self.return_layers = [stage_key(f.module) for f in levels]
        self.feature_info = levels
        self.model_name = f"{label} (features_only)"
        self.dims, self.in_channels = model.dims, model.in_channels
        self.min_size = zoo.get(name).min_size if name is not None else 1

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_input(x, self, model=self.model_name, dims=self.dims, in_channels=self.in_channels, min_size=self.min_size)
        features: list[torch.Tensor] = []
        for key, stage in self.items():
            x = stage(x)
            if key in self.return_layers:
                features.append(x)
        return features
