"""Model registry of paddle_impl: builders register under the names zoo/models.py lists."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from paddle import nn

from paddle_impl._weights import load_weights
from paddle_impl.features import FeatureNet
from zoo.registry import Registry

_REGISTRY = Registry("paddle_impl", load_weights, FeatureNet)


def register_model(fn: Callable[..., nn.Layer]) -> Callable[..., nn.Layer]:
    """Register ``fn`` under its function name, which must be a name in zoo/models.py.

    The builder returned also takes ``weights=`` (see ``build``).
    """
    return _REGISTRY.register(fn)


def build(name: str, weights: Any = None, features_only: bool = False, out_indices: Sequence[int] | None = None,
          **kwargs: Any) -> nn.Layer:
    """Build a registered model: ``build("lenet5", num_classes=10, dims=1)``.

    ``weights``: ``"torchvision"`` or ``"paddle.vision"`` (that library's cached ImageNet
    file; never downloaded) or a checkpoint path of either framework. Another
    ``num_classes`` re-initialises the classifier, another ``in_channels`` adapts the
    stem; notes say what was done (zoo/pretrained.py). ``num_classes=0`` gives a model
    that returns its features instead of logits; ``features_only=True`` gives its body as
    a ``FeatureNet``, which returns the feature maps at ``out_indices`` (every level by
    default; ``.feature_info`` lists them).
    """
    return _REGISTRY.build(name, weights=weights, features_only=features_only, out_indices=out_indices, **kwargs)


def get_model(name: str, **kwargs: Any) -> nn.Layer:
    """An alias of ``build``, as torchvision names it."""
    return build(name, **kwargs)


def list_models(family: str | None = None, include: str | Iterable[str] | None = None,
                exclude: str | Iterable[str] | None = None, weights: str | None = None) -> list[str]:
    """Registered names in zoo order: ``list_models("resnet*")``, ``list_models(include="vgg*", exclude="*_bn")``,
    ``list_models("lenet")`` (a family), ``list_models(weights="torchvision")`` (loadable weights)."""
    return _REGISTRY.names(family, include, exclude, weights)
