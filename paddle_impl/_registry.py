"""Model registry of paddle_impl: builders register under the names zoo/models.py lists."""
from __future__ import annotations

from typing import Callable, Sequence

from paddle import nn

from paddle_impl.features import FeatureNet
from zoo.registry import Registry

_REGISTRY = Registry("paddle_impl", FeatureNet)


def register_model(fn: Callable[..., nn.Layer]) -> Callable[..., nn.Layer]:
    """Register ``fn`` under its function name, which must be a name in zoo/models.py."""
    return _REGISTRY.register(fn)


def build(name: str, features_only: bool = False, out_indices: Sequence[int] | None = None,
          **kwargs) -> nn.Layer:
    """Build a registered model: ``build("lenet5", num_classes=10, dims=1)``.

    ``num_classes=0`` gives a model that returns its features instead of logits;
    ``features_only=True`` gives its body as a ``FeatureNet``, which returns the feature
    maps at ``out_indices`` (every level by default; ``.feature_info`` lists them).
    """
    return _REGISTRY.build(name, features_only, out_indices, **kwargs)


def list_models(family: str | None = None) -> list[str]:
    """Registered names in zoo order, optionally only those of one family."""
    return _REGISTRY.names(family)
