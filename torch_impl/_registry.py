"""Model registry of torch_impl: builders register under the names zoo/models.py lists."""
from __future__ import annotations

from typing import Callable

from torch import nn

from zoo.registry import Registry

_REGISTRY = Registry("torch_impl")


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``fn`` under its function name, which must be a name in zoo/models.py."""
    return _REGISTRY.register(fn)


def build(name: str, **kwargs) -> nn.Module:
    """Build a registered model: ``build("lenet5", num_classes=10, dims=1)``."""
    return _REGISTRY.build(name, **kwargs)


def list_models(family: str | None = None) -> list[str]:
    """Registered names in zoo order, optionally only those of one family."""
    return _REGISTRY.names(family)
